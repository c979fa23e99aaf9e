"""The LightGCN-style adjacency layout: ``train.txt``/``valid.txt``/``test.txt``, lines ``user item item ...``.

Ids are already dense integers; there are no ratings, timestamps or titles.
The published split is kept in the ``split`` column.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from agentrec.core.errors import DataError
from agentrec.data.readers.tables import empty_users, require_files

SPLIT_FILES = (("train", "train.txt"), ("valid", "valid.txt"), ("test", "test.txt"))


def read_adjacency(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Read every split file present (train and test are required)."""
    require_files(folder, ["train.txt", "test.txt"])
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    splits: list[str] = []
    for split, name in SPLIT_FILES:
        path = folder / name
        if path.is_file():
            split_users, split_items = _parse_adjacency_file(path)
            users.append(split_users)
            items.append(split_items)
            splits.extend([split] * len(split_items))
    user = np.concatenate(users)
    item = np.concatenate(items)
    table = pa.table(
        {
            "user_id": pa.array(user.astype(str)),
            "item_id": pa.array(item.astype(str)),
            "rating": pa.nulls(len(user), pa.float64()),
            "ts": pa.nulls(len(user), pa.int64()),
            "split": pa.array(splits, pa.string()),
        }
    )
    con.register("_adjacency", table)
    con.execute("CREATE OR REPLACE TABLE raw_interactions AS SELECT * FROM _adjacency")
    con.unregister("_adjacency")
    n_items = int(item.max()) + 1 if len(item) else 0
    con.execute(
        "CREATE OR REPLACE TABLE raw_items AS SELECT CAST(i AS VARCHAR) AS item_id, "
        "CAST(NULL AS VARCHAR) AS title, CAST([] AS VARCHAR[]) AS genres FROM range(?) t(i)",
        [n_items],
    )
    empty_users(con)


def _parse_adjacency_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    users: list[int] = []
    items: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = [int(token) for token in fields]
            except ValueError:
                bad = next(t for t in fields if not t.lstrip("-").isdigit())
                raise DataError(f"{path}:{number}: ids must be integers, got {bad!r}") from None
            if min(ids) < 0:
                raise DataError(f"{path}:{number}: ids must be non-negative")
            users.extend([ids[0]] * (len(ids) - 1))
            items.extend(ids[1:])
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)

"""A generic folder: ``interactions.csv|parquet``, ``items.csv|parquet|jsonl``, optional ``users.*``.

Column names are matched loosely (``userId``/``user`` for ``user_id``...), ids
are kept as strings, and text columns whose values contain ``|`` become lists.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from agentrec.core.errors import DataError
from agentrec.data.csv_scan import scan_delimited
from agentrec.data.layouts import INTERACTION_FILES, ITEM_FILES, USER_FILES

_ALIASES = {
    "user_id": ("user_id", "userid", "user"),
    "item_id": ("item_id", "itemid", "item", "movieid", "product_id"),
    "rating": ("rating", "score", "stars"),
    "timestamp": ("timestamp", "ts", "time", "datetime"),
}


def first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def read_generic(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Read a generic folder into the raw tables."""
    interactions = first_existing(folder, INTERACTION_FILES)
    if interactions is None:
        raise DataError(f"{folder}: missing interactions.csv or interactions.parquet")
    _load_file(con, interactions, "scanned_interactions")
    _read_interactions(con, interactions)
    items = first_existing(folder, ITEM_FILES)
    if items is None:
        con.execute(
            "CREATE OR REPLACE TABLE raw_items (item_id VARCHAR, title VARCHAR, genres VARCHAR[])"
        )
    else:
        _load_file(con, items, "scanned_items")
        _normalise_entities(con, items, "scanned_items", "raw_items", "item_id")
    users = first_existing(folder, USER_FILES)
    if users is None:
        con.execute("CREATE OR REPLACE TABLE raw_users (user_id VARCHAR)")
    else:
        _load_file(con, users, "scanned_users")
        _normalise_entities(con, users, "scanned_users", "raw_users", "user_id")


def _load_file(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> None:
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        if path.suffix == ".csv":
            _scan_csv_with_header(con, path, table)
        elif path.suffix == ".parquet":
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet({literal})")
        else:
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_json({literal}, format='newline_delimited')"
            )
    except duckdb.Error as error:
        raise DataError(f"{path}: cannot be read ({str(error).splitlines()[0]})") from None


def _scan_csv_with_header(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> None:
    """Sniff the header, keep id columns as text, then scan strictly to find bad rows."""
    header = con.execute("SELECT Columns FROM sniff_csv(?)", [str(path)]).fetchone()
    if header is None:
        raise DataError(f"{path}: empty file")
    columns = {c["name"]: c["type"] for c in header[0]}
    for name in columns:
        canonical = _canonical(name)
        if canonical in ("user_id", "item_id") or columns[name] not in (
            "BIGINT",
            "DOUBLE",
            "BOOLEAN",
        ):
            columns[name] = "VARCHAR"
        if canonical == "rating":
            columns[name] = "DOUBLE"
    delimiter = con.execute("SELECT Delimiter FROM sniff_csv(?)", [str(path)]).fetchone()
    scan_delimited(
        con,
        path,
        table,
        columns,
        delimiter=delimiter[0] if delimiter else ",",
        header=True,
        quoted=True,
    )


def _canonical(name: str) -> str | None:
    key = name.strip().lower().replace("-", "_")
    for canonical, aliases in _ALIASES.items():
        if key in aliases or key.replace("_", "") in aliases:
            return canonical
    return None


def _column_map(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Map canonical names (user_id, item_id, rating, timestamp) to the table's columns."""
    found: dict[str, str] = {}
    for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall():
        canonical = _canonical(name)
        if canonical and canonical not in found:
            found[canonical] = name
    return found


def _read_interactions(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    columns = _column_map(con, "scanned_interactions")
    missing = [c for c in ("user_id", "item_id") if c not in columns]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {', '.join(missing)}")
    rating = (
        f'TRY_CAST("{columns["rating"]}" AS DOUBLE)'
        if "rating" in columns
        else "CAST(NULL AS DOUBLE)"
    )
    ts = _timestamp_expression(con, columns.get("timestamp"))
    con.execute(
        "CREATE OR REPLACE TABLE raw_interactions AS SELECT "
        f'CAST("{columns["user_id"]}" AS VARCHAR) AS user_id, CAST("{columns["item_id"]}" AS VARCHAR) AS item_id, '
        f"{rating} AS rating, {ts} AS ts, CAST(NULL AS VARCHAR) AS split FROM scanned_interactions"
    )
    con.execute("DROP TABLE scanned_interactions")
    null_ids = con.execute(
        "SELECT count(*) FROM raw_interactions WHERE user_id IS NULL OR item_id IS NULL"
    ).fetchone()
    if null_ids and null_ids[0]:
        raise DataError(f"{path}: {null_ids[0]} row(s) have an empty user_id or item_id")
    _check_timestamps(con, path)


def _check_timestamps(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A negative epoch is a broken export (or a sign error), never an event before 1970 we can order by."""
    row = con.execute("SELECT rowid, ts FROM raw_interactions WHERE ts < 0 ORDER BY rowid LIMIT 1").fetchone()
    if row is None:
        return
    # rowid 0 is the first data row: line 2 of a CSV (after its header); other formats count rows from 1
    where = f"{path}:{row[0] + 2}" if path.suffix == ".csv" else f"{path}: row {row[0] + 1}"
    raise DataError(f"{where}: negative timestamp {row[1]}; timestamps are seconds since 1970")


def _timestamp_expression(con: duckdb.DuckDBPyConnection, column: str | None) -> str:
    """Epoch seconds from an integer column, or from a date/time column."""
    if column is None:
        return "CAST(NULL AS BIGINT)"
    kind = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'scanned_interactions' "
        "AND column_name = ?",
        [column],
    ).fetchone()
    if kind and kind[0] in ("BIGINT", "INTEGER", "DOUBLE", "HUGEINT"):
        return f'CAST("{column}" AS BIGINT)'
    return f'CAST(epoch(TRY_CAST("{column}" AS TIMESTAMP)) AS BIGINT)'


def _normalise_entities(
    con: duckdb.DuckDBPyConnection, path: Path, source: str, target: str, id_column: str
) -> None:
    """Rename the id column, cast it to text, and split ``|``-separated text columns into lists."""
    columns = _column_map(con, source)
    if id_column not in columns:
        raise DataError(f"{path}:1: missing column {id_column}")
    selected = []
    described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {source})").fetchall()
    for name, kind in described:
        quoted = '"' + name.replace('"', '""') + '"'
        if name == columns[id_column]:
            selected.append(f"CAST({quoted} AS VARCHAR) AS {id_column}")
        elif kind == "VARCHAR" and _is_multi_valued(con, source, quoted, name):
            parts = f"list_transform(string_split({quoted}, '|'), lambda x: trim(x))"
            selected.append(f"list_filter({parts}, lambda x: x <> '') AS {quoted}")
        else:
            selected.append(quoted)
    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {', '.join(selected)} FROM {source}")
    con.execute(f"DROP TABLE {source}")


def _is_multi_valued(con: duckdb.DuckDBPyConnection, source: str, quoted: str, name: str) -> bool:
    if name.lower() in ("genres", "tags", "categories"):
        return True
    if name.lower() in ("title", "name", "description"):
        return False
    hit = con.execute(f"SELECT count(*) FROM {source} WHERE contains({quoted}, '|')").fetchone()
    return bool(hit and hit[0])

"""Load the store's interactions into dense arrays."""

from __future__ import annotations

import duckdb
import numpy as np

from agentrec.data.interactions import Interactions, Vocabulary


def load_vocabularies(con: duckdb.DuckDBPyConnection) -> tuple[Vocabulary, Vocabulary]:
    """User and item vocabularies in dense-index order."""
    users = tuple(
        r[0] for r in con.execute("SELECT user_id FROM users ORDER BY user_idx").fetchall()
    )
    items = tuple(
        r[0] for r in con.execute("SELECT item_id FROM items ORDER BY item_idx").fetchall()
    )
    return Vocabulary(users), Vocabulary(items)


def load_interactions(
    con: duckdb.DuckDBPyConnection,
    split: str | None = None,
    vocabularies: tuple[Vocabulary, Vocabulary] | None = None,
) -> Interactions:
    """Interactions (optionally of one given split), one row per (user, item): the latest kept.

    Repeated (user, item) pairs are collapsed so that a held-out item can never
    also sit in the training data. Without timestamps, row order stands in for time.
    """
    users, items = vocabularies or load_vocabularies(con)
    where = "WHERE split = ?" if split else ""
    params = [split] if split else []
    arrays = con.execute(
        "SELECT user_idx, item_idx, rating, COALESCE(ts, seq) AS t, seq FROM ("
        "  SELECT *, row_number() OVER ("
        "    PARTITION BY user_idx, item_idx ORDER BY COALESCE(ts, seq) DESC, seq DESC) AS k"
        f"  FROM interactions {where}"
        ") WHERE k = 1 ORDER BY seq",
        params,
    ).fetchnumpy()
    # DuckDB hands NULL ratings back as a masked array; implicit feedback becomes NaN.
    rating = np.ma.filled(np.ma.asarray(arrays["rating"], dtype=np.float64), np.nan)
    return Interactions(
        user=np.asarray(arrays["user_idx"], dtype=np.int64),
        item=np.asarray(arrays["item_idx"], dtype=np.int64),
        rating=rating,
        ts=np.asarray(arrays["t"], dtype=np.int64),
        users=users,
        items=items,
    )

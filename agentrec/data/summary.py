"""What ``agentrec data info`` reports about a dataset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agentrec.data.store import DatasetStore


def _scalar(store: DatasetStore, sql: str) -> Any:
    row = store.con.execute(sql).fetchone()
    return row[0] if row else None


def dataset_summary(store: DatasetStore) -> dict[str, Any]:
    """Counts, density, rating scale, attributes with examples, and time span."""
    users = int(_scalar(store, "SELECT count(*) FROM users"))
    items = int(_scalar(store, "SELECT count(*) FROM items"))
    interactions = int(_scalar(store, "SELECT count(*) FROM interactions"))
    active_items = int(_scalar(store, "SELECT count(DISTINCT item_idx) FROM interactions"))
    active_users = int(_scalar(store, "SELECT count(DISTINCT user_idx) FROM interactions"))
    ratings = store.con.execute(
        "SELECT min(rating), max(rating), count(DISTINCT rating) FROM interactions WHERE rating IS NOT NULL"
    ).fetchone()
    span = store.con.execute("SELECT min(ts), max(ts) FROM interactions").fetchone()
    splits = dict(
        store.con.execute(
            "SELECT split, count(*) FROM interactions WHERE split IS NOT NULL GROUP BY split ORDER BY split"
        ).fetchall()
    )
    return {
        "dataset": store.name,
        "folder": str(store.folder),
        "layout": store.layout,
        "store": str(store.path),
        "reused_store": store.reused,
        "open_seconds": round(store.build_seconds, 3),
        "users": users,
        "users_with_interactions": active_users,
        "items": items,
        "items_with_interactions": active_items,
        "interactions": interactions,
        "density": interactions / (users * items) if users and items else 0.0,
        "rating_scale": _rating_scale(ratings),
        "time_span": _time_span(span),
        "splits": splits,
        "attributes": [a.model_dump() for a in store.catalog.attributes()],
    }


def _rating_scale(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if row is None or row[0] is None:
        return None
    return {"min": row[0], "max": row[1], "distinct_values": row[2]}


def _time_span(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    if row is None or row[0] is None:
        return None
    first, last = (datetime.fromtimestamp(int(t), tz=UTC) for t in row)
    return {
        "first": first.date().isoformat(),
        "last": last.date().isoformat(),
        "days": (last - first).days,
    }

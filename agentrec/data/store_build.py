"""Derive the store's final tables from the raw tables a reader produced."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from agentrec.core.errors import DataError
from agentrec.data.text_attributes import year_from_title

logger = logging.getLogger(__name__)

# Integer-looking ids sort numerically, so MovieLens item 2 comes before item 10.
_ID_ORDER = "TRY_CAST({col} AS BIGINT) NULLS LAST, {col}"


def finalise_tables(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Create ``items``, ``users`` and ``interactions`` (with dense indices) and drop the raw tables."""
    _check_unique(con, "raw_items", "item_id", folder)
    _check_unique(con, "raw_users", "user_id", folder)
    _note_items_missing_from_file(con, folder)
    _add_missing(con, "raw_items", "item_id")
    _add_missing(con, "raw_users", "user_id")
    _create_items(con)
    _create_users(con)
    con.execute(
        "CREATE TABLE interactions AS SELECT r.rowid AS seq, r.user_id, r.item_id, r.rating, r.ts, "
        "r.split, u.user_idx, i.item_idx FROM raw_interactions r "
        "JOIN users u USING (user_id) JOIN items i USING (item_id) ORDER BY seq"
    )
    con.execute("DROP TABLE raw_interactions; DROP TABLE raw_items; DROP TABLE raw_users")


def _check_unique(con: duckdb.DuckDBPyConnection, table: str, column: str, folder: Path) -> None:
    row = con.execute(
        f"SELECT {column}, count(*) FROM {table} GROUP BY {column} HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if row is not None:
        raise DataError(
            f"{folder}: {column} {row[0]!r} appears {row[1]} times in the {table[4:]} file"
        )


def _note_items_missing_from_file(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """One warning line when interactions name items the items file lacks.

    A note rather than an error: interaction logs often outrun a catalog export, and
    the collaborative models only need the ids; refusing would make such data unusable.
    The items are kept (with no title or attributes), and the count tells the user how many.
    """
    has_items_file = con.execute("SELECT count(*) FROM raw_items").fetchone()
    if not (has_items_file and has_items_file[0]):
        return  # no items file at all: every item is known from its interactions only, as documented
    row = con.execute(
        "SELECT count(DISTINCT item_id), count(*) FROM raw_interactions "
        "WHERE item_id NOT IN (SELECT item_id FROM raw_items)"
    ).fetchone()
    if row and row[0]:
        logger.warning(
            "%s: %d interaction(s) name %d item(s) missing from the items file; kept without title or attributes",
            folder, row[1], row[0],
        )  # fmt: skip


def _add_missing(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    """Entities that appear only in interactions still get a row (with empty attributes)."""
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT {column} FROM ("
        f"  SELECT {column}, min(rowid) AS first_seen FROM raw_interactions"
        f"  WHERE {column} NOT IN (SELECT {column} FROM {table}) GROUP BY {column}"
        f") ORDER BY first_seen"
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())


def _create_items(con: duckdb.DuckDBPyConnection) -> None:
    columns = _columns(con, "raw_items")
    con.create_function(  # type: ignore[call-overload]  # the stub lacks the string null_handling form
        "year_from_title", year_from_title, ["VARCHAR"], "INTEGER", null_handling="special"
    )
    title = "CAST(title AS VARCHAR)" if "title" in columns else "CAST(NULL AS VARCHAR)"
    year = "TRY_CAST(year AS INTEGER)" if "year" in columns else f"year_from_title({title})"
    if "genres" not in columns:
        genres = "CAST([] AS VARCHAR[])"
    elif columns["genres"].endswith("[]"):
        genres = "COALESCE(CAST(genres AS VARCHAR[]), [])"
    else:
        genres = "CASE WHEN genres IS NULL THEN [] ELSE [CAST(genres AS VARCHAR)] END"
    extra = [f'"{c}"' for c in columns if c not in ("item_id", "title", "year", "genres")]
    con.execute(
        "CREATE TABLE items AS SELECT "
        f"CAST(row_number() OVER (ORDER BY {_ID_ORDER.format(col='r.item_id')}) - 1 AS INTEGER) AS item_idx, "
        f"r.item_id, {title} AS title, {year} AS year, {genres} AS genres, "
        + "".join(f"r.{c}, " for c in extra)
        + "CAST(COALESCE(s.popularity, 0) AS INTEGER) AS popularity, s.avg_rating "
        "FROM raw_items r LEFT JOIN (SELECT item_id, count(*) AS popularity, avg(rating) AS avg_rating "
        "FROM raw_interactions GROUP BY item_id) s USING (item_id) ORDER BY item_idx"
    )
    con.remove_function("year_from_title")


def _create_users(con: duckdb.DuckDBPyConnection) -> None:
    extra = [f'r."{c}", ' for c in _columns(con, "raw_users") if c != "user_id"]
    con.execute(
        "CREATE TABLE users AS SELECT "
        f"CAST(row_number() OVER (ORDER BY {_ID_ORDER.format(col='r.user_id')}) - 1 AS INTEGER) AS user_idx, "
        "r.user_id, " + "".join(extra) + "CAST(COALESCE(s.n, 0) AS INTEGER) AS n_interactions "
        "FROM raw_users r LEFT JOIN (SELECT user_id, count(*) AS n FROM raw_interactions GROUP BY user_id) s "
        "USING (user_id) ORDER BY user_idx"
    )

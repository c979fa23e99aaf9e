"""MovieLens in its publishers' layouts: ml-100k, ml-1m (and ml-10m), ml-latest*."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from agentrec.core.errors import DataError
from agentrec.data.csv_scan import scan_delimited
from agentrec.data.readers.tables import (
    create_table,
    delimited_lines,
    empty_users,
    parse_int,
    require_files,
)
from agentrec.data.text_attributes import split_multi_value

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

_ITEM_SCHEMA = [("item_id", pa.string()), ("title", pa.string()), ("genres", pa.list_(pa.string()))]

_INTERACTION_COLUMNS = {
    "user_id": "BIGINT",
    "item_id": "BIGINT",
    "rating": "DOUBLE",
    "ts": "BIGINT",
}


def _to_raw_interactions(con: duckdb.DuckDBPyConnection, scanned: str) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE raw_interactions AS SELECT CAST(user_id AS VARCHAR) AS user_id, "
        "CAST(item_id AS VARCHAR) AS item_id, rating, ts, CAST(NULL AS VARCHAR) AS split "
        f"FROM {scanned}"
    )
    con.execute(f"DROP TABLE {scanned}")


def read_ml100k(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """``u.data`` (tab-separated ratings), ``u.item`` (latin-1, 19 genre flags), ``u.user``."""
    require_files(folder, ["u.data", "u.item"])
    scan_delimited(con, folder / "u.data", "scanned", _INTERACTION_COLUMNS, delimiter="\t")
    _to_raw_interactions(con, "scanned")
    genres = _ml100k_genre_names(folder)
    rows: list[dict[str, Any]] = []
    path = folder / "u.item"
    for line, fields in delimited_lines(path, "|", 5 + len(genres), encoding="latin-1"):
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DataError(f"{path}:{line}: genre flags must be 0 or 1, got {'|'.join(flags)}")
        rows.append(
            {
                "item_id": str(parse_int(path, line, "movie id", fields[0])),
                "title": fields[1].strip(),
                "genres": [g for g, flag in zip(genres, flags, strict=True) if flag == "1"],
                "release_date": fields[2].strip() or None,
                "imdb_url": fields[4].strip() or None,
            }
        )
    schema = pa.schema([*_ITEM_SCHEMA, ("release_date", pa.string()), ("imdb_url", pa.string())])
    create_table(con, "raw_items", rows, schema)
    _read_users(
        con, folder / "u.user", "|", ["user_id", "age", "gender", "occupation", "zip"], "latin-1"
    )


def _ml100k_genre_names(folder: Path) -> tuple[str, ...]:
    """Genre names in flag order, from ``u.genre`` when present."""
    path = folder / "u.genre"
    if not path.is_file():
        return ML100K_GENRES
    named = sorted(
        (parse_int(path, line, "genre index", f[1]), f[0])
        for line, f in delimited_lines(path, "|", 2, encoding="latin-1")
    )
    return tuple(name for _, name in named)


def read_ml1m(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """``::``-separated ``ratings.dat``, ``movies.dat`` and optional ``users.dat`` (also ml-10m)."""
    require_files(folder, ["ratings.dat", "movies.dat"])
    scan_delimited(con, folder / "ratings.dat", "scanned", _INTERACTION_COLUMNS, delimiter="::")
    _to_raw_interactions(con, "scanned")
    path = folder / "movies.dat"
    rows = [
        {
            "item_id": str(parse_int(path, line, "MovieID", fields[0])),
            "title": fields[1].strip(),
            "genres": [g for g in split_multi_value(fields[2]) if g != "(no genres listed)"],
        }
        for line, fields in delimited_lines(path, "::", 3, encoding="latin-1")
    ]
    create_table(con, "raw_items", rows, pa.schema(_ITEM_SCHEMA))
    _read_users(
        con,
        folder / "users.dat",
        "::",
        ["user_id", "gender", "age", "occupation", "zip"],
        "latin-1",
    )


def _read_users(
    con: duckdb.DuckDBPyConnection, path: Path, delimiter: str, names: list[str], encoding: str
) -> None:
    if not path.is_file():
        empty_users(con)
        return
    rows = []
    for line, fields in delimited_lines(path, delimiter, len(names), encoding=encoding):
        row: dict[str, Any] = dict(zip(names, (f.strip() for f in fields), strict=True))
        row["user_id"] = str(parse_int(path, line, "user id", row["user_id"]))
        row["age"] = parse_int(path, line, "age", row["age"])
        rows.append(row)
    schema = pa.schema([(n, pa.int64() if n == "age" else pa.string()) for n in names])
    create_table(con, "raw_users", rows, schema)


def read_ml_latest(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """``ratings.csv``, ``movies.csv`` and optional ``links.csv`` and ``tags.csv`` (ml-latest*, ml-20m+)."""
    require_files(folder, ["ratings.csv", "movies.csv"])
    columns = {"userId": "BIGINT", "movieId": "BIGINT", "rating": "DOUBLE", "timestamp": "BIGINT"}
    scan_delimited(
        con, folder / "ratings.csv", "scanned", columns, delimiter=",", header=True, quoted=True
    )
    con.execute(
        "CREATE OR REPLACE TABLE scanned2 AS SELECT userId AS user_id, movieId AS item_id, rating, "
        "timestamp AS ts FROM scanned; DROP TABLE scanned"
    )
    _to_raw_interactions(con, "scanned2")
    links = _read_links(folder / "links.csv")
    tags = _read_tags(con, folder / "tags.csv")
    rows = []
    path = folder / "movies.csv"
    for line, record in _csv_records(path, ["movieId", "title", "genres"]):
        item_id = str(parse_int(path, line, "movieId", record["movieId"]))
        imdb, tmdb = links.get(item_id, (None, None))
        rows.append(
            {
                "item_id": item_id,
                "title": record["title"].strip(),
                "genres": [
                    g for g in split_multi_value(record["genres"]) if g != "(no genres listed)"
                ],
                "imdb_id": imdb,
                "tmdb_id": tmdb,
                "tags": tags.get(item_id, []),
            }
        )
    extra = [("imdb_id", pa.string()), ("tmdb_id", pa.string()), ("tags", pa.list_(pa.string()))]
    create_table(con, "raw_items", rows, pa.schema([*_ITEM_SCHEMA, *extra]))
    empty_users(con)


def _csv_records(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
        records = []
        for record in reader:
            if any(record.get(c) is None for c in required) or None in record:
                raise DataError(
                    f"{path}:{reader.line_num}: expected {len(reader.fieldnames or [])} fields"
                )
            records.append((reader.line_num, record))
        return records


def _read_links(path: Path) -> dict[str, tuple[str | None, str | None]]:
    if not path.is_file():
        return {}
    return {
        str(parse_int(path, line, "movieId", r["movieId"])): (
            r["imdbId"] or None,
            r["tmdbId"] or None,
        )
        for line, r in _csv_records(path, ["movieId", "imdbId", "tmdbId"])
    }


def _read_tags(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, list[str]]:
    """Each movie's distinct tags, lower-cased, most used first (at most 20)."""
    if not path.is_file():
        return {}
    columns = {"userId": "BIGINT", "movieId": "BIGINT", "tag": "VARCHAR", "timestamp": "BIGINT"}
    scan_delimited(con, path, "scanned_tags", columns, delimiter=",", header=True, quoted=True)
    rows = con.execute(
        "SELECT CAST(movieId AS VARCHAR), list(tag ORDER BY n DESC, tag)[1:20] FROM ("
        "  SELECT movieId, lower(trim(tag)) AS tag, count(*) AS n FROM scanned_tags"
        "  WHERE trim(tag) <> '' GROUP BY ALL) GROUP BY movieId"
    ).fetchall()
    con.execute("DROP TABLE scanned_tags")
    return {item_id: list(values) for item_id, values in rows}

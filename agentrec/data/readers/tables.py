"""Small building blocks shared by the readers: strict line parsing and table creation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from agentrec.core.errors import DataError


def delimited_lines(
    path: Path, delimiter: str, n_fields: int, encoding: str = "utf-8"
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a small delimited file, checking the field count."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                fields = text.split(delimiter)
                if len(fields) != n_fields:
                    raise DataError(
                        f"{path}:{number}: expected {n_fields} fields separated by "
                        f"{delimiter!r}, found {len(fields)}"
                    )
                yield number, fields
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not valid {encoding} text ({error.reason})") from None


def parse_int(path: Path, line: int, field: str, value: str) -> int:
    """``int(value)``, or a ``DataError`` naming the file, line and field."""
    try:
        return int(value.strip())
    except ValueError:
        raise DataError(
            f"{path}:{line}: field '{field}' should be an integer, got {value!r}"
        ) from None


def create_table(
    con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]], schema: pa.Schema
) -> None:
    """Create table ``name`` from Python rows with an explicit Arrow schema."""
    table = pa.Table.from_pylist(rows, schema=schema)
    con.register("_incoming_rows", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming_rows")
    finally:
        con.unregister("_incoming_rows")


def require_files(folder: Path, names: list[str]) -> None:
    """Raise a ``DataError`` naming the folder and every missing file."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)} (expected {', '.join(names)})")


def empty_users(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TABLE raw_users (user_id VARCHAR)")

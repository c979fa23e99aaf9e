"""Strict delimited-file scans through DuckDB that report the first bad row as file:line."""

from __future__ import annotations

from pathlib import Path

import duckdb

from agentrec.core.errors import DataError


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scan_delimited(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    columns: dict[str, str],
    *,
    delimiter: str,
    header: bool = False,
    encoding: str = "utf-8",
    quoted: bool = False,
) -> None:
    """Load ``path`` into a new table ``table`` with typed ``columns``, or raise ``DataError``.

    Rows DuckDB rejects (wrong field count, a value of the wrong type) are
    collected, and the first one becomes ``file:line: what was wrong``.
    The file path and options are passed as literals because DuckDB table
    functions do not take prepared parameters; they come from the filesystem,
    never from a user's free text, and are quoted.
    """
    column_spec = (
        "{"
        + ", ".join(f"{_quote_literal(k)}: {_quote_literal(v)}" for k, v in columns.items())
        + "}"
    )
    quote_option = "" if quoted else ", quote='', escape=''"
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans;")
    con.execute(
        f"CREATE TABLE {table} AS SELECT * FROM read_csv({_quote_literal(str(path))}, "
        f"delim={_quote_literal(delimiter)}, header={str(header).lower()}, columns={column_spec}, "
        f"encoding={_quote_literal(encoding)}, auto_detect=false, ignore_errors=true, "
        f"store_rejects=true, null_padding=false{quote_option})"
    )
    first_reject = con.execute(
        "SELECT line, column_name, error_type, error_message FROM reject_errors ORDER BY line LIMIT 1"
    ).fetchone()
    if first_reject is not None:
        line, column, kind, message = first_reject
        raise DataError(f"{path}:{line}: {_explain(kind, column, message)}")


def _explain(kind: str, column: str | None, message: str) -> str:
    if kind == "MISSING COLUMNS":
        return f"too few fields ({message.strip()})"
    if kind == "TOO MANY COLUMNS":
        return f"too many fields ({message.strip()})"
    if kind == "CAST":
        return f"bad value in field '{column}': {message.strip()}"
    return f"{kind.lower()}: {message.strip()}"

"""Records kept in DuckDB files (agent traces, simulation events): opened, or refused in one line.

A record is not derived from anything, so an unreadable one is never replaced (that
would lose what it holds, or silently start over): the error names the file and what
the user can do. Derived files (models, stores, caches) are rebuilt instead.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from agentrec.core.errors import DataError


def is_lock_error(error: duckdb.Error) -> bool:
    """Another process holds the file: worth a short wait, not a verdict on the file."""
    return "lock" in str(error).lower()


def unreadable_record(path: Path, what: str, remedy: str, error: Exception) -> DataError:
    """The one-line refusal of an unreadable record file."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return DataError(f"{path}: the {what} cannot be read ({reason}); it is a record, not rebuilt: {remedy}")

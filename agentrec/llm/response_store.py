"""The DuckDB file behind the response cache, and the keys it is read by.

The key is a hash of the model id, the messages, and whatever else changes the
answer (tools, response schema, settings; the continuation of a log-probability).
API keys never reach this module: the backends keep them in the environment,
and the model id carries no secret.

The file is derived data: one that DuckDB cannot read (overwritten, truncated)
is moved aside with a warning and an empty cache takes its place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentrec.core.paths import state_dir
from agentrec.llm.file_lock import exclusive
from agentrec.llm.records import (
    AssistantTurn,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolSpec,
    response_schema_dict,
)

logger = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key VARCHAR PRIMARY KEY, model VARCHAR, turn VARCHAR, created DOUBLE)"
# Another process may hold DuckDB's write lock for a moment (parallel simulation workers).
_LOCK_ATTEMPTS = 20
# Where an unreadable cache file goes: one name, so repeated damage does not pile up copies.
CORRUPT_SUFFIX = ".corrupt"


def default_cache_path() -> Path:
    """Where the response cache lives inside the state home."""
    return state_dir("llm") / "cache.duckdb"


def _digest(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_key(
    model_id: str,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    response_schema: ResponseSchema | None,
    settings: GenerationSettings,
) -> str:
    """A stable hash of everything that determines a reply."""
    return _digest(
        {
            "model": model_id,
            "messages": [m.model_dump(mode="json") for m in messages],
            "tools": [t.model_dump(mode="json") for t in tools or []],
            "response_schema": response_schema_dict(response_schema),
            "params": settings.cache_params(),
        }
    )


def logprob_key(model_id: str, messages: list[Message], continuation: str) -> str:
    """The key of a log-probability; no chat reply can have it (the kind is part of it)."""
    return _digest(
        {
            "kind": "logprob",
            "model": model_id,
            "messages": [m.model_dump(mode="json") for m in messages],
            "continuation": continuation,
        }
    )


def next_token_key(model_id: str, messages: list[Message], options: Sequence[str]) -> str:
    """The key of the first-token log-probabilities of ``options`` after a prompt."""
    return _digest(
        {
            "kind": "next-token",
            "model": model_id,
            "messages": [m.model_dump(mode="json") for m in messages],
            "options": list(options),
        }
    )


def stream_key(model_id: str, messages: list[Message], settings: GenerationSettings, stop_rule: str) -> str:
    """The key of a reply streamed until a stopping rule (named by the caller) held."""
    return _digest(
        {
            "kind": "reply-until",
            "model": model_id,
            "messages": [m.model_dump(mode="json") for m in messages],
            "detail": stop_rule,
            "params": settings.cache_params(),
        }
    )


class ResponseStore:
    """Turns stored by request key in one DuckDB file, read through an in-memory index.

    A short-lived connection per operation lets several processes share the
    file: each holds the lock only for one read or write. Opening a connection
    costs tens of milliseconds, so the whole table is read once, on first use,
    and hits are served from memory; a miss asks the file again, because
    another process may have written the answer since.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._known: dict[str, str] | None = None  # key -> turn JSON, parsed on a hit
        self._run(lambda con: con.execute(_SCHEMA))

    def _run(self, operation: Any) -> Any:
        """Run ``operation`` on a fresh connection; an unreadable file is set aside and the operation rerun."""
        import duckdb

        try:
            return self._run_when_unlocked(operation)
        except duckdb.Error as error:
            if _is_lock_error(error):
                raise
        # Workers may meet the same damaged file together: one sets it aside, the others then succeed.
        with exclusive(self.path.with_name(self.path.name + ".lock")):
            try:
                return self._run_when_unlocked(operation)
            except duckdb.Error as error:
                if _is_lock_error(error):
                    raise
                self._set_aside(error)
            self._run_when_unlocked(lambda con: con.execute(_SCHEMA))
            return self._run_when_unlocked(operation)

    def _set_aside(self, error: Exception) -> None:
        aside = self.path.with_name(self.path.name + CORRUPT_SUFFIX)
        self.path.replace(aside)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        logger.warning(
            "the LLM response cache %s was unreadable (%s); moved it to %s and started an empty one",
            self.path,
            reason,
            aside.name,
        )

    def _run_when_unlocked(self, operation: Any) -> Any:
        import duckdb

        for attempt in range(_LOCK_ATTEMPTS):
            try:
                with duckdb.connect(str(self.path)) as con:
                    return operation(con)
            except duckdb.IOException as error:
                if not _is_lock_error(error) or attempt == _LOCK_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None  # unreachable: the last attempt re-raises

    def get(self, key: str) -> AssistantTurn | None:
        """The stored turn for ``key``, or None."""
        if self._known is None:
            rows = self._run(lambda con: con.execute("SELECT key, turn FROM responses").fetchall())
            self._known = dict(rows)
        stored = self._known.get(key)
        if stored is None:
            row = self._run(lambda con: con.execute("SELECT turn FROM responses WHERE key = ?", [key]).fetchone())
            if row is None:
                return None
            stored = self._known[key] = row[0]
        return AssistantTurn.model_validate_json(stored)

    def put(self, key: str, turn: AssistantTurn) -> None:
        """Store ``turn`` under ``key`` (the last write wins)."""
        serialized = turn.model_dump_json()
        self._run(
            lambda con: con.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                [key, turn.model, serialized, time.time()],
            )
        )
        if self._known is not None:
            self._known[key] = serialized

    def count(self) -> int:
        """Number of stored turns."""
        return int(self._run(lambda con: con.execute("SELECT count(*) FROM responses").fetchone()[0]))


def _is_lock_error(error: Exception) -> bool:
    return "lock" in str(error).lower()

"""A DuckDB response cache: exact replays and zero-cost reruns.

The key is a hash of the model id, the messages, the tools, the response schema
and the settings that change a reply. API keys never reach this module: the
backends keep them in the environment, and the model id carries no secret.

Modes: ``off`` calls the backend every time; ``on`` answers from the cache when
it can and stores new answers; ``replay`` answers only from the cache and fails
on a miss, naming the call that was missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from agentrec.core.errors import ConfigError
from agentrec.core.paths import state_dir
from agentrec.llm.records import (
    AssistantTurn,
    ChatModel,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolSpec,
    response_schema_dict,
)
from agentrec.llm.usage import UsageMeter

logger = logging.getLogger(__name__)

CacheMode = Literal["off", "on", "replay"]
CACHE_MODES: tuple[str, ...] = ("off", "on", "replay")
_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key VARCHAR PRIMARY KEY, model VARCHAR, turn VARCHAR, created DOUBLE)"
# Another process may hold DuckDB's write lock for a moment (parallel simulation workers).
_LOCK_ATTEMPTS = 20


class ReplayMissError(ConfigError):
    """``--cache replay`` met a call that was never recorded."""


def default_cache_path() -> Path:
    """Where the response cache lives inside the state home."""
    return state_dir("llm") / "cache.duckdb"


def request_key(
    model_id: str,
    messages: list[Message],
    tools: list[ToolSpec] | None,
    response_schema: ResponseSchema | None,
    settings: GenerationSettings,
) -> str:
    """A stable hash of everything that determines a reply."""
    request: dict[str, Any] = {
        "model": model_id,
        "messages": [m.model_dump(mode="json") for m in messages],
        "tools": [t.model_dump(mode="json") for t in tools or []],
        "response_schema": response_schema_dict(response_schema),
        "params": settings.cache_params(),
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
        import duckdb

        for attempt in range(_LOCK_ATTEMPTS):
            try:
                with duckdb.connect(str(self.path)) as con:
                    return operation(con)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or attempt == _LOCK_ATTEMPTS - 1:
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


class CachedChatModel:
    """Wraps a backend with the response cache and reports every turn to a usage meter."""

    def __init__(
        self,
        backend: ChatModel,
        mode: CacheMode = "on",
        store: ResponseStore | None = None,
        meter: UsageMeter | None = None,
    ) -> None:
        if mode not in CACHE_MODES:
            raise ConfigError(f"cache mode must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
        self.backend = backend
        self.mode = mode
        self.store = store if store is not None or mode == "off" else ResponseStore()
        self.meter = meter
        self.backend_calls = 0

    @property
    def model_id(self) -> str:
        """The wrapped backend's id."""
        return self.backend.model_id

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Answer from the cache when the mode allows, otherwise from the backend."""
        settings = settings or GenerationSettings()
        turn = self._lookup_or_call(messages, tools, response_schema, settings)
        if self.meter is not None:
            self.meter.record(turn)
        return turn

    def _lookup_or_call(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        response_schema: ResponseSchema | None,
        settings: GenerationSettings,
    ) -> AssistantTurn:
        if self.store is None or self.mode == "off":
            return self._call_backend(messages, tools, response_schema, settings)
        key = request_key(self.model_id, messages, tools, response_schema, settings)
        stored = self.store.get(key)
        if stored is not None:
            return stored.model_copy(update={"cached": True})
        if self.mode == "replay":
            last = messages[-1].content if messages else ""
            raise ReplayMissError(
                f"replay cache has no answer for a call to {self.model_id} "
                f"ending with {last[:60]!r} (key {key[:12]}); run once with --cache on"
            )
        turn = self._call_backend(messages, tools, response_schema, settings)
        self.store.put(key, turn)
        return turn

    def _call_backend(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None,
        response_schema: ResponseSchema | None,
        settings: GenerationSettings,
    ) -> AssistantTurn:
        self.backend_calls += 1
        return self.backend.complete(messages, tools, response_schema, settings)

    def __getattr__(self, name: str) -> Any:
        # Backend extras (logprob, stream) pass through; they are not cached.
        if name == "backend":
            raise AttributeError(name)
        return getattr(self.backend, name)

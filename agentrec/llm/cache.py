"""The response cache in front of a backend: exact replays, zero-cost reruns, every call metered.

Modes: ``off`` calls the backend every time; ``on`` answers from the cache when
it can and stores new answers; ``replay`` answers only from the cache and fails
on a miss, naming the call that was missing.

Each optional capability of a backend (``capabilities.py``) is forwarded on
purpose, never by attribute passthrough: log-probabilities go through the cache
and the meter; a live stream goes through the meter; a reply streamed until a
caller's stopping rule goes through both. Asking for a capability the backend
lacks is a ``ConfigError`` naming both.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from agentrec.core.errors import ConfigError
from agentrec.llm.capabilities import (
    STATE_CACHE_BYTES,
    KeepsPromptStates,
    RunsGgufFile,
    ScoresNextToken,
    ScoresText,
    StreamsText,
    Tokenizes,
    require,
    supports,
)
from agentrec.llm.records import (
    AssistantTurn,
    ChatModel,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolSpec,
    Usage,
)
from agentrec.llm.response_store import ResponseStore, logprob_key, next_token_key, request_key, stream_key
from agentrec.llm.usage import UsageMeter

CacheMode = Literal["off", "on", "replay"]
CACHE_MODES: tuple[str, ...] = ("off", "on", "replay")
# Asked with the text so far each time a streamed piece ends a line: True stops the stream.
StopRule = Callable[[str], bool]
Result = TypeVar("Result")


class ReplayMissError(ConfigError):
    """``--cache replay`` met a call that was never recorded."""


class CachedChatModel:
    """Wraps a backend with the response cache and reports every call to a usage meter.

    ``backend_calls`` counts the calls the backend computed, of every kind.
    """

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
        self._counting = threading.Lock()  # callers in several threads (--concurrency) share the count

    @property
    def model_id(self) -> str:
        """The wrapped backend's id."""
        return self.backend.model_id

    def forwards(self, capability: type[Any]) -> bool:
        """True when the backend has ``capability`` (this wrapper offers exactly the backend's)."""
        return supports(self.backend, capability)

    # -- chat ------------------------------------------------------------------------------

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Answer from the cache when the mode allows, otherwise from the backend."""
        settings = settings or GenerationSettings()
        # Hashing the request costs a little; without a store nothing reads the key.
        key = request_key(self.model_id, messages, tools, response_schema, settings) if self._uses_store else ""
        turn = self._cached(key)
        if turn is None:
            self._refuse_in_replay(messages, key)
            turn = self._computed(lambda: self.backend.complete(messages, tools, response_schema, settings))
            self._store(key, turn)
        return self._metered(turn)

    # -- log-probabilities -------------------------------------------------------------------

    def logprob(self, messages: list[Message], continuation: str) -> float:
        """The backend's log-probability, through the cache and the meter.

        A log-probability missing in replay mode is computed (it is deterministic
        and generates nothing), but only mode ``on`` stores it.
        """
        require(self.backend, ScoresText, "log-probabilities")
        scorer = cast(ScoresText, self.backend)
        key = logprob_key(self.model_id, messages, continuation)
        turn = self._cached(key)
        if turn is None:
            started = time.perf_counter()
            value = self._computed(lambda: scorer.logprob(messages, continuation))
            latency = time.perf_counter() - started
            # Teacher forcing evaluates the prompt and the continuation; nothing is generated.
            tokens = self._prompt_tokens(messages) + self._tokens_of(continuation)
            turn = AssistantTurn(
                text=repr(value),
                usage=Usage(prompt_tokens=tokens),
                latency_s=latency,
                model=f"{self.model_id}#logprob",
            )
            self._store(key, turn)
        return float(self._metered(turn).text)

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> list[float | None]:
        """The backend's first-token log-probabilities of ``options``, through the cache and the meter."""
        require(self.backend, ScoresNextToken, "next-token log-probabilities")
        scorer = cast(ScoresNextToken, self.backend)
        key = next_token_key(self.model_id, messages, options)
        turn = self._cached(key)
        if turn is None:
            self._refuse_in_replay(messages, key)
            started = time.perf_counter()
            values = self._computed(lambda: scorer.next_token_logprobs(messages, options))
            turn = AssistantTurn(
                text=json.dumps(values),
                usage=Usage(prompt_tokens=self._prompt_tokens(messages), completion_tokens=1),
                latency_s=time.perf_counter() - started,
                model=f"{self.model_id}#next-token",
            )
            self._store(key, turn)
        return [None if value is None else float(value) for value in json.loads(self._metered(turn).text)]

    # -- streaming ---------------------------------------------------------------------------

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        """The backend's reply piece by piece, live (a stream is for timing or stopping), metered.

        The meter counts the pieces received as completion tokens (one piece is one
        token on the embedded model), and the prompt's tokens when the backend can count them.
        """
        require(self.backend, StreamsText, "streamed replies")
        if self.mode == "replay":
            raise ReplayMissError(f"replay mode cannot stream a live reply from {self.model_id}; use --cache on")
        return self._live_stream(cast(StreamsText, self.backend), messages, settings or GenerationSettings())

    def stream_until(
        self, messages: list[Message], settings: GenerationSettings, stop: StopRule, stop_rule: str
    ) -> str:
        """The reply streamed until ``stop`` holds at the end of a line (or to its end), cached and metered.

        ``stop_rule`` names the rule (with whatever it depends on) in the cache key:
        the same request under another rule stops elsewhere.
        """
        require(self.backend, StreamsText, "streamed replies")
        key = stream_key(self.model_id, messages, settings, stop_rule)
        turn = self._cached(key)
        if turn is None:
            self._refuse_in_replay(messages, key)
            turn = self._streamed_until(cast(StreamsText, self.backend), messages, settings, stop)
            self._store(key, turn)
        return self._metered(turn).text

    def _live_stream(
        self, backend: StreamsText, messages: list[Message], settings: GenerationSettings
    ) -> Iterator[str]:
        started, pieces = time.perf_counter(), []
        self._count_backend_call()
        try:
            with closing(_closable(backend.stream_text(messages, settings))) as stream:
                for piece in stream:
                    pieces.append(piece)
                    yield piece
        finally:  # also when the caller stops early: what was generated was paid for
            self._metered(self._streamed_turn(messages, pieces, started))

    def _streamed_until(
        self, backend: StreamsText, messages: list[Message], settings: GenerationSettings, stop: StopRule
    ) -> AssistantTurn:
        started, pieces = time.perf_counter(), []
        text = ""
        self._count_backend_call()
        with closing(_closable(backend.stream_text(messages, settings))) as stream:
            for piece in stream:
                pieces.append(piece)
                text += piece
                # A line is the unit the rule reads; asking once per line keeps a costly rule cheap.
                if "\n" in piece and stop(text):
                    break
        return self._streamed_turn(messages, pieces, started, tag="#until")

    def _streamed_turn(
        self, messages: list[Message], pieces: list[str], started: float, tag: str = ""
    ) -> AssistantTurn:
        latency = time.perf_counter() - started
        return AssistantTurn(
            text="".join(pieces),
            usage=Usage(prompt_tokens=self._prompt_tokens(messages), completion_tokens=len(pieces)),
            latency_s=latency,
            model=f"{self.model_id}{tag}",
        )

    def _prompt_tokens(self, messages: list[Message]) -> int:
        """Prompt tokens of a call that reports none (a stream, a score), if the backend can count them."""
        return cast(Tokenizes, self.backend).prompt_tokens(messages) if self.forwards(Tokenizes) else 0

    def _tokens_of(self, text: str) -> int:
        return cast(Tokenizes, self.backend).count_tokens(text) if self.forwards(Tokenizes) else 0

    # -- capabilities that make no call ------------------------------------------------------

    def keep_prompt_states(self, capacity_bytes: int = STATE_CACHE_BYTES) -> None:
        """The backend keeps evaluated prompt states (see ``LocalChatModel.keep_prompt_states``)."""
        require(self.backend, KeepsPromptStates, "kept prompt states")
        cast(KeepsPromptStates, self.backend).keep_prompt_states(capacity_bytes)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the backend's tokenizer."""
        require(self.backend, Tokenizes, "token counts")
        return cast(Tokenizes, self.backend).count_tokens(text)

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the prompt ``messages`` render to, under the backend's tokenizer."""
        require(self.backend, Tokenizes, "token counts")
        return cast(Tokenizes, self.backend).prompt_tokens(messages)

    def token_texts(self) -> Sequence[str]:
        """The backend's vocabulary as text."""
        require(self.backend, Tokenizes, "its vocabulary")
        return cast(Tokenizes, self.backend).token_texts()

    def gguf_path(self) -> Path:
        """The GGUF file the backend runs."""
        require(self.backend, RunsGgufFile, "a GGUF file")
        return cast(RunsGgufFile, self.backend).gguf_path()

    # -- the cache and the meter -------------------------------------------------------------

    @property
    def _uses_store(self) -> bool:
        return self.store is not None and self.mode != "off"

    def _cached(self, key: str) -> AssistantTurn | None:
        if self.store is None or self.mode == "off":
            return None
        stored = self.store.get(key)
        return None if stored is None else stored.model_copy(update={"cached": True})

    def _refuse_in_replay(self, messages: list[Message], key: str) -> None:
        if self.mode == "replay":
            last = messages[-1].content if messages else ""
            raise ReplayMissError(
                f"replay cache has no answer for a call to {self.model_id} "
                f"ending with {last[:60]!r} (key {key[:12]}); run once with --cache on"
            )

    def _count_backend_call(self) -> None:
        with self._counting:
            self.backend_calls += 1

    def _computed(self, call: Callable[[], Result]) -> Result:
        self._count_backend_call()
        return call()

    def _store(self, key: str, turn: AssistantTurn) -> None:
        if self.store is not None and self.mode == "on":
            self.store.put(key, turn)

    def _metered(self, turn: AssistantTurn) -> AssistantTurn:
        if self.meter is not None:
            self.meter.record(turn)
        return turn


def _closable(stream: Iterable[str]) -> Generator[str, None, None]:
    """``stream`` as a generator: closing it closes the backend's stream too (PEP 380), freeing the model."""
    yield from stream

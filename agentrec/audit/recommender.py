"""The recommender under audit: one LLM, one prompt, and the two things the audit reads from it.

``rank`` generates a reply (greedy, through the response cache, so an
identical prompt is never generated twice) and parses the target's rank.
On a backend that streams (the embedded model, litellm) generation stops at the end
of the line that first mentions the target: the rest of the reply cannot
move it, and skipping it halves the cost of a pair (bench/README.md). The
reply kept is then that greedy prefix. One case differs from parsing the
whole reply: a product misspelt before the target and spelt right after it
counts at the misspelling here, at the exact mention there.
``first_place_logprob`` is log P("1. <target>") by teacher forcing; it needs a
backend with ``logprob`` (the embedded model) and is ``None`` otherwise.
Log-probabilities are cached too: in memory, and in the response store when
the chat model has one, under a key that cannot collide with a chat reply
(``--cache replay`` reads them but computes a missing one instead of failing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import Any, cast

from agentrec.audit.catalog import Product
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.ranking import rank_of
from agentrec.llm.cache import CachedChatModel, ResponseStore
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings, Message

# A ranked list of ten products with a short line each fits in about 250 tokens on SmolLM2.
DEFAULT_MAX_TOKENS = 256
LogprobFunction = Callable[[list[Message], str], float]
StreamFunction = Callable[[list[Message], GenerationSettings], Generator[str, None, None]]


class AuditedRecommender:
    """Asks ``chat`` to rank products under ``prompt``; greedy, so replies are reproducible."""

    def __init__(self, chat: ChatModel, prompt: RecommenderPrompt, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.chat = chat
        self.prompt = prompt
        self.settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens, seed=0)
        self.generations = 0  # rank requests, cached or not
        self.logprob_requests = 0
        self.logprob_calls = 0  # log-probabilities computed (not found in a cache)
        self.streamed_calls = 0  # replies generated up to the target's line (not found in a cache)
        self.worker_requests = 0  # calls made for this recommender in worker processes
        self.worker_computed = 0
        self._logprobs: dict[str, float] = {}
        backend = getattr(chat, "backend", chat)
        self._stream = cast(StreamFunction | None, getattr(backend, "stream_text", None))

    def computed_calls(self) -> int:
        """Model calls actually computed so far (generations the cache missed, plus log-probabilities)."""
        generated = self.chat.backend_calls if isinstance(self.chat, CachedChatModel) else self.generations
        return generated + self.logprob_calls + self.streamed_calls + self.worker_computed

    def requested_calls(self) -> int:
        """Generations and log-probabilities asked for so far, cached or not."""
        return self.generations + self.logprob_requests + self.worker_requests

    def add_worker_calls(self, requested: int, computed: int) -> None:
        """Count calls that worker processes made on this recommender's behalf."""
        self.worker_requests += requested
        self.worker_computed += computed

    def with_prompt(self, prompt: RecommenderPrompt) -> AuditedRecommender:
        """The same model and settings under another prompt (for the sandwich defence)."""
        other = AuditedRecommender(self.chat, prompt, self.settings.max_tokens)
        other._logprobs = self._logprobs  # keys hold the full prompt, so sharing is safe
        other._stream = self._stream
        return other

    @property
    def supports_logprob(self) -> bool:
        """True when the backend scores continuations (the embedded model does)."""
        return callable(getattr(self.chat, "logprob", None))

    def reply(self, products: Sequence[Product]) -> str:
        """The model's reply to the prompt over ``products``, with the prefill put back in front."""
        turn: AssistantTurn = self.chat.complete(self.prompt.messages(products), settings=self.settings)
        self.generations += 1
        return f"{self.prompt.prefill}{turn.text}"

    def rank(self, products: Sequence[Product], target: str) -> tuple[int, str]:
        """The target's rank (N+1 when unmentioned) among ``products`` as shown, and the reply."""
        names = [p.name for p in products]
        index = names.index(target)
        text = self.reply(products) if self._stream is None else self._reply_until(products, names, index)
        return rank_of(text, names, index), text

    def _reply_until(self, products: Sequence[Product], names: list[str], target: int) -> str:
        """The greedy reply up to the end of the line that first mentions ``names[target]``."""
        self.generations += 1
        messages = self.prompt.messages(products)
        key = _request_key("reply-until-target", self.chat.model_id, messages, names[target], self.settings)
        store = _store_of(self.chat)
        stored = store.get(key) if store is not None else None
        if stored is not None:
            return stored.text
        assert self._stream is not None
        text = self.prompt.prefill
        with closing(self._stream(messages, self.settings)) as pieces:
            for piece in pieces:
                text += piece
                # A name is whole by the end of its line; the fuzzy parse runs once per line.
                if "\n" in piece and rank_of(text, names, target) <= len(names):
                    break
        self.streamed_calls += 1
        if store is not None and isinstance(self.chat, CachedChatModel) and self.chat.mode == "on":
            store.put(key, AssistantTurn(text=text, model=f"{self.chat.model_id}#until-target"))
        return text

    def first_place_logprob(self, products: Sequence[Product], target: str) -> float | None:
        """log P("1. <target>") for the prompt over ``products``; ``None`` without logprob support."""
        score = cast(LogprobFunction | None, getattr(self.chat, "logprob", None))
        if score is None:
            return None
        self.logprob_requests += 1
        messages = self.prompt.messages(products)
        continuation = self.prompt.first_place_text(target)
        key = _request_key("logprob", self.chat.model_id, messages, continuation)
        if key in self._logprobs:
            return self._logprobs[key]
        store = _store_of(self.chat)
        stored = store.get(key) if store is not None else None
        if stored is not None:
            value = float(stored.text)
        else:
            value = score(messages, continuation)
            self.logprob_calls += 1
            if store is not None and isinstance(self.chat, CachedChatModel) and self.chat.mode == "on":
                store.put(key, AssistantTurn(text=repr(value), model=f"{self.chat.model_id}#logprob"))
        self._logprobs[key] = value
        return value


def _request_key(
    kind: str, model_id: str, messages: list[Message], detail: str, settings: GenerationSettings | None = None
) -> str:
    """A response-store key that no chat reply can have: the kind is part of it."""
    request: dict[str, Any] = {
        "kind": kind,
        "model": model_id,
        "messages": [m.model_dump(mode="json") for m in messages],
        "continuation" if kind == "logprob" else "detail": detail,
    }
    if settings is not None:
        request["params"] = settings.cache_params()
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _store_of(chat: ChatModel) -> ResponseStore | None:
    # A caching chat model reads stored answers in modes on and replay (and writes in mode on only).
    # A log-probability missing in replay mode is computed: it is deterministic and costs no tokens.
    if isinstance(chat, CachedChatModel) and chat.mode != "off":
        return chat.store
    return None

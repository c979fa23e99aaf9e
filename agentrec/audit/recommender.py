"""The recommender under audit: one LLM, one prompt, and the two things the audit reads from it.

``rank`` generates a reply (greedy, through the response cache, so an
identical prompt is never generated twice) and parses the target's rank.
``first_place_logprob`` is log P("1. <target>") by teacher forcing; it needs a
backend with ``logprob`` (the embedded model) and is ``None`` otherwise.
Log-probabilities are cached too: in memory, and in the response store when
the chat model has one, under a key that cannot collide with a chat reply
(``--cache replay`` reads them but computes a missing one instead of failing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import cast

from agentrec.audit.catalog import Product
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.ranking import rank_of
from agentrec.llm.cache import CachedChatModel, ResponseStore
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings, Message

# A ranked list of ten products with a short line each fits in about 250 tokens on SmolLM2.
DEFAULT_MAX_TOKENS = 256
LogprobFunction = Callable[[list[Message], str], float]


class AuditedRecommender:
    """Asks ``chat`` to rank products under ``prompt``; greedy, so replies are reproducible."""

    def __init__(self, chat: ChatModel, prompt: RecommenderPrompt, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.chat = chat
        self.prompt = prompt
        self.settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens, seed=0)
        self.generations = 0  # rank requests, cached or not
        self.logprob_requests = 0
        self.logprob_calls = 0  # log-probabilities computed (not found in a cache)
        self._logprobs: dict[str, float] = {}

    def computed_calls(self) -> int:
        """Model calls actually computed so far (generations the cache missed, plus log-probabilities)."""
        generated = self.chat.backend_calls if isinstance(self.chat, CachedChatModel) else self.generations
        return generated + self.logprob_calls

    def with_prompt(self, prompt: RecommenderPrompt) -> AuditedRecommender:
        """The same model and settings under another prompt (for the sandwich defence)."""
        other = AuditedRecommender(self.chat, prompt, self.settings.max_tokens)
        other._logprobs = self._logprobs  # keys hold the full prompt, so sharing is safe
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
        text = self.reply(products)
        names = [p.name for p in products]
        return rank_of(text, names, names.index(target)), text

    def first_place_logprob(self, products: Sequence[Product], target: str) -> float | None:
        """log P("1. <target>") for the prompt over ``products``; ``None`` without logprob support."""
        score = cast(LogprobFunction | None, getattr(self.chat, "logprob", None))
        if score is None:
            return None
        self.logprob_requests += 1
        messages = self.prompt.messages(products)
        continuation = self.prompt.first_place_text(target)
        key = _logprob_key(self.chat.model_id, messages, continuation)
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


def _logprob_key(model_id: str, messages: list[Message], continuation: str) -> str:
    request = {
        "kind": "logprob",
        "model": model_id,
        "messages": [m.model_dump(mode="json") for m in messages],
        "continuation": continuation,
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _store_of(chat: ChatModel) -> ResponseStore | None:
    # A caching chat model reads stored answers in modes on and replay (and writes in mode on only).
    # A log-probability missing in replay mode is computed: it is deterministic and costs no tokens.
    if isinstance(chat, CachedChatModel) and chat.mode != "off":
        return chat.store
    return None

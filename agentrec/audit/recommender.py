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
backend that scores text (``ScoresText``: the embedded model) and is ``None``
otherwise. Every call goes through the cache wrapper (``llm/cache.py``), which
caches log-probabilities and replies up to the target as it caches completions
(under ``--cache replay`` a missing log-probability is computed, not refused)
and reports each call, cached or not, to the usage meter. A bare backend is wrapped
with the cache off, so it is counted the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from agentrec.audit.catalog import Product
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.ranking import rank_of
from agentrec.llm.cache import CachedChatModel
from agentrec.llm.capabilities import ScoresText, StreamsText, supports
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings

# A ranked list of ten products with a short line each fits in about 250 tokens on SmolLM2.
DEFAULT_MAX_TOKENS = 256


class AuditedRecommender:
    """Asks ``chat`` to rank products under ``prompt``; greedy, so replies are reproducible."""

    def __init__(self, chat: ChatModel, prompt: RecommenderPrompt, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.chat = chat if isinstance(chat, CachedChatModel) else CachedChatModel(chat, mode="off")
        self.prompt = prompt
        self.settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens, seed=0)
        self.generations = 0  # rank requests, cached or not
        self.logprob_requests = 0
        self.worker_requests = 0  # calls made for this recommender in worker processes
        self.worker_computed = 0
        self._counting = threading.Lock()  # pairs in flight together (--concurrency) share these counts
        self._streams = supports(self.chat, StreamsText)

    def computed_calls(self) -> int:
        """Model calls actually computed so far (not found in a cache), of every kind and in every worker."""
        return self.chat.backend_calls + self.worker_computed

    def requested_calls(self) -> int:
        """Generations and log-probabilities asked for so far, cached or not."""
        return self.generations + self.logprob_requests + self.worker_requests

    def add_worker_calls(self, requested: int, computed: int) -> None:
        """Count calls that worker processes made on this recommender's behalf."""
        self.worker_requests += requested
        self.worker_computed += computed

    def with_prompt(self, prompt: RecommenderPrompt) -> AuditedRecommender:
        """The same model and settings under another prompt (for the sandwich defence)."""
        return AuditedRecommender(self.chat, prompt, self.settings.max_tokens)

    @property
    def supports_logprob(self) -> bool:
        """True when the backend scores continuations (the embedded model does)."""
        return supports(self.chat, ScoresText)

    def reply(self, products: Sequence[Product]) -> str:
        """The model's reply to the prompt over ``products``, with the prefill put back in front."""
        turn: AssistantTurn = self.chat.complete(self.prompt.messages(products), settings=self.settings)
        with self._counting:
            self.generations += 1
        return f"{self.prompt.prefill}{turn.text}"

    def rank(self, products: Sequence[Product], target: str) -> tuple[int, str]:
        """The target's rank (N+1 when unmentioned) among ``products`` as shown, and the reply."""
        names = [p.name for p in products]
        index = names.index(target)
        text = self._reply_until(products, names, index) if self._streams else self.reply(products)
        return rank_of(text, names, index), text

    def _reply_until(self, products: Sequence[Product], names: list[str], target: int) -> str:
        """The greedy reply up to the end of the line that first mentions ``names[target]``."""
        with self._counting:
            self.generations += 1
        prefill = self.prompt.prefill

        def target_is_ranked(text: str) -> bool:
            return rank_of(prefill + text, names, target) <= len(names)

        # The rule depends on the names and the target: the key holds them all (the prompt too).
        rule = f"rank of {names[target]!r} found"
        text = self.chat.stream_until(self.prompt.messages(products), self.settings, target_is_ranked, rule)
        return prefill + text

    def first_place_logprob(self, products: Sequence[Product], target: str) -> float | None:
        """log P("1. <target>") for the prompt over ``products``; ``None`` without logprob support."""
        if not self.supports_logprob:
            return None
        with self._counting:
            self.logprob_requests += 1
        return self.chat.logprob(self.prompt.messages(products), self.prompt.first_place_text(target))

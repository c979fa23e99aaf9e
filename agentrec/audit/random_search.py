"""The ``random`` optimiser: black-box random search over tokens or words.

Each iteration draws fresh product orders, mutates the incumbent sequence at
one to three random positions ``candidates`` times, and scores the incumbent
and every mutation on those same orders (a paired comparison, so a mutation
is kept only when it beats the incumbent on orders it was not chosen on,
like the paper's reshuffle per GCG step). One iteration costs
``(candidates + 1) * problem.score_orders`` model calls; calls are issued
order by order, so consecutive prompts share their prefix up to the target.
A step's ``best_score`` is the incumbent's after the step, on that step's
orders; the result's ``initial_score`` and ``best_score`` are both measured
on one set of validation orders drawn at the start, so they compare. With
``reshuffle=False`` every iteration uses those validation orders: the
objective is then fixed and the search climbs it monotonically (scores of
the incumbent come from the log-probability cache), at the risk of fitting
those few orders.

The units are tokens of the embedded model's vocabulary when the backend is
a local GGUF (the STS is then the sequence of their texts), otherwise words
taken from the catalog and a short list of shopping words.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from agentrec.audit.catalog import ProductOrder
from agentrec.audit.optimizers import (
    OptimizationResult,
    OptimizationStep,
    OptimizerSettings,
    ProgressCallback,
    StsProblem,
)
from agentrec.core.errors import ConfigError
from agentrec.llm.capabilities import Tokenizes, supports
from agentrec.llm.records import ChatModel

DEFAULT_LENGTH = 20  # units; the paper's GCG sequences are 30 tokens
DEFAULT_CANDIDATES = 4
_SHOPPING_WORDS = frozenset(
    {
        *("best", "top", "first", "recommended", "choice", "number", "one", "always", "rank", "list"),
        *("please", "favourite", "premium", "quality", "perfect", "ideal", "award", "winning", "must"),
        *("buy", "highly", "rated", "everyone", "loves", "editor", "pick"),
    }
)


@dataclass(frozen=True)
class Vocabulary:
    """The units a sequence is made of, and how units join into text."""

    units: tuple[str, ...]
    kind: str  # "tokens" or "words"

    def join(self, units: Sequence[str]) -> str:
        """The sequence as text: token texts concatenate, words take spaces."""
        text = "".join(units) if self.kind == "tokens" else " ".join(units)
        return " ".join(text.split())


def token_vocabulary(chat: ChatModel) -> Vocabulary | None:
    """Printable ASCII tokens of a backend with its own tokenizer (``None`` for other backends).

    Quotes, backslashes and braces are left out so a sequence never breaks the
    product's JSON line into escapes the model has rarely seen.
    """
    if not supports(chat, Tokenizes):
        return None
    units = [
        text
        for text in cast(Tokenizes, chat).token_texts()
        if text.strip() and text.isascii() and text.isprintable() and not any(c in text for c in '"\\{}<>')
    ]
    return Vocabulary(tuple(units), "tokens") if units else None


def word_vocabulary(problem: StsProblem) -> Vocabulary:
    """Words of the catalog's texts plus a few shopping words."""
    words = {w.strip(".,;:!?()\"'").lower() for p in problem.catalog.products for w in p.text().split()}
    words.update(_SHOPPING_WORDS)
    return Vocabulary(tuple(sorted(w for w in words if w.isalpha())), "words")


class RandomSearchOptimizer:
    """Random search on ``StsProblem.score`` with paired acceptance on fresh orders."""

    name = "random"

    def __init__(
        self,
        length: int = DEFAULT_LENGTH,
        candidates: int = DEFAULT_CANDIDATES,
        units: str = "auto",
        reshuffle: bool = True,
    ) -> None:
        if length < 1 or candidates < 1:
            raise ConfigError(f"random search needs length >= 1 and candidates >= 1, got {length}, {candidates}")
        if units not in ("auto", "tokens", "words"):
            raise ConfigError(f"random search units must be auto, tokens or words, got {units!r}")
        self.length = length
        self.candidates = candidates
        self.units = units
        self.reshuffle = reshuffle

    def vocabulary(self, problem: StsProblem) -> Vocabulary:
        """Tokens of the embedded model when available (and asked for), else words."""
        if self.units != "words":
            tokens = token_vocabulary(problem.recommender.chat)
            if tokens is not None:
                return tokens
            if self.units == "tokens":
                raise ConfigError("token-level random search needs a local GGUF model; use units=words")
        return word_vocabulary(problem)

    def optimize(
        self,
        problem: StsProblem,
        budget: int,
        seed: int,
        progress: ProgressCallback | None = None,
    ) -> OptimizationResult:
        """Run ``budget`` iterations; see the module docstring for the cost of one."""
        rng = np.random.default_rng(seed)
        vocabulary = self.vocabulary(problem)
        incumbent = self._initial_units(problem, vocabulary, rng)
        initial = vocabulary.join(incumbent)
        started = time.perf_counter()
        # Initial and final sequences are compared on the same validation orders.
        validation = problem.sample_orders(problem.score_orders, rng)
        initial_score = problem.score(initial, validation)
        history: list[OptimizationStep] = []
        for iteration in range(1, budget + 1):
            orders = problem.sample_orders(problem.score_orders, rng) if self.reshuffle else validation
            incumbent, step = self._iteration(problem, vocabulary, incumbent, orders, rng)
            step = replace(step, iteration=iteration, seconds=time.perf_counter() - started)
            history.append(step)
            if progress is not None:
                progress(step)
        best = vocabulary.join(incumbent)
        return OptimizationResult(
            optimizer=self.name,
            best_sts=best,
            best_score=problem.score(best, validation) if best != initial else initial_score,
            initial_score=initial_score,
            score_kind=problem.score_kind,
            history=tuple(history),
            seconds=time.perf_counter() - started,
            placement=problem.placement,
            extra={
                "units": vocabulary.kind,
                "length": self.length,
                "candidates": self.candidates,
                "reshuffle": self.reshuffle,
                "initial": initial,
            },
        )

    def _iteration(
        self,
        problem: StsProblem,
        vocabulary: Vocabulary,
        incumbent: list[str],
        orders: list[ProductOrder],
        rng: np.random.Generator,
    ) -> tuple[list[str], OptimizationStep]:
        """Score the incumbent and its mutations on ``orders``; keep the winner if it beats the incumbent."""
        mutations = [self._mutate(incumbent, vocabulary, rng) for _ in range(self.candidates)]
        texts = [vocabulary.join(units) for units in [incumbent, *mutations]]
        scores = _scores_by_order(problem, texts, orders)
        winner = int(np.argmax(scores[1:])) + 1
        accepted = scores[winner] > scores[0]
        step = OptimizationStep(
            iteration=0,
            candidate=texts[winner],
            score=scores[winner],
            best_score=max(scores[0], scores[winner]),
            accepted=accepted,
            seconds=0.0,
            note=f"incumbent scored {scores[0]:.3f} on this iteration's orders",
        )
        return (mutations[winner - 1] if accepted else incumbent), step

    def _initial_units(self, problem: StsProblem, vocabulary: Vocabulary, rng: np.random.Generator) -> list[str]:
        if problem.initial_sts:
            pieces = problem.initial_sts.split()
            return [f" {p}" if vocabulary.kind == "tokens" else p for p in pieces]
        return [vocabulary.units[int(i)] for i in rng.integers(0, len(vocabulary.units), self.length)]

    def _mutate(self, units: list[str], vocabulary: Vocabulary, rng: np.random.Generator) -> list[str]:
        changed = list(units)
        count = min(len(changed), int(rng.integers(1, 4)))
        for position in rng.choice(len(changed), size=count, replace=False):
            changed[int(position)] = vocabulary.units[int(rng.integers(0, len(vocabulary.units)))]
        return changed


def _scores_by_order(problem: StsProblem, texts: list[str], orders: list[ProductOrder]) -> list[float]:
    """Mean score of each text over ``orders``, issued order-major so prompts share prefixes."""
    pairs = [(order, text) for order in orders for text in texts]
    values = problem.each(lambda pair: problem.score(pair[1], [pair[0]]), pairs)
    totals = np.zeros(len(texts))
    for index, value in enumerate(values):  # summed in the order of the serial loop, so floats match
        totals[index % len(texts)] += value
    return [float(t) for t in totals / len(orders)]


def build_optimizer(settings: OptimizerSettings) -> RandomSearchOptimizer:
    """The ``random`` optimiser.

    Options: ``length``, ``candidates``, ``units`` (auto|tokens|words) and ``reshuffle`` (1: fresh
    orders every iteration, the default; 0: the validation orders throughout).
    """
    options = dict(settings.options)
    reshuffle = options.pop("reshuffle", "1")
    if reshuffle not in ("0", "1"):
        raise ConfigError(f"random optimizer option reshuffle must be 0 or 1, got {reshuffle!r}")
    try:
        length = int(options.pop("length", DEFAULT_LENGTH))
        candidates = int(options.pop("candidates", DEFAULT_CANDIDATES))
    except ValueError as error:
        raise ConfigError(f"random optimizer options length and candidates must be integers ({error})") from error
    units = options.pop("units", "auto")
    if options:
        raise ConfigError(f"unknown random optimizer option(s): {', '.join(sorted(options))}")
    return RandomSearchOptimizer(length=length, candidates=candidates, units=units, reshuffle=reshuffle == "1")

"""Perplexity of product text under the embedded model, and a threshold chosen on clean catalogs.

A product's text is its JSON line, exactly what the recommender reads. It is
scored as the reply to a fixed request, with the same teacher-forced
``logprob`` the audit uses elsewhere, so any GGUF model works; other
backends have no log-probabilities and cannot run this filter.

The threshold is the largest clean perplexity (or a quantile of the clean
perplexities) over the calibration catalogs. Its false-positive rate is
estimated leave-one-catalog-out: the threshold from the other catalogs,
applied to the held-out one's clean products, so it is not zero by design.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from agentrec.audit.catalog import Catalog
from agentrec.core.errors import ConfigError
from agentrec.llm.capabilities import ScoresText, Tokenizes, require
from agentrec.llm.records import ChatModel, Message

_CONTEXT = [Message.user("Write one product listing as a JSON object."), Message.assistant("")]


class PerplexityScorer:
    """Perplexity of texts under a chat model that scores text and has its own tokenizer, memoised per text."""

    def __init__(self, chat: ChatModel) -> None:
        require(chat, ScoresText, "log-probabilities, which the perplexity defence needs")
        require(chat, Tokenizes, "token counts, which the perplexity defence needs")
        self._scorer = cast(ScoresText, chat)
        self._tokenizer = cast(Tokenizes, chat)
        self._memo: dict[str, float] = {}

    def perplexity(self, text: str) -> float:
        """exp(-mean token log-probability) of ``text``."""
        if text not in self._memo:
            tokens = self._tokenizer.count_tokens(text)
            total = self._scorer.logprob(_CONTEXT, text)
            self._memo[text] = math.exp(-total / max(tokens, 1))
        return self._memo[text]


@dataclass(frozen=True)
class PerplexityCalibration:
    """The chosen threshold and how it behaves on clean products."""

    threshold: float
    quantile: float
    clean_products: int
    clean_perplexity: Mapping[str, list[float]]  # per catalog
    false_positive_rate: float  # leave-one-catalog-out; in-sample when only one catalog
    false_positives: int

    def as_dict(self) -> dict[str, Any]:
        """JSON data for the report."""
        return {
            "threshold": round(self.threshold, 3),
            "quantile": self.quantile,
            "clean_products": self.clean_products,
            "false_positive_rate": round(self.false_positive_rate, 4),
            "false_positives": self.false_positives,
            "false_positive_method": "leave-one-catalog-out" if len(self.clean_perplexity) > 1 else "in-sample",
            "clean_perplexity_max": {name: round(max(v), 3) for name, v in self.clean_perplexity.items()},
        }


def _threshold(values: Sequence[float], quantile: float) -> float:
    return float(np.quantile(np.asarray(values), quantile))


def calibrate_threshold(
    scorer: PerplexityScorer,
    catalogs: Sequence[Catalog],
    quantile: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> PerplexityCalibration:
    """A threshold on clean product perplexity, with its leave-one-catalog-out false positives.

    ``progress(done, total)`` hears of each product scored (tens of seconds on the embedded model).
    """
    if not catalogs:
        raise ConfigError("the perplexity defence needs at least one clean catalog to calibrate on")
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"perplexity quantile must lie in (0, 1], got {quantile}")
    total = sum(len(c.products) for c in catalogs)
    per_catalog: dict[str, list[float]] = {}
    for catalog in catalogs:
        per_catalog[catalog.name] = []
        for product in catalog.products:
            per_catalog[catalog.name].append(scorer.perplexity(product.json_line()))
            if progress is not None:
                progress(sum(len(values) for values in per_catalog.values()), total)
    everything = [value for values in per_catalog.values() for value in values]
    false_positives = 0
    for name, values in per_catalog.items():
        others = [v for other, vs in per_catalog.items() if other != name for v in vs] or values
        held_out_threshold = _threshold(others, quantile)
        false_positives += sum(value > held_out_threshold for value in values)
    return PerplexityCalibration(
        threshold=_threshold(everything, quantile),
        quantile=quantile,
        clean_products=len(everything),
        clean_perplexity=per_catalog,
        false_positive_rate=false_positives / len(everything),
        false_positives=false_positives,
    )

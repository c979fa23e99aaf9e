"""Perplexity of product text under the embedded model, and a threshold chosen on clean catalogs.

A product's text is its JSON line, exactly what the recommender reads. It is
scored as the reply to a fixed request, with the same teacher-forced
``logprob`` the audit uses elsewhere, so any GGUF model works; other
backends have no log-probabilities and cannot run this filter.

By default a product is judged relative to its own catalog: its perplexity
divided by the median perplexity of the catalog it sits in. Catalogs differ in
how they are written (terse specs, marketing prose), and an absolute threshold
from one flags the plain products of another: leave-one-catalog-out, the
absolute measure flagged 8 of 58 clean products, the relative one 1 (bench/README.md,
"Issue 21"). A catalog under ``MIN_PRODUCTS_FOR_MEDIAN`` products has no
reliable median of its own and is compared with the clean catalogs' median.

The threshold is the largest clean score (or a quantile of the clean scores)
over the calibration catalogs. Its false-positive rate is estimated
leave-one-catalog-out: the threshold from the other catalogs, applied to the
held-out one's clean products, so it is not zero by design.
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

MIN_PRODUCTS_FOR_MEDIAN = 5

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

    threshold: float  # on the measure below: a ratio to the catalog's median when relative
    quantile: float
    clean_products: int
    clean_perplexity: Mapping[str, list[float]]  # per catalog, absolute
    false_positive_rate: float  # leave-one-catalog-out; in-sample when only one catalog
    false_positives: int
    relative: bool = True
    clean_median: float = 1.0  # of every clean product: the reference of a catalog too small for its own

    def scores(self, perplexities: Sequence[float]) -> list[float]:
        """One catalog's products on this calibration's measure, from their perplexities in catalog order."""
        return catalog_scores(perplexities, self.clean_median) if self.relative else list(perplexities)

    def as_dict(self) -> dict[str, Any]:
        """JSON data for the report."""
        return {
            "threshold": round(self.threshold, 3),
            "measure": "perplexity / the catalog's median perplexity" if self.relative else "perplexity",
            "quantile": self.quantile,
            "clean_products": self.clean_products,
            "false_positive_rate": round(self.false_positive_rate, 4),
            "false_positives": self.false_positives,
            "false_positive_method": "leave-one-catalog-out" if len(self.clean_perplexity) > 1 else "in-sample",
            "clean_perplexity_max": {name: round(max(v), 3) for name, v in self.clean_perplexity.items()},
        }


def catalog_scores(perplexities: Sequence[float], clean_median: float) -> list[float]:
    """Each perplexity over its catalog's median, or over ``clean_median`` for a catalog too small for one."""
    enough = len(perplexities) >= MIN_PRODUCTS_FOR_MEDIAN
    reference = float(np.median(perplexities)) if enough else clean_median
    return [value / reference for value in perplexities]


def _threshold(values: Sequence[float], quantile: float) -> float:
    return float(np.quantile(np.asarray(values), quantile))


def calibrate_threshold(
    scorer: PerplexityScorer,
    catalogs: Sequence[Catalog],
    quantile: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    relative: bool = True,
) -> PerplexityCalibration:
    """A threshold on clean product perplexity, with its leave-one-catalog-out false positives.

    ``relative`` divides each product's perplexity by its catalog's median (see the module's note).
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
    absolute = [value for values in per_catalog.values() for value in values]
    clean_median = float(np.median(absolute))
    scores = {
        name: catalog_scores(values, clean_median) if relative else values for name, values in per_catalog.items()
    }
    false_positives = 0
    for name, values in scores.items():
        others = [v for other, vs in scores.items() if other != name for v in vs] or values
        held_out_threshold = _threshold(others, quantile)
        false_positives += sum(value > held_out_threshold for value in values)
    return PerplexityCalibration(
        threshold=_threshold([value for values in scores.values() for value in values], quantile),
        quantile=quantile,
        clean_products=len(absolute),
        clean_perplexity=per_catalog,
        false_positive_rate=false_positives / len(absolute),
        false_positives=false_positives,
        relative=relative,
        clean_median=clean_median,
    )

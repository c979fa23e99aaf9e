"""Thresholds for the semantic detectors, chosen on clean catalogs only, and their false positives.

Each detector (``semantic_detectors.py``) gets its own threshold: the largest
clean score over the calibration catalogs (or a quantile of them), raised by
``headroom`` times the distance from the clean median to that value. The
headroom is there because catalogs differ in style (GEO-Bench's prose reads
more like a recommendation than the paper's one-line descriptions), so the next
catalog's clean products can exceed the largest clean score seen so far. On the
shipped and GEO-Bench catalogs (58 clean products), flagging on any detector
gave 5 leave-one-catalog-out false positives without headroom and 1 with the
default; the default was chosen on those same catalogs. A product is flagged
when any detector exceeds its threshold.

False-positive rates are leave-one-catalog-out, per detector and for the
three together: the thresholds from the other catalogs, applied to the held-out
one's clean products. With one catalog they are in-sample, and zero by design
at quantile 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentrec.audit.catalog import Catalog
from agentrec.audit.semantic_detectors import DETECTORS, SemanticScorer
from agentrec.core.errors import ConfigError

DEFAULT_HEADROOM = 0.3
DetectorScores = Mapping[str, float]


@dataclass(frozen=True)
class DetectorCalibration:
    """One detector's threshold and how it behaves on clean products."""

    detector: str
    threshold: float
    clean_scores: Mapping[str, list[float]]  # per catalog
    false_positives: int  # leave-one-catalog-out; in-sample when only one catalog
    false_positive_rate: float

    def as_dict(self) -> dict[str, Any]:
        """JSON data for the report."""
        return {
            "threshold": round(self.threshold, 4),
            "clean_products": sum(len(scores) for scores in self.clean_scores.values()),
            "false_positives": self.false_positives,
            "false_positive_rate": round(self.false_positive_rate, 4),
            "clean_max": {name: round(max(scores), 4) for name, scores in self.clean_scores.items()},
        }


@dataclass(frozen=True)
class SemanticCalibration:
    """Every detector's calibration, and the false positives of flagging on any of them."""

    detectors: Mapping[str, DetectorCalibration]
    quantile: float
    headroom: float
    clean_products: int
    false_positives: int  # products any detector flags, leave-one-catalog-out
    false_positive_rate: float
    catalogs: tuple[str, ...]

    @property
    def thresholds(self) -> dict[str, float]:
        """Each detector's threshold."""
        return {name: calibration.threshold for name, calibration in self.detectors.items()}

    def flagged_by(self, scores: DetectorScores) -> list[str]:
        """The detectors whose threshold ``scores`` exceed."""
        return [name for name, threshold in self.thresholds.items() if scores[name] > threshold]

    def flagged(self, scores: DetectorScores) -> bool:
        """True when any detector's score exceeds its threshold."""
        return bool(self.flagged_by(scores))

    def as_dict(self) -> dict[str, Any]:
        """JSON data for the report."""
        return {
            "detectors": {name: calibration.as_dict() for name, calibration in self.detectors.items()},
            "quantile": self.quantile,
            "headroom": self.headroom,
            "clean_products": self.clean_products,
            "false_positives": self.false_positives,
            "false_positive_rate": round(self.false_positive_rate, 4),
            "false_positive_method": "leave-one-catalog-out" if len(self.catalogs) > 1 else "in-sample",
            "catalogs": list(self.catalogs),
        }


def calibrate_semantic(
    scorer: SemanticScorer,
    catalogs: Sequence[Catalog],
    quantile: float = 1.0,
    headroom: float = DEFAULT_HEADROOM,
    progress: Callable[[int, int], None] | None = None,
) -> SemanticCalibration:
    """Thresholds on the clean products of ``catalogs``, with their leave-one-catalog-out false positives.

    ``progress(done, total)`` hears of each catalog's products as they are scored.
    """
    if not catalogs:
        raise ConfigError("the semantic defence needs at least one clean catalog to calibrate on")
    total = sum(len(catalog.products) for catalog in catalogs)
    per_catalog: dict[str, list[dict[str, float]]] = {}
    for catalog in catalogs:
        per_catalog[_unique(catalog.name, per_catalog)] = scorer.scores(catalog)
        if progress is not None:
            progress(sum(len(scores) for scores in per_catalog.values()), total)
    return calibrate_scores(per_catalog, quantile, headroom)


def calibrate_scores(
    per_catalog: Mapping[str, Sequence[DetectorScores]], quantile: float = 1.0, headroom: float = DEFAULT_HEADROOM
) -> SemanticCalibration:
    """Thresholds from clean detector scores grouped by catalog (no model needed)."""
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"semantic quantile must lie in (0, 1], got {quantile}")
    if headroom < 0.0:
        raise ConfigError(f"semantic headroom must be at least 0, got {headroom}")
    if not any(per_catalog.values()):
        raise ConfigError("the semantic defence needs at least one clean product to calibrate on")
    held_out_flags = {name: _held_out_flags(per_catalog, name, quantile, headroom) for name in per_catalog}
    products = sum(len(scores) for scores in per_catalog.values())
    detectors = {}
    for detector in DETECTORS:
        clean = {name: [s[detector] for s in scores] for name, scores in per_catalog.items()}
        false_positives = sum(flags[detector] for catalog_flags in held_out_flags.values() for flags in catalog_flags)
        detectors[detector] = DetectorCalibration(
            detector=detector,
            threshold=threshold(_pooled(clean), quantile, headroom),
            clean_scores=clean,
            false_positives=false_positives,
            false_positive_rate=false_positives / products,
        )
    any_flagged = sum(any(flags.values()) for catalog_flags in held_out_flags.values() for flags in catalog_flags)
    return SemanticCalibration(
        detectors=detectors,
        quantile=quantile,
        headroom=headroom,
        clean_products=products,
        false_positives=any_flagged,
        false_positive_rate=any_flagged / products,
        catalogs=tuple(per_catalog),
    )


def threshold(values: Sequence[float], quantile: float, headroom: float) -> float:
    """The ``quantile`` of clean ``values``, raised by ``headroom`` times its distance from their median."""
    array = np.asarray(values, dtype=np.float64)
    top = float(np.quantile(array, quantile))
    return top + headroom * (top - float(np.median(array)))


def _held_out_flags(
    per_catalog: Mapping[str, Sequence[DetectorScores]], held_out: str, quantile: float, headroom: float
) -> list[dict[str, bool]]:
    """Per product of ``held_out``, which detectors the other catalogs' thresholds flag it on."""
    others = [scores for name, scores in per_catalog.items() if name != held_out and scores]
    pool = [s for scores in others for s in scores] or list(per_catalog[held_out])
    limits = {detector: threshold([s[detector] for s in pool], quantile, headroom) for detector in DETECTORS}
    return [{detector: s[detector] > limits[detector] for detector in DETECTORS} for s in per_catalog[held_out]]


def _pooled(per_catalog: Mapping[str, list[float]]) -> list[float]:
    return [value for values in per_catalog.values() for value in values]


def _unique(name: str, taken: Mapping[str, object]) -> str:
    """``name``, or ``name#2``, ``name#3``... when two calibration catalogs share a file name."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}#{number}"
    return candidate

"""Building a defence for an audit run, and the numbers each defence adds to the report."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentrec.audit.catalog import Catalog, CatalogError, load_catalog
from agentrec.audit.defences import (
    CombinedDefence,
    Defence,
    FiltersProducts,
    NoDefence,
    ParaphraseDefence,
    PerplexityDefence,
    SandwichDefence,
    SemanticDefence,
    defence_parts,
)
from agentrec.audit.optimizers import OptimizationResult
from agentrec.audit.paired_evaluation import PairedSetup
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.placement import catalog_with_sts
from agentrec.audit.recommender import AuditedRecommender
from agentrec.audit.semantic import calibrate_semantic
from agentrec.audit.semantic_detectors import SemanticScorer

logger = logging.getLogger(__name__)
# Scoring this many of the optimiser's candidates is enough for a detection rate.
MAX_HISTORY_CHECKED = 50
PhaseCallback = Callable[[str, int], Callable[[int, int], None] | None]
FILTERS = ("perplexity", "semantic")  # the defences calibrated on clean catalogs


def calibration_catalogs(catalog: Catalog) -> list[Catalog]:
    """The audited catalog and every other valid catalog in its folder (clean texts only)."""
    found = [catalog]
    if catalog.source:
        folder = Path(catalog.source).parent
        for path in sorted(folder.glob("*.jsonl")):
            if path.stem == catalog.name:
                continue
            try:
                found.append(load_catalog(path))
            except CatalogError as error:
                logger.warning("defence calibration skips %s: %s", path, error)
    return found


def build_defence(
    name: str,
    recommender: AuditedRecommender,
    catalog: Catalog,
    on_phase: PhaseCallback | None = None,
    calibration: Sequence[Catalog] | None = None,
) -> Defence:
    """The defence called ``name`` (checked by ``check_defence_name``; a comma list combines) for this recommender.

    Filters calibrate on ``calibration`` (clean catalogs), by default ``calibration_catalogs(catalog)``.
    ``on_phase(label, total)`` may return a progress callback for a calibration.
    """
    parts = defence_parts(name)
    clean: list[Catalog] = []
    if any(part in FILTERS for part in parts):
        clean = list(calibration) if calibration is not None else calibration_catalogs(catalog)
    built = [_build_one(part, recommender, clean, on_phase) for part in parts]
    return built[0] if len(built) == 1 else CombinedDefence(built)


def _build_one(
    name: str, recommender: AuditedRecommender, clean: list[Catalog], on_phase: PhaseCallback | None
) -> Defence:
    if name in FILTERS:
        products = sum(len(c.products) for c in clean)
        progress = on_phase(f"{name} thresholds, clean products", products) if on_phase else None
        if name == "perplexity":
            scorer = PerplexityScorer(recommender.chat)
            return PerplexityDefence(scorer, calibrate_threshold(scorer, clean, progress=progress))
        semantic = SemanticScorer(recommender.chat)
        return SemanticDefence(semantic, calibrate_semantic(semantic, clean, progress=progress))
    if name == "paraphrase":
        return ParaphraseDefence(recommender.chat)
    if name == "sandwich":
        return SandwichDefence()
    return NoDefence()


def defence_details(defence: Defence, setup: PairedSetup, optimization: OptimizationResult | None) -> dict[str, Any]:
    """What the report says about a defence beyond the paired numbers."""
    planted_catalog = catalog_with_sts(setup.catalog, setup.target, setup.sts, setup.placement)
    target = setup.catalog.product(setup.target)
    planted = planted_catalog.product(setup.target)
    if isinstance(defence, CombinedDefence):
        details: dict[str, Any] = {
            "parts": {part.name: defence_details(part, setup, optimization) for part in defence.parts}
        }
        filters = any(isinstance(part, FiltersProducts) for part in defence.parts)
        return (details | _detection(defence, setup, optimization)) if filters else details
    if isinstance(defence, PerplexityDefence):
        return {
            "calibration": defence.calibration.as_dict(),
            "target_clean_perplexity": round(defence.scorer.perplexity(target.json_line()), 3),
            "target_sts_perplexity": round(defence.scorer.perplexity(planted.json_line()), 3),
        } | _detection(defence, setup, optimization)
    if isinstance(defence, SemanticDefence):
        return _semantic_details(defence, setup, optimization)
    if isinstance(defence, ParaphraseDefence):
        return {
            "target_clean_paraphrased": defence.protect(setup.catalog).product(setup.target).fields,
            "target_sts_paraphrased": defence.protect(planted_catalog).product(setup.target).fields,
        }
    if isinstance(defence, SandwichDefence):
        return {"prompt_style": "sandwich"}
    return {}


def _detection(defence: FiltersProducts, setup: PairedSetup, optimization: OptimizationResult | None) -> dict[str, Any]:
    """Whether the filter flags the planted target, and how many of the optimiser's candidates it flags."""
    index = setup.catalog.index_of(setup.target)

    def flagged(sts: str) -> bool:
        return defence.flags(catalog_with_sts(setup.catalog, setup.target, sts, setup.placement))[index]

    candidates = _history_candidates(optimization)
    history = [flagged(sts) for sts in candidates]
    return {
        "sts_flagged": flagged(setup.sts),
        "history_checked": len(candidates),
        "history_detection_rate": round(sum(history) / len(history), 4) if history else None,
    }


def _semantic_details(
    defence: SemanticDefence, setup: PairedSetup, optimization: OptimizationResult | None
) -> dict[str, Any]:
    """The semantic calibration, the target's scores per detector, and each detector's share of the history."""
    index = setup.catalog.index_of(setup.target)

    def target_scores(sts: str) -> dict[str, float]:
        return defence.scores(catalog_with_sts(setup.catalog, setup.target, sts, setup.placement))[index]

    clean, planted = target_scores(""), target_scores(setup.sts)
    history = [defence.calibration.flagged_by(target_scores(sts)) for sts in _history_candidates(optimization)]
    by_detector = {
        detector: round(sum(detector in flagged for flagged in history) / max(len(history), 1), 4)
        for detector in defence.calibration.thresholds
    }
    return {
        "calibration": defence.calibration.as_dict(),
        "target_clean_scores": _rounded(clean),
        "target_sts_scores": _rounded(planted),
        "target_clean_flagged_by": defence.calibration.flagged_by(clean),
        "sts_flagged_by": defence.calibration.flagged_by(planted),
        "history_detection_rate_by_detector": by_detector if history else None,
    } | _detection(defence, setup, optimization)


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in scores.items()}


def _history_candidates(optimization: OptimizationResult | None) -> list[str]:
    """Distinct sequences the optimiser tried (evenly thinned to at most ``MAX_HISTORY_CHECKED``)."""
    if optimization is None:
        return []
    distinct = list(dict.fromkeys([optimization.best_sts, *(step.candidate for step in optimization.history)]))
    if len(distinct) <= MAX_HISTORY_CHECKED:
        return distinct
    stride = len(distinct) / MAX_HISTORY_CHECKED
    return [distinct[int(i * stride)] for i in range(MAX_HISTORY_CHECKED)]

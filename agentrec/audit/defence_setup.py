"""Building a defence for an audit run, and the numbers each defence adds to the report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentrec.audit.catalog import Catalog, CatalogError, load_catalog
from agentrec.audit.defences import Defence, NoDefence, ParaphraseDefence, PerplexityDefence, SandwichDefence
from agentrec.audit.optimizers import OptimizationResult
from agentrec.audit.paired_evaluation import PairedSetup
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.placement import catalog_with_sts
from agentrec.audit.recommender import AuditedRecommender

logger = logging.getLogger(__name__)
# Perplexity of this many of the optimiser's candidates is enough for a detection rate.
MAX_HISTORY_CHECKED = 50


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
                logger.warning("perplexity calibration skips %s: %s", path, error)
    return found


def build_defence(
    name: str,
    recommender: AuditedRecommender,
    catalog: Catalog,
    on_phase: Callable[[str, int], Callable[[int, int], None] | None] | None = None,
) -> Defence:
    """The defence called ``name`` (checked by ``check_defence_name``) for this recommender.

    ``on_phase(label, total)`` may return a progress callback for the perplexity calibration.
    """
    if name == "perplexity":
        scorer = PerplexityScorer(recommender.chat)
        clean = calibration_catalogs(catalog)
        products = sum(len(c.products) for c in clean)
        progress = on_phase("perplexity threshold, clean products", products) if on_phase else None
        return PerplexityDefence(scorer, calibrate_threshold(scorer, clean, progress=progress))
    if name == "paraphrase":
        return ParaphraseDefence(recommender.chat)
    if name == "sandwich":
        return SandwichDefence()
    return NoDefence()


def defence_details(defence: Defence, setup: PairedSetup, optimization: OptimizationResult | None) -> dict[str, Any]:
    """What the report says about a defence beyond the paired numbers."""
    target = setup.catalog.product(setup.target)
    planted = catalog_with_sts(setup.catalog, setup.target, setup.sts, setup.placement).product(setup.target)
    if isinstance(defence, PerplexityDefence):
        candidates = _history_candidates(optimization)
        flagged = [
            defence.flagged(catalog_with_sts(setup.catalog, setup.target, sts, setup.placement).product(setup.target))
            for sts in candidates
        ]
        return {
            "calibration": defence.calibration.as_dict(),
            "target_clean_perplexity": round(defence.scorer.perplexity(target.json_line()), 3),
            "target_sts_perplexity": round(defence.scorer.perplexity(planted.json_line()), 3),
            "sts_flagged": defence.flagged(planted),
            "history_checked": len(candidates),
            "history_detection_rate": round(sum(flagged) / len(flagged), 4) if flagged else None,
        }
    if isinstance(defence, ParaphraseDefence):
        return {
            "target_clean_paraphrased": defence.protect(setup.catalog).product(setup.target).fields,
            "target_sts_paraphrased": defence.protect(
                catalog_with_sts(setup.catalog, setup.target, setup.sts, setup.placement)
            )
            .product(setup.target)
            .fields,
        }
    if isinstance(defence, SandwichDefence):
        return {"prompt_style": "sandwich"}
    return {}


def _history_candidates(optimization: OptimizationResult | None) -> list[str]:
    """Distinct sequences the optimiser tried (evenly thinned to at most ``MAX_HISTORY_CHECKED``)."""
    if optimization is None:
        return []
    distinct = list(dict.fromkeys([optimization.best_sts, *(step.candidate for step in optimization.history)]))
    if len(distinct) <= MAX_HISTORY_CHECKED:
        return distinct
    stride = len(distinct) / MAX_HISTORY_CHECKED
    return [distinct[int(i * stride)] for i in range(MAX_HISTORY_CHECKED)]

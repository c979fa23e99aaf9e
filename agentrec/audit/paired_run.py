"""One paired run: the same product order shown without and with the STS, back to back.

Both the in-process evaluation (``paired_evaluation.py``) and the worker
processes (``pair_workers.py``) run pairs with this, so it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentrec.audit.catalog import Catalog, ProductOrder
from agentrec.audit.recommender import AuditedRecommender


@dataclass(frozen=True)
class PairOutcome:
    """One paired run: the same order, without and with the STS."""

    order: ProductOrder
    rank_before: int
    rank_after: int
    logprob_before: float | None
    logprob_after: float | None
    reply_before: str
    reply_after: str


def evaluate_pair(
    audited: AuditedRecommender, clean: Catalog, planted: Catalog, target: str, order: ProductOrder
) -> PairOutcome:
    """One paired run: the same order without and with the STS, back to back."""
    before_products, after_products = clean.ordered(order), planted.ordered(order)
    rank_before, reply_before = audited.rank(before_products, target)
    logprob_before = audited.first_place_logprob(before_products, target)
    rank_after, reply_after = audited.rank(after_products, target)
    logprob_after = audited.first_place_logprob(after_products, target)
    return PairOutcome(order, rank_before, rank_after, logprob_before, logprob_after, reply_before, reply_after)

"""Model selection inside recsys: full-ranking validation NDCG with seen items masked.

The evaluation package owns the reported metrics; this is the small, dependency-free
metric that early stopping and hyper-parameter grids need (recsys never imports eval).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import IntArray, Recommender


def relevant_matrix(held_out: Interactions) -> sp.csr_matrix:
    """Users x items binary matrix of held-out items."""
    return held_out.to_csr(binary=True)


def ndcg_at_k(ranked: IntArray, relevant: sp.csr_matrix, users: IntArray, k: int) -> float:
    """Mean binary NDCG@k of ``ranked`` (users x >=k item indices) against ``relevant`` rows."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for row, user in enumerate(users):
        truth = relevant.indices[relevant.indptr[user] : relevant.indptr[user + 1]]
        hits = np.isin(ranked[row, :k], truth)
        ideal = discounts[: min(len(truth), k)].sum()
        total += float(discounts[hits].sum() / ideal) if ideal > 0 else 0.0
    return total / max(len(users), 1)


def validation_ndcg(model: Recommender, valid: Interactions, k: int = 10) -> float:
    """Full-ranking NDCG@k of a fitted model on ``valid`` (users with a held-out item)."""
    relevant = relevant_matrix(valid)
    users = np.flatnonzero(np.diff(relevant.indptr)).astype(np.int64)
    if users.size == 0:
        return 0.0
    ranked = model.recommend_many(users, k, exclude_seen=True)
    return ndcg_at_k(ranked, relevant, users, k)

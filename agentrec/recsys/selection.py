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
    """Mean binary NDCG@k of ``ranked`` (users x >=k item indices) against ``relevant`` rows.

    Vectorised: a ranked (user, item) pair is a hit when its key ``user * n_items + item``
    is among the sorted keys of the relevant pairs (one ``searchsorted`` for all users).
    """
    if len(users) == 0:
        return 0.0
    rows = relevant[users]
    rows.sort_indices()
    n_items = rows.shape[1]
    truth = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(rows.indptr)) * n_items + rows.indices
    top = np.asarray(ranked[:, :k], dtype=np.int64)
    keys = np.arange(len(users), dtype=np.int64)[:, None] * n_items + top
    slot = np.minimum(np.searchsorted(truth, keys), max(len(truth) - 1, 0))
    hits = (top >= 0) & (truth[slot] == keys) if len(truth) else np.zeros(top.shape, dtype=bool)
    discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(np.diff(rows.indptr), top.shape[1])]
    gains = np.where(hits, discounts, 0.0).sum(axis=1)
    per_user = np.divide(gains, ideal, out=np.zeros_like(gains), where=ideal > 0)
    return float(per_user.mean())


def validation_ndcg(model: Recommender, valid: Interactions, k: int = 10) -> float:
    """Full-ranking NDCG@k of a fitted model on ``valid`` (users with a held-out item)."""
    relevant = relevant_matrix(valid)
    users = np.flatnonzero(np.diff(relevant.indptr)).astype(np.int64)
    if users.size == 0:
        return 0.0
    ranked = model.recommend_many(users, k, exclude_seen=True)
    return ndcg_at_k(ranked, relevant, users, k)

"""Ranking accuracy at any cutoff, per user: Precision, Recall, nDCG, Hit, MRR, MAP.

Inputs are dense item indices. ``recommended`` is an ``(n_users, width)`` int array, best
first, with ``-1`` padding a list shorter than the width; a pad is a slot that holds no
item (it never counts as a hit but still takes its rank). ``relevant[u]`` holds user u's
held-out item indices: one item under leave-one-out, many under a ratio split. Relevance
is binary.

Users with no relevant item have no defined Recall, nDCG or MAP, so the caller must drop
them before calling (ToolRec dropped them silently; we make the caller do it on purpose
and count them). Passing one raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

PAD = -1
ACCURACY_METRICS = ("precision", "recall", "ndcg", "hit", "mrr", "map")

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def metric_key(name: str, k: int) -> str:
    """The public name of a metric at a cutoff, e.g. ``ndcg@10`` (lower case, as in the JSON)."""
    return f"{name}@{k}"


def top_k(recommended: ArrayLike, k: int) -> IntArray:
    """The first ``k`` columns of ``recommended`` as int64, padded with ``-1`` up to ``k``.

    Raises ``ValueError`` for a bad shape or cutoff, an index below ``-1``, or an item
    repeated within one list (a repeat would be counted twice as a hit).
    """
    if k < 1:
        raise ValueError(f"cutoff k must be >= 1, got {k}")
    lists = np.asarray(recommended)
    if lists.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n_users, width), got shape {lists.shape}")
    if lists.size and not np.issubdtype(lists.dtype, np.integer):
        raise ValueError(f"recommended must hold integer item indices, got {lists.dtype}")
    top = np.full((lists.shape[0], k), PAD, dtype=np.int64)
    width = min(k, lists.shape[1])
    top[:, :width] = lists[:, :width]
    if top.size and top.min() < PAD:
        raise ValueError("recommended holds an index below -1")
    _check_no_repeats(top)
    return top


def _check_no_repeats(top: IntArray) -> None:
    ordered = np.sort(top, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PAD)
    if repeated.any():
        user = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise ValueError(f"row {user} of recommended repeats an item")


def hit_matrix(top: IntArray, relevant: Sequence[ArrayLike]) -> tuple[BoolArray, IntArray]:
    """Which slots of ``top`` hold a relevant item, and how many distinct relevant items each
    user has.

    Vectorised by encoding each (user, item) pair as one int64 key: the relevant keys are
    sorted once and every ranked key is looked up with one ``searchsorted``, instead of a
    Python loop over users (or ``np.unique``/``np.isin``, which hash every call).
    """
    n_users = top.shape[0]
    rel_keys, span = relevant_keys(relevant, n_users, int(top.max(initial=0)) + 1)
    n_relevant = np.bincount(rel_keys // span, minlength=n_users).astype(np.int64)
    if n_users and n_relevant.min() == 0:
        user = int(np.flatnonzero(n_relevant == 0)[0])
        raise ValueError(f"user row {user} has no relevant item; drop such users before scoring")
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * span + top
    slot = np.minimum(np.searchsorted(rel_keys, rec_keys), max(rel_keys.size - 1, 0))
    hits = (rel_keys[slot] == rec_keys) & (top != PAD) if rel_keys.size else np.zeros(top.shape, dtype=bool)
    return hits, n_relevant


def relevant_keys(relevant: Sequence[ArrayLike], n_users: int, min_span: int = 1) -> tuple[IntArray, int]:
    """Sorted distinct keys ``user_row * span + item`` of the relevant pairs, and ``span``.

    ``span`` exceeds every item index (and is at least ``min_span``), so ``key // span`` is
    the user row and ``key % span`` the item.
    """
    if len(relevant) != n_users:
        raise ValueError(f"relevant has {len(relevant)} users, recommended has {n_users}")
    arrays = [r for r in relevant if isinstance(r, np.ndarray) and r.ndim == 1]
    if arrays and len(arrays) == len(relevant):
        # the evaluation's own lists: one C-level concatenation, no per-user conversion
        lengths = np.fromiter((r.size for r in arrays), dtype=np.int64, count=len(arrays))
        rel_items = np.concatenate(arrays).astype(np.int64, copy=False)
    else:
        rel_arrays = [np.asarray(r, dtype=np.int64).ravel() for r in relevant]
        lengths = np.array([a.size for a in rel_arrays], dtype=np.int64)
        rel_items = np.concatenate(rel_arrays) if rel_arrays else np.empty(0, dtype=np.int64)
    if rel_items.size and rel_items.min() < 0:
        raise ValueError("relevant holds a negative item index")
    span = max(min_span, int(rel_items.max(initial=0)) + 1)
    keys = np.sort(np.repeat(np.arange(n_users, dtype=np.int64), lengths) * span + rel_items)
    distinct = np.ones(keys.size, dtype=bool)
    distinct[1:] = keys[1:] != keys[:-1]
    return keys[distinct], span


def rank_discount(k: int) -> FloatArray:
    """``1 / log2(rank + 1)`` for ranks ``1..k``: the DCG discount, also used by EPC."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def accuracy_per_user(
    recommended: ArrayLike, relevant: Sequence[ArrayLike], k: int
) -> dict[str, FloatArray]:
    """Per-user accuracy at cutoff ``k``; keys ``precision@k`` ... ``map@k``.

    With ``hit_r`` = 1 if the item at rank r is relevant, ``R`` = the user's relevant set
    and ``m = min(|R|, k)``:

    - ``precision@k = sum_{r<=k} hit_r / k`` (pads and short lists still divide by k);
    - ``recall@k = sum_{r<=k} hit_r / |R|``;
    - ``ndcg@k = DCG / IDCG`` with binary gains, ``DCG = sum_r hit_r / log2(r + 1)`` and
      ``IDCG = sum_{r<=m} 1 / log2(r + 1)`` (the ideal list puts all relevant items first);
    - ``hit@k = 1`` if any ``hit_r`` else 0;
    - ``mrr@k = 1 / r*`` for the first hit rank ``r*`` within k, else 0;
    - ``map@k = sum_r hit_r * precision@r / m`` (AP@k normalised by the most hits a k-list
      can hold, so a perfect list scores 1; trec_eval's AP@k divides by |R| instead).
    """
    top = top_k(recommended, k)
    hits, n_relevant = hit_matrix(top, relevant)
    hits_f = hits.astype(np.float64)
    n_hits = hits_f.sum(axis=1)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discount = rank_discount(k)
    ideal_len = np.minimum(n_relevant, k)
    idcg = np.cumsum(discount)[ideal_len - 1]
    first_hit = hits.argmax(axis=1)
    precision_at_rank = np.cumsum(hits_f, axis=1) / ranks
    values = {
        "precision": n_hits / k,
        "recall": n_hits / n_relevant,
        "ndcg": (hits_f @ discount) / idcg,
        "hit": (n_hits > 0).astype(np.float64),
        "mrr": np.where(n_hits > 0, 1.0 / (first_hit + 1.0), 0.0),
        "map": (precision_at_rank * hits_f).sum(axis=1) / ideal_len,
    }
    return {metric_key(name, k): values[name] for name in ACCURACY_METRICS}


def mean_metrics(per_user: Mapping[str, FloatArray]) -> dict[str, float]:
    """The mean over users of each per-user metric (the number a results table shows)."""
    return {name: float(np.mean(values)) for name, values in per_user.items()}

"""Beyond-accuracy metrics: coverage, Gini, ARP, EPC, ACLT, PopREO, genre ILD.

Popularity metrics follow Elliot's published definitions (Anelli et al., SIGIR 2021),
with item popularity taken from the *training* interactions. Elliot counts the distinct
training users of an item; pass that count as ``item_popularity`` to match it exactly
(on implicit data with one row per user-item pair it equals the interaction count).

Short head and long tail (Elliot, after Abdollahpouri et al.): sort items by popularity,
most popular first (ties by item index), and put items in the short head until they hold
at least 80% of all training interactions; the item that crosses the line is included.
Every other catalog item, including items never seen in training, is long tail.

Inputs follow ``agentrec.eval.metrics``: ``recommended`` is ``(n_users, width)`` int,
best first, ``-1`` padded; ``relevant[u]`` is user u's held-out items, not in u's
training history. Users without relevant items are dropped by the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
from numpy.typing import ArrayLike, NDArray

from agentrec.eval.metrics import (
    PAD,
    FloatArray,
    IntArray,
    hit_matrix,
    metric_key,
    rank_discount,
    relevant_keys,
)
from agentrec.eval.metrics import top_k as _top_k

logger = logging.getLogger(__name__)

BoolArray = NDArray[np.bool_]
SHORT_HEAD_SHARE = 0.8
# Bounds the (users x k x k) pairwise-distance block ILD builds at once.
_ILD_BATCH_USERS = 1024


def short_head_mask(item_popularity: ArrayLike, share: float = SHORT_HEAD_SHARE) -> BoolArray:
    """Boolean mask of the short head: the most popular items holding ``share`` of interactions."""
    popularity = np.asarray(item_popularity, dtype=np.float64)
    head = np.zeros(popularity.size, dtype=bool)
    total = popularity.sum()
    if total <= 0:
        return head
    order = np.argsort(-popularity, kind="stable")
    cumulative = np.cumsum(popularity[order])
    n_head = int(np.searchsorted(cumulative, share * total, side="left")) + 1
    head[order[:n_head]] = True
    return head


def long_tail_mask(
    n_items: int, item_popularity: ArrayLike, long_tail_items: ArrayLike | None = None
) -> BoolArray:
    """Boolean mask of long-tail items: ``long_tail_items`` if given, else the non-short-head."""
    if long_tail_items is None:
        return ~short_head_mask(item_popularity)
    tail = np.zeros(n_items, dtype=bool)
    tail[np.asarray(long_tail_items, dtype=np.int64)] = True
    return tail


def recommendation_counts(top: IntArray, n_items: int) -> IntArray:
    """How many lists each catalog item appears in (pads ignored)."""
    return np.bincount(top[top != PAD], minlength=n_items).astype(np.int64)


def gini_index(counts: ArrayLike) -> float:
    """Gini index of a frequency vector over the whole catalog: 0 = all items equally often.

    ``G = 1/(n-1) * sum_{j=1..n} (2j - n - 1) * p(i_j)``, items sorted by increasing
    ``p(i) = count(i) / sum(count)``. All lists naming the same k items give the largest
    value k-item lists can reach, ``(n - k) / (n - 1)``. Elliot's "Gini" reports ``1 - G``.
    """
    values = np.sort(np.asarray(counts, dtype=np.float64))
    n = values.size
    total = values.sum()
    if n < 2 or total <= 0:
        return 0.0
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    return float((weights * values / total).sum() / (n - 1))


def _ratio_or_zero(numerator: FloatArray, denominator: ArrayLike) -> FloatArray:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0 (an empty list)."""
    out = np.zeros(np.shape(numerator))
    np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)
    return out


def arp_per_user(top: IntArray, item_popularity: FloatArray) -> FloatArray:
    """ARP_u = mean training popularity of the items in u's top-k (0 for an empty list)."""
    valid = top != PAD
    popularity = np.where(valid, item_popularity[np.where(valid, top, 0)], 0.0)
    n_valid = valid.sum(axis=1)
    return _ratio_or_zero(popularity.sum(axis=1), n_valid)


def epc_per_user(
    top: IntArray, hits: BoolArray, item_popularity: FloatArray, n_train_users: int
) -> FloatArray:
    """Expected Popularity Complement (Vargas & Castells 2011), relevance-aware as in Elliot.

    ``EPC_u = sum_{r<=k} rel(u, i_r) * disc(r) * (1 - pop(i_r) / |U_train|) / sum_{r<=k} disc(r)``
    with binary ``rel``, ``disc(r) = 1 / log2(r + 1)`` and the normaliser summed over the
    slots that hold an item. Only relevant long-tail hits near the top score high.
    """
    valid = top != PAD
    novelty = 1.0 - item_popularity[np.where(valid, top, 0)] / float(n_train_users)
    discount = np.broadcast_to(rank_discount(top.shape[1]), top.shape)
    gain = np.where(hits, discount * novelty, 0.0).sum(axis=1)
    norm = np.where(valid, discount, 0.0).sum(axis=1)
    return _ratio_or_zero(gain, norm)


def aclt_per_user(top: IntArray, tail: BoolArray) -> FloatArray:
    """ACLT_u = number of long-tail items in u's top-k (Abdollahpouri et al.; Elliot)."""
    valid = top != PAD
    counts: FloatArray = (valid & tail[np.where(valid, top, 0)]).sum(axis=1).astype(np.float64)
    return counts


def pop_reo(
    top: IntArray, relevant: Sequence[ArrayLike], tail: BoolArray
) -> tuple[float, float, float]:
    """PopREO (Zhu et al., SIGIR 2020, as in Elliot) and the two group recalls it compares.

    For group g in {short head, long tail}:
    ``P(R@k | g, y=1) = #(relevant g-items ranked in some user's top-k) / #(relevant g-items)``,
    both counts summed over users. ``PopREO = std(P_head, P_tail) / mean(P_head, P_tail)``
    (population std, so it equals ``|P_h - P_t| / (P_h + P_t)``): 0 means both groups'
    relevant items are found equally often; higher means more popularity bias. NaN when a
    group has no relevant item or neither group is ever hit.
    """
    if len(relevant) == 0:
        return float("nan"), float("nan"), float("nan")
    hits, _ = hit_matrix(top, relevant)
    hit_items = top[hits]
    found_tail = int(tail[hit_items].sum())
    found_head = hit_items.size - found_tail
    keys, span = relevant_keys(relevant, top.shape[0])
    rel_items = keys % span  # each user's distinct relevant items, all users together
    all_tail = int(tail[rel_items].sum())
    all_head = rel_items.size - all_tail
    if all_head == 0 or all_tail == 0 or found_head + found_tail == 0:
        return float("nan"), float("nan"), float("nan")
    recalls = np.array([found_head / all_head, found_tail / all_tail])
    return float(np.std(recalls) / np.mean(recalls)), float(recalls[0]), float(recalls[1])


def genre_matrix(item_genres: Sequence[AbstractSet[Hashable]]) -> BoolArray:
    """One row per item, one column per genre seen in ``item_genres``."""
    names = sorted({genre for genres in item_genres for genre in genres}, key=str)
    vocabulary = {genre: j for j, genre in enumerate(names)}
    matrix = np.zeros((len(item_genres), len(vocabulary)), dtype=bool)
    for item, genres in enumerate(item_genres):
        matrix[item, [vocabulary[g] for g in genres]] = True
    return matrix


def ild_per_user(top: IntArray, genres: BoolArray) -> FloatArray:
    """Intra-list diversity: mean pairwise Jaccard distance of genre sets within each top-k.

    ``ILD_u = mean_{r<s} (1 - |G(i_r) & G(i_s)| / |G(i_r) | G(i_s)|)`` over pairs of slots
    that hold items. Two genre-less items are at distance 0; a list with fewer than two
    items has ILD 0 (no pair to differ).
    """
    out = np.zeros(top.shape[0])
    pairs = np.triu(np.ones((top.shape[1], top.shape[1]), dtype=bool), k=1)
    for start in range(0, top.shape[0], _ILD_BATCH_USERS):
        block = top[start : start + _ILD_BATCH_USERS]
        valid = block != PAD
        onehot = genres[np.where(valid, block, 0)].astype(np.float64)
        inter = np.einsum("ukg,ulg->ukl", onehot, onehot)
        sizes = onehot.sum(axis=2)
        union = sizes[:, :, None] + sizes[:, None, :] - inter
        distance = 1.0 - np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        counted = pairs & valid[:, :, None] & valid[:, None, :]
        n_pairs = counted.sum(axis=(1, 2))
        total = np.where(counted, distance, 0.0).sum(axis=(1, 2))
        out[start : start + block.shape[0]] = _ratio_or_zero(total, n_pairs)
    return out


def _checked_inputs(
    recommended: ArrayLike, k: int, item_popularity: ArrayLike, n_items: int
) -> tuple[IntArray, FloatArray]:
    top = _top_k(recommended, k)
    popularity = np.asarray(item_popularity, dtype=np.float64)
    if popularity.shape != (n_items,):
        raise ValueError(f"item_popularity must have shape ({n_items},), got {popularity.shape}")
    if top.size and top.max() >= n_items:
        raise ValueError(f"recommended holds item {top.max()}, outside a catalog of {n_items}")
    return top, popularity


def beyond_accuracy_per_user(
    recommended: ArrayLike,
    k: int,
    item_popularity: ArrayLike,
    *,
    relevant: Sequence[ArrayLike] | None = None,
    n_train_users: int | None = None,
    item_genres: Sequence[AbstractSet[Hashable]] | None = None,
    long_tail_items: ArrayLike | None = None,
) -> dict[str, FloatArray]:
    """Per-user beyond-accuracy values, for bootstrap CIs and paired comparisons.

    Always ``arp@k`` and ``aclt@k``; ``epc@k`` when ``relevant`` and ``n_train_users`` (the
    number of training users, EPC's popularity normaliser) are given; ``ild@k`` when
    ``item_genres`` (one set per catalog item) is given. The catalog size is
    ``len(item_popularity)``.
    """
    n_items = int(np.asarray(item_popularity).size)
    top, popularity = _checked_inputs(recommended, k, item_popularity, n_items)
    tail = long_tail_mask(n_items, popularity, long_tail_items)
    out = {
        metric_key("arp", k): arp_per_user(top, popularity),
        metric_key("aclt", k): aclt_per_user(top, tail),
    }
    if relevant is not None and n_train_users is not None:
        hits, _ = hit_matrix(top, relevant)
        out[metric_key("epc", k)] = epc_per_user(top, hits, popularity, n_train_users)
    elif relevant is not None:
        logger.info("epc@%s skipped: n_train_users not given", k)
    if item_genres is not None:
        if len(item_genres) != n_items:
            raise ValueError(f"item_genres has {len(item_genres)} items, catalog has {n_items}")
        out[metric_key("ild", k)] = ild_per_user(top, genre_matrix(item_genres))
    return out


def catalog_metrics(
    recommended: ArrayLike,
    k: int,
    item_popularity: ArrayLike,
    n_items: int,
    *,
    relevant: Sequence[ArrayLike] | None = None,
    long_tail_items: ArrayLike | None = None,
) -> dict[str, float]:
    """The beyond-accuracy metrics that are not means over users: coverage, Gini, PopREO.

    See ``beyond_accuracy`` for their definitions; a caller that already holds the
    per-user values combines the two without computing those twice.
    """
    top, popularity = _checked_inputs(recommended, k, item_popularity, n_items)
    counts = recommendation_counts(top, n_items)
    n_covered = int((counts > 0).sum())
    out = {
        metric_key("coverage", k): n_covered / n_items,
        metric_key("coverage_count", k): float(n_covered),
        metric_key("gini", k): gini_index(counts),
    }
    if relevant is not None:
        tail = long_tail_mask(n_items, popularity, long_tail_items)
        reo, head_recall, tail_recall = pop_reo(top, relevant, tail)
        out[metric_key("popreo", k)] = reo
        out[metric_key("popreo_head_recall", k)] = head_recall
        out[metric_key("popreo_tail_recall", k)] = tail_recall
    return out


def beyond_accuracy(
    recommended: ArrayLike,
    k: int,
    item_popularity: ArrayLike,
    n_items: int,
    *,
    relevant: Sequence[ArrayLike] | None = None,
    n_train_users: int | None = None,
    item_genres: Sequence[AbstractSet[Hashable]] | None = None,
    long_tail_items: ArrayLike | None = None,
) -> dict[str, float]:
    """Aggregate beyond-accuracy metrics at cutoff ``k`` over all users' top-k lists.

    - ``coverage@k``: share of the ``n_items`` catalog recommended to at least one user;
      ``coverage_count@k``: that number of items;
    - ``gini@k``: Gini index of how often each catalog item is recommended (0 = equal);
    - ``arp@k``, ``aclt@k``, ``epc@k``, ``ild@k``: means of ``beyond_accuracy_per_user``;
    - ``popreo@k`` with ``popreo_head_recall@k`` and ``popreo_tail_recall@k`` when
      ``relevant`` is given (see ``pop_reo``).
    """
    top, popularity = _checked_inputs(recommended, k, item_popularity, n_items)
    catalog = catalog_metrics(
        top, k, popularity, n_items, relevant=relevant, long_tail_items=long_tail_items
    )
    per_user = beyond_accuracy_per_user(
        top,
        k,
        popularity,
        relevant=relevant,
        n_train_users=n_train_users,
        item_genres=item_genres,
        long_tail_items=long_tail_items,
    )
    return catalog | {name: float(np.mean(values)) for name, values in per_user.items()}

"""EASE (Steck, 2019): a closed-form item-item linear autoencoder with a zero diagonal.

``B = I - P diag(1/diag(P))`` with ``P = (X^T X + lambda I)^-1``; scores are ``X_u B``.
The dense Gram inverse costs O(items^3) time and items^2 memory, so EASE keeps the
``max_items`` most popular items (20,000 by default: 1.6 GB of float32 weights) and
refuses up front when what it keeps would not fit the memory budget. The items it
drops get ``DROPPED_SCORE``: below every kept item, never recommended before them.
Fit times per dataset: bench/README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp
from pydantic import Field

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.memory import require_within_budget
from agentrec.recsys.selection import validation_ndcg

logger = logging.getLogger(__name__)

DEFAULT_MAX_ITEMS = 20_000
# Finite, so a dropped item is still ranked (after every kept one) and never read as masked (-inf).
DROPPED_SCORE = -1e30
# Gram columns computed per sparse product: bounds the sparse intermediate, not the result.
GRAM_BLOCK = 2048


class EASEConfig(ModelConfig):
    """``l2`` is EASE's lambda; ``dtype`` of the Gram inverse; ``max_items`` the most popular items kept.

    float32 halves time and memory and gives the same metrics to three digits on
    ml-1m-implicit and ml-100k (bench/README.md, "Issue 22"), so it is the default.
    """

    l2: float = 500.0
    dtype: Literal["float32", "float64"] = "float32"
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, ge=1)


class EASE(Recommender):
    """Embarrassingly shallow autoencoder over binary interactions, on the most popular ``max_items``."""

    name = "ease"
    Config = EASEConfig
    config: EASEConfig

    def check_fits(self, n_users: int, n_items: int) -> None:
        kept = min(n_items, self.config.max_items)
        require_within_budget(
            f"ease on {kept:,} items ({self.config.dtype})",
            ease_bytes(kept, self.config.dtype),
            f"lower --max-items (now {self.config.max_items:,}; the default is {DEFAULT_MAX_ITEMS:,})",
        )

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.kept = most_popular(self.history, self.config.max_items)
        if len(self.kept) < self.history.shape[1]:
            dropped = self.history.shape[1] - len(self.kept)
            share = self.history[:, self.kept].nnz / max(self.history.nnz, 1)
            logger.warning(
                "ease: kept the %s most popular of %s items (%.1f%% of interactions); the other %s are ranked last "
                "(--max-items changes it)", f"{len(self.kept):,}", f"{self.history.shape[1]:,}", 100 * share,
                f"{dropped:,}",
            )  # fmt: skip
        self._keep_columns()
        gram = gram_matrix(self._kept_history, self.config.dtype)
        self.weights = ease_weights(gram, self.config.l2, overwrite=True)

    @property
    def dropped_items(self) -> int:
        """How many items the cap left out (0 when every item fits)."""
        return int(self.history.shape[1] - len(self.kept))

    def _history_changed(self, history: Interactions) -> None:
        self._keep_columns()

    def _score(self, users: IntArray) -> FloatArray:
        kept_scores = np.asarray(self._kept_history[users] @ self.weights, dtype=np.float32)
        if len(self.kept) == self.history.shape[1]:
            return kept_scores
        scores = np.full((len(users), self.history.shape[1]), DROPPED_SCORE, dtype=np.float32)
        scores[:, self.kept] = kept_scores
        return scores

    def _item_similarity(self, item: int) -> FloatArray:
        # row ``item``: how much having ``item`` raises each other item's score; a dropped item raises none
        similarity = np.zeros(self.history.shape[1], dtype=np.float32)
        position = np.searchsorted(self.kept, item)
        if position < len(self.kept) and self.kept[position] == item:
            similarity[self.kept] = self.weights[position]
        return similarity

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "kept": self.kept}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]
        self.kept = state["kept"] if "kept" in state else np.arange(self.weights.shape[0], dtype=np.int64)
        self._keep_columns()

    def _keep_columns(self) -> None:
        """The history restricted to the kept items: what the weights multiply."""
        full = self.history
        self._kept_history = full if len(self.kept) == full.shape[1] else full[:, self.kept].tocsr()


def ease_bytes(n_items: int, dtype: str) -> int:
    """Peak bytes of EASE's dense matrices on ``n_items``: the Gram (inverted in place) and float32 weights."""
    per_entry = 8 + 4 if dtype == "float64" else 4  # a float64 Gram needs its float32 copy beside it
    return n_items * n_items * per_entry + n_items * GRAM_BLOCK * 8


def most_popular(history: sp.csr_matrix, limit: int) -> npt.NDArray[np.int64]:
    """The ``limit`` most interacted items, in index order (ties to the lower index)."""
    counts = np.bincount(history.indices, minlength=history.shape[1])
    if history.shape[1] <= limit:
        return np.arange(history.shape[1], dtype=np.int64)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return np.sort(order[:limit]).astype(np.int64)


def gram_matrix(history: sp.csr_matrix, dtype: str) -> np.ndarray:
    """Dense ``X^T X`` of a sparse users x items matrix, a block of columns at a time.

    One sparse product over all columns would hold a nearly dense items x items matrix in
    sparse form (three times the dense size); blocks bound that to ``GRAM_BLOCK`` columns.
    """
    x = history.astype(dtype)
    xt = x.T.tocsr()
    x = x.tocsc()
    n = x.shape[1]
    gram = np.empty((n, n), dtype=dtype)
    for start in range(0, n, GRAM_BLOCK):
        stop = min(start + GRAM_BLOCK, n)
        gram[:, start:stop] = (xt @ x[:, start:stop]).toarray()
    return gram


def ease_weights(gram: np.ndarray, l2: float, overwrite: bool = False) -> np.ndarray:
    """EASE's item-item weights for a symmetric Gram matrix and lambda (float32 output).

    With ``overwrite`` the Gram's memory is reused for the inverse, so the peak is one
    items x items matrix in the Gram's type (plus the float32 result when that is float64).
    """
    # a symmetric C-ordered matrix read as Fortran order is itself: no copy for LAPACK
    regularised = gram.T if overwrite and gram.flags.c_contiguous else np.array(gram, order="F")
    regularised[np.diag_indices_from(regularised)] += l2
    # The regularised Gram is symmetric positive definite: Cholesky, then the inverse from
    # the factor (potri) is about n^3 flops against 2.3 n^3 for solving against I, and
    # faster in practice, with weights equal to 1e-16 (bench/README.md).
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (regularised,))
    factor, info = potrf(regularised, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Gram matrix + {l2} I is not positive definite (potrf info {info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inverting the Cholesky factor failed (potri info {info})")
    # potri fills the upper triangle only. Work on the C-ordered view: there that triangle is the lower one.
    filled: Literal["lower", "upper"] = "lower" if inverse.flags.f_contiguous else "upper"
    matrix = inverse.T if filled == "lower" else inverse
    _mirror(matrix, filled)
    diagonal = np.diag(matrix).copy()
    matrix /= -diagonal[None, :]  # the matrix is symmetric, so its C-ordered view is P itself
    weights: np.ndarray = np.ascontiguousarray(matrix.astype(np.float32, copy=False))
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def _mirror(matrix: np.ndarray, filled: Literal["lower", "upper"], block: int = 1024) -> None:
    """Copy the ``filled`` triangle of a C-ordered square matrix onto the other one, in place, by row blocks."""
    n = matrix.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        if filled == "lower":
            matrix[start:stop, stop:] = matrix[stop:, start:stop].T
        else:
            matrix[start:stop, :start] = matrix[:start, start:stop].T
        tile = matrix[start:stop, start:stop]
        other = np.triu_indices(stop - start, 1) if filled == "lower" else np.tril_indices(stop - start, -1)
        tile[other] = tile.T[other]


def tune_ease(
    train: Interactions,
    valid: Interactions,
    grid: Sequence[float] = (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0),
    k: int = 10,
    dtype: Literal["float32", "float64"] = "float32",
) -> tuple[EASE, dict[float, float]]:
    """Pick EASE's lambda by validation NDCG@k; returns the best fitted model and all scores.

    The Gram matrix is computed once and only the inverse is repeated per lambda.
    """
    best: tuple[float, EASE] | None = None
    scores: dict[float, float] = {}
    history = train.to_csr(binary=True)
    kept = most_popular(history, DEFAULT_MAX_ITEMS)
    gram = gram_matrix(history[:, kept].tocsr(), dtype)
    for l2 in grid:
        candidate = EASE(l2=l2, dtype=dtype)
        candidate._history = history
        candidate.kept = kept
        candidate._keep_columns()
        candidate.weights = ease_weights(gram, l2)
        scores[l2] = validation_ndcg(candidate, valid, k)
        logger.info("EASE l2=%s validation ndcg@%d=%.4f", l2, k, scores[l2])
        if best is None or scores[l2] > best[0]:
            best = (scores[l2], candidate)
    assert best is not None
    return best[1], scores

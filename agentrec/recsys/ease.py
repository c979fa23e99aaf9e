"""EASE (Steck, 2019): a closed-form item-item linear autoencoder with a zero diagonal.

``B = I - P diag(1/diag(P))`` with ``P = (X^T X + lambda I)^-1``; scores are ``X_u B``.
The dense Gram inverse costs O(items^3) (fit times per dataset: bench/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.selection import validation_ndcg

logger = logging.getLogger(__name__)


class EASEConfig(ModelConfig):
    """``l2`` is EASE's lambda; ``dtype`` of the Gram inverse (float32 halves time and memory)."""

    l2: float = 500.0
    dtype: Literal["float32", "float64"] = "float64"


class EASE(Recommender):
    """Embarrassingly shallow autoencoder over binary interactions."""

    name = "ease"
    Config = EASEConfig
    config: EASEConfig

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.weights = ease_weights(gram_matrix(self.history, self.config.dtype), self.config.l2)

    def _score(self, users: IntArray) -> FloatArray:
        return np.asarray(self.history[users] @ self.weights, dtype=np.float32)

    def _item_similarity(self, item: int) -> FloatArray:
        # row ``item``: how much having ``item`` raises each other item's score
        return np.asarray(self.weights[item], dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]


def gram_matrix(history: sp.csr_matrix, dtype: str) -> np.ndarray:
    """Dense ``X^T X`` of a sparse users x items matrix."""
    x = history.astype(dtype)
    return np.asarray((x.T @ x).toarray(), dtype=dtype)


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's item-item weights for a Gram matrix and lambda (float32 output)."""
    regularised = np.array(gram, order="F")  # LAPACK works in place on a Fortran-ordered copy
    regularised[np.diag_indices_from(regularised)] += l2
    # The regularised Gram is symmetric positive definite: Cholesky, then the inverse from
    # the factor (potri) is about n^3 flops against 2.3 n^3 for solving against I, and
    # faster in practice, with weights equal to 1e-16 (bench/README.md).
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (regularised,))
    factor, info = potrf(regularised, lower=False, overwrite_a=True, clean=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Gram matrix + {l2} I is not positive definite (potrf info {info})")
    upper, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inverting the Cholesky factor failed (potri info {info})")
    inverse = np.triu(upper) + np.triu(upper, 1).T  # potri fills the upper triangle only
    weights: np.ndarray = (inverse / (-np.diag(inverse))).astype(np.float32)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def tune_ease(
    train: Interactions,
    valid: Interactions,
    grid: Sequence[float] = (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0),
    k: int = 10,
    dtype: Literal["float32", "float64"] = "float64",
) -> tuple[EASE, dict[float, float]]:
    """Pick EASE's lambda by validation NDCG@k; returns the best fitted model and all scores.

    The Gram matrix is computed once and only the inverse is repeated per lambda.
    """
    best: tuple[float, EASE] | None = None
    scores: dict[float, float] = {}
    history = train.to_csr(binary=True)
    gram = gram_matrix(history, dtype)
    for l2 in grid:
        candidate = EASE(l2=l2, dtype=dtype)
        candidate._history = history
        candidate.weights = ease_weights(gram, l2)
        scores[l2] = validation_ndcg(candidate, valid, k)
        logger.info("EASE l2=%s validation ndcg@%d=%.4f", l2, k, scores[l2])
        if best is None or scores[l2] > best[0]:
            best = (scores[l2], candidate)
    assert best is not None
    return best[1], scores

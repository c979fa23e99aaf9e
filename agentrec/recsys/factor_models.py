"""Matrix factorisation through the ``implicit`` library: ALS and BPR, on CPU.

Only the learned factor matrices are kept after ``fit`` (scores are their dot
products), so persistence is two numpy arrays and no pickled library objects.
Item factors also serve item-to-item retrieval through a faiss index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.faiss_index import FaissIndex


class FactorModel(Recommender):
    """A recommender whose score is ``user_factors @ item_factors.T``."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    _item_index: FaissIndex | None = None

    def _score(self, users: IntArray) -> FloatArray:
        return np.asarray(self.user_factors[users] @ self.item_factors.T, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"]
        self.item_factors = state["item_factors"]

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self._item_index = None

    def item_vectors(self) -> np.ndarray:
        """The item embedding matrix (items x factors)."""
        return self.item_factors

    def similar_items(self, item: int, k: int) -> list[tuple[int, float]]:
        """The ``k`` items with the most cosine-similar factors to ``item`` (itself excluded)."""
        if self._item_index is None:
            self._item_index = FaissIndex.from_vectors(self.item_factors, normalise=True)
        query = self._item_index.reconstruct(self._check_items([item])[0])
        scores, ids = self._item_index.search(query[None, :], k + 1)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)]
        return [(i, s) for i, s in pairs if i not in (item, -1)][:k]


class ALSConfig(ModelConfig):
    """Hu-Koren-Volinsky ALS; confidence = ``alpha`` x (bm25-weighted) interactions.

    Defaults are the config tuned on ml-1m-implicit validation (bench/README_recsys.md):
    bm25 weighting with strong regularisation; test Recall@20 .289 vs .248 untuned.
    """

    factors: int = 64
    regularization: float = 50.0
    alpha: float = 1.0
    iterations: int = 15
    weighting: Literal["none", "bm25"] = "bm25"
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    seed: int = 0
    num_threads: int = 0


class ALS(FactorModel):
    """Implicit-feedback ALS (``implicit.cpu.als``)."""

    name = "als"
    Config = ALSConfig
    config: ALSConfig

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        cfg = self.config
        weights = confidence_weights(self.history, cfg.weighting, cfg.bm25_k1, cfg.bm25_b)
        # implicit parallelises over users itself; a multi-threaded BLAS underneath only contends
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                random_state=cfg.seed,
                num_threads=cfg.num_threads,
            )
            model.fit(weights, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)


class BPRConfig(ModelConfig):
    """BPR-MF by SGD; one thread by default because Hogwild updates are not reproducible.

    Defaults are the best of a small ml-1m-implicit validation grid (bench/README_recsys.md);
    implicit's BPR stays well below ALS/EASE there (test Recall@20 .165).
    """

    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 200
    seed: int = 0
    num_threads: int = 1


class BPR(FactorModel):
    """Bayesian personalised ranking (``implicit.cpu.bpr``); the last factor is an item bias."""

    name = "bpr"
    Config = BPRConfig
    config: BPRConfig

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        cfg = self.config
        model = BayesianPersonalizedRanking(
            factors=cfg.factors,
            learning_rate=cfg.learning_rate,
            regularization=cfg.regularization,
            iterations=cfg.iterations,
            random_state=cfg.seed,
            num_threads=cfg.num_threads,
        )
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(self.history, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)


def confidence_weights(history: sp.csr_matrix, weighting: str, k1: float, b: float) -> sp.csr_matrix:
    """The users x items matrix ALS fits: binary, or BM25-weighted (users as documents)."""
    if weighting == "none":
        return history.astype(np.float32)
    return sp.csr_matrix(bm25_weight(history, K1=k1, B=b), dtype=np.float32)

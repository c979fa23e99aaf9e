"""Implicit-feedback ALS through the ``implicit`` library, on CPU.

BPR lives in ``agentrec.recsys.bpr`` (PyTorch, RecBole's training recipe); implicit's
SGD BPR stayed well below RecBole's on ml-1m-implicit (bench/README.md).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import ModelConfig
from agentrec.recsys.factors import FactorModel


class ALSConfig(ModelConfig):
    """Hu-Koren-Volinsky ALS; confidence = ``alpha`` x (bm25-weighted) interactions.

    Defaults are the config tuned on ml-1m-implicit validation: bm25 weighting with
    strong regularisation, clearly above the untuned config on test (bench/README.md).
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


def confidence_weights(history: sp.csr_matrix, weighting: str, k1: float, b: float) -> sp.csr_matrix:
    """The users x items matrix ALS fits: binary, or BM25-weighted (users as documents)."""
    if weighting == "none":
        return history.astype(np.float32)
    return sp.csr_matrix(bm25_weight(history, K1=k1, B=b), dtype=np.float32)

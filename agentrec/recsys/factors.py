"""Recommenders whose score is a dot product of learned user and item factors.

Only the factor matrices are kept after ``fit`` (whatever library trained them), so
persistence is two numpy arrays and no pickled library objects. Items are similar
when their factors point the same way (cosine).
"""

from __future__ import annotations

import numpy as np

from agentrec.recsys.base import FloatArray, IntArray, Recommender
from agentrec.recsys.faiss_index import l2_normalise


class FactorModel(Recommender):
    """A recommender whose score is ``user_factors @ item_factors.T``."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    _unit_item_factors: np.ndarray | None = None

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
        self._unit_item_factors = None

    def item_vectors(self) -> np.ndarray:
        """The item embedding matrix (items x factors)."""
        return self.item_factors

    def _item_similarity(self, item: int) -> FloatArray:
        if self._unit_item_factors is None:
            self._unit_item_factors = l2_normalise(self.item_factors)
        return np.asarray(self._unit_item_factors @ self._unit_item_factors[item], dtype=np.float32)

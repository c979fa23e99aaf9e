"""Recommenders whose score is a dot product of learned user and item factors.

Only the factor matrices are kept after ``fit`` (whatever library trained them), so
persistence is two numpy arrays and no pickled library objects. Item factors also
serve item-to-item retrieval through a faiss index.
"""

from __future__ import annotations

import numpy as np

from agentrec.recsys.base import FloatArray, IntArray, Recommender
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

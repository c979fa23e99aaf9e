"""MostPop: every user gets the items with the most training interactions."""

from __future__ import annotations

import numpy as np

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender


class MostPopConfig(ModelConfig):
    """MostPop has no hyper-parameters."""


class MostPop(Recommender):
    """Scores each item by its number of distinct users in the training data."""

    name = "mostpop"
    Config = MostPopConfig

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.popularity = np.asarray(self.history.sum(axis=0), dtype=np.float32).ravel()

    def _score(self, users: IntArray) -> FloatArray:
        return np.broadcast_to(self.popularity, (len(users), self.popularity.shape[0])).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.popularity = state["popularity"]

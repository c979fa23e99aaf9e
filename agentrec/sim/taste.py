"""A simulated user's true taste: CF scores from their real history, turned into choice features.

The taste model is a CF model (EASE by default) fitted on the users' training
interactions. It is not the recommender under test: it stands for what the user
would like. For an item it gives:

* ``affinity``: ``1 - log(1 + rank) / log(1 + n_unseen)``, where ``rank`` is the
  item's place among the user's unseen items by CF score (1 = the user's top item);
* the item's popularity percentile in training;
* ``genre_match``: how much of the user's genre distribution the item's genres hold.

A calibrated logistic model over affinity, genre match and their interactions with
the traits (popularity x conformity, genre match x diversity) gives the watch
probability; a bias model plus an affinity slope gives the rating. Popularity has
no main effect: the CF affinity already holds it, and adding it lowered choice
agreement on a holdout nested inside the training data (0.743 vs 0.764 on
ml-100k), the only data a modelling choice may be made on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender
from agentrec.sim.items import SimItems
from agentrec.sim.profiles import UserProfile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FEATURES = ("affinity", "genre_match", "popularity_x_conformity", "genre_match_x_diversity")


class Calibration(BaseModel):
    """Fitted on training data only: watch logistic weights and the rating model's affinity term."""

    model_config = ConfigDict(frozen=True)

    watch_weights: tuple[float, ...]
    watch_bias: float
    rating_offset: float
    rating_slope: float
    samples: int
    log_loss: float


@dataclass(frozen=True)
class RatingBiases:
    """``mu + b_user + b_item``, fitted by alternating regularised means."""

    mu: float
    user: FloatArray
    item: FloatArray

    @classmethod
    def fit(cls, train: Interactions, sweeps: int = 10, user_reg: float = 5.0, item_reg: float = 10.0) -> RatingBiases:
        rated = np.isfinite(train.rating)
        users, items, ratings = train.user[rated], train.item[rated], train.rating[rated]
        if not rated.any():
            return cls(float("nan"), np.zeros(train.n_users), np.zeros(train.n_items))
        mu = float(ratings.mean())
        user_bias, item_bias = np.zeros(train.n_users), np.zeros(train.n_items)
        user_count = np.bincount(users, minlength=train.n_users) + user_reg
        item_count = np.bincount(items, minlength=train.n_items) + item_reg
        for _ in range(sweeps):
            item_bias = np.bincount(items, ratings - mu - user_bias[users], minlength=train.n_items) / item_count
            user_bias = np.bincount(users, ratings - mu - item_bias[items], minlength=train.n_users) / user_count
        return cls(mu, user_bias, item_bias)

    def predict(self, user: int, items: IntArray) -> FloatArray:
        result: FloatArray = self.mu + self.user[user] + self.item[items]
        return result


def popularity_percentile(popularity: FloatArray) -> FloatArray:
    """Each item's popularity rank as a share in [0, 1] (1 = most popular)."""
    order = np.argsort(popularity, kind="stable")
    percentile = np.empty(popularity.shape[0])
    percentile[order] = np.arange(popularity.shape[0]) / max(popularity.shape[0] - 1, 1)
    return percentile


class RatingBase(Protocol):
    """Predicts ratings of (user, item) pairs; the part of a simulated rating that no affinity explains."""

    def predict(self, users: IntArray, items: IntArray) -> FloatArray: ...


@dataclass
class TasteModel:
    """The CF scorer, rating biases and calibration behind every simulated user.

    ``rating_base`` (a biased matrix factorisation, ``rating_baselines.fit_taste_ratings``)
    predicts the ratings when given; the biases alone otherwise.
    """

    scorer: Recommender
    items: SimItems
    biases: RatingBiases
    calibration: Calibration | None = None
    rating_base: RatingBase | None = None

    def __post_init__(self) -> None:
        self.pop_percentile = popularity_percentile(self.items.popularity)
        self._rows: dict[int, FloatArray] = {}

    def precompute(self, users: IntArray, batch: int = 256) -> None:
        """Score ``users`` in batches up front: one model call per batch instead of one per session."""
        for start in range(0, len(users), batch):
            chunk = users[start : start + batch]
            for user, row in zip(chunk.tolist(), self.scorer.score(chunk), strict=True):
                self._rows[user] = np.asarray(row, dtype=np.float64)

    def base_ratings(self, user: int, items: IntArray) -> FloatArray:
        """Ratings before the affinity term: the rating base's, else mean plus biases."""
        if self.rating_base is None:
            return self.biases.predict(user, items)
        return self.rating_base.predict(np.full(len(items), user, dtype=np.int64), items)

    def for_user(self, profile: UserProfile) -> UserTaste:
        cached = self._rows.get(profile.user)
        scores = cached.copy() if cached is not None else self.scorer.score([profile.user])[0].astype(np.float64)
        scores[self.scorer.seen_items(profile.user)] = -np.inf
        return UserTaste(self, profile, scores)


@dataclass
class UserTaste:
    """One user's CF scores over every item (seen items at -inf)."""

    model: TasteModel
    profile: UserProfile
    scores: FloatArray

    def affinity(self, items: IntArray) -> FloatArray:
        candidate = self.scores[items]
        above = (self.scores[None, :] > candidate[:, None]).sum(axis=1)
        n_unseen = max(int(np.isfinite(self.scores).sum()), 2)
        result: FloatArray = np.where(np.isfinite(candidate), 1.0 - np.log1p(above) / np.log1p(n_unseen), 0.0)
        return result

    def features(self, items: IntArray) -> FloatArray:
        """The calibrated model's inputs for ``items``, one row per item (order of ``FEATURES``)."""
        flags = self.model.items.genres[items].astype(np.float64)
        per_item = np.maximum(flags.sum(axis=1), 1.0)
        match = flags @ self.profile.genre_share / per_item * max(len(self.model.items.genre_names), 1)
        popularity = self.model.pop_percentile[items]
        traits = self.profile.traits
        return np.column_stack(
            [
                self.affinity(items),
                match,
                popularity * (traits.conformity - 1),
                match * (1 - traits.diversity),
            ]
        )

    def watch_logits(self, items: IntArray) -> FloatArray:
        """Log-odds of watching each item, before position, fatigue and memory effects."""
        calibration = self.model.calibration
        if calibration is None:
            raise RuntimeError("the taste model is not calibrated")
        weights = np.asarray(calibration.watch_weights)
        result: FloatArray = self.features(items) @ weights + calibration.watch_bias
        return result

    def expected_ratings(self, items: IntArray) -> FloatArray:
        """The rating the user would most likely give each item, before rounding."""
        calibration = self.model.calibration
        slope, offset = (calibration.rating_slope, calibration.rating_offset) if calibration else (0.0, 0.0)
        affinity = self.affinity(items)
        if not np.isfinite(self.model.biases.mu):
            # implicit data: no ratings to learn from, so liking follows affinity alone
            implicit: FloatArray = 1.0 + 4.0 * affinity
            return implicit
        result: FloatArray = self.model.base_ratings(self.profile.user, items) + offset + slope * affinity
        return result

    def ratings(self, items: IntArray) -> IntArray:
        """Whole-star ratings 1..5: the nearest star to the expected rating."""
        return np.clip(np.rint(self.expected_ratings(items)), 1, 5).astype(np.int64)

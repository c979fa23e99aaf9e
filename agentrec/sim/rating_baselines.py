"""Rating-prediction baselines that simulated users' ratings are compared against.

Three predictors of a (user, item) rating, fitted on training ratings only:

* ``GlobalMean``: the training mean;
* ``UserItemBias``: ``mu + b_user + b_item`` (the simulator's own ``RatingBiases``);
* ``BiasedMF``: ``mu + b_user + b_item + p_user . q_item``, fitted by alternating least squares.

They stand beside the published ml-100k numbers of the Surprise library
(BaselineOnly RMSE 0.944, SVD 0.934, SVD++ 0.920): a simulator whose ratings
are no closer to the truth than ``GlobalMean`` has learnt nothing about taste.
``BiasedMF``'s settings are chosen on a seeded 10% of the training ratings,
never on test data, and the model is then refitted on all of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import FloatArray, IntArray, Interactions
from agentrec.data.splits import random_ratio
from agentrec.sim.taste import RatingBiases

HOLDOUT_SHARE = 0.1
# Small on purpose: each cell is a full fit, and the number of sweeps is chosen along the way.
FACTOR_GRID = (10, 50)
REGULARISATION_GRID = (0.03, 0.1, 0.15)
MAX_SWEEPS = 15
PATIENCE = 2
MIN_GAIN = 1e-4


class RatingPredictor(Protocol):
    """Anything that predicts the rating of each (user, item) pair, given as dense indices."""

    def predict(self, users: IntArray, items: IntArray) -> FloatArray: ...


@dataclass(frozen=True)
class RatedRows:
    """The rows of an ``Interactions`` that carry a rating, and the vocabulary sizes around them."""

    users: IntArray
    items: IntArray
    ratings: FloatArray
    n_users: int
    n_items: int

    @classmethod
    def of(cls, train: Interactions) -> RatedRows:
        """The rated rows of ``train``; a ``ConfigError`` when there are none (implicit feedback)."""
        rated = np.isfinite(train.rating)
        if not rated.any():
            raise ConfigError("rating baselines need explicit ratings, but the training data has none")
        return cls(train.user[rated], train.item[rated], train.rating[rated], train.n_users, train.n_items)

    @property
    def low(self) -> float:
        return float(self.ratings.min())

    @property
    def high(self) -> float:
        return float(self.ratings.max())


def rmse(predictor: RatingPredictor, rows: RatedRows) -> float:
    """Root mean squared error of ``predictor`` on ``rows``."""
    error = predictor.predict(rows.users, rows.items) - rows.ratings
    return float(np.sqrt(np.mean(error**2)))


@dataclass(frozen=True)
class GlobalMean:
    """Every pair gets the training mean rating."""

    mu: float

    @classmethod
    def fit(cls, train: Interactions) -> GlobalMean:
        return cls(float(RatedRows.of(train).ratings.mean()))

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        return np.full(users.shape[0], self.mu)


@dataclass(frozen=True)
class UserItemBias:
    """``mu + b_user + b_item`` from ``RatingBiases``, for arbitrary pairs, clipped to the training range.

    Clipping matches Surprise, whose predictions are clipped to the rating scale.
    """

    biases: RatingBiases
    low: float
    high: float

    @classmethod
    def fit(cls, train: Interactions) -> UserItemBias:
        rows = RatedRows.of(train)
        return cls(RatingBiases.fit(train), rows.low, rows.high)

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        # RatingBiases.predict takes one user; the same sum, vectorised over pairs.
        raw = self.biases.mu + self.biases.user[users] + self.biases.item[items]
        return np.clip(raw, self.low, self.high)


@dataclass(frozen=True)
class MFSettings:
    """``BiasedMF``'s hyper-parameters: latent factors, ridge weight per rating, ALS sweeps."""

    factors: int
    regularisation: float
    sweeps: int


@dataclass(frozen=True)
class BiasedMF:
    """``mu + b_user + b_item + p_user . q_item``, clipped to the training rating range."""

    mu: float
    user_bias: FloatArray
    item_bias: FloatArray
    user_factors: FloatArray
    item_factors: FloatArray
    low: float
    high: float
    settings: MFSettings

    @classmethod
    def fit(cls, train: Interactions, settings: MFSettings, seed: int = 0) -> BiasedMF:
        """Alternating least squares on the rated rows of ``train`` for ``settings.sweeps`` sweeps."""
        if settings.sweeps < 1:
            raise ConfigError(f"BiasedMF needs at least one sweep, got {settings.sweeps}")
        # Only the last sweep's model is kept: each holds the full factor matrices.
        last: deque[BiasedMF] = deque(alternating_least_squares(RatedRows.of(train), settings, seed), maxlen=1)
        return last[0]

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        interaction = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        raw = self.mu + self.user_bias[users] + self.item_bias[items] + interaction
        clipped: FloatArray = np.clip(raw, self.low, self.high)
        return clipped


GROUPS_PER_SOLVE = 8192  # ridge systems built and solved together: bounds the memory, not the work


@dataclass(frozen=True)
class Grouping:
    """Rated rows ordered by one index (user or item), with each index's slice of that order."""

    order: IntArray
    bounds: IntArray

    @classmethod
    def by(cls, index: IntArray, size: int) -> Grouping:
        order = np.argsort(index, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(index, minlength=size))])
        return cls(order, bounds.astype(np.int64))


def ridge_solve_all(
    grouping: Grouping, other: IntArray, design: FloatArray, target: FloatArray, regularisation: float
) -> FloatArray:
    """For each group, the ridge solution of ``design[other[rows]] @ x ~ target[rows]`` (zero for empty groups).

    The ridge weight grows with the group's size (ALS-WR), so one setting suits
    users with 20 ratings and items with 500.
    """
    width = design.shape[1]
    n_groups = grouping.bounds.shape[0] - 1
    solution: FloatArray = np.empty((n_groups, width))
    ordered_other, ordered_target = other[grouping.order], target[grouping.order]
    counts = np.diff(grouping.bounds)
    # An empty group gets the identity, so its solution is zero instead of a singular solve.
    ridge = np.maximum(counts, 1) * regularisation + (counts == 0)
    # Thousands of tiny products and solves: a multi-threaded BLAS spends more on waking threads than on work
    # (100 factors, 20 sweeps on ml-100k: 91 s with two BLAS threads on a busy 2-core machine, 8 s with one).
    with threadpool_limits(limits=1, user_api="blas"):
        # groups a chunk at a time: all 162k users' 51 x 51 systems at once held 3.4 GB, twice over in the solve
        for first in range(0, n_groups, GROUPS_PER_SOLVE):
            last = min(first + GROUPS_PER_SOLVE, n_groups)
            grams, moments = np.zeros((last - first, width, width)), np.zeros((last - first, width))
            for offset, group in enumerate(range(first, last)):
                start, end = int(grouping.bounds[group]), int(grouping.bounds[group + 1])
                block = design[ordered_other[start:end]]
                grams[offset] = block.T @ block
                moments[offset] = ordered_target[start:end] @ block
            grams[:, np.arange(width), np.arange(width)] += ridge[first:last, None]
            solution[first:last] = np.linalg.solve(grams, moments[:, :, None])[:, :, 0]
    return solution


def alternating_least_squares(rows: RatedRows, settings: MFSettings, seed: int) -> Iterator[BiasedMF]:
    """The model after each ALS sweep (user solves, then item solves).

    Each side's bias is one more column of its ridge solve: the other side's
    vectors get a constant column of ones.
    """
    generator = np.random.default_rng(seed)
    mu = float(rows.ratings.mean())
    residual = rows.ratings - mu
    by_user, by_item = Grouping.by(rows.users, rows.n_users), Grouping.by(rows.items, rows.n_items)
    item_factors = generator.normal(0.0, 0.1, (rows.n_items, settings.factors))
    item_bias = np.zeros(rows.n_items)
    for _ in range(settings.sweeps):
        item_design = np.column_stack([item_factors, np.ones(rows.n_items)])
        user_target = residual - item_bias[rows.items]
        user_side = ridge_solve_all(by_user, rows.items, item_design, user_target, settings.regularisation)
        user_factors, user_bias = user_side[:, :-1], user_side[:, -1]
        user_design = np.column_stack([user_factors, np.ones(rows.n_users)])
        item_target = residual - user_bias[rows.users]
        item_side = ridge_solve_all(by_item, rows.users, user_design, item_target, settings.regularisation)
        item_factors, item_bias = item_side[:, :-1], item_side[:, -1]
        yield BiasedMF(mu, user_bias, item_bias, user_factors, item_factors, rows.low, rows.high, settings)


def choose_mf_settings(train: Interactions, seed: int = 0) -> tuple[MFSettings, float]:
    """The grid cell and sweep count with the lowest RMSE on a seeded 10% of ``train``, and that RMSE.

    Only training ratings are used: the holdout is carved out of them, per user.
    """
    rated = train.subset(np.isfinite(train.rating))
    split = random_ratio(rated, valid_share=0.0, test_share=HOLDOUT_SHARE, seed=seed)
    inner, holdout = RatedRows.of(split.train), RatedRows.of(split.test)
    cells = [
        best_sweeps(inner, holdout, MFSettings(factors, regularisation, MAX_SWEEPS), seed)
        for factors in FACTOR_GRID
        for regularisation in REGULARISATION_GRID
    ]
    return min(cells, key=lambda cell: cell[1])


def best_sweeps(inner: RatedRows, holdout: RatedRows, settings: MFSettings, seed: int) -> tuple[MFSettings, float]:
    """``settings`` with the sweep count (at most ``settings.sweeps``) that did best on ``holdout``, and its RMSE.

    Sweeps stop early once the holdout RMSE has gained less than ``MIN_GAIN`` for
    ``PATIENCE`` sweeps in a row: past that point they only cost time.
    """
    best_sweep, best_error = 0, float("inf")
    reference, stalled = float("inf"), 0
    for sweep, model in enumerate(alternating_least_squares(inner, settings, seed), start=1):
        error = rmse(model, holdout)
        if error < best_error:
            best_sweep, best_error = sweep, error
        if error < reference - MIN_GAIN:
            reference, stalled = error, 0
        else:
            stalled += 1
            if stalled >= PATIENCE:
                break
    return MFSettings(settings.factors, settings.regularisation, best_sweep), best_error


def fit_rating_baselines(train: Interactions, seed: int = 0) -> dict[str, RatingPredictor]:
    """The three baselines fitted on ``train``'s ratings; ``BiasedMF``'s settings chosen on a holdout inside it.

    Raises ``ConfigError`` when ``train`` has no ratings (implicit feedback).
    """
    global_mean = GlobalMean.fit(train)  # first, so implicit data fails before any fitting
    settings, _ = choose_mf_settings(train, seed)
    return {
        "global_mean": global_mean,
        "user_item_bias": UserItemBias.fit(train),
        "biased_mf": BiasedMF.fit(train, settings, seed),
    }


# The simulated users' own rating base: chosen by ``choose_mf_settings`` on the holdout inside
# ml-100k's training ratings (50 factors, 0.1, 7 sweeps: RMSE 0.9078 there) and fixed, so a
# world opens in about a second instead of searching the grid each time.
TASTE_MF = MFSettings(factors=50, regularisation=0.1, sweeps=7)


def fit_taste_ratings(train: Interactions, seed: int = 0) -> BiasedMF | None:
    """The biased MF behind simulated ratings, or None for implicit data (no ratings to learn from)."""
    if not np.isfinite(train.rating).any():
        return None
    return BiasedMF.fit(train, TASTE_MF, seed)

"""Rating baselines: a planted low-rank structure is recovered to the noise level; ml-100k lands near Surprise."""

from __future__ import annotations

import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions, Vocabulary
from agentrec.data.splits import random_ratio
from agentrec.data.store import open_dataset
from agentrec.sim.rating_baselines import (
    BiasedMF,
    GlobalMean,
    MFSettings,
    RatedRows,
    RatingPredictor,
    UserItemBias,
    fit_rating_baselines,
    rmse,
)
from tests.conftest import real_dataset

NOISE = 0.25


def planted_ratings(n_users: int = 400, n_items: int = 300, rank: int = 3, density: float = 0.4) -> Interactions:
    """Ratings = 3.5 + user bias + item bias + a rank-3 product + Gaussian noise of sd ``NOISE`` (not rounded)."""
    rng = np.random.default_rng(7)
    observed = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(observed)
    user_factors, item_factors = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    user_bias, item_bias = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    taste = np.einsum("ij,ij->i", user_factors[users], item_factors[items])
    ratings = 3.5 + user_bias[users] + item_bias[items] + taste + rng.normal(0, NOISE, users.shape[0])
    return Interactions(
        users.astype(np.int64),
        items.astype(np.int64),
        ratings,
        np.arange(users.shape[0], dtype=np.int64),
        Vocabulary(tuple(f"u{u}" for u in range(n_users))),
        Vocabulary(tuple(f"i{i}" for i in range(n_items))),
    )


def holdout_rmses(baselines: dict[str, RatingPredictor], test: Interactions) -> dict[str, float]:
    rows = RatedRows.of(test)
    return {name: rmse(predictor, rows) for name, predictor in baselines.items()}


def test_biased_mf_recovers_planted_ratings_to_the_noise_level() -> None:
    split = random_ratio(planted_ratings(), valid_share=0.0, test_share=0.2, seed=0)
    baselines = fit_rating_baselines(split.train, seed=0)
    assert list(baselines) == ["global_mean", "user_item_bias", "biased_mf"]
    errors = holdout_rmses(baselines, split.test)
    assert errors["biased_mf"] < errors["user_item_bias"] < errors["global_mean"], errors
    assert errors["biased_mf"] < 1.15 * NOISE, errors


def test_fit_is_deterministic_for_a_seed() -> None:
    data = planted_ratings(n_users=150, n_items=100)
    users, items = data.user[:500], data.item[:500]
    first = fit_rating_baselines(data, seed=3)
    second = fit_rating_baselines(data, seed=3)
    for name in first:
        np.testing.assert_array_equal(first[name].predict(users, items), second[name].predict(users, items))
    other_seed = fit_rating_baselines(data, seed=4)["biased_mf"].predict(users, items)
    assert not np.array_equal(other_seed, first["biased_mf"].predict(users, items))


def test_predictions_stay_in_the_training_rating_range() -> None:
    data = planted_ratings(n_users=150, n_items=100)
    model = BiasedMF.fit(data, MFSettings(factors=20, regularisation=0.01, sweeps=3), seed=0)
    every_user, every_item = np.divmod(np.arange(data.n_users * data.n_items), data.n_items)
    predictions = model.predict(every_user, every_item)
    assert predictions.min() >= data.rating.min() and predictions.max() <= data.rating.max()


def test_implicit_feedback_is_a_config_error() -> None:
    rated = planted_ratings(n_users=50, n_items=40)
    implicit = Interactions(rated.user, rated.item, np.full(len(rated), np.nan), rated.ts, rated.users, rated.items)
    with pytest.raises(ConfigError, match="explicit ratings"):
        fit_rating_baselines(implicit)
    for fit in (GlobalMean.fit, UserItemBias.fit):
        with pytest.raises(ConfigError):
            fit(implicit)


@pytest.mark.realdata
def test_ml100k_holdout_rmses_are_near_the_published_baselines() -> None:
    real_dataset("ml-100k")  # skips (or fails under AGENTREC_REQUIRE_DATA) without the files
    split = random_ratio(open_dataset("ml-100k").interactions(), valid_share=0.0, test_share=0.1, seed=0)
    errors = holdout_rmses(fit_rating_baselines(split.train, seed=0), split.test)
    # Surprise, 5-fold on ml-100k: BaselineOnly 0.944, SVD 0.934; a 10% holdout trains on a bit more data.
    assert 1.10 < errors["global_mean"] < 1.20, errors
    assert 0.93 < errors["user_item_bias"] < 0.96, errors
    assert errors["biased_mf"] < errors["user_item_bias"] - 0.01, errors

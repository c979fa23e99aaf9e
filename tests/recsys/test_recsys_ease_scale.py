"""EASE at scale (issue 22): the item cap, float32 against float64, and the up-front memory refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender
from agentrec.recsys.ease import DROPPED_SCORE, EASE, ease_bytes, ease_weights, gram_matrix, most_popular
from agentrec.recsys.memory import memory_budget_bytes
from tests.recsys.conftest import make_interactions


def skewed(seed: int = 0, n_users: int = 60, n_items: int = 40) -> Interactions:
    """Random interactions where low item indices are far more popular, with a planted co-occurrence."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(n_items) + 3.0)
    users, items = [], []
    for user in range(n_users):
        chosen = rng.choice(n_items, size=8, replace=False, p=weights / weights.sum())
        users += [user] * len(chosen)
        items += [int(i) for i in chosen]
    return make_interactions(users, items, n_users, n_items)


def test_the_cap_keeps_the_most_popular_items_and_ranks_the_rest_last() -> None:
    data = skewed()
    model = EASE(l2=10.0, max_items=12).fit(data)
    counts = np.bincount(data.item, minlength=data.n_items)
    assert model.dropped_items == data.n_items - 12
    assert np.all(counts[model.kept].min() >= np.delete(counts, model.kept).max())
    scores = model.score([0, 1, 2])
    dropped = np.setdiff1d(np.arange(data.n_items), model.kept)
    assert np.all(scores[:, dropped] == np.float32(DROPPED_SCORE))
    assert np.all(scores[:, model.kept] > DROPPED_SCORE)
    # a user is offered every unseen kept item before any dropped one
    for user in range(5):
        unseen_kept = np.setdiff1d(model.kept, model.seen_items(user))
        listed = [item for item, _ in model.recommend(user, len(unseen_kept) + 3)]
        assert set(listed[: len(unseen_kept)]) == set(unseen_kept.tolist())
        assert set(listed[len(unseen_kept) :]) <= set(dropped.tolist())


def test_the_capped_weights_are_ease_on_the_kept_columns() -> None:
    data = skewed(1)
    model = EASE(l2=5.0, max_items=10, dtype="float64").fit(data)
    kept_history = data.to_csr()[:, model.kept].tocsr()
    expected = ease_weights(gram_matrix(kept_history, "float64"), 5.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-6)
    assert model.similar_items(int(model.kept[0]), 3)  # a kept item has neighbours among the kept ones
    assert not np.any(model.item_similarity(int(np.setdiff1d(np.arange(40), model.kept)[0])))


def test_float32_ranks_as_float64_does() -> None:
    data = skewed(2, n_users=120, n_items=60)
    wide = EASE(l2=20.0, dtype="float64").fit(data)
    narrow = EASE(l2=20.0, dtype="float32").fit(data)
    np.testing.assert_allclose(narrow.weights, wide.weights, rtol=1e-3, atol=1e-5)
    users = np.arange(data.n_users)
    same = (wide.recommend_many(users, 5) == narrow.recommend_many(users, 5)).all(axis=1).mean()
    assert same > 0.95


def test_the_in_place_inverse_equals_the_copying_one() -> None:
    gram = gram_matrix(skewed(3).to_csr(), "float64")
    copied = ease_weights(gram, 7.0)
    np.testing.assert_array_equal(gram, gram_matrix(skewed(3).to_csr(), "float64"))  # left untouched
    in_place = ease_weights(gram.copy(), 7.0, overwrite=True)
    np.testing.assert_allclose(in_place, copied, rtol=1e-6, atol=1e-7)
    assert in_place.flags.c_contiguous and in_place.dtype == np.float32


def test_a_saved_capped_model_loads_with_its_kept_items(tmp_path: Path) -> None:
    data = skewed(4)
    model = EASE(l2=10.0, max_items=15).fit(data)
    model.save(tmp_path)
    loaded = EASE.load(tmp_path)
    np.testing.assert_array_equal(loaded.kept, model.kept)
    np.testing.assert_array_equal(loaded.score([0, 3]), model.score([0, 3]))


def test_most_popular_breaks_ties_by_lower_index() -> None:
    data = make_interactions([0, 0, 1, 1, 2], [3, 1, 3, 1, 2], 3, 5)
    assert most_popular(data.to_csr(), 2).tolist() == [1, 3]
    assert most_popular(data.to_csr(), 10).tolist() == [0, 1, 2, 3, 4]


def test_over_the_budget_is_refused_before_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTREC_MEMORY_GB", "0.000001")
    model = EASE(max_items=40)
    with pytest.raises(ConfigError, match=r"memory budget of .*AGENTREC_MEMORY_GB.*lower --max-items"):
        model.fit(skewed())
    assert model._history is None  # nothing was built


@pytest.mark.parametrize("raw", ["0", "-3", "lots"])
def test_a_bad_budget_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("AGENTREC_MEMORY_GB", raw)
    with pytest.raises(ConfigError, match="AGENTREC_MEMORY_GB must be a positive number"):
        memory_budget_bytes()


def test_the_footprint_grows_as_the_square_of_the_items() -> None:
    assert ease_bytes(62_423, "float32") > 4 * ease_bytes(20_000, "float32")
    assert ease_bytes(20_000, "float64") > ease_bytes(20_000, "float32")
    # the default cap fits a 24 GB machine's budget; the whole ML-25M catalog in float64 does not
    assert ease_bytes(20_000, "float32") < 0.75 * 24 * 1024**3 < ease_bytes(62_423, "float64")


def test_other_models_accept_any_size() -> None:
    from agentrec.recsys.registry import make_model

    for name in ("mostpop", "itemknn"):
        model: Recommender = make_model(name)
        model.check_fits(10**7, 10**6)  # grows with the data, not with items squared: never refused up front

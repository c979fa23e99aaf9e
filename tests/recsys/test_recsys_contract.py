"""The contract every recommender honours, run against every model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender
from agentrec.recsys.model_store import ModelKey, ModelStore

Factories = dict[str, Callable[[], Recommender]]


def test_score_shapes(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks[model_name]
    assert model.score(np.array([0, 1, 2])).shape == (3, 20)
    assert model.score(np.array([5]), np.array([3, 4, 17])).shape == (1, 3)
    assert np.all(np.isfinite(model.score(np.arange(40))))


def test_recommend_excludes_seen(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks[model_name]
    for user in range(40):
        seen = set(model.seen_items(user).tolist())
        recommended = [item for item, _ in model.recommend(user, 20)]
        assert len(recommended) == 15
        assert not seen & set(recommended)
        with_seen = [item for item, _ in model.recommend(user, 20, exclude_seen=False)]
        assert sorted(with_seen) == list(range(20))


def test_recommend_is_sorted_best_first(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    ranked = fitted_on_blocks[model_name].recommend(3, 10)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)


def test_candidates_and_mask_are_respected(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks[model_name]
    candidates = np.array([1, 4, 11, 15, 19])
    picked = [i for i, _ in model.recommend(0, 10, exclude_seen=False, candidates=candidates)]
    assert sorted(picked) == candidates.tolist()
    mask = np.zeros(20, dtype=bool)
    mask[10:] = True
    masked = [i for i, _ in model.recommend(0, 5, exclude_seen=False, mask=mask)]
    assert len(masked) == 5 and all(i >= 10 for i in masked)
    both = model.recommend(0, 10, exclude_seen=False, candidates=candidates, mask=mask)
    assert sorted(i for i, _ in both) == [11, 15, 19]


def test_recommend_many_matches_recommend(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks[model_name]
    users = np.arange(40)
    batched = model.recommend_many(users, 5, batch_size=7)
    assert batched.shape == (40, 5)
    for user in users:
        assert batched[user].tolist() == [i for i, _ in model.recommend(int(user), 5)]


def test_recommend_many_pads_when_items_run_out(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    ranked = fitted_on_blocks[model_name].recommend_many(np.array([0]), 18)
    assert (ranked[0, :15] >= 0).all() and (ranked[0, 15:] == -1).all()


def test_personalised_models_recover_the_blocks(
    personalised_name: str, blocks: Interactions, model_factories: Factories
) -> None:
    if personalised_name == "sasrec":
        pytest.skip("SASRec learns orders, not blocks; see the cyclic-sequence test")
    model = model_factories[personalised_name]().fit(blocks)
    for user in range(40):
        block = range(0, 10) if user < 20 else range(10, 20)
        top = [item for item, _ in model.recommend(user, 3)]
        assert all(item in block for item in top), (personalised_name, user, top)


def test_similar_items_are_ranked_masked_and_never_the_item_itself(
    model_name: str, fitted_on_blocks: dict[str, Recommender]
) -> None:
    model = fitted_on_blocks[model_name]
    if model_name == "mostpop":  # no notion of item similarity: a clear refusal, not a probe
        with pytest.raises(ConfigError, match="mostpop cannot say which items are similar"):
            model.similar_items(3, 5)
        return
    for item in (3, 14):
        ranked = model.similar_items(item, 5)
        similarities = [similarity for _, similarity in ranked]
        assert len(ranked) == 5 and item not in [other for other, _ in ranked]
        assert similarities == sorted(similarities, reverse=True)
        assert len(model.similar_items(item, 50)) == 19  # every other item, when k asks for more
    mask = np.zeros(20, dtype=bool)
    mask[[1, 3, 12, 18]] = True
    assert sorted(other for other, _ in model.similar_items(3, 10, mask=mask)) == [1, 12, 18]
    with pytest.raises(ValueError):
        model.similar_items(20, 5)
    with pytest.raises(ValueError):
        model.similar_items(3, 5, mask=np.ones(3, dtype=bool))


def test_similar_items_recover_the_blocks(personalised_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    if personalised_name == "sasrec":
        pytest.skip("SASRec learns orders, not blocks; its item vectors are checked for shape and order above")
    model = fitted_on_blocks[personalised_name]
    for item in range(20):
        block = range(0, 10) if item < 10 else range(10, 20)
        top = [other for other, _ in model.similar_items(item, 3)]
        assert all(other in block for other in top), (personalised_name, item, top)


def test_mostpop_recovers_popularity(fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks["mostpop"]
    counts = np.asarray(model.history.sum(axis=0)).ravel()
    top = [item for item, _ in model.recommend(0, 20, exclude_seen=False)]
    assert [counts[i] for i in top] == sorted(counts, reverse=True)


def test_fit_is_deterministic(model_name: str, blocks: Interactions, model_factories: Factories) -> None:
    first = model_factories[model_name]().fit(blocks).score(np.arange(40))
    second = model_factories[model_name]().fit(blocks).score(np.arange(40))
    np.testing.assert_array_equal(first, second)


def test_save_load_round_trip(model_name: str, fitted_on_blocks: dict[str, Recommender], tmp_path: Path) -> None:
    model = fitted_on_blocks[model_name]
    store = ModelStore(tmp_path)
    key = ModelKey.for_model(model, "blocks-v1", "full")
    store.save(model, key)
    loaded = store.load(key)
    assert type(loaded) is type(model) and loaded.config == model.config
    np.testing.assert_array_equal(loaded.score(np.arange(40)), model.score(np.arange(40)))
    assert loaded.recommend(7, 5) == model.recommend(7, 5)
    store.save(model, key)  # overwriting an existing model is atomic and allowed
    assert store.load(key).recommend(7, 5) == model.recommend(7, 5)


def test_unfitted_model_refuses_to_score(model_name: str, model_factories: Factories) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        model_factories[model_name]().score(np.array([0]))


def test_out_of_range_indices_are_rejected(model_name: str, fitted_on_blocks: dict[str, Recommender]) -> None:
    model = fitted_on_blocks[model_name]
    with pytest.raises(ValueError):
        model.score(np.array([40]))
    with pytest.raises(ValueError):
        model.recommend(0, 5, candidates=np.array([20]))
    with pytest.raises(ValueError):
        model.recommend(0, 5, mask=np.ones(3, dtype=bool))

"""faiss index, attribute-conditioned retrieval, text similarity, model store and threads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender
from agentrec.recsys.faiss_index import FaissIndex
from agentrec.recsys.model_store import ModelKey, ModelStore, config_hash
from agentrec.recsys.popularity import MostPop
from agentrec.recsys.retrieval import attribute_retrieval
from agentrec.recsys.threads import ThreadPlan, default_plan, limited_threads, pin_threads


def test_faiss_index_is_exact_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    index = FaissIndex.from_vectors(vectors)
    _, ids = index.search(queries, 10)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    np.testing.assert_array_equal(ids, expected)
    index.save(tmp_path / "items.faiss")
    loaded = FaissIndex.load(tmp_path / "items.faiss")
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], ids)
    assert len(loaded) == 200


def test_faiss_index_keeps_custom_ids() -> None:
    index = FaissIndex(2)
    index.add(np.eye(2), ids=np.array([70, 90]))
    assert index.search(np.array([[0.0, 1.0]]), 5)[1][0].tolist() == [90, 70]
    with pytest.raises(ValueError, match="dimension"):
        index.add(np.ones((1, 3)))


def test_attribute_retrieval_restricts_the_full_ranking(
    fitted_on_blocks: dict[str, Recommender],
) -> None:
    model = fitted_on_blocks["ease"]
    mask = np.zeros(20, dtype=bool)
    mask[[0, 3, 5, 12, 13]] = True
    allowed = set(np.flatnonzero(mask)) - set(model.seen_items(0).tolist())
    picked = attribute_retrieval(model, 0, 10, mask)
    assert {item for item, _ in picked} == allowed
    assert attribute_retrieval(model, 0, 10, np.zeros(20, dtype=bool)) == []


def test_fit_or_load_does_not_refit(blocks: Interactions, tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    model, loaded = store.fit_or_load(MostPop(), blocks, None, "blocks-v1", "loo")
    assert not loaded
    again, loaded = store.fit_or_load(MostPop(), blocks, None, "blocks-v1", "loo")
    assert loaded and again.recommend(0, 3) == model.recommend(0, 3)
    assert store.contains(ModelKey.for_model(model, "blocks-v1", "loo"))
    assert not store.contains(ModelKey.for_model(model, "blocks-v2", "loo"))


def test_model_keys_are_safe_paths_and_hashes_track_config(
    model_factories: dict[str, Callable[[], Recommender]],
) -> None:
    key = ModelKey("../ml 100k", "loo/seed=1", "ease", "abc")
    assert ".." not in key.relative_path().parts and len(key.relative_path().parts) == 4
    from agentrec.recsys.ease import EASE

    assert config_hash(EASE(l2=1.0).config) == config_hash(EASE(l2=1.0).config)
    assert config_hash(EASE(l2=1.0).config) != config_hash(EASE(l2=2.0).config)


def test_thread_plan_applies_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    monkeypatch.setenv("AGENTREC_THREADS", "1")
    assert default_plan() == ThreadPlan.uniform(1)
    before = faiss.omp_get_max_threads()
    with limited_threads(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    monkeypatch.delenv("AGENTREC_THREADS")
    applied = pin_threads()
    assert faiss.omp_get_max_threads() == applied.faiss
    assert applied.lightgbm >= 1

"""Text similarity with the bundled MiniLM model, and the LambdaRank learned fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender
from agentrec.recsys.model_store import ModelKey, ModelStore
from agentrec.recsys.ranker import (
    CandidateFeatures,
    LearnedFusion,
    LearnedFusionConfig,
    candidate_features,
    gather_candidates,
    validation_training_lists,
)

SPACE = [
    "rocket launch to orbit",
    "astronauts on the moon",
    "a galaxy far away",
    "mars rover mission",
    "space station docking",
]
COOKING = [
    "pasta carbonara recipe",
    "baking sourdough bread",
    "a chef's kitchen secrets",
    "grilled vegetables dinner",
    "chocolate cake dessert",
]


@pytest.fixture(scope="module")
def text_model(build_interactions) -> Recommender:  # type: ignore[no-untyped-def]
    from agentrec.recsys.text_similarity import TextSimilarity

    # users 0-1 liked two space items, users 2-3 two cooking items
    data = build_interactions([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 2, 3, 5, 6, 7, 8], 4, 10)
    return TextSimilarity(item_texts=SPACE + COOKING).fit(data)


def test_text_similarity_follows_the_liked_topic(text_model: Recommender) -> None:
    for user, topic in [(0, range(5)), (1, range(5)), (2, range(5, 10)), (3, range(5, 10))]:
        top = [item for item, _ in text_model.recommend(user, 2)]
        assert all(item in topic for item in top), (user, top)


def test_text_search_and_similar_items(text_model: Recommender) -> None:
    assert text_model.search_text("spacecraft and astronauts", 3)[0][0] in range(5)  # type: ignore[attr-defined]
    similar = text_model.similar_items(5, 3)
    assert len(similar) == 3 and 5 not in [i for i, _ in similar]
    assert similar[0][0] in range(5, 10)


def test_text_similarity_round_trips(text_model: Recommender, tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    key = ModelKey.for_model(text_model, "texts", "all")
    store.save(text_model, key)
    reloaded = store.load(key)
    np.testing.assert_array_equal(reloaded.score(np.arange(4)), text_model.score(np.arange(4)))


def planted_lists(seed: int) -> tuple[list[CandidateFeatures], list[np.ndarray]]:
    """Lists where the positive is the candidate with the highest 'good' feature."""
    rng = np.random.default_rng(seed)
    lists, labels = [], []
    for user in range(150):
        values = rng.normal(size=(12, 3))
        label = np.zeros(12)
        label[int(np.argmax(values[:, 1]))] = 1.0
        lists.append(CandidateFeatures(user, np.arange(12), values, ("noise", "good", "noise2")))
        labels.append(label)
    return lists, labels


def test_learned_fusion_learns_the_informative_feature(tmp_path: Path) -> None:
    config = LearnedFusionConfig(n_estimators=50, min_child_samples=5)
    fusion = LearnedFusion(config).fit(*planted_lists(0))
    test_lists, test_labels = planted_lists(1)
    top1 = [labels[fusion.rank(f)[0]] for f, labels in zip(test_lists, test_labels, strict=True)]
    assert np.mean(top1) >= 0.6  # chance is 1/12
    fusion.save(tmp_path / "fusion.txt")
    loaded = LearnedFusion.load(tmp_path / "fusion.txt")
    np.testing.assert_array_equal(loaded.score(test_lists[0]), fusion.score(test_lists[0]))
    with pytest.raises(ValueError, match="differ"):
        fusion.score(CandidateFeatures(0, np.arange(2), np.zeros((2, 2)), ("a", "b")))


def test_candidate_features_from_base_models(fitted_on_blocks: dict[str, Recommender], blocks: Interactions) -> None:
    models = {name: fitted_on_blocks[name] for name in ("ease", "itemknn")}
    items = gather_candidates(models, 0, 3)
    assert 1 <= len(items) <= 6 and not set(items) & set(models["ease"].seen_items(0))
    popularity = np.asarray(blocks.to_csr().sum(axis=0)).ravel()
    features = candidate_features(models, 0, items, popularity, np.ones(len(items)))
    assert features.values.shape == (len(items), 6)
    assert features.names[-1] == "attribute_match"
    lists, labels = validation_training_lists(models, blocks.subset(blocks.user < 3), 5, popularity)
    assert len(lists) == 3
    assert all(len(f.items) == len(y) for f, y in zip(lists, labels, strict=True))


def test_text_profiles_follow_a_new_history(build_interactions) -> None:  # type: ignore[no-untyped-def]
    from agentrec.recsys.text_similarity import TextSimilarity

    model = TextSimilarity(item_texts=SPACE + COOKING).fit(build_interactions([0, 0], [0, 1], 1, 10))
    model.set_history(build_interactions([0, 0], [5, 6], 1, 10))
    assert all(item in range(5, 10) for item, _ in model.recommend(0, 2))


def backbone_lists(seed: int, n: int = 200) -> tuple[list[CandidateFeatures], list[np.ndarray]]:
    """A backbone's score and rank, with positives drawn at random: there is nothing to learn beyond its order."""
    rng = np.random.default_rng(seed)
    lists, labels = [], []
    names = ("backbone_score", "backbone_rank")
    for user in range(n):
        scores = rng.normal(size=20)
        ranks = np.empty(20)
        ranks[np.argsort(-scores)] = np.arange(1, 21)
        label = np.zeros(20)
        label[int(rng.integers(20))] = 1.0
        lists.append(CandidateFeatures(user, np.arange(20), np.column_stack([scores, ranks]), names, (1, -1)))
        labels.append(label)
    return lists, labels


@pytest.mark.parametrize("prior", [None, "backbone_rank"])
def test_a_monotone_fusion_never_reorders_a_lone_backbone(prior: str | None) -> None:
    # Unconstrained trees fitted this noise and reordered the backbone's lists (bench/README.md).
    config = LearnedFusionConfig(n_estimators=50, min_child_samples=5, prior_rank=prior)
    fusion = LearnedFusion(config).fit(*backbone_lists(0))
    for features in backbone_lists(1, 20)[0]:
        by_backbone = np.argsort(features.values[:, 1], kind="stable")
        assert (np.diff(fusion.score(features)[by_backbone]) <= 1e-12).all()


def test_an_unconstrained_fusion_reorders_noise() -> None:
    # The control for the test above: without the constraint the same noise moves items.
    config = LearnedFusionConfig(n_estimators=50, min_child_samples=5, monotone=False)
    fusion = LearnedFusion(config).fit(*backbone_lists(0))
    moved = 0
    for features in backbone_lists(1, 20)[0]:
        by_backbone = np.argsort(features.values[:, 1], kind="stable")
        moved += not (np.diff(fusion.score(features)[by_backbone]) <= 1e-12).all()
    assert moved > 0

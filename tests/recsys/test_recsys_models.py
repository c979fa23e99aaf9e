"""Model-specific behaviour: SASRec's planted sequence, EASE tuning, ItemKNN maths, ALS/BPR."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import Recommender, top_k_indices, top_k_rows
from agentrec.recsys.ease import EASE, tune_ease
from agentrec.recsys.factor_models import ALS
from agentrec.recsys.itemknn import ItemKNN
from agentrec.recsys.registry import MODEL_NAMES, make_model
from agentrec.recsys.sasrec import SASRec, left_pad, training_windows


def split_last(data: Interactions) -> tuple[Interactions, Interactions]:
    """(all but each user's last row, each user's last row) by row order."""
    last = np.zeros(len(data), dtype=bool)
    last[np.flatnonzero(np.r_[data.user[1:] != data.user[:-1], True])] = True
    return data.subset(~last), data.subset(last)


def test_sasrec_learns_the_planted_next_item(
    cycles: Interactions, model_factories: dict[str, Callable[[], Recommender]]
) -> None:
    train, valid = split_last(cycles)
    model = model_factories["sasrec"]().fit(train, valid)
    hits = 0
    for user, target in zip(valid.user, valid.item, strict=True):
        top = model.recommend(int(user), 1)[0][0]
        hits += int(top == target)
    assert hits / len(valid) >= 0.9
    assert model.learning_curve and model.learning_curve[model.best_epoch - 1].val_ndcg >= 0.9


def test_sasrec_history_update_moves_the_prediction(
    cycles: Interactions, model_factories: dict[str, Callable[[], Recommender]]
) -> None:
    train, valid = split_last(cycles)
    model = model_factories["sasrec"]().fit(train)
    model.set_history(cycles)  # feed each user's held-out item as the newest history
    for user, last in zip(valid.user[:10], valid.item[:10], strict=True):
        top = model.recommend(int(user), 1)[0][0]
        assert top == (last + 1) % cycles.n_items


def test_sasrec_with_a_sampled_softmax_still_learns_the_cycle(cycles: Interactions) -> None:
    train, valid = split_last(cycles)
    # 24 items over a 10-item full-softmax limit: every batch trains against 8 drawn negatives
    model = SASRec(
        num_threads=1, hidden=16, feedforward=16, layers=1, heads=1, dropout=0.0, max_len=16,
        learning_rate=1e-2, max_epochs=60, patience=60, full_softmax_items=10, negatives=8,
    ).fit(train)  # fmt: skip
    model.set_history(cycles)
    hits = [
        model.recommend(int(u), 1)[0][0] == (last + 1) % cycles.n_items
        for u, last in zip(valid.user, valid.item, strict=True)
    ]
    assert np.mean(hits) > 0.8


def test_the_sampled_softmax_equals_the_full_one_when_it_draws_every_item() -> None:
    from agentrec.recsys.sasrec import sampled_softmax_loss

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    hidden, items = torch.randn(5, 4), torch.randn(6, 4)
    targets = torch.tensor([0, 2, 5, 1, 1])
    full = torch.nn.functional.cross_entropy(hidden @ items.T, targets)
    # drawing with replacement, 20,000 draws hit each item about 3,333 times: log-Q makes it the full sum
    sampled = sampled_softmax_loss(hidden, targets, items, 20_000)
    assert abs(float(sampled) - float(full)) < 0.05


def test_sasrec_stops_early_and_within_budget(cycles: Interactions) -> None:
    train, valid = split_last(cycles)
    model = SASRec(
        num_threads=1,
        hidden=8,
        feedforward=8,
        layers=1,
        heads=1,
        max_len=8,
        max_epochs=500,
        patience=2,
        learning_rate=1e-4,
    ).fit(train, valid)
    assert len(model.learning_curve) < 500
    budgeted = SASRec(
        num_threads=1,
        hidden=8,
        feedforward=8,
        layers=1,
        heads=1,
        max_len=8,
        max_epochs=500,
        patience=500,
        time_budget_s=0.5,
    ).fit(train, valid)
    assert sum(r.seconds for r in budgeted.learning_curve) < 5.0
    assert all(r.seconds > 0 and np.isfinite(r.train_loss) for r in budgeted.learning_curve)


def test_training_windows_cover_each_pair_once() -> None:
    sequence = np.arange(23, dtype=np.int64)
    windows = training_windows([sequence, np.array([5]), np.array([], dtype=np.int64)], 5)
    pairs = sorted((int(a), int(b)) for w in windows for a, b in itertools.pairwise(w))
    assert pairs == [(i, i + 1) for i in range(22)]
    assert all(len(w) <= 6 for w in windows)
    assert left_pad([np.array([1, 2]), np.array([3])]).tolist() == [[1, 2], [0, 3]]


def test_itemknn_matches_brute_force_cosine(blocks: Interactions) -> None:
    model = ItemKNN(neighbours=19, shrink=2.0).fit(blocks)
    x = blocks.to_csr().toarray()
    norms = np.sqrt(x.sum(axis=0))
    expected = (x.T @ x) / (np.outer(norms, norms) + 2.0 + 1e-6)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-7)


def test_itemknn_keeps_top_n_per_item(blocks: Interactions) -> None:
    model = ItemKNN(neighbours=3).fit(blocks)
    per_item = np.diff(model.similarity.indptr)  # CSC: column j holds j's neighbours
    assert per_item.max() <= 3


def test_ease_matches_the_closed_form(blocks: Interactions) -> None:
    model = EASE(l2=3.0).fit(blocks)
    x = blocks.to_csr().toarray().astype(np.float64)
    inverse = np.linalg.inv(x.T @ x + 3.0 * np.eye(20))
    expected = np.eye(20) - inverse / np.diag(inverse)
    np.testing.assert_allclose(model.weights, expected, atol=1e-5)


def test_tune_ease_returns_the_best_lambda(blocks: Interactions) -> None:
    train, valid = split_last(blocks)
    model, scores = tune_ease(train, valid, grid=(0.5, 5.0, 5000.0))
    assert set(scores) == {0.5, 5.0, 5000.0}
    assert model.config.l2 == max(scores, key=lambda l2: scores[l2])


def test_als_bm25_weighting_and_item_similarity(blocks: Interactions) -> None:
    model = ALS(factors=2, iterations=15, weighting="bm25", alpha=10.0, regularization=0.1).fit(blocks)
    neighbours = model.similar_items(2, 5)
    assert len(neighbours) == 5 and all(item < 10 and item != 2 for item, _ in neighbours)


def test_registry_builds_every_model_and_rejects_bad_input() -> None:
    for name in MODEL_NAMES:
        assert make_model(name).name == name
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ConfigError, match="neighbourz"):
        make_model("itemknn", neighbourz=3)


def test_top_k_helpers_break_ties_by_index() -> None:
    scores = np.array([1.0, 3.0, 3.0, -np.inf, 2.0])
    assert top_k_indices(scores, 3).tolist() == [1, 2, 4]
    assert top_k_rows(scores[None, :], 6, drop_neg_inf=True).tolist() == [[1, 2, 4, 0, -1, -1]]
    ties = np.array([[0.0, 1.0, 1.0, 1.0, 1.0]])
    assert top_k_rows(ties, 2).tolist() == [[1, 2]]

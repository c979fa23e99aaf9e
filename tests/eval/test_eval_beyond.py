"""Beyond-accuracy metrics on tiny examples whose answers are worked out by hand."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from agentrec.eval.beyond import (
    beyond_accuracy,
    beyond_accuracy_per_user,
    genre_matrix,
    gini_index,
    ild_per_user,
    long_tail_mask,
    short_head_mask,
)

# Popularity over 5 items, 100 training interactions: the short head is {0, 1} (50 + 30
# reaches 80%), the long tail {2, 3, 4}.
POPULARITY = np.array([50.0, 30.0, 10.0, 5.0, 5.0])


def test_same_list_for_everyone_is_maximally_unequal() -> None:
    n_items, k = 10, 3
    recommended = np.tile(np.array([0, 1, 2]), (4, 1))
    out = beyond_accuracy(recommended, k, np.ones(n_items), n_items)
    assert out["coverage@3"] == pytest.approx(k / n_items)
    assert out["coverage_count@3"] == 3
    assert out["gini@3"] == pytest.approx((n_items - k) / (n_items - 1))


def test_every_item_once_is_perfectly_equal() -> None:
    out = beyond_accuracy(np.array([[0, 1, 2], [3, 4, 5]]), 3, np.ones(6), 6)
    assert out["gini@3"] == pytest.approx(0.0)
    assert out["coverage@3"] == pytest.approx(1.0)


def test_gini_matches_mean_absolute_difference_form() -> None:
    # G = sum_ij |x_i - x_j| / (2 (n - 1) sum x): an independent formula for the same index.
    counts = np.random.default_rng(3).integers(0, 20, size=37).astype(float)
    expected = np.abs(counts[:, None] - counts[None, :]).sum() / (2 * 36 * counts.sum())
    assert gini_index(counts) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("popularity", "head"),
    [
        (POPULARITY, [0, 1]),
        (np.array([40.0, 30.0, 20.0, 10.0]), [0, 1, 2]),  # crossing item is included
        (np.array([5.0, 90.0, 5.0]), [1]),
        (np.zeros(3), []),
    ],
)
def test_short_head_holds_80_percent(popularity: np.ndarray, head: list[int]) -> None:
    assert np.flatnonzero(short_head_mask(popularity)).tolist() == head


def test_given_long_tail_overrides_popularity() -> None:
    assert np.flatnonzero(long_tail_mask(5, POPULARITY, np.array([0, 4]))).tolist() == [0, 4]


def test_arp_and_aclt() -> None:
    recommended = np.array([[0, 3, 4], [1, 2, -1]])
    per_user = beyond_accuracy_per_user(recommended, 3, POPULARITY)
    np.testing.assert_allclose(per_user["arp@3"], [(50 + 5 + 5) / 3, (30 + 10) / 2])
    np.testing.assert_allclose(per_user["aclt@3"], [2, 1])


def test_epc_rewards_relevant_unpopular_items_near_the_top() -> None:
    # 100 training users; item novelty = 1 - pop / 100.
    recommended = np.array([[2, 0, 4], [0, 1, 2]])
    relevant = [np.array([2, 4]), np.array([3])]
    per_user = beyond_accuracy_per_user(
        recommended, 3, POPULARITY, relevant=relevant, n_train_users=100
    )
    d = [1.0, 1 / math.log2(3), 0.5]
    expected_first = (d[0] * 0.90 + d[2] * 0.95) / sum(d)
    np.testing.assert_allclose(per_user["epc@3"], [expected_first, 0.0])


def test_epc_needs_train_user_count() -> None:
    per_user = beyond_accuracy_per_user(np.array([[0]]), 1, POPULARITY, relevant=[np.array([0])])
    assert "epc@1" not in per_user


@pytest.mark.parametrize(
    ("recommended", "relevant", "expected"),
    [
        # Both users find their head item and miss their tail item: P_h = 1, P_t = 0.
        ([[0, 2], [1, 4]], [[0, 3], [1, 2]], 1.0),
        # Each group's relevant items are all found: no disparity.
        ([[0, 3], [1, 2]], [[0, 3], [1, 2]], 0.0),
        # P_h = 1, P_t = 1/2: |1 - 1/2| / (1 + 1/2).
        ([[0, 3], [1, 4]], [[0, 3], [1, 2]], 1 / 3),
    ],
)
def test_popreo(recommended, relevant, expected: float) -> None:
    out = beyond_accuracy(
        np.array(recommended), 2, POPULARITY, 5, relevant=[np.array(r) for r in relevant]
    )
    assert out["popreo@2"] == pytest.approx(expected)


def test_popreo_undefined_without_tail_relevance() -> None:
    out = beyond_accuracy(np.array([[0, 1]]), 2, POPULARITY, 5, relevant=[np.array([0])])
    assert math.isnan(out["popreo@2"])


GENRES = [frozenset({"a", "b"}), frozenset({"b", "c"}), frozenset({"a", "b"}), frozenset()]


def test_ild_hand_computed() -> None:
    # Rows: three items; one item (no pair); genre-less vs {a, b}; identical genre sets.
    recommended = np.array([[0, 1, 2], [0, -1, -1], [3, 0, -1], [2, 0, -1]])
    values = ild_per_user(recommended, genre_matrix(GENRES))
    np.testing.assert_allclose(values, [(2 / 3 + 0 + 2 / 3) / 3, 0.0, 1.0, 0.0])


def test_ild_matches_pairwise_loop_on_random_lists() -> None:
    rng = np.random.default_rng(7)
    genres = [frozenset(rng.choice(list("abcdef"), size=rng.integers(0, 4))) for _ in range(40)]
    recommended = np.stack([rng.choice(40, size=8, replace=False) for _ in range(30)])
    recommended[::4, 5:] = -1
    values = ild_per_user(recommended, genre_matrix(genres))
    for row, value in zip(recommended, values, strict=True):
        items = [genres[i] for i in row if i >= 0]
        dists = [1 - len(x & y) / len(x | y) if x | y else 0.0 for x, y in combinations(items, 2)]
        assert value == pytest.approx(np.mean(dists))


def test_aggregate_keys_and_means() -> None:
    recommended = np.array([[0, 1, 2], [3, 4, -1]])
    out = beyond_accuracy(
        recommended, 3, POPULARITY, 5,
        relevant=[np.array([2]), np.array([4])], n_train_users=100,
        item_genres=[*GENRES, frozenset({"c"})],
    )
    expected = {"coverage@3", "coverage_count@3", "gini@3", "arp@3", "aclt@3", "epc@3",
                "ild@3", "popreo@3", "popreo_head_recall@3", "popreo_tail_recall@3"}
    assert set(out) == expected
    assert out["coverage@3"] == pytest.approx(1.0)
    assert out["aclt@3"] == pytest.approx((1 + 2) / 2)


def test_item_outside_catalog_raises() -> None:
    with pytest.raises(ValueError, match="outside a catalog"):
        beyond_accuracy(np.array([[7]]), 1, POPULARITY, 5)

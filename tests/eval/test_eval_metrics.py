"""Accuracy metrics: hand-computed cases, invariants, and a cross-check against ir-measures.

ir-measures (trec_eval semantics) is the reference. Two definitions differ on purpose and
are converted before comparing, not hidden:
- our ``map@k`` divides AP by ``min(|R|, k)``; trec_eval's ``AP@k`` divides by ``|R|``;
- ``precision@k`` divides by k even for short lists, as trec_eval's ``P@k`` does.
"""

from __future__ import annotations

import math

import ir_measures
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrec.eval.metrics import accuracy_per_user, mean_metrics, top_k

N_ITEMS = 60


def random_case(seed: int, n_users: int = 300, width: int = 20):
    """Random lists (some short, padded with -1) and 1..15 relevant items per user."""
    rng = np.random.default_rng(seed)
    recommended = np.full((n_users, width), -1, dtype=np.int64)
    relevant = []
    for u in range(n_users):
        length = int(rng.integers(1, width + 1))
        recommended[u, :length] = rng.choice(N_ITEMS, size=length, replace=False)
        relevant.append(rng.choice(N_ITEMS, size=int(rng.integers(1, 16)), replace=False))
    return recommended, relevant


def ir_measures_per_user(recommended, relevant, k: int) -> dict[str, np.ndarray]:
    qrels = [
        ir_measures.Qrel(str(u), str(int(i)), 1) for u, items in enumerate(relevant) for i in items
    ]
    # Strictly decreasing scores so trec_eval cannot reorder ties by doc id.
    run = [
        ir_measures.ScoredDoc(str(u), str(int(i)), float(len(row) - r))
        for u, row in enumerate(recommended)
        for r, i in enumerate(row)
        if i >= 0
    ]
    names = {"P": "precision", "R": "recall", "nDCG": "ndcg", "RR": "mrr", "AP": "ap",
             "Success": "hit"}
    measures = [ir_measures.parse_measure(f"{name}@{k}") for name in names]
    out = {ours: np.full(len(relevant), np.nan) for ours in names.values()}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        out[names[metric.measure.NAME]][int(metric.query_id)] = metric.value
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 5, 10, 20, 25])
def test_accuracy_matches_ir_measures(seed: int, k: int) -> None:
    recommended, relevant = random_case(seed)
    ours = accuracy_per_user(recommended, relevant, k)
    ref = ir_measures_per_user(recommended, relevant, k)
    for name in ("precision", "recall", "ndcg", "mrr", "hit"):
        np.testing.assert_allclose(ours[f"{name}@{k}"], ref[name], atol=1e-9, err_msg=name)
    n_rel = np.array([len(r) for r in relevant])
    # Convert our min(|R|, k) denominator to trec_eval's |R| before comparing.
    ap_trec = ours[f"map@{k}"] * np.minimum(n_rel, k) / n_rel
    np.testing.assert_allclose(ap_trec, ref["ap"], atol=1e-9)
    assert np.nanmean(ref["hit"]) > 0  # the data must exercise hits, not only zeros


def test_hand_computed_single_user() -> None:
    # One hit at rank 2 out of 2 relevant items, cutoff 3.
    values = mean_metrics(accuracy_per_user(np.array([[3, 1, 7, -1]]), [np.array([1, 9])], 3))
    d2 = 1 / math.log2(3)
    assert values["precision@3"] == pytest.approx(1 / 3)
    assert values["recall@3"] == pytest.approx(1 / 2)
    assert values["ndcg@3"] == pytest.approx(d2 / (1 + d2))
    assert values["hit@3"] == 1.0
    assert values["mrr@3"] == pytest.approx(1 / 2)
    assert values["map@3"] == pytest.approx((1 / 2) / 2)


def test_leave_one_out_metrics() -> None:
    recommended = np.array([[5, 4, 3, 2], [5, 4, 3, 2], [5, 4, 3, 2]])
    relevant = [np.array([5]), np.array([2]), np.array([9])]
    per_user = accuracy_per_user(recommended, relevant, 4)
    np.testing.assert_allclose(per_user["ndcg@4"], [1.0, 1 / math.log2(5), 0.0])
    np.testing.assert_allclose(per_user["mrr@4"], [1.0, 0.25, 0.0])
    np.testing.assert_allclose(per_user["hit@4"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(per_user["map@4"], per_user["mrr@4"])  # one relevant item


def test_cutoff_smaller_than_list_ignores_later_hits() -> None:
    recommended = np.array([[0, 1, 2, 3, 4, 5]])
    per_user = accuracy_per_user(recommended, [np.array([4])], 3)
    assert per_user["hit@3"][0] == 0.0
    assert accuracy_per_user(recommended, [np.array([4])], 5)["hit@5"][0] == 1.0


def test_cutoff_wider_than_list_divides_precision_by_k() -> None:
    per_user = accuracy_per_user(np.array([[7, 8]]), [np.array([7, 8])], 10)
    assert per_user["precision@10"][0] == pytest.approx(0.2)
    assert per_user["ndcg@10"][0] == pytest.approx(1.0)
    assert per_user["recall@10"][0] == pytest.approx(1.0)


def test_duplicate_relevant_items_count_once() -> None:
    per_user = accuracy_per_user(np.array([[1, 2]]), [np.array([1, 1, 3])], 2)
    assert per_user["recall@2"][0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("recommended", "relevant", "k", "message"),
    [
        (np.array([[1, 2]]), [np.array([1])], 0, "k must be"),
        (np.array([[1, 1]]), [np.array([1])], 2, "repeats"),
        (np.array([[1, 2]]), [np.array([], dtype=int)], 2, "no relevant"),
        (np.array([[1, 2]]), [np.array([1]), np.array([2])], 2, "relevant has 2 users"),
        (np.array([1, 2]), [np.array([1])], 2, "2-D"),
        (np.array([[1.0, 2.0]]), [np.array([1])], 2, "integer"),
        (np.array([[-2, 2]]), [np.array([1])], 2, "below -1"),
    ],
)
def test_bad_input_raises(recommended, relevant, k, message) -> None:
    with pytest.raises(ValueError, match=message):
        accuracy_per_user(recommended, relevant, k)


def test_top_k_pads_and_truncates() -> None:
    np.testing.assert_array_equal(top_k(np.array([[4, 5, 6]]), 2), [[4, 5]])
    np.testing.assert_array_equal(top_k(np.array([[4]]), 3), [[4, -1, -1]])


@settings(max_examples=200, deadline=None)
@given(
    n_relevant=st.integers(1, 12),
    k=st.integers(1, 15),
    n_noise=st.integers(0, 15),
)
def test_perfect_ranking_scores_ideal(n_relevant: int, k: int, n_noise: int) -> None:
    relevant = np.arange(n_relevant)
    ranking = np.concatenate([relevant, np.arange(100, 100 + n_noise)])[None, :]
    values = mean_metrics(accuracy_per_user(ranking, [relevant], k))
    assert values[f"ndcg@{k}"] == pytest.approx(1.0)
    assert values[f"map@{k}"] == pytest.approx(1.0)
    assert values[f"mrr@{k}"] == 1.0
    assert values[f"precision@{k}"] == pytest.approx(min(n_relevant, k) / k)
    assert values[f"recall@{k}"] == pytest.approx(min(n_relevant, k) / n_relevant)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 30))
def test_metrics_lie_in_unit_interval(seed: int, k: int) -> None:
    recommended, relevant = random_case(seed, n_users=20)
    for name, values in accuracy_per_user(recommended, relevant, k).items():
        assert np.all((values >= 0) & (values <= 1 + 1e-12)), name

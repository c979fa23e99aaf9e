"""Bootstrap intervals and paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from agentrec.eval import bootstrap
from agentrec.eval.bootstrap import (
    bootstrap_ci,
    metric_cis,
    paired_bootstrap,
    paired_comparisons,
    resampled_means,
)


def test_ci_contains_the_mean_and_is_deterministic() -> None:
    values = np.random.default_rng(0).random(500)
    low, high = bootstrap_ci(values, seed=11)
    assert low < values.mean() < high
    assert bootstrap_ci(values, seed=11) == (low, high)
    assert bootstrap_ci(values, seed=12) != (low, high)


def test_ci_width_follows_the_standard_error() -> None:
    # For a mean of n iid draws, the 95% interval is about 2 * 1.96 * sd / sqrt(n) wide.
    values = np.random.default_rng(1).normal(0.0, 1.0, size=2000)
    low, high = bootstrap_ci(values, n_resamples=4000)
    expected = 2 * 1.96 * values.std() / np.sqrt(values.size)
    assert high - low == pytest.approx(expected, rel=0.1)


def test_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(300):
        low, high = bootstrap_ci(rng.binomial(1, 0.3, size=200), n_resamples=500, seed=trial)
        covered += low <= 0.3 <= high
    assert 0.90 <= covered / 300 <= 0.99


def test_constant_values_give_a_point_interval() -> None:
    assert bootstrap_ci(np.full(10, 0.25)) == (0.25, 0.25)


def test_batching_does_not_change_the_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(9).random(5)
    whole = resampled_means(values, n_resamples=7, seed=3)
    monkeypatch.setattr(bootstrap, "_MAX_INDICES_PER_BATCH", 10)  # 2 resamples per batch
    np.testing.assert_array_equal(resampled_means(values, n_resamples=7, seed=3), whole)
    assert whole.shape == (7,)


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        (np.array([]), {}, "non-empty"),
        (np.array([1.0, np.nan]), {}, "NaN"),
        (np.array([1.0]), {"confidence": 1.0}, "confidence"),
        (np.array([1.0]), {"n_resamples": 0}, "n_resamples"),
    ],
)
def test_bad_input_raises(values: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(values, **kwargs)


def test_paired_difference_detected_when_b_is_better() -> None:
    rng = np.random.default_rng(4)
    a = rng.random(400)
    b = a + 0.05 + rng.normal(0, 0.02, size=400)
    result = paired_bootstrap(a, b, seed=5)
    assert result.diff == pytest.approx(b.mean() - a.mean())
    assert 0 < result.low < result.diff < result.high
    assert result.p_value < 0.01
    assert result.n_users == 400


def test_paired_is_tighter_than_unpaired_intervals() -> None:
    rng = np.random.default_rng(6)
    a = rng.random(300)
    b = a + rng.normal(0.01, 0.01, size=300)
    paired = paired_bootstrap(a, b)
    a_low, a_high = bootstrap_ci(a)
    assert paired.high - paired.low < (a_high - a_low) / 5


def test_identical_systems_are_not_different() -> None:
    a = np.random.default_rng(7).random(100)
    result = paired_bootstrap(a, a.copy())
    assert (result.diff, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_noise_only_difference_has_a_large_p_value() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.random(300), rng.random(300)
    b = b - b.mean() + a.mean()  # equal means, different users
    assert paired_bootstrap(a, b).p_value > 0.5


def test_paired_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(np.ones(3), np.ones(4))


def test_per_metric_helpers() -> None:
    a = {"ndcg@10": np.array([0.1, 0.2, 0.3]), "hit@10": np.array([0.0, 1.0, 1.0])}
    b = {"ndcg@10": np.array([0.2, 0.3, 0.4])}
    assert set(metric_cis(a)) == {"ndcg@10", "hit@10"}
    comparisons = paired_comparisons(a, b)
    assert set(comparisons) == {"ndcg@10"}
    assert comparisons["ndcg@10"].diff == pytest.approx(0.1)

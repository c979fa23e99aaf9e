"""The paper's numbers from paired runs, on outcomes whose answer is known."""

from __future__ import annotations

import pytest

from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.statistics import summarise_pairs


def outcome(before: int, after: int, lp_before: float | None = -5.0, lp_after: float | None = -3.0) -> PairOutcome:
    return PairOutcome((0, 1, 2), before, after, lp_before, lp_after, "", "")


def test_known_answer() -> None:
    # 3 products: rank 4 is "not recommended". 4 improved, 1 unchanged, 1 worsened.
    outcomes = [outcome(4, 1), outcome(4, 1), outcome(3, 1), outcome(2, 1), outcome(1, 1), outcome(1, 2)]
    summary = summarise_pairs(outcomes, n_products=3, seed=0)
    before, after = summary.before, summary.after
    assert before.rank_distribution == {"1": 2, "2": 1, "3": 1, "4": 2}
    assert after.rank_distribution == {"1": 5, "2": 1, "3": 0, "4": 0}
    assert before.top1_rate == pytest.approx(2 / 6, abs=1e-4)
    assert after.top1_rate == pytest.approx(5 / 6, abs=1e-4)
    assert before.not_recommended_rate == pytest.approx(2 / 6, abs=1e-4)
    assert after.not_recommended_rate == 0.0
    assert before.mean_logprob == -5.0 and after.mean_logprob == -3.0
    shares = summary.advantage
    observed = (shares.improved, shares.unchanged, shares.worsened)
    assert observed == pytest.approx((4 / 6, 1 / 6, 1 / 6), abs=1e-4)
    low, high = before.ci["top1_rate"]
    assert 0.0 <= low <= before.top1_rate <= high <= 1.0
    paired = summary.paired
    assert paired["top1_rate"].diff == pytest.approx(0.5, abs=1e-4)
    assert paired["mean_logprob"].json_data() == {"diff": 2.0, "low": 2.0, "high": 2.0, "p_value": 0.0}
    assert paired["mean_rank"].high < 0  # ranks fell in most pairs


def test_without_logprobs_the_key_is_none_and_no_ci() -> None:
    summary = summarise_pairs([outcome(2, 1, None, None), outcome(1, 1, None, None)], n_products=3)
    assert summary.before.mean_logprob is None
    assert "mean_logprob" not in summary.before.ci
    assert "mean_logprob" not in summary.paired


def test_no_pairs_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        summarise_pairs([], n_products=3)

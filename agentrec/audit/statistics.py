"""The numbers of a paired evaluation, in the paper's form, with bootstrap intervals.

Per side (before / after): the rank distribution (rank N+1 = not
recommended), the top-1 rate, the not-recommended rate, the mean rank and
the mean log P("1. <target>"), each with a percentile-bootstrap CI over
pairs. Across sides: the share of pairs improved / unchanged / worsened, and
paired bootstrap differences (after minus before), which keep each order's
pair together and so are far tighter than two separate intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.results import Advantage, PairSummary, SideSummary
from agentrec.eval.bootstrap import bootstrap_ci, paired_bootstrap
from agentrec.eval.intervals import PairedDifference

N_RESAMPLES = 2000


def _rounded(value: float) -> float:
    return round(float(value), 4)


def _interval(values: np.ndarray, seed: int) -> tuple[float, float]:
    low, high = bootstrap_ci(values, n_resamples=N_RESAMPLES, seed=seed)
    return _rounded(low), _rounded(high)


def side_metrics(ranks: Sequence[int], logprobs: Sequence[float | None], n_products: int) -> dict[str, np.ndarray]:
    """Per-pair values of one side: top-1 and not-recommended indicators, rank, log-probability."""
    rank_array = np.asarray(ranks, dtype=np.float64)
    metrics = {
        "top1_rate": (rank_array == 1).astype(np.float64),
        "not_recommended_rate": (rank_array > n_products).astype(np.float64),
        "mean_rank": rank_array,
    }
    if logprobs and all(value is not None for value in logprobs):
        metrics["mean_logprob"] = np.asarray(logprobs, dtype=np.float64)
    return metrics


def side_summary(ranks: Sequence[int], logprobs: Sequence[float | None], n_products: int, seed: int) -> SideSummary:
    """One side in the CLI contract's keys, plus ``mean_rank`` and ``ci``."""
    metrics = side_metrics(ranks, logprobs, n_products)
    counts = np.bincount(np.asarray(ranks, dtype=np.int64), minlength=n_products + 2)[1:]
    return SideSummary(
        rank_distribution={str(rank): int(counts[rank - 1]) for rank in range(1, n_products + 2)},
        top1_rate=_rounded(metrics["top1_rate"].mean()),
        not_recommended_rate=_rounded(metrics["not_recommended_rate"].mean()),
        mean_rank=_rounded(metrics["mean_rank"].mean()),
        mean_logprob=_rounded(metrics["mean_logprob"].mean()) if "mean_logprob" in metrics else None,
        ci={name: _interval(values, seed) for name, values in metrics.items()},
    )


def advantage(outcomes: Sequence[PairOutcome], seed: int) -> Advantage:
    """Shares of pairs where the STS improved, kept or worsened the target's rank (with CIs)."""
    before = np.asarray([o.rank_before for o in outcomes], dtype=np.float64)
    after = np.asarray([o.rank_after for o in outcomes], dtype=np.float64)
    shares = {
        "improved": (after < before).astype(np.float64),
        "unchanged": (after == before).astype(np.float64),
        "worsened": (after > before).astype(np.float64),
    }
    return Advantage(
        improved=_rounded(shares["improved"].mean()),
        unchanged=_rounded(shares["unchanged"].mean()),
        worsened=_rounded(shares["worsened"].mean()),
        ci={name: _interval(values, seed) for name, values in shares.items()},
    )


def paired_differences(outcomes: Sequence[PairOutcome], n_products: int, seed: int) -> dict[str, PairedDifference]:
    """After minus before for every per-pair metric, with a paired bootstrap CI and p-value."""
    before = side_metrics([o.rank_before for o in outcomes], [o.logprob_before for o in outcomes], n_products)
    after = side_metrics([o.rank_after for o in outcomes], [o.logprob_after for o in outcomes], n_products)
    differences: dict[str, PairedDifference] = {}
    for name in before:
        if name in after:
            comparison = paired_bootstrap(before[name], after[name], n_resamples=N_RESAMPLES, seed=seed)
            differences[name] = PairedDifference.of(comparison, digits=4)
    return differences


def summarise_pairs(outcomes: Sequence[PairOutcome], n_products: int, seed: int = 0) -> PairSummary:
    """``before``, ``after``, ``advantage`` and ``paired`` for a list of paired runs."""
    if not outcomes:
        raise ValueError("summarise_pairs needs at least one paired run")
    return PairSummary(
        before=side_summary([o.rank_before for o in outcomes], [o.logprob_before for o in outcomes], n_products, seed),
        after=side_summary([o.rank_after for o in outcomes], [o.logprob_after for o in outcomes], n_products, seed),
        advantage=advantage(outcomes, seed),
        paired=paired_differences(outcomes, n_products, seed),
    )

"""Bootstrap intervals per round: click-through, cumulative click-through, coverage and genre entropy.

Rounds are compared along a curve (does an adaptive recommender catch up with a
retrained one?), so each point needs its own interval. The users are resampled
with replacement, the same draws for every round of an arm, and each metric is
recomputed on the resample: click-through and genre entropy as means over the
drawn users' sessions, cumulative click-through as watches over impressions
summed up to the round, coverage as the share of the catalog the drawn users
were shown. A resample repeats users, so resampled coverage leans low: its
interval is the resamples' spread placed around the coverage of all users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse

from agentrec.sim.items import SimItems


class SessionRow(Protocol):
    """What is read of a session (``agentrec.sim.metrics.SessionRow``, which builds its rounds with this)."""

    @property
    def user_id(self) -> str: ...
    @property
    def session(self) -> int: ...
    @property
    def shown(self) -> int: ...
    @property
    def watched(self) -> int: ...
    @property
    def ctr(self) -> float: ...


FloatArray = npt.NDArray[np.float64]
ROUND_INTERVAL_METRICS = ("ctr", "cumulative_ctr", "coverage", "genre_entropy")
RESAMPLES = 200  # per arm and round: 200 keeps a 10-round, 4-arm report under a few seconds


def round_intervals(
    rows: Sequence[SessionRow],
    shown: list[tuple[str, int, str, str]],
    items: SimItems,
    seed: int,
    coverage: dict[int, float],
    confidence: float = 0.95,
) -> dict[int, dict[str, tuple[float, float]]]:
    """Per round of one arm's ``rows`` and impressions ``shown``: metric -> (low, high).

    ``coverage`` is each round's coverage over all users (where its interval is centred).
    """
    rounds = sorted({row.session for row in rows})
    users = sorted({row.user_id for row in rows})
    if not rows or len(users) < 2:
        return {}
    user_index = {user: i for i, user in enumerate(users)}
    draws = np.random.default_rng(seed).integers(0, len(users), size=(RESAMPLES, len(users)))
    weights = np.zeros((RESAMPLES, len(users)))
    np.add.at(weights, (np.repeat(np.arange(RESAMPLES), len(users)), draws.ravel()), 1.0)
    item_index = {item_id: i for i, item_id in enumerate(items.ids)}
    tail = (1 - confidence) / 2
    watched_so_far, shown_so_far = np.zeros(len(users)), np.zeros(len(users))
    intervals = {}
    for session in rounds:
        in_round = [row for row in rows if row.session == session]
        ctr, has_ctr = _per_user(in_round, user_index, lambda row: row.ctr)
        watched, _ = _per_user(in_round, user_index, lambda row: float(row.watched))
        seen, _ = _per_user(in_round, user_index, lambda row: float(row.shown))
        watched_so_far += watched
        shown_so_far += seen
        exposure = _exposure(
            [s for s in shown if s[1] == session], user_index, item_index, items.n_items
        )  # users x items counts
        entropy = row_entropy_bits(np.asarray(exposure @ items.genres.astype(np.float64)))
        has_entropy = np.asarray(exposure.sum(axis=1)).ravel() > 0
        samples = {
            "ctr": _weighted_means(weights, ctr, has_ctr),
            "cumulative_ctr": (weights @ watched_so_far) / np.maximum(weights @ shown_so_far, 1e-12),
            "coverage": (np.asarray((sparse.csr_matrix(weights) @ exposure).todense()) > 0).mean(axis=1),
            "genre_entropy": _weighted_means(weights, entropy, has_entropy),
        }
        samples["coverage"] += coverage[session] - samples["coverage"].mean()
        intervals[session] = {
            name: (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))
            for name, values in samples.items()
        }
    return intervals


def cumulative_ctr(rows: Sequence[SessionRow], session: int) -> float:
    """Watches over impressions of every session up to and including round ``session``."""
    upto = [row for row in rows if row.session <= session]
    shown = sum(row.shown for row in upto)
    return sum(row.watched for row in upto) / shown if shown else float("nan")


def row_entropy_bits(counts: FloatArray) -> FloatArray:
    """The entropy (bits) of each row of counts; 0 for an empty row."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    logs = np.log2(shares, out=np.zeros_like(shares), where=shares > 0)
    entropy: FloatArray = -(shares * logs).sum(axis=1)
    return entropy


def _per_user(
    rows: Sequence[SessionRow], user_index: dict[str, int], value: Callable[[SessionRow], float]
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Each user's value in this round (one session per user and round), and who had a session."""
    values, present = np.zeros(len(user_index)), np.zeros(len(user_index), dtype=bool)
    for row in rows:
        values[user_index[row.user_id]] = value(row)
        present[user_index[row.user_id]] = True
    return values, present


def _exposure(
    shown: list[tuple[str, int, str, str]], user_index: dict[str, int], item_index: dict[str, int], n_items: int
) -> sparse.csr_matrix:
    users = np.array([user_index[s[2]] for s in shown], dtype=np.int64)
    found = np.array([item_index[s[3]] for s in shown], dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(shown)), (users, found)), shape=(len(user_index), n_items))


def _weighted_means(weights: FloatArray, values: FloatArray, present: npt.NDArray[np.bool_]) -> FloatArray:
    mask = present.astype(np.float64)
    means: FloatArray = (weights @ (values * mask)) / np.maximum(weights @ mask, 1e-12)
    return means

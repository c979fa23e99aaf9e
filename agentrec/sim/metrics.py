"""Simulation metrics, computed from the event log alone (so a resumed run scores the same).

Per session: click-through (watches / items shown on the recommendation pages),
average rating of those watches, exit page (the last page seen, 1-based),
session length (user actions: watches, next pages, exits, searches, chats with
the agent or a friend, posts), satisfaction (the interview's 1-10), LLM tokens.
Watches found off the pages (search, agent chat, friends, feed) do not count in
click-through or average rating, which measure the recommender under test; the
``actions`` block counts them, per detour, with their own click-through.
Per arm and round: coverage and Gini of impressions over the catalog, novelty
(mean self-information ``-log2 p(item)`` of shown items, with training
popularity), and genre entropy (bits) of each user's shown items, averaged over
users: falling entropy across retraining rounds is a filter bubble forming.
Arms are compared on the same users with paired bootstrap intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt

from agentrec.eval.beyond import gini_index
from agentrec.eval.bootstrap import metric_cis, paired_bootstrap
from agentrec.sim.items import SimItems
from agentrec.sim.results import ArmComparison, ArmDifference, ArmReport, BehaviourMetrics, RoundMetrics
from agentrec.sim.round_intervals import cumulative_ctr, round_intervals

FloatArray = npt.NDArray[np.float64]
SESSION_METRICS = ("ctr", "avg_rating", "exit_page", "session_length", "satisfaction", "tokens")
_SESSIONS_SQL = """
SELECT arm, user_id, session,
    count(*) FILTER (WHERE kind = 'impression') AS shown,
    count(*) FILTER (WHERE kind = 'watch' AND page IS NOT NULL) AS watched,
    avg(rating) FILTER (WHERE kind = 'watch' AND page IS NOT NULL) AS avg_rating,
    coalesce(max(page) FILTER (WHERE kind = 'impression') + 1, 0) AS exit_page,
    count(*) FILTER (WHERE kind IN ('watch', 'next_page', 'exit', 'search', 'chat', 'friend_chat', 'post'))
        AS session_length,
    count(*) FILTER (WHERE kind = 'exit') > 0 AS left_site,
    max(value) FILTER (WHERE kind = 'interview') AS satisfaction,
    max(value) FILTER (WHERE kind = 'session_end') AS tokens
FROM events WHERE run_id = ? GROUP BY arm, user_id, session ORDER BY arm, user_id, session
"""

# A watch off the pages belongs to the last list-opening event before it in its session.
_ACTIONS_SQL = """
WITH tagged AS (
    SELECT arm, user_id, session, kind, item_id,
        last_value(CASE WHEN kind IN ('impression', 'search', 'chat', 'friend_chat', 'read_post') THEN kind END
            IGNORE NULLS) OVER (PARTITION BY arm, user_id, session ORDER BY step
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS source
    FROM events WHERE run_id = ?)
SELECT arm,
    count(*) FILTER (WHERE kind = 'session_start') AS sessions,
    count(*) FILTER (WHERE kind = 'search') AS searches,
    count(*) FILTER (WHERE kind = 'search_result') AS search_results,
    count(*) FILTER (WHERE kind = 'watch' AND source = 'search') AS search_watches,
    count(*) FILTER (WHERE kind = 'chat') AS chats,
    count(*) FILTER (WHERE kind = 'chat_item') AS chat_items,
    count(*) FILTER (WHERE kind = 'watch' AND source = 'chat') AS chat_watches,
    count(*) FILTER (WHERE kind = 'friend_chat') AS friend_chats,
    count(*) FILTER (WHERE kind = 'friend_reply' AND item_id IS NOT NULL) AS friend_suggestions,
    count(*) FILTER (WHERE kind = 'watch' AND source = 'friend_chat') AS friend_watches,
    count(*) FILTER (WHERE kind = 'read_post') AS posts_read,
    count(*) FILTER (WHERE kind = 'watch' AND source = 'read_post') AS feed_watches,
    count(*) FILTER (WHERE kind = 'post') AS posts
FROM tagged GROUP BY arm ORDER BY arm
"""
ACTION_COUNTS = (
    "sessions", "searches", "search_results", "search_watches", "chats", "chat_items", "chat_watches",
    "friend_chats", "friend_suggestions", "friend_watches", "posts_read", "feed_watches", "posts",
)  # fmt: skip
# rate name -> (numerator, denominator) over the counts
ACTION_RATES = {
    "searches_per_session": ("searches", "sessions"),
    "search_ctr": ("search_watches", "search_results"),
    "chats_per_session": ("chats", "sessions"),
    "chat_ctr": ("chat_watches", "chat_items"),
    "friend_chats_per_session": ("friend_chats", "sessions"),
    "friend_acceptance": ("friend_watches", "friend_suggestions"),
    "posts_per_session": ("posts", "sessions"),
    "posts_read_per_session": ("posts_read", "sessions"),
    "feed_ctr": ("feed_watches", "posts_read"),
}


@dataclass(frozen=True)
class SessionRow:
    arm: str
    user_id: str
    session: int
    shown: int
    watched: int
    avg_rating: float
    exit_page: int
    session_length: int
    left_site: bool
    satisfaction: float
    tokens: float

    @property
    def ctr(self) -> float:
        return self.watched / self.shown if self.shown else 0.0

    def value(self, metric: str) -> float:
        return float(self.ctr if metric == "ctr" else getattr(self, metric))


def session_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> list[SessionRow]:
    rows = con.execute(_SESSIONS_SQL, [run_id]).fetchall()
    return [
        SessionRow(
            a,
            u,
            int(s),
            int(sh),
            int(w),
            float("nan") if r is None else float(r),
            int(e),
            int(n),
            bool(left),
            float("nan") if sat is None else float(sat),
            float(t or 0.0),
        )
        for a, u, s, sh, w, r, e, n, left, sat, t in rows
    ]


def impressions(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int, str, str]]:
    """(arm, session, user_id, item_id) of every item shown."""
    rows = con.execute(
        "SELECT arm, session, user_id, item_id FROM events WHERE run_id = ? AND kind = 'impression' "
        "ORDER BY arm, session, user_id, step",
        [run_id],
    ).fetchall()
    return [(a, int(s), u, i) for a, s, u, i in rows]


def session_means(rows: list[SessionRow]) -> dict[str, float]:
    """Means over sessions (NaN-skipping: a session without watches has no average rating)."""
    out: dict[str, float] = {"sessions": float(len(rows))}
    for metric in SESSION_METRICS:
        values = np.array([row.value(metric) for row in rows], dtype=np.float64)
        out[metric] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    out["exit_rate"] = float(np.mean([row.left_site for row in rows])) if rows else float("nan")
    return out


def per_user(rows: list[SessionRow]) -> dict[str, dict[str, float]]:
    """metric -> user -> the user's mean over their sessions (finite values only)."""
    result: dict[str, dict[str, float]] = {}
    for metric in SESSION_METRICS:
        grouped: dict[str, list[float]] = {}
        for row in rows:
            value = row.value(metric)
            if np.isfinite(value):
                grouped.setdefault(row.user_id, []).append(value)
        result[metric] = {user: float(np.mean(values)) for user, values in grouped.items()}
    return result


def catalog_metrics(shown: list[tuple[str, int, str, str]], items: SimItems) -> dict[str, float]:
    """Coverage, Gini, novelty and mean per-user genre entropy of a set of impressions."""
    if not shown:
        return {"coverage": 0.0, "gini": 0.0, "novelty": float("nan"), "genre_entropy": float("nan")}
    index = {item_id: i for i, item_id in enumerate(items.ids)}
    item_rows = np.array([index[row[3]] for row in shown], dtype=np.int64)
    counts = np.bincount(item_rows, minlength=items.n_items)
    novelty = -np.log2(items.popularity_share()[item_rows])
    users = np.unique([row[2] for row in shown], return_inverse=True)[1]
    mentions = np.zeros((int(users.max()) + 1, len(items.genre_names)))
    np.add.at(mentions, users, items.genres[item_rows].astype(np.float64))
    return {
        "coverage": float((counts > 0).sum() / items.n_items),
        "gini": gini_index(counts),
        "novelty": float(novelty.mean()),
        "genre_entropy": float(np.mean([entropy_bits(row) for row in mentions])),
    }


def entropy_bits(counts: FloatArray) -> float:
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def behaviour(rows: list[SessionRow], shown: list[tuple[str, int, str, str]], items: SimItems) -> BehaviourMetrics:
    """Session means and catalog metrics of ``rows`` and the impressions ``shown`` with them."""
    return BehaviourMetrics(**session_means(rows), **catalog_metrics(shown, items))


def arm_report(rows: list[SessionRow], shown: list[tuple[str, int, str, str]], items: SimItems, seed: int) -> ArmReport:
    """One arm: metrics over all its sessions, bootstrap CIs over users, and per-round metrics."""
    users = per_user(rows)
    cis = metric_cis({m: list(v.values()) for m, v in users.items() if len(v) >= 2}, n_resamples=1000, seed=seed)
    per_round = {}
    for session in sorted({row.session for row in rows}):
        in_round = [row for row in rows if row.session == session]
        in_shown = [s for s in shown if s[1] == session]
        per_round[session] = session_means(in_round) | catalog_metrics(in_shown, items)
    coverage = {session: metrics["coverage"] for session, metrics in per_round.items()}
    intervals = round_intervals(rows, shown, items, seed, coverage)
    rounds = [
        RoundMetrics(
            round=session, **metrics, cumulative_ctr=cumulative_ctr(rows, session), ci=intervals.get(session, {})
        )
        for session, metrics in per_round.items()
    ]
    return ArmReport(metrics=behaviour(rows, shown, items), ci=cis, rounds=rounds, actions={})


def compare_arms(rows: list[SessionRow], baseline: str, other: str, seed: int) -> ArmComparison:
    """``other`` minus ``baseline`` per metric, paired over users both arms have a value for."""
    base = per_user([r for r in rows if r.arm == baseline])
    challenger = per_user([r for r in rows if r.arm == other])
    differences = {}
    for metric in SESSION_METRICS:
        shared = sorted(set(base[metric]) & set(challenger[metric]))
        if len(shared) < 2:
            continue
        a = [base[metric][u] for u in shared]
        b = [challenger[metric][u] for u in shared]
        comparison = paired_bootstrap(a, b, n_resamples=1000, seed=seed)
        differences[metric] = ArmDifference.of(comparison, users=comparison.n_users)
    return ArmComparison(baseline=baseline, differences=differences)


def action_metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, dict[str, float]]:
    """Per arm and overall (key ``all``): counts of detours, posts and feed reads, and their rates."""
    rows = con.execute(_ACTIONS_SQL, [run_id]).fetchall()
    counts = {row[0]: dict(zip(ACTION_COUNTS, (float(v) for v in row[1:]), strict=True)) for row in rows}
    counts["all"] = {name: sum(arm[name] for arm in counts.values()) for name in ACTION_COUNTS}
    result = {}
    for arm, arm_counts in counts.items():
        rates = {
            rate: arm_counts[top] / arm_counts[bottom] if arm_counts[bottom] else float("nan")
            for rate, (top, bottom) in ACTION_RATES.items()
        }
        result[arm] = arm_counts | rates
    return result


@dataclass(frozen=True)
class RunMetrics:
    """Everything ``simulate`` reports about behaviour, and the session rows behind it."""

    metrics: BehaviourMetrics
    actions: dict[str, float]
    arms: dict[str, ArmReport]
    session_rows: list[SessionRow]


def run_metrics(con: duckdb.DuckDBPyConnection, run_id: str, arms: list[str], items: SimItems, seed: int) -> RunMetrics:
    """Behaviour overall, per arm, and of each arm against the first."""
    rows = session_rows(con, run_id)
    shown = impressions(con, run_id)
    actions = action_metrics(con, run_id)
    reports = {}
    for arm in arms:
        report = arm_report([r for r in rows if r.arm == arm], [s for s in shown if s[0] == arm], items, seed)
        versus = compare_arms(rows, arms[0], arm, seed) if arm != arms[0] else None
        reports[arm] = report.model_copy(update={"actions": actions.get(arm, {}), "versus": versus})
    return RunMetrics(behaviour(rows, shown, items), actions["all"], reports, rows)

"""The simulator as ground truth for offline evaluation on missing-not-at-random logs (issue 20, part 5).

    AGENTREC_DATA_HOME=/work/shared/data /work/venv/bin/python bench/sim_ground_truth.py \\
        --logger mostpop,itemknn [--seed 0] [--out bench/out/sim_ground_truth.json]

Offline evaluation scores recommenders on logged clicks, but a log only holds clicks on
what the logging policy chose to show: the missing data are missing not at random. In
simulation each user's true preference is known, so each candidate's real quality can be
measured by deploying it, and offline estimators can be checked against that truth.

* Truth: every candidate deployed to all 943 statistical ml-100k users: one scenario, one
  arm per candidate, one round of 5 pages x 4 items; the truth is each arm's simulated
  click-through (watches / items shown).
* Logging: for each ``--logger`` (default ``mostpop``), ONE recommender shows items to the
  same users for 3 rounds x 5 pages x 4 (``retrain = false``: the model is never refitted;
  what a user watched is not shown again). The logged data = every impression and every
  watch (click) of that run's event log.
* Candidates: MostPop, ItemKNN, EASE, ALS, BPR, SASRec (registry defaults) fitted on the
  simulator's training split, the data the simulated users were built from (the same
  fitted models the truth arms use). Each ranks its top 10 over the items the user has
  not seen in training, scored against the items the user clicked in the log:
  - naive: NDCG@10 and recall@10 (``agentrec.eval.metrics.accuracy_per_user``);
  - IPS: the estimator of ``agentrec eval --weighting ips`` (``user_weights`` +
    ``self_normalised``: each user weighted by the mean inverse propensity of their clicked
    items, self-normalised), with two propensities: (i) exposure, each item's share of the
    users the logger showed it to (clipped below at 1 / users; every clicked item was
    shown, so the floor never enters the estimate), (ii) ``popularity_propensity`` of the
    training counts (Yang et al.'s (n_i / n_max) ** 0.5).
* Agreement: Kendall tau (scipy, tau-b) between each estimator's scores of the candidates
  and their true click-through, per logging policy, with a bootstrap over users (the same
  resampled users for the log and the truth).

Writes bench/out/sim_ground_truth.json and prints markdown tables.
Runs live in bench/out/sim_runs_sim_ground_truth/ (not the state home's sim runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau

from agentrec.data.interactions import Interactions
from agentrec.data.store import DatasetStore, open_dataset
from agentrec.eval.metrics import accuracy_per_user, hit_matrix, mean_metrics, rank_discount, top_k
from agentrec.eval.weighting import popularity_propensity, self_normalised, user_weights
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import MODEL_NAMES, make_model
from agentrec.recsys.threads import pin_threads
from agentrec.sim.events import read_events
from agentrec.sim.run import RunOptions, RunProgress, run_simulation
from agentrec.sim.scenario import Scenario, load_scenario
from agentrec.sim.world import holdout_split, split_label

OUT = Path(__file__).parent / "out"
RUNS = OUT / "sim_runs_sim_ground_truth"
DATASET = "ml-100k"
K = 10
PAGES, PAGE_SIZE = 5, 4
LOG_ROUNDS = 3
CANDIDATES = tuple(m for m in ("mostpop", "itemknn", "ease", "als", "bpr", "sasrec") if m in MODEL_NAMES)
BOOTSTRAP = 1000
SCENARIO = """
name = "{name}"
dataset = "{dataset}"
seed = {seed}
rounds = {rounds}
pages = {pages}
page_size = {page_size}

[users]
choice_model = "statistical"

[fidelity]
enabled = false
"""
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class StageLog:
    """Prints each new stage of a run once."""

    def __init__(self, name: str) -> None:
        self.name, self.last = name, ""

    def __call__(self, progress: RunProgress) -> None:
        if progress.stage != self.last:
            self.last = progress.stage
            print(f"  {self.name}: {progress.stage} ({progress.sessions_done}/{progress.sessions_total})", flush=True)


def write_scenario(name: str, seed: int, rounds: int, arms: list[str]) -> Path:
    text = SCENARIO.format(name=name, dataset=DATASET, seed=seed, rounds=rounds, pages=PAGES, page_size=PAGE_SIZE)
    for arm in arms:
        text += f'\n[[arms]]\nname = "{arm}"\nrecommender = "{arm}"\nretrain = false\n'
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{name}.toml"
    path.write_text(text)
    return path


def simulate(path: Path, name: str) -> dict[str, Any]:
    """Run a scenario; per arm its CTR and CI, per-user CTR, and every impression and watch of the log."""
    started = time.perf_counter()
    result = run_simulation(path, RunOptions(runs_root=RUNS), StageLog(name))
    per_user: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in result.session_rows:
        per_user[row.arm][row.user_id].append(row.ctr)
    shown: dict[str, list[tuple[str, str]]] = defaultdict(list)  # arm -> (user, item)
    clicked: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for arm, user, _, _, kind, page, _, item, *_ in read_events(result.run_dir / "events.duckdb", result.run_id):
        if kind == "impression":
            shown[arm].append((user, item))
        elif kind == "watch" and page is not None:
            clicked[arm].append((user, item))
    arms = result.summary.arms
    return {
        "run_id": result.run_id,
        "users": tuple(json.loads((result.run_dir / "run.json").read_text())["users"]),
        "seconds": round(time.perf_counter() - started, 1),
        "ctr": {arm: arms[arm].metrics.ctr for arm in arms},
        "ctr_ci": {arm: list(arms[arm].ci["ctr"]) for arm in arms},
        "per_user_ctr": {arm: {u: float(np.mean(v)) for u, v in users.items()} for arm, users in per_user.items()},
        "shown": dict(shown),
        "clicked": dict(clicked),
    }


# ----- candidates and the logged test set ----------------------------------------------------------
def candidate_lists(
    store: DatasetStore, scenario: Scenario, train: Interactions, users: IntArray
) -> dict[str, IntArray]:
    """Each candidate's top 10 over unseen items, from the model its truth arm used (same store key)."""
    lists: dict[str, IntArray] = {}
    for name in CANDIDATES:
        model, _ = ModelStore().fit_or_load(make_model(name), train, None, store.key, split_label(scenario))
        model.set_history(train)
        lists[name] = model.recommend_many(users, K, exclude_seen=True)
    return lists


def logged_test_set(log: dict[str, Any], arm: str, train: Interactions, user_ids: tuple[str, ...]) -> dict[str, Any]:
    """The logger's clicks per user (the test items), and every item's exposure share."""
    users, items = train.users, train.items
    clicks: dict[int, set[int]] = defaultdict(set)
    for user, item in log["clicked"][arm]:
        clicks[users.index(user)].add(items.index(item))
    exposed: dict[int, set[int]] = defaultdict(set)  # user -> items shown to them
    for user, item in log["shown"][arm]:
        exposed[users.index(user)].add(items.index(item))
    shown_to = np.zeros(train.n_items)
    for seen in exposed.values():
        shown_to[list(seen)] += 1
    test_users = np.array([users.index(u) for u in user_ids if clicks.get(users.index(u))], dtype=np.int64)
    return {
        "users": test_users,
        "relevant": [np.array(sorted(clicks[int(u)]), dtype=np.int64) for u in test_users],
        "exposed": exposed,
        "exposure": shown_to / len(user_ids),
        "impressions": len(log["shown"][arm]),
        "clicks": len(log["clicked"][arm]),
    }


# ----- estimators -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimator:
    """An offline estimate as a weighted mean over test users: sum_u w_u v_u / sum_u w_u.

    ``values[candidate]`` holds the per-user values before weighting and ``weights`` the
    per-user weights (one for naive), so a bootstrap can redraw users and recompute it.
    """

    name: str
    metric: str
    family: str  # "project" (agentrec eval's estimators) or "per-click" (exploratory)
    values: dict[str, FloatArray]
    weights: FloatArray

    def estimate(self, candidate: str, idx: IntArray | None = None) -> float:
        values = self.values[candidate] if idx is None else self.values[candidate][idx]
        weights = self.weights if idx is None else self.weights[idx]
        return float((values * weights).sum() / weights.sum())


def propensities(test: dict[str, Any], popularity: FloatArray, n_users: int) -> dict[str, FloatArray]:
    """(i) the logger's exposure share, floored at one user; (ii) Yang et al.'s popularity power law."""
    return {
        "exposure": np.maximum(test["exposure"], 1.0 / n_users),
        "popularity": popularity_propensity(popularity),
    }


def project_estimators(
    tops: dict[str, IntArray], test: dict[str, Any], props: dict[str, FloatArray]
) -> list[Estimator]:
    """Naive NDCG@10 / recall@10 and ``agentrec eval --weighting ips``'s estimator with each propensity."""
    plain = {name: accuracy_per_user(top, test["relevant"], K) for name, top in tops.items()}
    ones = np.ones(len(test["relevant"]))
    estimators = []
    for metric in (f"ndcg@{K}", f"recall@{K}"):
        values = {name: scored[metric] for name, scored in plain.items()}
        estimators.append(Estimator(f"naive {metric}", metric, "project", values, ones))
        for source, propensity in props.items():
            weights = user_weights(test["relevant"], propensity)
            estimator = Estimator(f"IPS-{source} {metric}", metric, "project", values, weights)
            for name in tops:  # the library's own SNIPS, which the weighted mean must equal
                library = mean_metrics(self_normalised({metric: values[name]}, weights))[metric]
                if not np.isclose(library, estimator.estimate(name)):
                    raise AssertionError(f"{estimator.name}: {library} != {estimator.estimate(name)}")
            estimators.append(estimator)
    return estimators


def per_click_estimators(
    tops: dict[str, IntArray], test: dict[str, Any], props: dict[str, FloatArray]
) -> list[Estimator]:
    """Exploratory, not the library's: each click weighted by its own inverse propensity (Yang et al.'s
    per-pair IPS), DCG@10 per click: sum over hits of disc(rank) / p_item over sum over clicks of 1 / p_item."""
    discount = rank_discount(K)
    estimators = []
    for source, propensity in {"none": np.ones_like(props["exposure"]), **props}.items():
        per_user_clicks = np.array([float(np.sum(1.0 / propensity[r])) for r in test["relevant"]])
        values = {}
        for name, top in tops.items():
            listed = top_k(top, K)
            hits, _ = hit_matrix(listed, test["relevant"])
            gains = np.where(hits, 1.0 / propensity[np.maximum(listed, 0)], 0.0) @ discount
            values[name] = gains / per_user_clicks
        label = "naive" if source == "none" else f"IPS-{source}"
        estimators.append(
            Estimator(f"{label} DCG@{K} per click", "dcg_per_click", "per-click", values, per_user_clicks)
        )
    return estimators


def exposure_of_lists(lists: dict[str, IntArray], test: dict[str, Any], row_of: dict[int, int]) -> dict[str, Any]:
    """Per candidate: the share of its top 10 the logger ever showed that user, and ever showed anyone."""
    result = {}
    anyone = test["exposure"] > 0
    for name, top in lists.items():
        own, any_user = [], []
        for user, seen in test["exposed"].items():
            listed = top[row_of[user]]
            own.append(np.isin(listed, list(seen)).mean())
            any_user.append(anyone[listed].mean())
        result[name] = {"shown_to_user": float(np.mean(own)), "shown_to_anyone": float(np.mean(any_user))}
    return result


def kendall(truth: FloatArray, values: FloatArray) -> float:
    return float(kendalltau(truth, values)[0])


def agreement(truth_users: FloatArray, candidates: list[str], estimators: list[Estimator], seed: int) -> dict[str, Any]:
    """Kendall tau of each estimator's scores against the true CTR, with a bootstrap over test users.

    ``truth_users`` is candidates x test users (each user's true CTR); a resample draws the
    same users for the truth and every estimator. Each estimator is compared with the naive
    one of its own metric on the same resamples.
    """
    rng = np.random.default_rng(seed)
    n = truth_users.shape[1]
    draws: dict[str, list[float]] = {e.name: [] for e in estimators}
    for _ in range(BOOTSTRAP):
        idx = np.asarray(rng.integers(0, n, size=n), dtype=np.int64)
        truth = truth_users[:, idx].mean(axis=1)
        for e in estimators:
            draws[e.name].append(kendall(truth, np.array([e.estimate(c, idx) for c in candidates])))
    naive_of = {e.metric: e.name for e in estimators if e.name.startswith("naive")}
    point_truth = truth_users.mean(axis=1)
    result = {}
    for e in estimators:
        sample = np.array(draws[e.name])
        entry: dict[str, Any] = {
            "family": e.family,
            "metric": e.metric,
            "tau": kendall(point_truth, np.array([e.estimate(c) for c in candidates])),
            "bootstrap_ci": [float(np.nanquantile(sample, 0.025)), float(np.nanquantile(sample, 0.975))],
            "scores": {c: e.estimate(c) for c in candidates},
            "ranks": rank_of({c: e.estimate(c) for c in candidates}),
            "weight_spread": {"min": float(e.weights.min()), "max": float(e.weights.max()),
                              "cv": float(e.weights.std() / e.weights.mean())},
        }  # fmt: skip
        if e.name != naive_of[e.metric]:
            gap = sample - np.array(draws[naive_of[e.metric]])
            entry["share_closer_than_naive"] = float(np.mean(gap > 0))
            entry["share_tied_with_naive"] = float(np.mean(gap == 0))
        result[e.name] = entry
    return result


def rank_of(values: dict[str, float]) -> dict[str, int]:
    """1 = best."""
    order = sorted(values, key=lambda name: -values[name])
    return {name: order.index(name) + 1 for name in values}


def evaluate_logger(
    logger_name: str,
    log: dict[str, Any],
    truth: dict[str, Any],
    lists: dict[str, IntArray],
    train: Interactions,
    user_ids: tuple[str, ...],
    seed: int,
) -> dict[str, Any]:
    """Every estimator on ``logger_name``'s log against the truth, with what explains the gap."""
    row_of = {train.users.index(u): row for row, u in enumerate(user_ids)}
    test = logged_test_set(log, logger_name, train, user_ids)
    popularity = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    props = propensities(test, popularity, len(user_ids))
    rows = np.array([row_of[int(u)] for u in test["users"]], dtype=np.int64)
    tops = {name: top[rows] for name, top in lists.items()}
    estimators = project_estimators(tops, test, props) + per_click_estimators(tops, test, props)
    test_ids = [train.users.id(int(u)) for u in test["users"]]
    candidates = list(lists)
    truth_users = np.stack([[truth["per_user_ctr"][n][u] for u in test_ids] for n in candidates])
    top_decile = popularity >= np.quantile(popularity, 0.9)
    clicked_items = np.concatenate(test["relevant"])
    return {
        "logger": logger_name,
        "run_id": log["run_id"],
        "log": {
            "rounds": LOG_ROUNDS,
            "impressions": test["impressions"],
            "clicks": test["clicks"],
            "ctr": log["ctr"][logger_name],
            "distinct_items_shown": int(np.count_nonzero(test["exposure"])),
            "distinct_items_clicked": int(np.unique(clicked_items).size),
            "test_users": int(test["users"].size),
            "clicks_per_test_user": float(np.mean([r.size for r in test["relevant"]])),
            "clicks_in_top_popularity_decile": float(top_decile[clicked_items].mean()),
            "exposure_floor": 1.0 / len(user_ids),
            "clicked_items_exposure": {
                "min": float(test["exposure"][clicked_items].min()),
                "median": float(np.median(test["exposure"][clicked_items])),
            },
        },
        "truth_on_test_users": {n: float(v) for n, v in zip(candidates, truth_users.mean(axis=1), strict=True)},
        "estimators": agreement(truth_users, candidates, estimators, seed),
        "exposure_of_candidate_lists": exposure_of_lists(lists, test, row_of),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logger", default="mostpop", help="logging policies, comma-separated (registry names)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT / "sim_ground_truth.json")
    args = parser.parse_args()
    loggers = [name.strip() for name in args.logger.split(",") if name.strip()]
    logging.basicConfig(level=logging.WARNING)
    pin_threads()
    started, load_before = time.perf_counter(), os.getloadavg()
    truth_path = write_scenario("ground_truth_deploy", args.seed, 1, list(CANDIDATES))
    truth = simulate(truth_path, "truth")
    user_ids = truth["users"]
    scenario = load_scenario(truth_path)
    store = open_dataset(DATASET)
    train = holdout_split(store.interactions(), scenario).train
    users = np.array([train.users.index(u) for u in user_ids], dtype=np.int64)
    lists = candidate_lists(store, scenario, train, users)
    results = []
    for name in loggers:
        log = simulate(write_scenario(f"ground_truth_log_{name}", args.seed, LOG_ROUNDS, [name]), f"log {name}")
        if log["users"] != user_ids:
            raise RuntimeError("the logging run simulated other users than the truth run")
        results.append(evaluate_logger(name, log, truth, lists, train, user_ids, args.seed))
    truth_rank = rank_of(truth["ctr"])
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "dataset": DATASET,
        "users": len(user_ids),
        "seed": args.seed,
        "settings": {"pages": PAGES, "page_size": PAGE_SIZE, "log_rounds": LOG_ROUNDS, "k": K},
        "truth": {
            "run_id": truth["run_id"],
            "ctr": truth["ctr"],
            "ctr_ci": truth["ctr_ci"],
            "rank": truth_rank,
        },
        "loggers": results,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render(report))


COLUMNS = (
    ("naive ndcg@10", "naive NDCG@10"), ("IPS-exposure ndcg@10", "IPS-exp. NDCG@10"),
    ("IPS-popularity ndcg@10", "IPS-pop. NDCG@10"), ("naive recall@10", "naive recall@10"),
    ("naive DCG@10 per click", "naive DCG/click"), ("IPS-exposure DCG@10 per click", "IPS-exp. DCG/click"),
    ("IPS-popularity DCG@10 per click", "IPS-pop. DCG/click"),
)  # fmt: skip


def render(report: dict[str, Any]) -> str:
    truth = report["truth"]
    lines = ["| candidate | true CTR (deployed to all users) [95% CI] | rank |", "|---|---|---|"]
    for name, ctr in truth["ctr"].items():
        low, high = truth["ctr_ci"][name]
        lines.append(f"| {name} | {ctr:.3f} [{low:.3f}, {high:.3f}] | {truth['rank'][name]} |")
    for result in report["loggers"]:
        lines += ["", *render_logger(result, truth["rank"])]
    return "\n".join(lines)


def render_logger(result: dict[str, Any], truth_rank: dict[str, int]) -> list[str]:
    log, est = result["log"], result["estimators"]
    lines = [
        f"**Logger `{result['logger']}`**: {log['impressions']:,} impressions, {log['clicks']:,} clicks "
        f"(CTR {log['ctr']:.3f}) in {log['rounds']} rounds; {log['distinct_items_shown']} distinct items shown, "
        f"{log['distinct_items_clicked']} clicked; {log['test_users']} users with a click "
        f"({log['clicks_per_test_user']:.1f} each); {log['clicks_in_top_popularity_decile']:.0%} of the clicks "
        "on the top popularity decile of training.",
        "",
        "| candidate | true CTR (rank) | "
        + " | ".join(label for _, label in COLUMNS)
        + " | top 10 shown to the user |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|",
    ]
    for name, true_ctr in result["truth_on_test_users"].items():
        cells = [f"{est[key]['scores'][name]:.4f} ({est[key]['ranks'][name]})" for key, _ in COLUMNS]
        shown = result["exposure_of_candidate_lists"][name]["shown_to_user"]
        lines.append(f"| {name} | {true_ctr:.3f} ({truth_rank[name]}) | " + " | ".join(cells) + f" | {shown:.2f} |")
    lines += [
        "",
        "| estimator | family | Kendall tau vs truth [bootstrap 95% CI] | closer / tied vs naive (resamples) "
        "| user weights min-max (CV) |",
        "|---|---|---|---|---|",
    ]
    for key, e in est.items():
        closer = (
            f"{e['share_closer_than_naive']:.2f} / {e['share_tied_with_naive']:.2f}"
            if "share_closer_than_naive" in e
            else "-"
        )
        w = e["weight_spread"]
        lines.append(
            f"| {key} | {e['family']} | {e['tau']:+.2f} [{e['bootstrap_ci'][0]:+.2f}, {e['bootstrap_ci'][1]:+.2f}] "
            f"| {closer} | {w['min']:.2f}-{w['max']:.1f} ({w['cv']:.2f}) |"
        )
    return lines


if __name__ == "__main__":
    main()

"""Does the simulator rank recommenders the way offline evaluation does? (issue 20, part 3)

    AGENTREC_DATA_HOME=/work/shared/data /work/venv/bin/python bench/sim_vs_offline.py \
        [--users 200] [--seed 0] [--no-agent] [--out bench/out/sim_vs_offline.json]

SimUSER (ACL 2025) reports Spearman 0.72 between simulated and offline A/B results; the
target here is Spearman >= 0.7 between simulated click-through and offline NDCG@10.

* Recommenders: MostPop, ItemKNN, EASE, BPR, SASRec (registry defaults) and the ToolRec
  agent (``policy = "agent"``, the embedded SmolLM2-135M, response cache on); the agent's
  ``heuristic`` policy (no LLM) is a seventh, optional arm.
* Simulator: ONE scenario, every recommender an arm, the same seeded sample of statistical
  users (``--users``), one round of 3 pages x 4 items; sim CTR = watches / items shown, with
  the run's bootstrap CI over users.
* Offline NDCG@10, two views, on the same users:
  (a) the simulator's own split: CF models fitted on the sim's training part (the very
      models the arms use), the seeded random 10% holdout as test items. The agent cannot be
      scored here: its service runs on the dataset's leave-one-out split, so it masks (never
      shows) ~all of the sim holdout as already seen; its number is printed but kept out of (a).
  (b) leave-one-out by time (``evaluate_models(protocol="loo")``, restricted to the simulated
      users); the agent's top 10 is the list its sim arm was given (same service settings,
      same LLM replies through the response cache), scored against its LOO target.
  (b) is the headline: it is the only view that holds all six recommenders. (a) is reported
  over the five CF models, and so is LOO over all 943 users (the library's own means), which
  takes the 200-user sample's noise out of the offline side.
* Spearman (scipy) between sim CTR and offline NDCG@10 over the recommenders, with a
  bootstrap over users (the same resampled users for both sides).
* Diagnostic arm ``sasrec_loo_epochs``: the sim's CF arms are fitted without a validation
  set, so SASRec runs all its max_epochs (200) where its LOO fit stops early; this arm is
  SASRec with the epoch count the LOO fit kept. It is not one of the six; a second Spearman
  puts it in SASRec's place.
* What each arm showed, from the event log: popularity, the user's held-out items among
  them, and the share the users' taste model (EASE on the same training data) ranks in its
  own top 12, with the CTR on each kind.

Writes bench/out/sim_vs_offline.json and bench/out/sim_vs_offline.png and prints markdown tables.
Runs live in bench/out/sim_runs_sim_vs_offline/ (not the state home's sim runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr

from agentrec.data.interactions import Interactions
from agentrec.data.protocols import make_split
from agentrec.data.store import DatasetStore, open_dataset
from agentrec.eval.bootstrap import bootstrap_ci
from agentrec.eval.metrics import accuracy_per_user
from agentrec.eval.offline import evaluate_models, test_set
from agentrec.llm.usage import UsageMeter
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import MODEL_NAMES, make_model
from agentrec.recsys.threads import pin_threads
from agentrec.sim.events import read_events
from agentrec.sim.run import RunOptions, RunProgress, run_simulation, select_users
from agentrec.sim.scenario import Scenario, load_scenario
from agentrec.sim.world import holdout_split, split_label

OUT = Path(__file__).parent / "out"
RUNS = OUT / "sim_runs_sim_vs_offline"
DATASET = "ml-100k"
K = 10
PAGES, PAGE_SIZE = 3, 4
CF_MODELS = tuple(m for m in ("mostpop", "itemknn", "ease", "bpr", "sasrec") if m in MODEL_NAMES)
REQUIRED = (*CF_MODELS, "agent")
# Diagnostic arm: SASRec trained for as many epochs as its leave-one-out fit kept (early stopping on the
# validation item), where the sim's arms fit without validation and so run all of max_epochs.
SASREC_CHECK = "sasrec_loo_epochs"
LABELS = {
    "mostpop": "MostPop", "itemknn": "ItemKNN", "ease": "EASE", "bpr": "BPR", "sasrec": "SASRec",
    "agent": "agent (SmolLM2-135M)", "heuristic": "agent heuristic (no LLM)",
    SASREC_CHECK: "SASRec, LOO's epochs (diagnostic)",
}  # fmt: skip
BOOTSTRAP = 1000
SCENARIO_HEAD = """
name = "sim_vs_offline"
dataset = "{dataset}"
seed = {seed}
rounds = 1
pages = {pages}
page_size = {page_size}

[users]
choice_model = "statistical"

[llm]
model = "local"
cache = "on"

[fidelity]
enabled = false
"""
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass
class AgentList:
    """One agent policy's run for one user: its ranked item ids and its leave-one-out target."""

    items: list[str]
    target: str | None
    tokens: int
    seconds: float
    unreachable: str


# ----- the scenario -------------------------------------------------------------------------------
def arm_model(arm: str, sasrec_epochs: int) -> tuple[str, dict[str, Any]]:
    """The registry model and parameters behind a CF arm."""
    return ("sasrec", {"max_epochs": sasrec_epochs}) if arm == SASREC_CHECK else (arm, {})


def write_scenario(seed: int, arms: list[str], sasrec_epochs: int) -> Path:
    text = SCENARIO_HEAD.format(dataset=DATASET, seed=seed, pages=PAGES, page_size=PAGE_SIZE)
    for arm in arms:
        if arm == SASREC_CHECK:
            text += f'\n[[arms]]\nname = "{arm}"\nrecommender = "sasrec"\nparams = {{ max_epochs = {sasrec_epochs} }}\n'
        elif arm in CF_MODELS:
            text += f'\n[[arms]]\nname = "{arm}"\nrecommender = "{arm}"\n'
        else:
            text += f'\n[[arms]]\nname = "{arm}"\nrecommender = "agent"\npolicy = "{arm}"\n'
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / "sim_vs_offline.toml"
    path.write_text(text)
    return path


def sampled_users(scenario: Scenario, store: DatasetStore, count: int) -> tuple[str, ...]:
    """The users ``run_simulation`` will pick for ``--users count`` (its own seeded sample)."""
    data = store.interactions()
    return select_users(scenario, data.users, set(np.unique(data.user).tolist()), count)


# ----- the agent's lists --------------------------------------------------------------------------
def agent_lists(
    user_ids: tuple[str, ...], seed: int, policies: list[str], meter: UsageMeter
) -> dict[str, dict[str, AgentList]]:
    """Each policy's run per user with the settings of the sim's agent arm (``AgentArm._open``).

    The sim asks for twice its list (k = 2 x pages x page_size) and shows the first
    pages x page_size; its LLM goes through the same response cache, so the sim arm then
    replays exactly these replies (checked after the run against its impressions).
    """
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent
    from agentrec.llm.factory import make_chat_model

    settings = RunSettings(k=2 * PAGES * PAGE_SIZE, seed=seed)
    model = make_chat_model("local", None, "on", meter=meter) if "agent" in policies else None
    service = open_agent(DATASET, settings, model)
    result: dict[str, dict[str, AgentList]] = {}
    for policy in policies:
        # the sim opens the heuristic's service without an LLM: so does this
        runner = service if policy == "agent" else dataclasses.replace(service, model=None)
        started, result[policy] = time.perf_counter(), {}
        for done, user_id in enumerate(user_ids, 1):
            run = runner.run(runner.user_index(user_id), policy)
            result[policy][user_id] = AgentList(
                run.item_ids, run.target, int(run.tokens), float(run.seconds), run.llm_unreachable
            )
            if done % 20 == 0 or done == len(user_ids):
                rate = (time.perf_counter() - started) / done
                print(f"  {policy}: {done}/{len(user_ids)} users, {rate:.1f} s/user", flush=True)
    return result


# ----- the simulation -----------------------------------------------------------------------------
class StageLog:
    """Prints each new stage of the run once (the run reports progress many times a second)."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, progress: RunProgress) -> None:
        if progress.stage != self.last:
            self.last = progress.stage
            print(f"  sim: {progress.stage} ({progress.sessions_done}/{progress.sessions_total})", flush=True)


def simulate(path: Path, users: int) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_simulation(path, RunOptions(users=users, runs_root=RUNS), StageLog())
    record = json.loads((result.run_dir / "run.json").read_text())
    ctr: dict[str, dict[str, float]] = defaultdict(dict)
    for row in result.session_rows:
        ctr[row.arm][row.user_id] = row.ctr
    events = read_events(result.run_dir / "events.duckdb", result.run_id)
    shown: dict[tuple[str, str], list[str]] = defaultdict(list)
    watched: dict[tuple[str, str], set[str]] = defaultdict(set)
    for arm, user, _, _, kind, _, _, item, *_ in events:
        if kind == "impression":
            shown[arm, user].append(item)
        elif kind == "watch":
            watched[arm, user].add(item)
    arms = result.summary.arms
    return {
        "run_id": result.run_id,
        "run_dir": str(result.run_dir),
        "users": tuple(record["users"]),
        "seconds": round(time.perf_counter() - started, 1),
        "ctr": {arm: arms[arm].metrics.ctr for arm in arms},
        "ctr_ci": {arm: list(arms[arm].ci["ctr"]) for arm in arms},
        "exit_page": {arm: arms[arm].metrics.exit_page for arm in arms},
        "per_user_ctr": dict(ctr),
        "shown": dict(shown),
        "watched": dict(watched),
    }


# ----- offline views ------------------------------------------------------------------------------
def held_out_lists(held: Interactions, users: IntArray) -> list[IntArray]:
    order = np.argsort(held.user, kind="stable")
    by_user: dict[int, list[int]] = defaultdict(list)
    for user, item in zip(held.user[order].tolist(), held.item[order].tolist(), strict=True):
        by_user[user].append(item)
    return [np.array(by_user.get(int(u), []), dtype=np.int64) for u in users]


def loo_sasrec_epochs(store: DatasetStore) -> int:
    """The epoch SASRec's leave-one-out fit kept (early stopping on the validation item)."""
    split = make_split(store, "loo")
    model, _ = ModelStore().fit_or_load(make_model("sasrec"), split.train, split.valid, store.key, split.name)
    return int(getattr(model, "best_epoch"))  # noqa: B009 (SASRec's own attribute, not the protocol's)


def sim_split_view(
    store: DatasetStore,
    scenario: Scenario,
    user_ids: tuple[str, ...],
    cf_arms: list[str],
    sasrec_epochs: int,
    agents: dict[str, dict[str, AgentList]],
) -> dict[str, Any]:
    """(a): each CF model as the sim arm has it (fitted on the sim's training part), tested on the holdout."""
    split = holdout_split(store.interactions(), scenario)
    train = split.train
    users = np.array([train.users.index(u) for u in user_ids], dtype=np.int64)
    relevant = held_out_lists(split.test, users)
    keep = np.array([r.size > 0 for r in relevant])
    per_user: dict[str, FloatArray] = {}
    top: dict[str, IntArray] = {}
    for name in cf_arms:
        model_name, params = arm_model(name, sasrec_epochs)
        fresh = make_model(model_name, **params)
        model, _ = ModelStore().fit_or_load(fresh, train, None, store.key, split_label(scenario))
        model.set_history(train)
        top[name] = model.recommend_many(users, PAGES * PAGE_SIZE, exclude_seen=True)
        scored = accuracy_per_user(top[name][keep], [r for r, k in zip(relevant, keep, strict=True) if k], K)
        per_user[name] = scored[f"ndcg@{K}"]
    for policy, runs in agents.items():  # not comparable: the agent masks the holdout (see the docstring)
        lists = np.full((len(users), K), -1, dtype=np.int64)
        for row, user_id in enumerate(user_ids):
            indices = [train.items.index(i) for i in runs[user_id].items[:K]]
            lists[row, : len(indices)] = indices
        scored = accuracy_per_user(lists[keep], [r for r, k in zip(relevant, keep, strict=True) if k], K)
        per_user[policy] = scored[f"ndcg@{K}"]
    return {"per_user": per_user, "users_scored": int(keep.sum()), "relevant": relevant, "top": top, "train": train}


def loo_view(
    store: DatasetStore, user_ids: tuple[str, ...], agents: dict[str, dict[str, AgentList]], seed: int
) -> dict[str, Any]:
    """(b): ``evaluate_models`` on leave-one-out, per-user values of the simulated users; the agent's own lists."""
    split, results = evaluate_models(store, list(CF_MODELS), protocol="loo", k=K, seed=seed)
    tests = test_set(split)
    row_of = {int(u): row for row, u in enumerate(tests.users)}
    vocabulary = split.train.items
    rows = np.array([row_of[split.train.users.index(u)] for u in user_ids], dtype=np.int64)
    per_user = {r.name: r.per_user[f"ndcg@{K}"][rows] for r in results}
    # the same recipe on leave-one-out is the early-stopped SASRec itself (its best epoch's weights)
    per_user[SASREC_CHECK] = per_user["sasrec"]
    targets_agree = 0
    for policy, runs in agents.items():
        lists = np.full((len(user_ids), K), -1, dtype=np.int64)
        relevant = []
        for row, user_id in enumerate(user_ids):
            run = runs[user_id]
            indices = [vocabulary.index(i) for i in run.items[:K]]
            lists[row, : len(indices)] = indices
            relevant.append(np.array([vocabulary.index(run.target)] if run.target else [], dtype=np.int64))
            targets_agree += bool(run.target) and int(relevant[-1][0]) in tests.relevant[rows[row]].tolist()
        per_user[policy] = accuracy_per_user(lists, relevant, K)[f"ndcg@{K}"]
    history = split.train_and_valid()
    return {
        "per_user": per_user,
        "agent_targets_match_loo": targets_agree,
        # every test user of the dataset, not only the simulated ones: LOO's ranking without the sample's noise
        "all_users": {r.name: {"mean": r.metrics[f"ndcg@{K}"], "ci": list(r.ci[f"ndcg@{K}"])} for r in results},
        "history_sizes": np.bincount(history.user, minlength=history.n_users)[
            [split.train.users.index(u) for u in user_ids]
        ],
    }


# ----- what each arm showed ------------------------------------------------------------------------
def diagnostics(
    sim: dict[str, Any], view: dict[str, Any], user_ids: tuple[str, ...], arms: list[str], loo_history: IntArray
) -> dict[str, dict[str, float]]:
    """Per arm, from the event log: how popular its shown items are, how many are the user's held-out
    (real but hidden) items, how many the users' taste model (EASE on the same training data) ranks
    in its own top 12 / top 50, and the CTR on each kind."""
    train: Interactions = view["train"]
    popularity = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    top_decile = popularity >= np.quantile(popularity, 0.9)
    taste = view["top"]["ease"]  # the arm's EASE is the taste model: same class, defaults, data and key
    users = np.array([train.users.index(u) for u in user_ids], dtype=np.int64)
    result: dict[str, dict[str, float]] = {}
    for arm in arms:
        shown_items, holdout_flags, taste_flags, clicks = [], [], [], []
        for row, user_id in enumerate(user_ids):
            held = set(view["relevant"][row].tolist())
            liked = set(taste[row].tolist())
            watched = sim["watched"].get((arm, user_id), set())
            for item_id in sim["shown"].get((arm, user_id), []):
                item = train.items.index(item_id)
                shown_items.append(item)
                holdout_flags.append(item in held)
                taste_flags.append(item in liked)
                clicks.append(item_id in watched)
        items = np.array(shown_items, dtype=np.int64)
        holdout, in_taste, clicked = (np.array(v, dtype=bool) for v in (holdout_flags, taste_flags, clicks))
        result[arm] = {
            "impressions": float(items.size),
            "mean_train_popularity": float(popularity[items].mean()),
            "share_top_decile": float(top_decile[items].mean()),
            "share_holdout": float(holdout.mean()),
            "ctr_on_holdout": float(clicked[holdout].mean()) if holdout.any() else float("nan"),
            "ctr_off_holdout": float(clicked[~holdout].mean()),
            "share_in_taste_top12": float(in_taste.mean()),
            "ctr_in_taste_top12": float(clicked[in_taste].mean()) if in_taste.any() else float("nan"),
            "ctr_outside_taste_top12": float(clicked[~in_taste].mean()) if (~in_taste).any() else float("nan"),
            "masked_history": float(
                loo_history.mean() if arm in ("agent", "heuristic") else np.bincount(train.user)[users].mean()
            ),
        }
    return result


# ----- agreement ----------------------------------------------------------------------------------
def spearman(ctr: dict[str, FloatArray], ndcg: dict[str, FloatArray], arms: list[str], seed: int) -> dict[str, Any]:
    """Spearman between mean sim CTR and mean offline NDCG@10 over ``arms``, and its bootstrap over users.

    Every resample draws the same users for every arm and for both sides, as one A/B
    population would be redrawn.
    """
    ctr_rows = np.stack([ctr[a] for a in arms])
    ndcg_rows = np.stack([ndcg[a] for a in arms])
    rho, p_value = spearmanr(ctr_rows.mean(axis=1), ndcg_rows.mean(axis=1))
    rng = np.random.default_rng(seed)
    n = ctr_rows.shape[1]
    draws = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        value = spearmanr(ctr_rows[:, idx].mean(axis=1), ndcg_rows[:, idx].mean(axis=1))[0]
        draws.append(float(value))
    values = np.array(draws)
    finite = values[np.isfinite(values)]
    return {
        "arms": arms,
        "rho": float(rho),
        "p_value": float(p_value),
        "bootstrap_ci": [float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975))],
        "bootstrap_median": float(np.median(finite)),
        "share_at_least_0.7": float(np.mean(finite >= 0.7)),
        "resamples": int(finite.size),
    }


def point_spearman(first: list[float], second: list[float]) -> dict[str, float]:
    rho, p_value = spearmanr(first, second)
    return {"rho": float(rho), "p_value": float(p_value)}


def ranks(values: dict[str, float]) -> dict[str, int]:
    """1 = best."""
    order = sorted(values, key=lambda arm: -values[arm])
    return {arm: order.index(arm) + 1 for arm in values}


def summarise(per_user: dict[str, FloatArray], seed: int) -> dict[str, dict[str, Any]]:
    return {
        arm: {"mean": float(values.mean()), "ci": list(bootstrap_ci(values, BOOTSTRAP, seed=seed))}
        for arm, values in per_user.items()
    }


def replay_check(sim: dict[str, Any], agents: dict[str, dict[str, AgentList]]) -> dict[str, int]:
    """Per agent policy, sessions whose shown items are exactly the head of the list scored offline."""
    same = {}
    for policy, runs in agents.items():
        same[policy] = sum(
            sim["shown"].get((policy, user), []) == run.items[: len(sim["shown"].get((policy, user), []))]
            for user, run in runs.items()
        )
    return same


def same_lists(agents: dict[str, dict[str, AgentList]], n: int) -> int | None:
    """Users whose agent and heuristic lists agree on the first ``n`` items (None unless both ran)."""
    if not {"agent", "heuristic"} <= agents.keys():
        return None
    return sum(run.items[:n] == agents["heuristic"][user].items[:n] for user, run in agents["agent"].items())


# ----- output -------------------------------------------------------------------------------------
def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = [("loo", "(b) leave-one-out NDCG@10 (headline)"), ("sim_split", "(a) sim split NDCG@10 (CF only)")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for axis, (view, title) in zip(axes, views, strict=True):
        agreement = report["spearman"][view]
        for arm in agreement["arms"]:
            row = report["arms"][arm]
            x, y = row[f"ndcg_{view}"]["mean"], row["sim_ctr"]["mean"]
            xerr = [[x - row[f"ndcg_{view}"]["ci"][0]], [row[f"ndcg_{view}"]["ci"][1] - x]]
            yerr = [[y - row["sim_ctr"]["ci"][0]], [row["sim_ctr"]["ci"][1] - y]]
            axis.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", capsize=3)
            axis.annotate(LABELS[arm], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        if SASREC_CHECK in report["arms"]:  # the diagnostic arm, hollow: not part of the Spearman above
            row = report["arms"][SASREC_CHECK]
            x, y = row[f"ndcg_{view}"]["mean"], row["sim_ctr"]["mean"]
            axis.plot(x, y, "o", mfc="none", color="grey")
            axis.annotate(LABELS[SASREC_CHECK], (x, y), textcoords="offset points", xytext=(5, -10), fontsize=7)
        axis.set_xlabel(title)
        axis.set_ylabel("simulated click-through (watches / shown)")
        axis.set_title(f"Spearman {agreement['rho']:+.2f} over {len(agreement['arms'])} recommenders")
        axis.grid(alpha=0.3)
    fig.suptitle(f"ml-100k, {report['users']} statistical users, 1 round of {PAGES} x {PAGE_SIZE}; 95% bootstrap CIs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def interval(entry: dict[str, Any], digits: int = 4) -> str:
    low, high = entry["ci"]
    return f"{entry['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def render(report: dict[str, Any]) -> str:
    arms = report["arms"]
    lines = [
        "| recommender | sim CTR [95% CI] | rank | NDCG@10 LOO (b) [95% CI] | rank "
        "| NDCG@10 sim split (a) [95% CI] | rank | NDCG@10 LOO, all 943 users |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, row in arms.items():
        comparable = arm not in ("agent", "heuristic")
        split = interval(row["ndcg_sim_split"]) if comparable else f"({row['ndcg_sim_split']['mean']:.4f}, masked)"
        loo = interval(row["ndcg_loo"]) if arm != SASREC_CHECK else "(= SASRec's)"
        everyone = interval(row["ndcg_loo_all_users"]) if row.get("ndcg_loo_all_users") else "-"
        lines.append(
            f"| {LABELS[arm]} | {interval(row['sim_ctr'], 3)} | {row['rank_ctr'] or '-'} | {loo} | "
            f"{row['rank_loo'] or '-'} | {split} | {row['rank_sim_split'] or '-'} | {everyone} |"
        )
    lines += [
        "",
        "| view | recommenders | Spearman | p | bootstrap 95% CI | share of resamples >= 0.7 |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in report["spearman"].items():
        if "bootstrap_ci" in entry:
            low, high = entry["bootstrap_ci"]
            spread = f"[{low:+.2f}, {high:+.2f}] | {entry['share_at_least_0.7']:.2f}"
        else:  # the offline side is another population than the simulated users: no paired bootstrap
            spread = "- | -"
        lines.append(f"| {name} | {len(entry['arms'])} | {entry['rho']:+.3f} | {entry['p_value']:.3f} | {spread} |")
    follows = report["what_sim_ctr_follows"]
    lines += [
        "",
        "Sim CTR against what each list holds (Spearman over the six): share of the shown items in the "
        f"users' taste model's own top 12 {follows['ctr_vs_share_in_taste_top12']['rho']:+.2f}, mean training "
        f"popularity of the shown items {follows['ctr_vs_mean_train_popularity']['rho']:+.2f}.",
    ]
    lines += [
        "",
        "| recommender | mean train popularity of shown | shown in top pop. decile | shown = user's held-out item "
        "| CTR on those / others | shown in taste model's top 12 | CTR in / outside it | items masked as seen |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, d in report["diagnostics"].items():
        lines.append(
            f"| {LABELS[arm]} | {d['mean_train_popularity']:.0f} | {d['share_top_decile']:.2f} | "
            f"{d['share_holdout']:.3f} | "
            f"{d['ctr_on_holdout']:.2f} / {d['ctr_off_holdout']:.2f} | {d['share_in_taste_top12']:.2f} | "
            f"{d['ctr_in_taste_top12']:.2f} / {d['ctr_outside_taste_top12']:.2f} | {d['masked_history']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-agent", action="store_true", help="skip the LLM arm (the heuristic arm still runs)")
    parser.add_argument("--no-heuristic", action="store_true", help="skip the agent's heuristic arm")
    parser.add_argument("--no-sasrec-check", action="store_true", help="skip the diagnostic SASRec arm")
    parser.add_argument("--out", type=Path, default=OUT / "sim_vs_offline.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pin_threads()
    started, load_before = time.perf_counter(), os.getloadavg()
    policies = [p for p, off in (("agent", args.no_agent), ("heuristic", args.no_heuristic)) if not off]
    store = open_dataset(DATASET)
    sasrec_epochs = loo_sasrec_epochs(store)
    arms = [*CF_MODELS, *policies, *([] if args.no_sasrec_check else [SASREC_CHECK])]
    path = write_scenario(args.seed, arms, sasrec_epochs)
    scenario = load_scenario(path)
    user_ids = sampled_users(scenario, store, args.users)
    print(f"{len(user_ids)} users; agent lists for {policies}", flush=True)
    agent_started = time.perf_counter()
    meter = UsageMeter()
    agents = agent_lists(user_ids, args.seed, policies, meter) if policies else {}
    agent_seconds = time.perf_counter() - agent_started
    sim = simulate(path, args.users)
    if sim["users"] != user_ids:
        raise RuntimeError("the simulation sampled other users than the offline views")
    print("offline views", flush=True)
    cf_arms = [a for a in arms if a in CF_MODELS or a == SASREC_CHECK]
    view_a = sim_split_view(store, scenario, user_ids, cf_arms, sasrec_epochs, agents)
    view_b = loo_view(store, user_ids, agents, args.seed)
    report = build_report(args, arms, user_ids, agents, sim, view_a, view_b)
    report["sasrec_loo_best_epoch"] = sasrec_epochs
    report["agent"]["llm_usage"] = meter.as_dict()
    report["timing"] = {
        "agent_lists_seconds": round(agent_seconds, 1),
        "simulation_seconds": sim["seconds"],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    plot(report, args.out.with_suffix(".png"))
    print(render(report))


def build_report(
    args: argparse.Namespace,
    arms: list[str],
    user_ids: tuple[str, ...],
    agents: dict[str, dict[str, AgentList]],
    sim: dict[str, Any],
    view_a: dict[str, Any],
    view_b: dict[str, Any],
) -> dict[str, Any]:
    keep = np.array([r.size > 0 for r in view_a["relevant"]])
    ctr = {arm: np.array([sim["per_user_ctr"][arm][u] for u in user_ids]) for arm in arms}
    ndcg_a, ndcg_b = view_a["per_user"], view_b["per_user"]
    cf_a: list[str] = [a for a in arms if a in CF_MODELS]
    main_arms: list[str] = [a for a in REQUIRED if a in arms]
    swapped = [SASREC_CHECK if a == "sasrec" else a for a in main_arms]
    spearmans = {
        "loo": spearman(ctr, ndcg_b, main_arms, args.seed),
        "sim_split": spearman({a: ctr[a][keep] for a in cf_a}, ndcg_a, cf_a, args.seed),
        "loo_cf_only": spearman(ctr, ndcg_b, cf_a, args.seed),
    }
    if "heuristic" in arms:
        spearmans["loo_with_heuristic"] = spearman(ctr, ndcg_b, [*main_arms, "heuristic"], args.seed)
    all_users = view_b["all_users"]
    spearmans["loo_all_943_users_cf"] = {"arms": cf_a} | point_spearman(
        [sim["ctr"][a] for a in cf_a], [all_users[a]["mean"] for a in cf_a]
    )
    if SASREC_CHECK in arms:  # diagnostic: the sim's SASRec trained with LOO's epochs in SASRec's place
        spearmans["loo_sasrec_loo_epochs"] = spearman(ctr, ndcg_b, swapped, args.seed)
        swapped_a = [SASREC_CHECK if a == "sasrec" else a for a in cf_a]
        spearmans["sim_split_sasrec_loo_epochs"] = spearman(
            {a: ctr[a][keep] for a in swapped_a}, ndcg_a, swapped_a, args.seed
        )
    sim_ctr = {arm: {"mean": sim["ctr"][arm], "ci": sim["ctr_ci"][arm]} for arm in arms}
    shown = diagnostics(sim, view_a, user_ids, arms, view_b["history_sizes"])
    loo, split = summarise(ndcg_b, args.seed), summarise(ndcg_a, args.seed)
    # ranks among the six the headline Spearman compares; the heuristic and the diagnostic arm stay unranked
    rank_ctr = ranks({a: sim_ctr[a]["mean"] for a in main_arms})
    rank_loo = ranks({a: loo[a]["mean"] for a in main_arms})
    rank_split = ranks({a: split[a]["mean"] for a in cf_a})
    rows = {
        arm: {
            "sim_ctr": sim_ctr[arm],
            "rank_ctr": rank_ctr.get(arm),
            "sim_exit_page": sim["exit_page"][arm],
            "ndcg_loo": loo[arm],
            "rank_loo": rank_loo.get(arm),
            "ndcg_sim_split": split[arm],
            "rank_sim_split": rank_split.get(arm),
            "ndcg_loo_all_users": view_b["all_users"].get(arm),
        }
        for arm in arms
    }
    tokens = {p: float(np.mean([r.tokens for r in runs.values()])) for p, runs in agents.items()}
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "dataset": DATASET,
        "users": len(user_ids),
        "seed": args.seed,
        "scenario": {"rounds": 1, "pages": PAGES, "page_size": PAGE_SIZE, "choice_model": "statistical"},
        "run_id": sim["run_id"],
        "run_dir": sim["run_dir"],
        "headline": "loo",
        "arms": rows,
        "spearman": spearmans,
        "diagnostics": shown,
        "what_sim_ctr_follows": {
            # point Spearman over the six: sim CTR against how much of each list the users' taste model ranks top
            "ctr_vs_share_in_taste_top12": point_spearman(
                [sim["ctr"][a] for a in main_arms], [shown[a]["share_in_taste_top12"] for a in main_arms]
            ),
            "ctr_vs_mean_train_popularity": point_spearman(
                [sim["ctr"][a] for a in main_arms], [shown[a]["mean_train_popularity"] for a in main_arms]
            ),
        },
        "sim_split_users_scored": view_a["users_scored"],
        "agent": {
            "replayed_sessions": replay_check(sim, agents),
            "users_with_same_shown_list_as_heuristic": same_lists(agents, PAGES * PAGE_SIZE),
            "users_with_same_top10_as_heuristic": same_lists(agents, K),
            "targets_match_loo_test": view_b["agent_targets_match_loo"],
            "tokens_per_user": tokens,
            "unreachable": {p: sum(bool(r.unreachable) for r in runs.values()) for p, runs in agents.items()},
        },
        "user_ids": list(user_ids),
    }


if __name__ == "__main__":
    main()

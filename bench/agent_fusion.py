"""Where the heuristic's pool and fusion lose or gain against the backbone, on every test user.

    python bench/agent_fusion.py ml-100k [--users N] [--json OUT]

For each pool (the backbone's own top-50 only, the heuristic's pool) and each fusion
(rrf, lgbm), the NDCG@10 of the fused list on all test users and its paired
difference to the backbone. No LLM is involved.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import FusionModels, train_fusion
from agentrec.agent.policies import RunSettings, finalise, heuristic_pool, seed_pool
from agentrec.agent.service import open_agent
from agentrec.agent.trace import AgentRun
from agentrec.agent.workspace import AgentWorkspace
from agentrec.eval.bootstrap import paired_bootstrap
from agentrec.eval.metrics import accuracy_per_user
from agentrec.recsys.threads import pin_threads

PoolBuilder = Callable[[ToolContext, RunSettings], object]
POOLS: dict[str, PoolBuilder] = {"backbone top-50": seed_pool, "heuristic": heuristic_pool}


def ndcg_per_user(workspace: AgentWorkspace, runs: list[AgentRun], k: int = 10) -> np.ndarray:
    """The project's own binary NDCG@k of each run's list against its held-out item."""
    vocabulary = workspace.split.train.items
    recommended = np.full((len(runs), k), -1, dtype=np.int64)
    relevant = []
    for row, run in enumerate(runs):
        listed = [vocabulary.index(item) for item in run.item_ids[:k]]
        recommended[row, : len(listed)] = listed
        relevant.append(np.array([vocabulary.index(run.target)] if run.target else [], dtype=np.int64))
    return accuracy_per_user(recommended, relevant, k)[f"ndcg@{k}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--users", type=int, default=0, help="0: every test user")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    pin_threads()
    settings = RunSettings(fusion="rrf")
    started = time.perf_counter()
    service = open_agent(args.dataset, settings)
    workspace = service.workspace
    users = workspace.evaluable_users().tolist()
    if args.users:
        users = users[: args.users]
    print(f"opened {args.dataset} in {time.perf_counter() - started:.0f} s; {len(users)} users")
    backbone = ndcg_per_user(workspace, [service.run(u, "backbone") for u in users])
    rows = [{"pool": "-", "fusion": "backbone", "ndcg@10": float(backbone.mean())}]
    print(f"backbone ndcg@10 {backbone.mean():.4f}")
    for pool_name, build in POOLS.items():
        for fusion in ("rrf", "lgbm"):
            tick = time.perf_counter()
            variant = replace(settings, fusion=fusion)
            ranker = None
            if fusion == "lgbm":
                ranker = train_fusion(workspace, lambda c, b=build, v=variant: b(c, v), tag=f"bench-{pool_name}")
            runs = []
            for user in users:
                context = ToolContext.for_user(workspace, user, variant.seed)
                build(context, variant)
                runs.append(finalise(context, variant, "heuristic", trained=FusionModels(lgbm=ranker)))
            scores = ndcg_per_user(workspace, runs)
            versus = paired_bootstrap(backbone, scores)
            row = {
                "pool": pool_name, "fusion": fusion, "ndcg@10": float(scores.mean()),
                "diff": versus.diff, "low": versus.low, "high": versus.high,
                "seconds": round(time.perf_counter() - tick, 1),
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"dataset": args.dataset, "users": len(users), "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()

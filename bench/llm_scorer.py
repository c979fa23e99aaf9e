"""Does the LLM's label scoring order the backbone's top 20 better than the backbone, or than chance?

    python bench/llm_scorer.py ml-100k [--users 200] [--llm local] [--shuffles 1,3] [--json OUT]

For each test user, the backbone's top 20 unseen items are scored by the LLM
(letter labels, one forward pass per shuffle, agentrec.agent.llm_scoring) and
re-ordered by that score. Reported: NDCG@10 of (a) the backbone's own order,
(b) the LLM order for each S, (c) the exact expectation of a uniformly random
order of the same lists, each LLM order paired against (a) and (c) with a
bootstrap CI, and the cost per user (prompt tokens, seconds). The response
cache is off, so the seconds are real.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from agentrec.agent.context import ToolContext
from agentrec.agent.llm_scoring import MAX_SCORED, score_candidates
from agentrec.agent.policies import RunSettings, backbone_items
from agentrec.agent.service import open_agent
from agentrec.eval.bootstrap import PairedComparison, paired_bootstrap
from agentrec.llm.factory import make_chat_model
from agentrec.recsys.threads import pin_threads

K = 10


def ndcg_of_rank(rank: int | None) -> float:
    """Binary NDCG@10 of one held-out item at 0-based ``rank`` (None: not listed)."""
    return 0.0 if rank is None or rank >= K else 1.0 / float(np.log2(rank + 2))


def random_order_expectation(listed: bool, n: int) -> float:
    """Expected NDCG@10 when a list of ``n`` holding the item (or not) is shuffled uniformly."""
    return sum(ndcg_of_rank(r) for r in range(min(n, K))) / n if listed else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--llm", default="local")
    parser.add_argument("--api-base", default=None)
    parser.add_argument("--shuffles", default="1,3")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    pin_threads()
    service = open_agent(args.dataset, RunSettings(fusion="rrf"))
    model = make_chat_model(args.llm, args.api_base, cache="off")
    workspace = service.workspace
    users = workspace.evaluable_users().tolist()[: args.users]
    lists = []
    for user in users:
        context = ToolContext.for_user(workspace, int(user))
        lists.append((context, backbone_items(context, MAX_SCORED), context.target()))
    backbone = np.array([ndcg_of_rank(_rank(items, target)) for _, items, target in lists])
    chance = np.array(
        [random_order_expectation(target in set(items.tolist()), len(items)) for _, items, target in lists]
    )
    result: dict[str, object] = {
        "dataset": args.dataset, "users": len(users), "llm": model.model_id,
        "backbone_top20_hit": float(np.mean([t in set(i.tolist()) for _, i, t in lists])),
        "ndcg@10": {"backbone_order": float(backbone.mean()), "random_order_expectation": float(chance.mean())},
        "scorers": {},
    }  # fmt: skip
    print(f"{args.dataset}: {len(users)} users; backbone order {backbone.mean():.4f}, random order {chance.mean():.4f}")
    for shuffles in (int(s) for s in args.shuffles.split(",")):
        started, tokens, per_user = time.perf_counter(), 0, []
        for context, items, target in lists:
            scored = score_candidates(model, context, items, shuffles)
            tokens += sum(turn.usage.prompt_tokens for turn in scored.turns)
            order = items[np.argsort(-scored.scores, kind="stable")]
            per_user.append(ndcg_of_rank(_rank(order, target)))
        seconds = time.perf_counter() - started
        llm = np.array(per_user)
        vs_backbone = _interval(paired_bootstrap(backbone, llm, seed=0))
        vs_chance = _interval(paired_bootstrap(chance, llm, seed=0))
        row = {
            "ndcg@10": float(llm.mean()),
            "vs_backbone": vs_backbone, "vs_random_order": vs_chance,
            "prompt_tokens_per_user": tokens / len(users), "seconds_per_user": seconds / len(users),
        }  # fmt: skip
        result["scorers"][f"S={shuffles}"] = row  # type: ignore[index]
        print(
            f"S={shuffles}: LLM order {llm.mean():.4f}; vs backbone {_ci(vs_backbone)}; vs random {_ci(vs_chance)}; "
            f"{tokens / len(users):.0f} prompt tokens and {seconds / len(users):.2f} s per user"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


def _rank(items: np.ndarray, target: int | None) -> int | None:
    found = np.flatnonzero(items == target) if target is not None else []
    return int(found[0]) if len(found) else None


def _interval(comparison: PairedComparison) -> dict[str, float]:
    return {"diff": comparison.diff, "low": comparison.low, "high": comparison.high}


def _ci(interval: dict[str, float]) -> str:
    return f"{interval['diff']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}]"


if __name__ == "__main__":
    main()

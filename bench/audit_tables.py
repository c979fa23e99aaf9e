"""Markdown tables in the STS paper's form from ``agentrec audit --json`` outputs.

For each audit: the target's rank distribution before and after (counts per
rank, N+1 = not recommended), the advantage (pairs improved / unchanged /
worsened), the top-1 and not-recommended rates, the mean log P("1. <target>")
with paired bootstrap CIs, and the evaluation's wall time and call rate.

    python bench/audit_tables.py bench/out/audit_coldbrew_gcg_200.json bench/out/audit_quickbrew_random_200.json

With ``--compare``, one row per audit instead (the same sequence under each defence, say):
the not-recommended rate clean -> STS, the paired changes in mean rank and log P, and the
pairs improved / unchanged / worsened.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _ranks(payload: dict[str, Any]) -> str:
    ranks = list(payload["before"]["rank_distribution"])
    header = "| side | " + " | ".join("not rec." if r == str(payload["products"] + 1) else r for r in ranks) + " |"
    lines = [header, "|---|" + "---|" * len(ranks)]
    for side in ("before", "after"):
        counts = payload[side]["rank_distribution"]
        lines.append(f"| {side} | " + " | ".join(str(counts[r]) for r in ranks) + " |")
    return "\n".join(lines)


def _interval(values: list[float], digits: int = 3) -> str:
    return f"[{values[0]:+.{digits}f}, {values[1]:+.{digits}f}]"


def _rates(payload: dict[str, Any]) -> str:
    paired = payload["paired"]
    lines = ["| measure | before | after | after - before [95% CI] | p |", "|---|---|---|---|---|"]
    for key, label in (
        ("top1_rate", "top-1 rate"),
        ("not_recommended_rate", "not recommended"),
        ("mean_rank", "mean rank"),
        ("mean_logprob", 'mean log P("1. target")'),
    ):
        diff = paired[key]
        lines.append(
            f"| {label} | {payload['before'][key]:.3f} | {payload['after'][key]:.3f} | "
            f"{diff['diff']:+.3f} {_interval([diff['low'], diff['high']])} | {diff['p_value']:.3f} |"
        )
    return "\n".join(lines)


def _advantage(payload: dict[str, Any]) -> str:
    advantage = payload["advantage"]
    parts = []
    for name in ("improved", "unchanged", "worsened"):
        low, high = advantage["ci"][name]
        parts.append(f"{name} {advantage[name]:.1%} [{low:.1%}, {high:.1%}]")
    return "Pairs " + ", ".join(parts) + "."


def _timing(payload: dict[str, Any]) -> str:
    timing = payload["timing"]
    return (
        f"Evaluation: {timing['pairs']} pairs in {timing['eval_seconds']:.0f} s "
        f"({timing['seconds_per_pair']:.1f} s a pair), {timing['llm_calls']} calls "
        f"({timing['calls_per_s']:.2f} calls/s), {timing['backend_calls']} computed."
    )


def _defence_of(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The audit's defence and its results (the payload itself when undefended)."""
    for name, results in (payload.get("defences") or {}).items():
        return name, results
    return "none", payload


def _comparison(paths: list[Path]) -> str:
    lines = [
        "| audit | defence | not rec., clean -> STS | mean rank Δ [95% CI] | log P Δ [95% CI] "
        "| pairs improved / unchanged / worsened |",
        "|---|---|---|---|---|---|",
    ]
    for path in paths:
        payload = json.loads(path.read_text())
        name, results = _defence_of(payload)
        paired, advantage = results["paired"], results["advantage"]
        rank, logprob = paired["mean_rank"], paired["mean_logprob"]
        before, after = results["before"]["not_recommended_rate"], results["after"]["not_recommended_rate"]
        lines.append(
            f"| {path.stem} | {name} | {before:.3f} -> {after:.3f} "
            f"| {rank['diff']:+.3f} {_interval([rank['low'], rank['high']])} "
            f"| {logprob['diff']:+.3f} {_interval([logprob['low'], logprob['high']])} "
            f"| {advantage['improved']:.0%} / {advantage['unchanged']:.0%} / {advantage['worsened']:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audits", type=Path, nargs="+")
    parser.add_argument("--compare", action="store_true", help="one row per audit (e.g. one per defence)")
    args = parser.parse_args()
    if args.compare:
        print(_comparison(args.audits))
        return
    for path in args.audits:
        payload = json.loads(path.read_text())
        print(f"### {payload['target']} ({Path(payload['catalog']).name}, optimiser `{payload['optimizer']}`)\n")
        print(f"STS: `{payload['sts']}`\n")
        print(_ranks(payload) + "\n")
        print(_rates(payload) + "\n")
        print(_advantage(payload) + " " + _timing(payload) + "\n")


if __name__ == "__main__":
    main()

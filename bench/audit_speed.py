"""Paired audit runs per minute: the embedded model beside the loopback load-test provider, in one run.

Each configuration audits the same given STS on the coffee catalog with no
response cache, so every pair costs its two ranking calls. Timed: the paired
phase only (from its first callback to its last pair), and the whole run with
its opening (model load, catalog, orders). The load provider
(``bench/load_provider.py``) answers after a seeded lognormal delay (median
800 ms by default), in its own process; the embedded model runs here.

    AGENTREC_DATA_HOME=../shared/data python bench/audit_speed.py --json bench/out/audit_speed.json

Ratios are quoted against the embedded model with one worker, measured in the
same run (machines of this kind differ by up to 2x, so a ratio from one run
beats two absolute times from two).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provider_scale import Provider

from agentrec.audit.pair_workers import PairProgress
from agentrec.audit.run import AuditOptions, AuditProgress, run_audit

CATALOG = Path("catalogs/coffee_machines.jsonl")
TARGET = "ColdBrew Master"
STS = "cha all Jackson x comprom x x comp x x x x x xInput Everest u x x x"  # GCG's x-start best (bench/README.md)


@dataclass(frozen=True)
class Config:
    """One row: where the model runs and how many pairs are in flight."""

    label: str
    pairs: int
    provider: bool = False
    workers: int = 1
    concurrency: int = 1


class PhaseClock:
    """The paired phase's wall time: from the phase's start to its last pair."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.finished: float | None = None

    def on_phase(self, label: str, total: int) -> PairProgress:
        self.started = time.perf_counter()

        def on_pair(done: int, all_pairs: int) -> None:
            self.finished = time.perf_counter()

        return on_pair

    def seconds(self) -> float:
        if self.started is None or self.finished is None:
            raise RuntimeError("the audit reported no paired phase")
        return self.finished - self.started


def measure(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    provider = Provider(args.median_ms, args.sigma, args.seed) if config.provider else None
    try:
        options = AuditOptions(
            catalog=CATALOG, target=TARGET, sts=STS, evals=config.pairs, seed=args.seed, cache="off",
            workers=config.workers, concurrency=config.concurrency,
            llm="openai/load-test" if provider else "local", api_base=provider.url if provider else None,
        )  # fmt: skip
        clock = PhaseClock()
        started = time.perf_counter()
        run_audit(options, AuditProgress(on_phase=clock.on_phase))
        whole = time.perf_counter() - started
    finally:
        if provider is not None:
            provider.stop()
    phase = clock.seconds()
    row = {
        "label": config.label,
        "pairs": config.pairs,
        "workers": config.workers,
        "concurrency": config.concurrency,
        "paired_seconds": phase,
        "whole_seconds": whole,
        "pairs_per_min": 60.0 * config.pairs / phase,
        "pairs_per_min_with_opening": 60.0 * config.pairs / whole,
    }
    print(f"{config.label}: {config.pairs} pairs in {phase:.1f} s ({row['pairs_per_min']:.1f} pairs/min)", flush=True)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["pairs_per_min"]
    lines = [
        "| configuration | pairs | paired phase | pairs/min | with opening | ratio to embedded, 1 worker |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['pairs']} | {row['paired_seconds']:.1f} s | {row['pairs_per_min']:.1f} "
            f"| {row['pairs_per_min_with_opening']:.1f} | {row['pairs_per_min'] / base:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedded-pairs", type=int, default=30, help="pairs per embedded configuration")
    parser.add_argument("--provider-pairs", type=int, default=200, help="pairs at the provider's top concurrency")
    parser.add_argument("--concurrency", type=int, default=64, help="pairs in flight against the provider")
    parser.add_argument("--median-ms", type=float, default=800.0, help="the load provider's median latency")
    parser.add_argument("--sigma", type=float, default=0.5, help="the load provider's lognormal sigma")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("bench/out/audit_speed.json"))
    args = parser.parse_args(argv)
    configs = [
        Config("embedded SmolLM2-135M, 1 worker", args.embedded_pairs),
        Config("embedded SmolLM2-135M, 2 workers", args.embedded_pairs, workers=2),
        Config("load provider, 1 in flight", 20, provider=True),
        Config(f"load provider, {args.concurrency} in flight", args.provider_pairs, True, 1, args.concurrency),
    ]
    rows = [measure(config, args) for config in configs]
    report = {"median_ms": args.median_ms, "sigma": args.sigma, "sts": STS, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

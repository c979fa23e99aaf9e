"""Simulator throughput and fidelity on ml-100k.

1. Statistical users: every ml-100k user (943) x 5 pages against EASE, one round:
   sessions per minute of the session phase (target >= 1,000/min) and end to end.
2. Hybrid users with the embedded LLM (SmolLM2-135M, response cache off) on a few
   users: sessions per minute and LLM tokens per session.
3. Fidelity of the statistical users against held-out real behaviour: choice
   agreement on the seeded random 10% holdout and on each user's last item, and
   rating RMSE.

    AGENTREC_DATA_HOME=/work/shared/data /work/venv/bin/python bench/sim.py [--hybrid-users 6 (0: none)] [--workers 1]

Writes bench/out/sim.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentrec.recsys.threads import pin_threads
from agentrec.sim.run import RunOptions, RunProgress, run_simulation

OUT = Path(__file__).parent / "out"
SCENARIO = """
name = "{name}"
dataset = "ml-100k"
seed = 0
rounds = 1
pages = 5
page_size = 4

[users]
choice_model = "{choice}"
{count}

[llm]
model = "local"
cache = "off"
max_tokens = 40

[fidelity]
enabled = {fidelity}
temporal = true

[[arms]]
name = "ease"
recommender = "ease"
"""


class PhaseClock:
    """Times the session phase from the run's progress reports (setup and fidelity excluded)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.finished: float | None = None
        self.sessions = 0

    def __call__(self, progress: RunProgress) -> None:
        now = time.perf_counter()
        if progress.stage.startswith("round") and self.started is None:
            self.started = now
        if progress.stage.startswith("round") and progress.sessions_done == progress.sessions_total:
            self.finished = self.finished or now
            self.sessions = progress.sessions_done

    @property
    def seconds(self) -> float:
        if self.started is None or self.finished is None:
            return float("nan")
        return self.finished - self.started


def run(name: str, choice: str, users: int | None, fidelity: bool, workers: int) -> dict[str, Any]:
    path = OUT / f"sim_{name}.toml"
    count = f"count = {users}" if users else ""
    path.write_text(SCENARIO.format(name=name, choice=choice, count=count, fidelity=str(fidelity).lower()))
    clock = PhaseClock()
    started = time.perf_counter()
    result = run_simulation(path, RunOptions(workers=workers), clock)
    total = time.perf_counter() - started
    summary = result.summary
    sessions = summary.sessions
    return {
        "run_id": result.run_id,
        "choice_model": choice,
        "users": summary.users,
        "sessions": sessions,
        "events": summary.events,
        "workers": workers,
        "session_phase_seconds": round(clock.seconds, 2),
        "sessions_per_minute": round(60 * sessions / clock.seconds, 1),
        "events_per_second": round(summary.events / clock.seconds, 1),
        "end_to_end_seconds": round(total, 2),
        "tokens_per_session": summary.metrics.json_data()["tokens"],
        "metrics": summary.metrics.json_data(),
        "fidelity": summary.fidelity.json_data(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hybrid-users", type=int, default=6, help="hybrid (LLM) users to time; 0 skips that run")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    pin_threads()
    load_before = os.getloadavg()
    statistical = run("bench_statistical", "statistical", None, True, args.workers)
    load_middle = os.getloadavg()
    # 0 once meant "every user" here (no count in the scenario): an hour of LLM sessions by accident
    hybrid = run("bench_hybrid", "hybrid", args.hybrid_users, False, args.workers) if args.hybrid_users > 0 else None
    load_after = os.getloadavg()
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "load_average": {"before": load_before, "between": load_middle, "after": load_after},
        "statistical": statistical,
        "hybrid": hybrid,
    }
    (OUT / "sim.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render(report))


def render(report: dict[str, Any]) -> str:
    rows = [
        "| users | choice model | sessions | session phase s | sessions/min | events/s | tokens/session"
        " | end-to-end s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in ("statistical", "hybrid"):
        r = report[key]
        if r is None:
            continue
        rows.append(
            f"| {r['users']} | {r['choice_model']} | {r['sessions']} | {r['session_phase_seconds']} | "
            f"{r['sessions_per_minute']:,} | {r['events_per_second']:,} | {r['tokens_per_session']:.0f} | "
            f"{r['end_to_end_seconds']} |"
        )
    fidelity = report["statistical"]["fidelity"]
    rows += [
        "",
        "| fidelity (statistical users, ml-100k) | value |",
        "|---|---|",
        f"| choice agreement, random 10% holdout ({fidelity['random']['pages']:.0f} pages) | "
        f"{fidelity['choice_agreement']:.3f} |",
        f"| same, expected if the user sampled instead of taking the likeliest | "
        f"{fidelity['random']['choice_agreement_sampled']:.3f} |",
        f"| choice agreement, last item ({fidelity['temporal']['pages']:.0f} pages) | "
        f"{fidelity['temporal']['choice_agreement']:.3f} |",
        f"| rating RMSE, random holdout ({fidelity['random']['ratings']:.0f} ratings) | "
        f"{fidelity['rating_rmse']:.3f} |",
    ]
    behaviour = report["statistical"]["metrics"]
    rows += ["", "| behaviour (statistical users vs EASE) | value |", "|---|---|"]
    rows += [f"| {name} | {behaviour[name]:.3f} |" for name in ("ctr", "avg_rating", "exit_page", "satisfaction")]
    return "\n".join(rows)


if __name__ == "__main__":
    main()

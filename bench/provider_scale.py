"""agent-eval against the loopback load provider: throughput by requests in flight, and local work per user.

    AGENTREC_DATA_HOME=../shared/data python bench/provider_scale.py \
        --runs 1:30,8:200,64:943 --median-ms 800 --json bench/out/provider_scale.json

For each ``N:USERS`` a fresh load provider (``bench/load_provider.py``, its own
process) answers after a seeded lognormal delay, and ``run_agent_eval`` runs the
``agent`` policy on USERS ml-100k test users with N in flight, in this process,
with a fresh trace store and no response cache. Reported per run:

* calls/s against the ideal, N / mean latency (a lognormal's mean is its median x exp(sigma^2 / 2));
* local work per user: the CPU time of the thread that ran the user (tools, fusion,
  client library, bookkeeping; waiting for the provider costs no CPU), median and
  mean, and this process's whole CPU time per user;
* requests the provider saw twice.

Then the per-call overhead of the two client paths, litellm and the openai client,
side by side against a 1 ms provider (``--client-calls``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Provider:
    """``bench/load_provider.py`` in its own process (so its CPU is not counted as the client's)."""

    def __init__(self, median_ms: float, sigma: float, seed: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "load_provider.py"), "--port", str(self.port), "--median-ms", str(median_ms),
             "--sigma", str(sigma), "--seed", str(seed)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/models", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/stats").json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def measure(in_flight: int, users: int, args: argparse.Namespace, store_dir: Path) -> dict[str, Any]:
    from agentrec.agent import evaluation
    from agentrec.agent.evaluation import AgentEvalSpec, run_agent_eval
    from agentrec.agent.service import AgentService
    from agentrec.agent.trace import TraceStore

    provider = Provider(args.median_ms, args.sigma, args.seed)
    store = TraceStore(store_dir / f"traces-{in_flight}-{users}.duckdb")
    evaluation.TraceStore = lambda: store  # type: ignore[assignment,misc]  # a fresh store: nothing resumed
    cpu_ms: list[float] = []
    lock = threading.Lock()
    original = AgentService.run

    def timed_run(self: AgentService, user: int, policy: str) -> Any:
        started = time.thread_time()
        run = original(self, user, policy)
        with lock:
            cpu_ms.append((time.thread_time() - started) * 1000)
        return run

    AgentService.run = timed_run  # type: ignore[method-assign]
    try:
        spec = AgentEvalSpec(
            dataset=args.dataset, users=users, policies=("agent",), llm="openai/load-test", api_base=provider.url,
            cache="off", concurrency=in_flight,
        )  # fmt: skip
        cpu_started = time.process_time()
        report = run_agent_eval(spec).json_data()
        cpu_total = time.process_time() - cpu_started
    finally:
        AgentService.run = original  # type: ignore[method-assign]
        stats = provider.stats()
        provider.stop()
    usage = report.get("usage") or {}
    mean_latency = args.median_ms / 1000 * math.exp(args.sigma**2 / 2)
    ideal = in_flight / mean_latency
    agent_seconds = report["wall_seconds"]["agent"]
    return {
        "in_flight": in_flight,
        "users": report["users_evaluated"],
        "failed_users": sum(len(ids) for ids in report["failed_units"].values()),
        "llm_calls": usage.get("llm_calls", 0),
        "agent_seconds": agent_seconds,
        "calls_per_second": usage.get("calls_per_second", 0.0),
        "ideal_calls_per_second": round(ideal, 2),
        "share_of_ideal": round(usage.get("calls_per_second", 0.0) / ideal, 3),
        "max_in_flight": stats["max_in_flight"],
        "duplicate_bodies": stats["duplicate_bodies"],
        "local_cpu_ms_per_user_median": round(statistics.median(cpu_ms), 1) if cpu_ms else None,
        "local_cpu_ms_per_user_mean": round(statistics.fmean(cpu_ms), 1) if cpu_ms else None,
        "process_cpu_ms_per_user": round(cpu_total * 1000 / max(1, report["users_evaluated"]), 1),
        "ndcg@10": report["policies"]["agent"]["metrics"].get("ndcg@10"),
    }


def client_overhead(calls: int, seed: int) -> dict[str, float]:
    """Milliseconds a call through litellm and through the openai client, against a 1 ms provider."""
    from agentrec.llm.remote import import_litellm

    litellm = import_litellm()
    import openai

    provider = Provider(1.0, 0.01, seed)
    messages = [{"role": "user", "content": "a history of twenty films " * 40}]
    client = openai.OpenAI(base_url=provider.url, api_key="sk-no-key-needed", max_retries=0)
    paths = {
        "litellm": lambda: litellm.completion(
            model="openai/load-test", messages=messages, api_base=provider.url, api_key="sk-no-key-needed",
            max_tokens=64, num_retries=0, max_retries=0,
        ),
        "openai": lambda: client.chat.completions.create(model="load-test", messages=messages, max_tokens=64),
    }  # fmt: skip
    result: dict[str, float] = {}
    try:
        for call in paths.values():
            call()  # warm: imports, connection
        for _ in range(3):  # interleaved rounds, so a noisy moment hits both paths
            for name, call in paths.items():
                started = time.perf_counter()
                for _ in range(calls):
                    call()
                result[name] = result.get(name, 0.0) + (time.perf_counter() - started) * 1000 / calls / 3
    finally:
        provider.stop()
    return {**{f"{k}_ms_per_call": round(v, 2) for k, v in result.items()},
            "ratio": round(result["litellm"] / result["openai"], 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--runs", default="1:30,8:200,64:943", help="N:USERS pairs, comma-separated")
    parser.add_argument("--median-ms", type=float, default=800.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client-calls", type=int, default=200, help="calls per client path (0: skip)")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "provider_scale.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from agentrec.recsys.threads import pin_threads

    pin_threads()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for pair in args.runs.split(","):
            in_flight, users = (int(part) for part in pair.split(":"))
            row = measure(in_flight, users, args, Path(scratch))
            print(json.dumps(row), flush=True)
            rows.append(row)
    overhead = client_overhead(args.client_calls, args.seed) if args.client_calls else {}
    if overhead:
        print(json.dumps(overhead), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"median_ms": args.median_ms, "sigma": args.sigma, "runs": rows,
                                     "client_overhead": overhead}, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

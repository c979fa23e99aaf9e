"""How fast ``agentrec serve-mcp`` starts and answers (issue 9's target: tools/list under 1 s once started).

Run:  AGENTREC_DATA_HOME=/work/shared/data python bench/mcp_server.py
      (--fresh-home times a first start, which fits every model: minutes for SASRec;
       --agent also times one recommend with the embedded LLM; --modes legacy for one era only)

The ``mcp`` SDK's own client starts ``agentrec serve-mcp DATASET`` over stdio, as
a desktop assistant or another agent would, and times it from the outside:

* start -> initialized: from spawning the process until the client's opening
  exchange is answered (the 2025 ``initialize`` handshake with ``--modes legacy``,
  the 2026 ``server/discover`` probe with ``auto``). The server loads the dataset,
  its models (fitted or from the model store), the fusion model and the search
  encoder first.
* start -> tools listed: plus the first ``tools/list``.
* tools/list: ``--lists`` more calls with the client's cache bypassed.
* one call each of search, retrieve, filter, rank, finish, recommend with the
  backbone and heuristic policies (and the agent with ``--agent``), then search again.

Writes ``bench/out/mcp_server.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
USER = "1"
CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("search", {"text": "space adventure with robots", "k": 10, "user": USER}),
    ("retrieve", {"attribute": "genre", "value": "Comedy", "k": 20, "user": USER}),
    ("filter", {"year_min": 1990, "user": USER}),
    ("rank", {"by": "popularity", "k": 10, "user": USER}),
    ("finish", {"k": 10, "user": USER}),
    ("recommend", {"user": USER, "k": 10, "policy": "backbone"}),
    ("recommend", {"user": USER, "k": 10, "policy": "heuristic"}),
    ("search", {"text": "a funny movie about a talking pig", "k": 10}),
)


async def measure(dataset: str, mode: str, lists: int, agent: bool, env: dict[str, str]) -> dict[str, Any]:
    """One server process: its start-up, ``lists`` tools/list calls, and one call of each tool."""
    command = [sys.executable, "-m", "agentrec.cli", "serve-mcp", dataset]
    server = StdioServerParameters(command=command[0], args=command[1:], env=env)
    started = time.perf_counter()
    async with Client(server, mode=mode, read_timeout_seconds=1800) as client:
        initialized = time.perf_counter() - started
        listed = await client.list_tools(cache_mode="refresh")
        first_list = time.perf_counter() - started
        latencies = []
        for _ in range(lists):
            began = time.perf_counter()
            await client.list_tools(cache_mode="refresh")
            latencies.append(time.perf_counter() - began)
        calls = [*CALLS, ("recommend", {"user": USER, "k": 10, "policy": "agent"})] if agent else list(CALLS)
        timed: list[dict[str, Any]] = []
        for name, arguments in calls:
            began = time.perf_counter()
            result = await client.call_tool(name, arguments)
            elapsed = time.perf_counter() - began
            label = f"{name} ({arguments['policy']})" if name == "recommend" else name
            label += " again" if any(entry["call"] == label for entry in timed) else ""
            timed.append({"call": label, "seconds": elapsed, "is_error": result.is_error})
        protocol = client.protocol_version
    ordered = sorted(latencies)
    return {
        "mode": mode,
        "protocol_version": protocol,
        "tools": [tool.name for tool in listed.tools],
        "start_to_initialized_s": initialized,
        "start_to_tools_listed_s": first_list,
        "tools_list_s": {
            "n": lists,
            "median": statistics.median(ordered),
            "p95": ordered[max(0, round(0.95 * lists) - 1)],
            "max": ordered[-1],
        },
        "calls": timed,
    }


def render(results: list[dict[str, Any]]) -> str:
    """A plain-text table: one column per server run."""
    header = ["", *(f"{r['mode']} ({r['protocol_version']})" for r in results)]
    rows = [
        ["start -> initialized", *(f"{r['start_to_initialized_s']:.2f} s" for r in results)],
        ["start -> tools listed", *(f"{r['start_to_tools_listed_s']:.2f} s" for r in results)],
    ]
    for stat in ("median", "p95", "max"):
        rows.append([f"tools/list {stat}", *(f"{r['tools_list_s'][stat] * 1000:.1f} ms" for r in results)])
    for index, call in enumerate(results[0]["calls"]):
        cells = []
        for r in results:
            entry = r["calls"][index]
            cells.append(f"{entry['seconds'] * 1000:.0f} ms" + (" (error)" if entry["is_error"] else ""))
        rows.append([call["call"], *cells])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    title = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([title, "-" * len(title), *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--lists", type=int, default=50, help="timed tools/list calls per server")
    parser.add_argument("--modes", default="auto,legacy", help="client modes, one server each: auto,legacy")
    parser.add_argument("--agent", action="store_true", help="also time recommend with the agent policy")
    parser.add_argument("--fresh-home", action="store_true", help="an empty AGENTREC_HOME: every model is fitted")
    options = parser.parse_args()
    env = dict(os.environ)  # the SDK passes a server only a safe subset of the environment otherwise
    if options.fresh_home:
        env["AGENTREC_HOME"] = tempfile.mkdtemp(prefix="agentrec-home-")
    load_before = os.getloadavg()
    results = [
        anyio.run(measure, options.dataset, mode, options.lists, options.agent, env)
        for mode in options.modes.split(",")
    ]
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cores": os.cpu_count(), "python": platform.python_version()},
        "load_average_before_after": [load_before, os.getloadavg()],
        "mcp_sdk": version("mcp"),
        "dataset": options.dataset,
        "fresh_home": options.fresh_home,
        "runs": results,
    }
    print(render(results))
    print(f"load average before/after: {load_before} / {os.getloadavg()}")
    OUT.mkdir(exist_ok=True)
    path = OUT / "mcp_server.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

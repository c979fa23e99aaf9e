"""Sessions in flight together (``--concurrency``) against the loopback load provider give the same run.

LLM users and the agent arm call the provider in every session; the planted
catalog keeps the run to a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentrec.sim.events import read_events
from agentrec.sim.run import EventWriter, RunOptions, run_simulation
from agentrec.sim.world import SessionOutcome

SCENARIO = """
name = "in_flight"
dataset = "{dataset}"
seed = 4
rounds = 2
pages = 2
page_size = 4

[users]
count = 4
choice_model = "llm"
reflect_every = 1

[llm]
model = "openai/load-test"
api_base = "{api_base}"
cache = "off"
max_tokens = 16

[fidelity]
enabled = false

[[arms]]
name = "ease"
recommender = "ease"
retrain = true

[[arms]]
name = "agent"
recommender = "agent"
policy = "agent"
"""


def test_sessions_in_flight_together_write_the_same_events_in_the_same_order(
    planted_folder: Path,
    planted_pack_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_load_provider: Callable[..., str],
) -> None:
    base_url = start_load_provider(median_ms=5.0, sigma=0.5, seed=2)
    stats_url = base_url.removesuffix("/v1") + "/stats"
    monkeypatch.setenv("AGENTREC_TOOLS", str(planted_pack_folder))
    scenario = tmp_path / "in_flight.toml"
    scenario.write_text(SCENARIO.format(dataset=planted_folder, api_base=base_url))
    written: list[tuple[str, str, int]] = []  # sessions in the order they reach the event log
    accept = EventWriter.accept

    def recording_accept(writer: EventWriter, outcome: SessionOutcome) -> None:
        written.append((outcome.arm, outcome.user_id, outcome.round))
        accept(writer, outcome)

    monkeypatch.setattr(EventWriter, "accept", recording_accept)
    runs: list[tuple[list[tuple[Any, ...]], list[tuple[str, str, int]], dict[str, Any]]] = []
    most_in_flight = []
    for concurrency in (1, 8):
        httpx.post(stats_url + "/reset")
        written.clear()
        options = RunOptions(concurrency=concurrency, runs_root=tmp_path / f"runs-{concurrency}")
        result = run_simulation(scenario, options)
        summary = result.summary.json_data()
        summary.pop("run_id")
        assert summary.pop("usage")["llm_calls"] > 0  # how it was asked differs with N (most in flight, rate)
        runs.append((read_events(result.run_dir / "events.duckdb", result.run_id), list(written), summary))
        most_in_flight.append(httpx.get(stats_url).json()["max_in_flight"])
    (one_events, one_order, one_summary), (many_events, many_order, many_summary) = runs
    assert most_in_flight[0] == 1 and most_in_flight[1] > 1
    assert one_events == many_events
    assert one_order == many_order and len(one_order) == 2 * 2 * 4
    assert one_summary == many_summary and one_summary["metrics"]["tokens"] > 0

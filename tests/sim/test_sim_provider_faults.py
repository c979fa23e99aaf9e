"""simulate when the provider dies mid-run: it stops saying how to resume, and the resumed run is exact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agentrec.core.errors import ModelBackendError
from agentrec.llm import remote
from agentrec.llm.retrying import RetryPolicy
from agentrec.sim.events import read_events
from agentrec.sim.run import EventWriter, RunOptions, run_simulation
from agentrec.sim.world import SessionOutcome

SCENARIO = """
name = "outage"
dataset = "{dataset}"
seed = 4
rounds = 1
pages = 2
page_size = 4

[users]
count = 6
choice_model = "llm"

[llm]
model = "openai/load-test"
api_base = "{api_base}"
cache = "on"
max_tokens = 16

[fidelity]
enabled = false

[[arms]]
name = "agent"
recommender = "agent"
policy = "agent"
"""


def test_an_outage_stops_the_run_and_a_resume_after_it_ends_as_an_uninterrupted_run(
    planted_folder: Path,
    planted_pack_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_load_provider: Callable[..., str],
) -> None:
    monkeypatch.setenv("AGENTREC_TOOLS", str(planted_pack_folder))
    monkeypatch.setattr(remote, "RetryPolicy", lambda: RetryPolicy(max_attempts=2, initial_wait_s=0.01, jitter_s=0))
    clean_url = start_load_provider(seed=2)
    clean_scenario = tmp_path / "clean.toml"
    clean_scenario.write_text(SCENARIO.format(dataset=planted_folder, api_base=clean_url))
    clean = run_simulation(clean_scenario, RunOptions(runs_root=tmp_path / "clean"))

    base_url = start_load_provider(seed=2)
    root = base_url.removesuffix("/v1")
    scenario = tmp_path / "outage.toml"
    scenario.write_text(SCENARIO.format(dataset=planted_folder, api_base=base_url))
    accept = EventWriter.accept
    seen: list[SessionOutcome] = []

    def outage_after_three(writer: EventWriter, outcome: SessionOutcome) -> None:
        seen.append(outcome)
        if len(seen) == 3:
            httpx.post(root + "/admin/down")
        accept(writer, outcome)

    monkeypatch.setattr(EventWriter, "accept", outage_after_three)
    runs = tmp_path / "outage"
    with pytest.raises(ModelBackendError, match=r"sessions are saved: run again with --resume") as stopped:
        run_simulation(scenario, RunOptions(runs_root=runs))
    assert "503" in str(stopped.value)
    run_id = str(stopped.value).rsplit("--resume ", 1)[1].split()[0]
    monkeypatch.setattr(EventWriter, "accept", accept)
    httpx.post(root + "/admin/up")
    resumed = run_simulation(scenario, RunOptions(runs_root=runs, resume=run_id))
    events = read_events(resumed.run_dir / "events.duckdb", run_id)
    assert len(events) > 6 and events == read_events(clean.run_dir / "events.duckdb", clean.run_id)
    assert httpx.get(root + "/stats").json()["duplicate_bodies"] == 0

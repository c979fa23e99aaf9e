"""Audits with calls in flight together (``--concurrency``) against the loopback load provider: same reports.

The provider's replies never name a product, so every rank is "not recommended";
what is checked is that pairs, optimiser scores and agent runs come out the same
(and in the same order) whatever the number in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentrec.agent.policies import RunSettings
from agentrec.agent.service import open_agent
from agentrec.audit.agent_audit import AgentAuditPlan, run_agent_audit
from agentrec.audit.run import AuditOptions, AuditProgress, run_audit
from agentrec.core.errors import ConfigError
from agentrec.llm.factory import make_chat_model


def most_in_flight(base_url: str) -> int:
    """The most requests the provider held at once since the last call (which resets its counters)."""
    stats_url = base_url.removesuffix("/v1") + "/stats"
    most = int(httpx.get(stats_url).json()["max_in_flight"])
    httpx.post(stats_url + "/reset")
    return most


def in_flight_runs(base_url: str, run: Callable[[int], dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """``run(concurrency)`` at 1 and 8 in flight, with the most requests the provider held at once in each."""
    results, most = [], []
    for concurrency in (1, 8):
        most_in_flight(base_url)
        results.append(run(concurrency))
        most.append(most_in_flight(base_url))
    return results, most


def test_pairs_and_optimiser_scores_in_flight_together_give_the_same_audit(
    coffee_path: Path, start_load_provider: Callable[..., str]
) -> None:
    base_url = start_load_provider(median_ms=5.0, sigma=0.5, seed=5)
    optimising_in_flight: list[int] = []

    def optimisation_done(label: str, total: int) -> None:
        # The evaluation starts: what the provider held so far was the optimiser's scoring.
        if label == "pairs evaluated":
            optimising_in_flight.append(most_in_flight(base_url))

    def audit(concurrency: int) -> dict[str, Any]:
        options = AuditOptions(
            catalog=coffee_path, target="ColdBrew Master", optimizer="random", iters=2,
            evals=12, llm="openai/load-test", api_base=base_url, cache="off", concurrency=concurrency,
            optimizer_options={"candidates": "2", "length": "4"},
        )  # fmt: skip
        report = run_audit(options, AuditProgress(on_phase=optimisation_done)).report.json_data()
        optimization = report.pop("optimization")
        steps = [{k: v for k, v in step.items() if k != "seconds"} for step in optimization["history"]]
        report.pop("timing")
        assert report.pop("usage")["llm_calls"] > 0  # how it was asked differs with N (most in flight, rate)
        return {**report, "sts_found": optimization["best_sts"], "scores": optimization["best_score"], "steps": steps}

    (one, many), pairs_in_flight = in_flight_runs(base_url, audit)
    assert optimising_in_flight[0] == pairs_in_flight[0] == 1
    assert optimising_in_flight[1] > 1 and pairs_in_flight[1] > 1
    assert one == many
    assert len(one["pairs"]) == 12 and len(one["steps"]) == 2
    assert (one["before"], one["after"], one["advantage"]) == (many["before"], many["after"], many["advantage"])


def test_agent_runs_in_flight_together_give_the_same_agent_audit(
    planted_folder: Path, planted_pack_folder: Path, start_load_provider: Callable[..., str]
) -> None:
    base_url = start_load_provider(median_ms=5.0, sigma=0.5, seed=6)
    model = make_chat_model("openai/load-test", base_url, "off")
    service = open_agent(
        str(planted_folder), RunSettings(k=5, seed_pool=5, list_size=5, fusion="rrf"), model,
        pack_path=planted_pack_folder / "planted.toml",
    )  # fmt: skip
    plan = AgentAuditPlan(target="c3", fusions=("rrf", "llm"), policy="agent", users=3)

    def audit(concurrency: int) -> dict[str, Any]:
        report = run_agent_audit(service, plan, concurrency=concurrency).json_data()
        for outcome in report["per_user"]:  # trace ids are fresh for every run
            outcome.pop("trace_before"), outcome.pop("trace_after")
        return report

    (one, many), runs_in_flight = in_flight_runs(base_url, audit)
    assert runs_in_flight[0] == 1 and runs_in_flight[1] > 1
    assert one == many and one["candidate_users"] == 3


def test_no_calls_in_flight_is_refused_before_any_model_is_loaded(coffee_path: Path) -> None:
    options = AuditOptions(catalog=coffee_path, target="ColdBrew Master", concurrency=0)
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        run_audit(options)

"""agent-eval when the LLM cannot be reached: failed users are told, never saved as finished, and retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.agent import evaluation
from agentrec.agent.evaluation import AgentEvalSpec, run_agent_eval
from agentrec.agent.policies import RunSettings
from agentrec.agent.trace import TraceStore
from agentrec.core.errors import ModelBackendError
from agentrec.llm import CachedChatModel, ScriptedChatModel
from agentrec.llm.records import AssistantTurn, Message, ToolCall


def finishing(messages: list[Message]) -> AssistantTurn:
    return AssistantTurn(text="", tool_calls=(ToolCall(name="finish", arguments={}, call_id="c0"),))


def spec_for(folder: Path, pack: Path, monkeypatch: pytest.MonkeyPatch, users: int = 6) -> AgentEvalSpec:
    monkeypatch.setenv("AGENTREC_TOOLS", str(pack.parent))
    return AgentEvalSpec(
        dataset=str(folder), users=users, policies=("backbone", "agent"), cache="off",
        settings=RunSettings(k=5, seed_pool=5, list_size=5),
    )  # fmt: skip


def use_model(monkeypatch: pytest.MonkeyPatch, script: list[object]) -> None:
    # ScriptedChatModel raises ModelBackendError past its script: an empty script is an LLM never reached.
    model = CachedChatModel(ScriptedChatModel(script, name="dead" if not script else "alive"), mode="off")  # type: ignore[arg-type]
    monkeypatch.setattr(evaluation, "make_chat_model", lambda *args, **kwargs: model)


def test_users_whose_llm_failed_are_reported_unsaved_and_retried(
    planted_folder: Path, planted_pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = TraceStore(tmp_path / "traces.duckdb")
    monkeypatch.setattr(evaluation, "TraceStore", lambda: store)
    spec = spec_for(planted_folder, planted_pack, monkeypatch)
    # Half the users reach the LLM (finish at once), then it dies.
    use_model(monkeypatch, [finishing] * 3)
    first = run_agent_eval(spec)
    failed = first.failed_units["agent"]
    assert len(failed) == 3 and "script has 3 turns" in first.failures["agent"]
    assert first.users_evaluated == 3  # every policy on the users all of them finished
    assert {row["user"] for row in first.json_data()["per_user"]}.isdisjoint(failed)
    # The provider is back: only the failed users are asked, and nothing is asked twice.
    backend = ScriptedChatModel([finishing] * 3, name="alive")
    monkeypatch.setattr(evaluation, "make_chat_model", lambda *a, **k: CachedChatModel(backend, mode="off"))
    second = run_agent_eval(spec)
    assert second.failed_units == {} and second.users_evaluated == 6
    assert len(backend.requests) == 3


def test_no_user_finished_is_one_error(
    planted_folder: Path, planted_pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = TraceStore(tmp_path / "traces.duckdb")
    monkeypatch.setattr(evaluation, "TraceStore", lambda: store)
    use_model(monkeypatch, [])
    with pytest.raises(ModelBackendError, match="no user finished: the LLM was not reached"):
        run_agent_eval(spec_for(planted_folder, planted_pack, monkeypatch, users=2))


def test_results_do_not_depend_on_how_many_users_are_in_flight(
    planted_folder: Path, planted_pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, start_load_provider
) -> None:
    import httpx

    base_url = start_load_provider(median_ms=20.0, sigma=0.5, seed=3)
    monkeypatch.setenv("AGENTREC_TOOLS", str(planted_pack.parent))
    reports, most_in_flight = [], []
    for concurrency in (1, 6):
        store = TraceStore(tmp_path / f"traces-{concurrency}.duckdb")  # each run starts from nothing
        monkeypatch.setattr(evaluation, "TraceStore", lambda store=store: store)
        httpx.post(base_url.removesuffix("/v1") + "/stats/reset")
        spec = AgentEvalSpec(
            dataset=str(planted_folder), users=12, policies=("backbone", "agent"), llm="openai/load-test",
            api_base=base_url, cache="off", concurrency=concurrency,
            settings=RunSettings(k=5, seed_pool=5, list_size=5),
        )  # fmt: skip
        reports.append(run_agent_eval(spec).json_data())
        most_in_flight.append(httpx.get(base_url.removesuffix("/v1") + "/stats").json()["max_in_flight"])
    one, many = reports
    assert most_in_flight[0] == 1 and most_in_flight[1] > 1
    assert one["failed_units"] == many["failed_units"] == {}
    rows = lambda report: sorted((r["user"], r["policy"], tuple(r["items"])) for r in report["per_user"])  # noqa: E731
    assert rows(one) == rows(many)
    assert one["policies"]["agent"]["metrics"] == many["policies"]["agent"]["metrics"]
    assert one["policies"]["agent"]["usage"]["llm_calls"] == many["policies"]["agent"]["usage"]["llm_calls"] > 0

"""The loop's control flow, with a scripted model (control flow only), and the grounding guarantee."""

from __future__ import annotations

import json

import numpy as np

from agentrec.agent.context import ToolContext
from agentrec.agent.loop import run_agent
from agentrec.agent.policies import RunSettings
from agentrec.agent.service import AgentService
from agentrec.agent.trace import AgentRun, TraceStore
from agentrec.agent.workspace import AgentWorkspace
from agentrec.llm.records import AssistantTurn, ToolCall
from agentrec.llm.scripted import ScriptedChatModel


def call(name: str, thought: str = "", **arguments: object) -> AssistantTurn:
    return AssistantTurn(text=thought, tool_calls=(ToolCall(name=name, arguments=arguments, call_id="c0"),))


def run(service: AgentService, script: list[object], user: str = "cu1", **settings: object) -> AgentRun:
    workspace = service.workspace
    workspace.use_stage("test")
    context = ToolContext.for_user(workspace, workspace.user_index(user))
    chosen = RunSettings(**{"k": 5, "seed_pool": 5, "list_size": 5, **settings})  # type: ignore[arg-type]
    model = ScriptedChatModel(script)  # type: ignore[arg-type]
    return run_agent(context, model, service.registry, chosen, service.trained)


def assert_grounded(run_: AgentRun, workspace: AgentWorkspace, k: int = 5) -> None:
    user = workspace.user_index(run_.user_id)
    seen = {workspace.records[i].item_id for i in workspace.history(user).items}
    catalog = {record.item_id for record in workspace.records}
    ids = run_.item_ids
    assert len(ids) == k and len(set(ids)) == k
    assert set(ids) <= catalog and not set(ids) & seen


def test_tools_then_finish(planted_service: AgentService) -> None:
    result = run(
        planted_service,
        [call("retrieve", "likes comedy", attribute="genre", value="Comedy", k=5), call("finish", "done")],
    )
    assert [step.tool for step in result.steps] == ["retrieve", "finish"]
    assert [step.status for step in result.steps] == ["ok", "finish"]
    assert result.steps[0].thought == "likes comedy"
    assert result.llm_calls == 2 and not result.fallback
    assert_grounded(result, planted_service.workspace)
    assert all(item.source.startswith("retrieve") for item in result.items)


def test_an_invalid_call_is_reasked_once_then_skipped_and_shown(planted_service: AgentService) -> None:
    script = [
        call("retrieve", value="Opera"),  # invalid value
        call("retrieve", value="Comedy", k=5),  # fixed on the re-ask
        call("teleport"),  # unknown tool
        call("teleport"),  # still wrong: skipped
        call("finish"),
    ]
    model_requests: list[object] = []
    result = run(planted_service, script, max_skipped_steps=2)
    assert [step.status for step in result.steps] == ["reasked", "skipped", "finish"]
    assert result.reasks == 2 and result.skipped_steps == 1
    assert_grounded(result, planted_service.workspace)
    del model_requests


def test_the_failure_of_a_skipped_step_reaches_the_model(planted_service: AgentService) -> None:
    workspace = planted_service.workspace
    context = ToolContext.for_user(workspace, workspace.user_index("cu2"))
    model = ScriptedChatModel([call("teleport"), call("teleport"), call("finish")])
    run_agent(context, model, planted_service.registry, RunSettings(k=5, seed_pool=5), planted_service.trained)
    last_request = model.requests[-1]
    assert any(m.role == "tool" and "error" in m.content for m in last_request)


def test_max_steps_ends_a_run_that_never_finishes(planted_service: AgentService) -> None:
    values = ["Comedy", "Horror", "Thriller", "Drama", "1980s", "1990s"]
    script = [call("retrieve", value=v, k=3) for v in values]
    result = run(planted_service, script, max_steps=3)
    assert len(result.steps) == 3 and result.llm_calls == 3
    assert_grounded(result, planted_service.workspace)


def test_repeated_skips_stop_the_run(planted_service: AgentService) -> None:
    result = run(planted_service, [call("teleport")] * 4, max_skipped_steps=2)
    assert [step.status for step in result.steps] == ["skipped", "skipped"]
    assert_grounded(result, planted_service.workspace)


def test_a_repeated_call_ends_the_run_without_pooling_twice(planted_service: AgentService) -> None:
    script = [call("retrieve", value="Comedy", k=5), call("retrieve", value="Comedy", k=5), call("finish")]
    result = run(planted_service, script)
    assert [step.status for step in result.steps] == ["ok", "ok"] and result.llm_calls == 2
    assert "already gathered" in result.steps[1].observation
    kept_going = run(planted_service, script, stop_on_repeat=False)
    assert [step.tool for step in kept_going.steps] == ["retrieve", "retrieve", "finish"]


def test_no_usable_pool_falls_back_to_the_backbone_and_is_counted(planted_service: AgentService) -> None:
    result = run(planted_service, [call("finish")], seed_pool=0)
    assert result.fallback
    backbone = planted_service.run(planted_service.workspace.user_index("cu1"), "backbone")
    assert result.item_ids == backbone.item_ids


def test_every_policy_and_fusion_is_grounded_for_every_user(planted_service: AgentService) -> None:
    workspace = planted_service.workspace
    workspace.use_stage("test")
    for user in workspace.evaluable_users():
        for policy in ("backbone", "heuristic"):
            assert_grounded(planted_service.run(int(user), policy), workspace)
    for fusion in ("rrf", "lgbm"):
        result = run(planted_service, [call("retrieve", value="Horror", k=5), call("finish")], fusion=fusion)
        assert_grounded(result, workspace)


def test_llm_fusion_keeps_to_pool_items(planted_service: AgentService) -> None:
    def rerank(messages: list[object]) -> str:
        shown = [line.split(":")[0] for line in str(messages[-1].content).splitlines() if ": " in line]  # type: ignore[attr-defined]
        ids = [s for s in shown if s[:1] in ("c", "h", "d") and s[1:].isdigit()]
        return json.dumps({"items": list(reversed(ids))[:5]})

    result = run(planted_service, [call("retrieve", value="Comedy", k=5), call("finish"), rerank], fusion="llm")
    assert result.llm_calls == 3
    assert_grounded(result, planted_service.workspace)


def test_traces_round_trip_through_duckdb(planted_service: AgentService) -> None:
    result = run(planted_service, [call("retrieve", "comedy", value="Comedy", k=5), call("finish")])
    store = TraceStore()
    store.save([result], run_key="test-key")
    loaded = store.load(result.trace_id)
    assert loaded == result
    assert store.finished("test-key") == {result.user_id: result}
    assert np.isfinite(loaded.steps[0].tool_ms)

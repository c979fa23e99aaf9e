"""The real agent loop with real models: litellm to a loopback llama.cpp server, and the embedded model.

A 135M model's choices are not checked for quality, only that the loop holds
together end to end: the run finishes, every step has a known status, the LLM
was called, and the final list is grounded (k unseen catalog items, no repeats).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentrec.agent.policies import RunSettings
from agentrec.agent.service import AgentService
from agentrec.agent.trace import AgentRun
from agentrec.agent.workspace import AgentWorkspace
from agentrec.llm.factory import make_chat_model
from agentrec.llm.local import LocalChatModel
from agentrec.llm.records import ChatModel

# Few steps: each costs a generation of up to ``step_tokens`` on one CPU thread.
SETTINGS = RunSettings(k=5, max_steps=3, seed_pool=5, list_size=5, fusion="rrf")
STATUSES = {"ok", "reasked", "skipped", "finish"}


def agent_run(planted_service: AgentService, model: ChatModel, user: str) -> AgentRun:
    service = replace(planted_service, model=model, settings=SETTINGS)
    service.workspace.use_stage("test")
    return service.run(service.user_index(user), "agent")


def assert_grounded(run: AgentRun, workspace: AgentWorkspace, k: int) -> None:
    seen = {workspace.records[i].item_id for i in workspace.history(workspace.user_index(run.user_id)).items}
    catalog = {record.item_id for record in workspace.records}
    ids = run.item_ids
    assert len(ids) == k and len(set(ids)) == k, ids
    assert set(ids) <= catalog, ids
    assert not set(ids) & seen, ids


@pytest.fixture(scope="module")
def litellm_run(planted_service: AgentService, llama_server: str) -> AgentRun:
    """One agent run for a comedy user, every step a real request through litellm to llama.cpp."""
    model = make_chat_model("openai/smollm2", api_base=llama_server, cache="off")
    return agent_run(planted_service, model, "cu1")


def test_the_agent_loop_runs_through_litellm_against_a_loopback_server(
    litellm_run: AgentRun, planted_service: AgentService
) -> None:
    run = litellm_run
    assert run.policy == "agent" and run.model.startswith("openai/smollm2@http://127.0.0.1:")
    assert run.llm_calls >= 1 and run.tokens > 0
    assert 1 <= len(run.steps) <= SETTINGS.max_steps
    assert all(step.status in STATUSES for step in run.steps), [step.status for step in run.steps]
    assert all(step.llm_ms > 0 for step in run.steps if step.status in ("ok", "finish"))
    assert_grounded(run, planted_service.workspace, SETTINGS.k)


def test_a_tool_call_through_litellm_reaches_a_tool(litellm_run: AgentRun) -> None:
    assert any(step.status in ("ok", "reasked", "finish") for step in litellm_run.steps)


def test_the_embedded_model_runs_the_agent_and_stays_grounded(
    planted_service: AgentService, local_model: LocalChatModel
) -> None:
    run = agent_run(planted_service, local_model, "hu3")
    assert run.llm_calls >= 1
    assert all(step.status in STATUSES for step in run.steps)
    assert_grounded(run, planted_service.workspace, SETTINGS.k)

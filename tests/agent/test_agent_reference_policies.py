"""The floor (random tool calls) and the ceiling (answer-aware calls) the agent is measured against."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from agentrec.agent.context import ToolContext
from agentrec.agent.policies import ALL_POLICIES, RunSettings
from agentrec.agent.reference_policies import draw_arguments, oracle_calls
from agentrec.agent.service import AgentService
from agentrec.agent.workspace import AgentWorkspace
from agentrec.llm.records import AssistantTurn, ToolCall
from agentrec.llm.scripted import ScriptedChatModel


def test_drawn_arguments_stay_inside_each_schema(planted_service: AgentService) -> None:
    registry = planted_service.registry
    rng = np.random.default_rng(0)
    titles = ["Comedy Film 1", "Horror Film 2"]
    for spec in registry.specs():
        valid = 0
        for _ in range(40):
            drawn = draw_arguments(spec.parameters, rng, titles)
            assert set(drawn) <= set(spec.parameters.get("properties", {}))
            try:
                registry.tools[spec.name].arguments.model_validate(drawn)
                valid += 1
            except ValidationError:
                pass
        # Only cross-argument rules (a value of the other attribute) can fail; most draws are valid.
        assert valid >= 20, spec.name


def test_enum_and_range_draws_cover_their_choices() -> None:
    schema = {
        "properties": {"by": {"enum": ["a", "b", "c"]}, "k": {"type": "integer", "minimum": 1, "maximum": 3}},
        "required": ["by", "k"],
    }
    rng = np.random.default_rng(1)
    draws = [draw_arguments(schema, rng, []) for _ in range(200)]
    assert {d["by"] for d in draws} == {"a", "b", "c"}
    assert {d["k"] for d in draws} == {1, 2, 3}


def test_random_is_seeded_and_uses_the_agents_step_budget(planted_service: AgentService) -> None:
    service = replace(planted_service, settings=RunSettings(k=5, max_steps=4, seed=3))
    user = service.workspace.user_index("cu1")
    first, again = service.run(user, "random"), service.run(user, "random")
    assert [s.arguments for s in first.steps] == [s.arguments for s in again.steps]
    assert first.item_ids == again.item_ids
    assert 1 <= len(first.steps) <= 4 and first.policy == "random"
    other = replace(service, settings=RunSettings(k=5, max_steps=4, seed=4)).run(user, "random")
    assert [s.arguments for s in other.steps] != [s.arguments for s in first.steps]


def test_oracle_aims_at_the_held_out_items_attributes(workspace: AgentWorkspace) -> None:
    user = workspace.user_index("cu1")
    target = workspace.target(user)
    assert target is not None
    calls = oracle_calls(ToolContext.for_user(workspace, user), RunSettings(k=5, list_size=5))
    retrieved = {(arguments["attribute"], arguments["value"]) for name, arguments in calls if name == "retrieve"}
    for attribute in workspace.attributes.names:
        for value in workspace.attributes.of_item(attribute, target):
            assert (attribute, value) in retrieved
    assert calls[-1][0] == "similar"


def _finishing_agent(service: AgentService) -> AgentService:
    finish = AssistantTurn(text="", tool_calls=(ToolCall(name="finish", arguments={}, call_id="c0"),))
    return replace(service, model=ScriptedChatModel([finish]))


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_every_policy_returns_only_unseen_catalog_items(policy: str, planted_service: AgentService) -> None:
    workspace = planted_service.workspace
    for user in workspace.evaluable_users().tolist():
        service = _finishing_agent(planted_service) if policy == "agent" else planted_service
        run = service.run(int(user), policy)
        seen = {workspace.records[i].item_id for i in workspace.history(int(user)).items.tolist()}
        catalog = {record.item_id for record in workspace.records}
        assert len(run.item_ids) == planted_service.settings.k
        assert len(set(run.item_ids)) == len(run.item_ids)
        assert not set(run.item_ids) & seen and set(run.item_ids) <= catalog

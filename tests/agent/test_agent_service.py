"""``AgentService.run_in``: every policy runs in a given context, the one dispatch the MCP server uses too."""

from __future__ import annotations

import pytest

from agentrec.agent.context import ToolContext
from agentrec.agent.service import AgentService
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import ConfigError


@pytest.mark.parametrize("policy", ["backbone", "heuristic"])
def test_run_in_a_users_context_is_run_for_that_user(
    policy: str, planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    user = workspace.user_index("hu2")
    context = ToolContext.for_user(workspace, user, planted_service.settings.seed)
    in_context = planted_service.run_in(context, policy)
    assert in_context.policy == policy and in_context.user_id == "hu2"
    assert in_context.item_ids == planted_service.run(user, policy).item_ids


def test_run_in_refuses_what_it_cannot_run(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    context = ToolContext.for_user(workspace, workspace.user_index("hu2"))
    with pytest.raises(ConfigError, match="the agent policy needs an LLM"):
        planted_service.run_in(context, "agent")
    with pytest.raises(ConfigError, match="unknown policy 'bogus'"):
        planted_service.run_in(context, "bogus")

"""The heuristic policy's calls are tool calls like the model's: validated by the registry and recorded as steps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentrec.agent.context import ToolContext
from agentrec.agent.policies import HEURISTIC_TOOLS, RunSettings, heuristic_pool, seed_pool
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import ConfigError


def test_heuristic_steps_are_the_registrys_steps(workspace: AgentWorkspace) -> None:
    settings = RunSettings(k=5, seed_pool=5, list_size=5)
    steps = heuristic_pool(ToolContext.for_user(workspace, workspace.user_index("cu1")), settings)
    assert [step.tool for step in steps] == ["retrieve", "retrieve", "similar"]  # genre, decade, the last item
    replay = ToolContext.for_user(workspace, workspace.user_index("cu1"))
    seed_pool(replay, settings)
    for step in steps:
        replay.step = step.step
        again = HEURISTIC_TOOLS.run_step(step.step, step.tool, step.arguments, replay)
        assert again.model_copy(update={"tool_ms": step.tool_ms}) == step
        assert step.status == "ok" and step.observation.startswith(step.tool)


def test_heuristic_arguments_are_validated_like_a_models(workspace: AgentWorkspace) -> None:
    context = ToolContext.for_user(workspace, workspace.user_index("cu1"))
    settings = RunSettings(k=5, seed_pool=5)
    # Past the settings' own check: the tools (k <= 100) must refuse it too.
    object.__setattr__(settings, "list_size", 101)
    steps = heuristic_pool(context, settings)
    assert steps and all(step.status == "skipped" for step in steps)
    assert all(step.observation.startswith("error: invalid arguments: k:") for step in steps)
    oversized = RunSettings()
    object.__setattr__(oversized, "seed_pool", 101)
    with pytest.raises(ConfigError, match="seed_pool 101: invalid arguments: k"):
        seed_pool(ToolContext.for_user(workspace, workspace.user_index("cu1")), oversized)


@pytest.mark.parametrize("field", ["seed_pool", "list_size"])
def test_settings_refuse_lists_longer_than_the_tools_take(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RunSettings(**{field: 101})

"""The MCP toolbox in-process, on the planted catalog: pools per person, their limit, and what clashes.

The transport and the command are tested through the SDK's client in
tests/ui/test_cli_serve_mcp.py; here are the rules that need many people or a
broken pack, which are quicker to set up without a server process.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agentrec.agent.policies import RunSettings
from agentrec.agent.registry import ToolRegistry, ToolResult, tool
from agentrec.agent.service import AgentService, open_agent
from agentrec.core.errors import ConfigError
from agentrec.mcp_server.arguments import mcp_tools
from agentrec.mcp_server.toolbox import McpToolbox


@pytest.fixture(scope="module")
def service(planted_folder: Path, planted_pack_folder: Path) -> AgentService:
    pack = planted_pack_folder / "planted.toml"
    return open_agent(str(planted_folder), RunSettings(k=5, fusion="rrf"), pack_path=pack)


def test_the_least_recently_used_pool_goes_first(service: AgentService) -> None:
    toolbox = McpToolbox(service, max_pools=2)
    for user in ("cu1", "cu2", "cu1", "cu3"):  # cu1 used again, so cu2 is the oldest when cu3 comes
        assert toolbox.call("retrieve", {"user": user, "k": 3}).error is None
    assert toolbox.call("finish", {"user": "cu1", "k": 3}).error is None
    assert "nothing is pooled for cu2" in str(toolbox.call("finish", {"user": "cu2"}).error)
    assert list(toolbox.pools) == [(service.user_index("cu3"), ())]  # finish emptied cu1's


def test_a_person_is_a_user_and_their_likes_in_order(service: AgentService) -> None:
    toolbox = McpToolbox(service)
    for liked in (["c1"], ["c1", "c2"], ["c2", "c1"], ["Comedy Film 1 (1981)"]):
        assert toolbox.call("retrieve", {"user": "hu1", "liked": liked, "k": 3}).error is None
    assert len(toolbox.pools) == 3  # an item named by title is the same as by id
    run = toolbox.call("recommend", {"user": "hu1", "liked": ["c1", "c2"], "k": 5, "policy": "heuristic"}).payload
    assert run["user_id"] == "hu1 +2 liked" and not {"c1", "c2"} & {item["item_id"] for item in run["items"]}


def test_a_clients_calls_are_recorded_as_the_agents_are(service: AgentService) -> None:
    toolbox = McpToolbox(service)
    assert toolbox.call("retrieve", {"user": "cu4", "k": 3}).error is None
    refused = toolbox.call("similar", {"user": "cu4", "item": "Completely Unknown Picture"}).error
    assert refused is not None and "no item matches" in refused
    invalid = toolbox.call("retrieve", {"user": "cu4", "k": 0}).error  # refused before any pool is touched
    assert invalid is not None and invalid.startswith("invalid arguments: k:")
    ok, skipped = toolbox.pools[(service.user_index("cu4"), ())].steps
    assert (ok.step, ok.thought, ok.status) == (1, "MCP client", "ok")
    assert ok.observation.startswith("retrieve: 3 items")
    assert (skipped.step, skipped.status, skipped.observation) == (2, "skipped", f"error: {refused}")


class Echo(ToolResult):
    user: str

    def observation(self) -> str:
        return self.user


@tool
def echo(context: object, user: str) -> Echo:
    """Say who (a pack tool whose argument is named like a person argument).

    Args:
        user: someone.
    """
    return Echo(user=user)


def test_tool_arguments_may_not_clash_with_the_person_arguments() -> None:
    with pytest.raises(ConfigError, match="clash with the MCP server's person arguments"):
        mcp_tools(ToolRegistry.of([echo]))
    with pytest.raises(ConfigError, match="may not name a tool 'recommend'"):
        mcp_tools(ToolRegistry.of([replace(echo, name="recommend")]))

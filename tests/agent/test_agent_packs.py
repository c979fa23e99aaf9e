"""Tool packs: found by dataset name, validated, and extended with a user's own typed tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.agent.context import ToolContext
from agentrec.agent.dataset_tools import build_registry
from agentrec.agent.packs import find_pack, generic_pack, read_pack
from agentrec.agent.service import AgentService
from agentrec.core.errors import ConfigError

USER_TOOL = '''
from agentrec.agent.builtin_tools import ItemBrief, ItemList
from agentrec.agent.context import ToolContext
from agentrec.agent.registry import tool


@tool
def newest(context: ToolContext, k: int = 10) -> ItemList:
    """Get the newest items the user has not seen.

    Args:
        k: how many items to get.
    """
    years = context.workspace.item_years.copy()
    years[~context.pool.allowed] = -1
    items = years.argsort()[::-1][:k]
    kept = context.pool.add("newest", {"k": k}, items, context.step)
    return ItemList(source="newest", items=[ItemBrief.of(context, i) for i in kept], pool_size=len(context.pool))
'''


def test_the_movielens_pack_is_found_by_dataset_name() -> None:
    pack = find_pack("ml-100k")
    assert pack.name == "movielens" and pack.models.backbone == "sasrec"
    assert pack.attributes == {"genre": "genres", "decade": "decade"}


def test_an_unnamed_dataset_gets_the_generic_pack() -> None:
    pack = find_pack("some-shop", catalog_columns={"genres": "VARCHAR[]", "year": "INTEGER"})
    assert pack == generic_pack({"genres": "VARCHAR[]", "year": "INTEGER"})
    assert pack.models.backbone == "ease" and set(pack.attributes) == {"genre", "decade"}


def test_a_broken_pack_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("models = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        read_pack(bad)
    bad.write_text("tools = ['retrieve', 'teleport']\n")
    with pytest.raises(ConfigError, match="teleport"):
        read_pack(bad).builtin_tool_names()


def test_a_user_tool_listed_in_a_pack_joins_the_registry(tmp_path: Path, planted_service: AgentService) -> None:
    (tmp_path / "my_tools.py").write_text(USER_TOOL)
    source = Path(str(planted_service.workspace.pack.source)).read_text()
    pack_file = tmp_path / "mine.toml"
    pack_file.write_text(source.replace('"finish"]', '"finish", "my_tools.py:newest"]'))
    pack = read_pack(pack_file)
    registry = build_registry(planted_service.workspace, pack)
    assert list(registry.tools)[-1] == "newest"
    workspace = planted_service.workspace
    context = ToolContext.for_user(workspace, workspace.user_index("hu0"))
    outcome = registry.call("newest", {"k": 3}, context)
    assert outcome.retry_hint is None
    years = [workspace.records[i].year for i in context.pool.items()]
    assert years == sorted(years, reverse=True)

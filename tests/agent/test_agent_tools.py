"""Every builtin tool, on a catalog with a planted answer: typed results, grounded items, hints not crashes."""

from __future__ import annotations

import numpy as np
import pytest

from agentrec.agent.builtin_tools import BUILTIN, ItemList
from agentrec.agent.context import ToolContext
from agentrec.agent.dataset_tools import build_registry
from agentrec.agent.registry import ToolResult
from agentrec.agent.service import AgentService
from agentrec.agent.workspace import AgentWorkspace

CALLS = {
    "retrieve": {"attribute": "genre", "value": "Comedy", "k": 4},
    "filter": {"year_min": 1981},
    "similar": {"item": "c1", "k": 3},
    "rank": {"by": "popularity", "k": 3},
    "item_info": {"items": ["c1", "Horror Film 2"]},
    "finish": {},
}


def comedy_user(workspace: AgentWorkspace) -> int:
    return workspace.user_index("cu0")


@pytest.mark.parametrize("name", list(CALLS))
def test_every_tool_returns_a_typed_result_and_keeps_the_pool_unseen(
    name: str, planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    registry = planted_service.registry
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    registry.call("retrieve", {"k": 6}, context)  # rank and filter need something in the pool
    outcome = registry.call(name, CALLS[name], context)
    assert outcome.retry_hint is None, outcome.retry_hint
    assert isinstance(outcome.result, ToolResult)
    assert outcome.result.observation()
    seen = set(workspace.history(context.user).items.tolist())
    assert not seen & set(context.pool.items().tolist())


def test_retrieve_by_attribute_returns_only_that_attribute_in_backbone_order(workspace: AgentWorkspace) -> None:
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    result = BUILTIN["retrieve"].function(context, attribute="genre", value="horror", k=5)  # any spelling
    assert isinstance(result, ItemList)
    assert result.items and all("Horror" in item.genres for item in result.items)
    scores = context.scores("backbone")
    indices = [workspace.split.train.items.index(item.item_id) for item in result.items]
    assert scores[indices].tolist() == sorted(scores[indices].tolist(), reverse=True)


def test_the_planted_taste_comes_back_from_the_backbone(workspace: AgentWorkspace) -> None:
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    result = BUILTIN["retrieve"].function(context, k=3)
    assert all(item.genres == ["Comedy"] for item in result.items)


def test_a_value_implies_its_attribute_and_unknown_values_get_a_hint(
    planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    registry = planted_service.registry
    implied = registry.call("retrieve", {"value": "1990s", "k": 3}, context)
    assert implied.retry_hint is None
    assert all("1990" <= item.title[-5:-1] < "2000" for item in implied.result.items)  # type: ignore[union-attr]
    hint = registry.call("retrieve", {"attribute": "genre", "value": "Westerns"}, context).retry_hint
    assert hint is not None  # the grammar's enum blocks this on the embedded model; providers get a hint


def test_unknown_items_become_hints_and_repeats_add_nothing(
    planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    registry = planted_service.registry
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    hint = registry.call("similar", {"item": "Completely Unknown Picture"}, context).retry_hint
    assert hint and "no item matches" in hint
    assert registry.call("similar", {"item": "Comedy Film 3 (1983)", "k": 3}, context).retry_hint is None
    pooled = len(context.pool.lists)
    repeated = registry.call("similar", {"item": "c3", "k": 3}, context)
    assert repeated.retry_hint is None and repeated.result.repeated  # type: ignore[union-attr]
    assert len(context.pool.lists) == pooled


def test_filter_narrows_the_pool_and_refuses_an_empty_result(workspace: AgentWorkspace) -> None:
    context = ToolContext.for_user(workspace, comedy_user(workspace))
    BUILTIN["retrieve"].function(context, k=30)
    BUILTIN["filter"].function(context, genres=["Horror"], year_max=1995)
    pooled = context.pool.items()
    assert pooled.size and all(
        "Horror" in workspace.records[i].genres and (workspace.records[i].year or 0) <= 1995 for i in pooled
    )
    from agentrec.core.errors import ToolRetry

    with pytest.raises(ToolRetry):
        BUILTIN["filter"].function(context, year_min=2050)


def test_the_registry_follows_the_pack(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    registry = build_registry(workspace)
    assert list(registry.tools) == ["retrieve", "filter", "similar", "rank", "item_info", "finish"]
    value_enum = registry.tools["retrieve"].spec().parameters["properties"]["value"]["anyOf"][0]["enum"]
    assert {"Comedy", "Horror", "Thriller", "Drama", "1980s", "1990s"} <= set(value_enum)
    assert np.all(workspace.popularity >= 0)


def test_ties_at_the_cut_off_go_to_the_lowest_index() -> None:
    from agentrec.recsys.base import top_k_allowed

    scores = np.array([1.0, 5.0, 3.0, 3.0, 3.0, 3.0, 0.0])
    allowed = np.ones(7, dtype=bool)
    allowed[2] = False
    assert top_k_allowed(scores, allowed, 3).tolist() == [1, 3, 4]
    assert top_k_allowed(scores, allowed, 10).tolist() == [1, 3, 4, 5, 0, 6]
    assert top_k_allowed(scores, ~allowed, 1).tolist() == [2]
    assert top_k_allowed(scores, np.zeros(7, dtype=bool), 3).tolist() == []

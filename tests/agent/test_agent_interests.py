"""Multi-interest retrieval: a mixed history splits by taste, the tool retrieves by number, bad counts are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrec.agent.context import ToolContext
from agentrec.agent.interests import check_interest_count, describe_interests, user_interests
from agentrec.agent.policies import RunSettings
from agentrec.agent.prompts import user_prompt
from agentrec.agent.service import AgentService, open_agent
from agentrec.core.errors import ConfigError

PACK = """
datasets = ["mixed"]
item_noun = "film"
tools = ["retrieve", "similar", "retrieve_by_interest", "finish"]
[models]
backbone = "itemknn"
similar = "itemknn"
text = ""
[attributes]
genre = "genres"
"""
N_PER_GENRE = 12


def write_mixed_catalog(folder: Path) -> Path:
    """Comedy fans, horror fans, and a few users with both tastes (their comedies first, then horror)."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    items = ["item_id,title,genres,year"]
    for i in range(N_PER_GENRE):
        items.append(f"c{i},Comedy Film {i} ({1980 + i}),Comedy,{1980 + i}")
        items.append(f"h{i},Horror Film {i} ({1990 + i}),Horror,{1990 + i}")
    rows = ["user_id,item_id,rating,timestamp"]
    for group, prefixes, size in (("cu", "c", 7), ("hu", "h", 7), ("mu", "ch", 5)):
        for u in range(15 if group != "mu" else 4):
            t = 0
            for prefix in prefixes:
                for i in rng.choice(N_PER_GENRE, size=size, replace=False):
                    rows.append(f"{group}{u},{prefix}{i},4,{1000 + 10 * t}")
                    t += 1
    (folder / "items.csv").write_text("\n".join(items) + "\n")
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    (folder.parent / "mixed.toml").write_text(PACK)
    return folder


@pytest.fixture(scope="module")
def mixed_service(tmp_path_factory: pytest.TempPathFactory) -> AgentService:
    folder = write_mixed_catalog(tmp_path_factory.mktemp("mixed") / "mixed")
    service = open_agent(
        str(folder), RunSettings(k=5, fusion="rrf", interests=2), pack_path=folder.parent / "mixed.toml"
    )
    service.workspace.use_stage("test")
    return service


def context_for(service: AgentService, user: str) -> ToolContext:
    context = ToolContext.for_user(service.workspace, service.workspace.user_index(user))
    context.interests = service.settings.interests
    return context


def genres_of(service: AgentService, items: np.ndarray) -> set[str]:
    return {genre for item in items for genre in service.workspace.records[int(item)].genres}


def test_a_mixed_history_splits_into_its_two_tastes(mixed_service: AgentService) -> None:
    context = context_for(mixed_service, "mu0")
    interests = user_interests(context, 2)
    assert [interest.number for interest in interests] == [1, 2]
    assert sorted(len(genres_of(mixed_service, i.members)) for i in interests) == [1, 1]
    assert {next(iter(genres_of(mixed_service, i.members))) for i in interests} == {"Comedy", "Horror"}
    assert sum(len(i.members) for i in interests) == len(context.history.items)
    for interest in interests:
        genre = next(iter(genres_of(mixed_service, interest.members)))
        assert interest.label.startswith(genre)
    assert describe_interests(interests).splitlines()[1].startswith("2. ")


def test_the_tool_retrieves_unseen_items_of_the_picked_interest(mixed_service: AgentService) -> None:
    context = context_for(mixed_service, "mu1")
    interests = user_interests(context, 2)
    for interest in interests:
        fresh = context_for(mixed_service, "mu1")
        outcome = mixed_service.registry.call("retrieve_by_interest", {"interest": interest.number, "k": 4}, fresh)
        assert outcome.result is not None, outcome.retry_hint
        items = [mixed_service.workspace.item_index(item.item_id) for item in outcome.result.items]
        assert len(items) == 4
        assert not set(items) & set(context.history.items.tolist())
        assert genres_of(mixed_service, np.array(items)) == genres_of(mixed_service, interest.members)
        assert f"interest {interest.number}" in outcome.observation


def test_the_profile_lists_the_interests_by_number(mixed_service: AgentService) -> None:
    prompt = user_prompt(context_for(mixed_service, "mu2"))
    assert "Their interests (for retrieve_by_interest, by number):" in prompt
    assert "\n1. " in prompt and "\n2. " in prompt


def test_a_number_beyond_the_users_interests_is_a_retry_hint(mixed_service: AgentService) -> None:
    outcome = mixed_service.registry.call("retrieve_by_interest", {"interest": 3}, context_for(mixed_service, "mu0"))
    assert outcome.result is None and "pick a number from 1 to 2" in (outcome.retry_hint or "")


def test_one_interest_is_the_whole_recent_history(mixed_service: AgentService) -> None:
    context = context_for(mixed_service, "mu3")
    (only,) = user_interests(context, 1)
    assert len(only.members) == len(context.history.items)


@pytest.mark.parametrize("count", [0, -1, 9])
def test_an_interest_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ConfigError, match="number of interests must be from 1 to 8"):
        check_interest_count(count)
    with pytest.raises(ConfigError, match="number of interests"):
        RunSettings(interests=count)

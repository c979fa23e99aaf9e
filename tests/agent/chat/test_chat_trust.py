"""What makes a chat trustworthy, turn by turn without a terminal: titles named are never recommended,
constraints compose and persist, "like X but Y" is an intersection, critiques constrain an aspect,
and the chat asks one question when a request is vague.

The planted catalog has a known answer for each; the questions need a catalog with many genres, so
they run on ml-100k when its files are there.
"""

from __future__ import annotations

import pytest

from agentrec.agent.chat.chat_rules import ChatRules, default_rules
from agentrec.agent.chat.conversation import ChatAgent, ChatInputError, ChatSettings
from agentrec.agent.chat.records import ChatSession
from agentrec.agent.policies import RunSettings
from agentrec.agent.service import AgentService, open_agent
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import ConfigError
from tests.conftest import real_dataset


def make_agent(service: AgentService, k: int = 5) -> ChatAgent:
    return ChatAgent(service.workspace, service.registry, None, ChatSettings(k=k, list_size=12))


def listed(agent: ChatAgent, session: ChatSession, message: str) -> list[str]:
    return [item.title for item in agent.run_turn(session, message).record.items]


def test_titles_said_to_be_loved_seen_or_hated_are_never_recommended(planted_service: AgentService) -> None:
    agent = make_agent(planted_service, k=8)
    session = ChatSession(dataset="planted")
    first = listed(agent, session, "I loved Comedy Film 3 and Comedy Film 5, something like them")
    assert first and not {"Comedy Film 3 (1983)", "Comedy Film 5 (1985)"} & set(first)
    assert session.liked == ["c3", "c5"]  # the likes steer the next lists
    listed(agent, session, "I've seen Comedy Film 7. I hated Horror Film 2")
    assert session.seen == ["c7"] and session.disliked == ["h2"]
    for message in ("only comedies", "any genre", "more like #1", "recommend something"):
        shown = set(listed(agent, session, message))
        assert shown and not {"Comedy Film 3 (1983)", "Comedy Film 5 (1985)", "Comedy Film 7 (1987)"} & shown
        assert "Horror Film 2 (1992)" not in shown, message


def test_seen_marks_an_item_of_the_last_list(planted_service: AgentService) -> None:
    agent = make_agent(planted_service, k=8)
    session = ChatSession(dataset="planted")
    first = listed(agent, session, "only horror")
    record = agent.mark_seen(session, "2")
    assert record.label == first[1] and session.seen == [record.item_id]
    assert first[1] not in listed(agent, session, "only horror")
    with pytest.raises(ChatInputError, match="1 to 8, not 0"):
        agent.mark_seen(session, "0")


def test_like_x_but_y_is_an_intersection(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    agent = make_agent(planted_service, k=5)
    result = agent.run_turn(ChatSession(dataset="planted"), "like Comedy Film 3 but scarier")
    items = result.record.items
    assert len(items) == 5 and all("Horror" in item.genres for item in items)
    assert all(any(e.tool == "similar" for e in item.evidence) for item in items)  # each is a neighbour of X
    assert result.record.constraints.is_empty()  # "scarier" held for this request only


def test_a_critique_constrains_the_aspect_relative_to_the_item(planted_service: AgentService) -> None:
    agent = make_agent(planted_service, k=8)
    session = ChatSession(dataset="planted")
    first = agent.run_turn(session, "only comedies").record.items
    oldest = min(first, key=lambda item: item.year or 0)
    critique = agent.dislike(session, f"{oldest.position} because too old")
    assert critique.record.item_id == oldest.item_id and session.constraints.year_min == (oldest.year or 0) + 1
    assert "or later" in critique.change
    after = agent.run_turn(session, "more comedies").record.items
    assert after and all((item.year or 0) > (oldest.year or 0) for item in after)
    agent.dislike(session, "1 because too scary")  # a genre word: rules that genre out
    assert "Horror" in session.constraints.exclude_genres


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [
        ("3 because", "say what about it"),
        ("3 because it smells of cheese", "I don't know the reason"),
        ("0 because too old", "1 to 5, not 0"),
    ],
)
def test_a_critique_that_cannot_be_used_changes_nothing(
    argument: str, fragment: str, planted_service: AgentService
) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    agent.run_turn(session, "recommend something")
    with pytest.raises(ChatInputError, match=fragment):
        agent.dislike(session, argument)
    assert session.disliked == [] and session.constraints.is_empty()


def test_an_unknown_title_is_asked_about(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    result = agent.run_turn(session, "I loved Comedie Flim 3x")
    assert any("did you mean" in problem for problem in result.record.problems) and session.liked == []


def test_a_pack_rule_with_an_unknown_title_kind_or_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="phrases"):
        default_rules().merged({"phrases": {"x": {"nonsense": True}}})
    with pytest.raises(ValueError, match="regular expression"):
        ChatRules.model_validate({"title_kinds": {"bad": "("}})


@pytest.fixture(scope="module")
def ml100k_chat() -> ChatAgent:
    real_dataset("ml-100k")  # skips (or fails under AGENTREC_REQUIRE_DATA) without the files
    service = open_agent("ml-100k", RunSettings(k=8, fusion="rrf"), backbone="ease")
    return ChatAgent(service.workspace, service.registry, None, ChatSettings(k=8))


@pytest.mark.realdata
def test_family_and_newer_compose_and_persist(ml100k_chat: ChatAgent) -> None:
    session = ChatSession(dataset="ml-100k")
    request = "I loved Toy Story and Aladdin. Something funny for a family evening, only 90s"
    first = ml100k_chat.run_turn(session, request)
    titles = [item.title for item in first.record.items]
    assert "Toy Story (1995)" not in titles and "Aladdin (1992)" not in titles
    for item in first.record.items:
        assert 1990 <= (item.year or 0) <= 1999 and not {"Horror", "War", "Crime", "Thriller"} & set(item.genres)
    second = ml100k_chat.run_turn(session, "no musicals please, something newer")
    median = sorted(item.year or 0 for item in first.record.items)[len(first.record.items) // 2]
    for item in second.record.items:
        assert "Musical" not in item.genres and not {"Horror", "War"} & set(item.genres)
        assert (item.year or 0) > median - 1 and item.title not in ("Toy Story (1995)", "Aladdin (1992)")
    assert session.constraints.audience == "family"


@pytest.mark.realdata
def test_a_vague_request_gets_one_question_and_the_answer_is_used(ml100k_chat: ChatAgent) -> None:
    session = ChatSession(dataset="ml-100k")
    first = ml100k_chat.run_turn(session, "recommend me something")
    assert first.record.question and session.pending_question is not None
    genre = session.pending_question
    answer = ml100k_chat.run_turn(session, "no")
    assert genre in answer.record.constraints.exclude_genres
    assert session.pending_question != genre  # it may ask on, but never the same question twice
    shown = {item.item_id for item in first.record.items}
    assert not shown & {item.item_id for item in answer.record.items}  # an answer gets new items
    assert all(genre not in item.genres for item in answer.record.items)
    quiet = ChatSession(dataset="ml-100k")
    ml100k_chat.run_turn(quiet, "just recommend")
    assert quiet.no_questions and not ml100k_chat.run_turn(quiet, "something good").record.question


@pytest.mark.realdata
def test_an_ambiguous_title_is_asked_about(ml100k_chat: ChatAgent) -> None:
    session = ChatSession(dataset="ml-100k")
    result = ml100k_chat.run_turn(session, "I loved Three Colors")
    problem = next(p for p in result.record.problems if "could be several titles" in p)
    assert "Three Colors: Blue (1993)" in problem and "Three Colors: Red (1994)" in problem
    assert session.liked == [] and result.record.items

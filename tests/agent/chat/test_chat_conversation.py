"""Chat turns without a terminal, on the planted catalog (comedy users and horror users).

The rule layer and the tools are real (EASE, ItemKNN, the candidate pool, RRF);
a scripted model stands in for the LLM only where a test is about control flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrec.agent.chat.conversation import ChatAgent, ChatInputError, ChatSettings, TurnResult
from agentrec.agent.chat.records import ChatSession, ChatStore
from agentrec.agent.service import AgentService
from agentrec.agent.trace import TraceStore
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import ConfigError, DataError, ModelBackendError
from agentrec.llm.records import AssistantTurn, Message, ToolCall
from agentrec.llm.scripted import ScriptedChatModel


def call(name: str, **arguments: object) -> AssistantTurn:
    return AssistantTurn(text="", tool_calls=(ToolCall(name=name, arguments=arguments, call_id="c0"),))


def make_agent(service: AgentService, model: ScriptedChatModel | None = None, k: int = 5, **kw: object) -> ChatAgent:
    settings = ChatSettings(k=k, list_size=12, **kw)  # type: ignore[arg-type]
    return ChatAgent(service.workspace, service.registry, model, settings)


def titles(result: TurnResult) -> list[str]:
    return [item.title for item in result.record.items]


def genres(workspace: AgentWorkspace, result: TurnResult) -> list[tuple[str, ...]]:
    catalog = {record.item_id: record.genres for record in workspace.records}
    return [catalog[item.item_id] for item in result.record.items]


def test_a_cold_start_gets_the_most_popular_items(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    session = ChatSession(dataset="planted")
    result = make_agent(planted_service).run_turn(session, "hello, what should I watch?")
    popular = sorted(range(workspace.n_items), key=lambda i: (-workspace.popularity[i], i))[:5]
    assert [item.item_id for item in result.record.items] == [workspace.records[i].item_id for i in popular]
    assert all("most popular" in item.why for item in result.record.items)
    assert "found no title, genre or decade" in result.record.reply
    assert len(session.turns) == 1 and [m.role for m in session.messages] == ["user", "assistant"]


@pytest.mark.parametrize("genre", ["Horror", "Comedy"])
def test_a_like_steers_the_next_list(genre: str, planted_service: AgentService, workspace: AgentWorkspace) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    before = agent.run_turn(session, "recommend something")
    liked = agent.like(session, f"{genre} Film 3")
    after = agent.run_turn(session, "recommend something")
    assert titles(after) != titles(before)
    assert all(genre in g for g in genres(workspace, after)), titles(after)
    assert liked.label not in titles(after)
    assert all("pick for you" in item.why for item in after.record.items)


def test_a_dislike_never_comes_back(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    agent = make_agent(planted_service, k=12)
    session = ChatSession(dataset="planted")
    first = agent.run_turn(session, "only horror")
    assert len(first.record.items) == 12 and all("Horror" in g for g in genres(workspace, first))
    disliked = agent.dislike(session, "1").record
    for message in ("only horror", "more like #1", "something else", "any genre", "like Horror Film 5"):
        result = agent.run_turn(session, message)
        assert disliked.label not in titles(result), message
    # the list is shorter rather than filled with the disliked item or with comedies
    again = agent.run_turn(session, "only horror")
    assert len(again.record.items) == 11 and disliked.label not in titles(again)


def test_a_dislike_holds_for_a_known_user_whose_unseen_items_run_out(
    planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    agent = make_agent(planted_service, k=12)
    session = ChatSession(dataset="planted", user_id="hu0")
    agent.run_turn(session, "only horror")
    disliked = agent.dislike(session, "1").record
    result = agent.run_turn(session, "only horror")
    seen = {workspace.records[i].label for i in workspace.history(workspace.user_index("hu0")).items}
    assert disliked.label not in titles(result) and not seen & set(titles(result))


def test_hard_constraints_persist_until_dropped(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    for message in ("no horror please", "something else", "recommend me more"):
        result = agent.run_turn(session, message)
        assert not any("Horror" in g for g in genres(workspace, result)), message
        assert result.record.constraints.exclude_genres == ["Horror"]
    dropped = agent.run_turn(session, "any genre is fine")
    assert dropped.record.constraints.is_empty()


def test_years_and_only_genres(planted_service: AgentService, workspace: AgentWorkspace) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    result = agent.run_turn(session, "only 80s")
    years = {record.item_id: record.year for record in workspace.records}
    assert all(1980 <= (years[item.item_id] or 0) <= 1989 for item in result.record.items)
    assert result.record.understood == ["1980-1989"]
    result = agent.run_turn(session, "just comedies, from the nineties")
    assert all(g == ("Comedy",) for g in genres(workspace, result))
    assert all(1990 <= (years[item.item_id] or 0) <= 1999 for item in result.record.items)


def test_more_like_a_number_and_like_a_title(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    first = agent.run_turn(session, "something like Horror Film 4 but funnier")
    assert "like Horror Film 4 (1994)" in first.record.understood and "more Comedy" in first.record.understood
    assert any(e.tool == "similar" for item in first.record.items for e in item.evidence)
    second_title = first.record.items[1].title
    more = agent.run_turn(session, "more like #2")
    assert f"like #2 ({second_title})" in more.record.understood
    assert all(f"similar to {second_title}" in item.why for item in more.record.items[:3])


def test_unknown_titles_and_numbers_are_notes_not_errors(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    result = agent.run_turn(session, "more like #4 or like Zyzzyva Quux Returns")
    assert any("no list yet" in p for p in result.record.problems)
    assert any("don't know a title 'Zyzzyva Quux Returns'" in p for p in result.record.problems)
    assert len(result.record.items) == 5
    with pytest.raises(ChatInputError, match="1 to 5"):
        agent.like(session, "9")
    with pytest.raises(DataError, match="no item matches"):
        agent.dislike(session, "Zyzzyva Quux Returns")


@pytest.mark.parametrize(
    "message",
    [
        "🙂🙂🙂 ünïcödé ☃", "asdf qwer zxcv", "\x00\x1b[31mred\x1b[0m", "no\nhorror\r\n", "x" * 10_000, "#" * 50,
        "\u202e left-to-right",
    ],
)
def test_garbage_gets_an_answer(message: str, planted_service: AgentService) -> None:
    session = ChatSession(dataset="planted")
    result = make_agent(planted_service).run_turn(session, message)
    assert len(result.record.items) == 5 and result.record.reply
    assert len(session.turns[-1].request) <= 2000


def test_a_long_message_is_noted_and_an_empty_one_refused(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    result = agent.run_turn(session, "no horror " * 1000)
    assert any("message is long" in p for p in result.record.problems)
    assert result.record.constraints.exclude_genres == ["Horror"]
    for empty in ("", "   \n\t  ", "\u202e\u200b"):
        with pytest.raises(ChatInputError):
            agent.run_turn(session, empty)
    assert len(session.turns) == 1


def test_the_model_adds_a_list_and_writes_the_reply(planted_service: AgentService) -> None:
    model = ScriptedChatModel([call("similar", item="Comedy Film 7", k=5), "These are funny ones."])
    session = ChatSession(dataset="planted")
    result = make_agent(planted_service, model, reply="llm").run_turn(session, "recommend something")
    assert [s.thought.startswith("rule:") for s in result.run.steps] == [True, False]
    assert result.run.steps[1].step == 2 and result.run.steps[1].tool == "similar"
    assert any(e.origin == "model" for item in result.record.items for e in item.evidence)
    assert result.record.llm_calls == 2
    top = result.record.items[:3]  # what the reply prompt showed the model
    if all("Comedy" in item.genres for item in top):
        assert result.record.reply == "These are funny ones."
    else:  # "funny" is a claim about the picks; it is shown only when it is true
        assert result.record.dropped == ["These are funny ones."] and result.record.reply.startswith("#1 ")
    request = model.requests[0]
    assert request[0].role == "system" and "'recommend something'" in request[-1].content


def test_the_models_lists_only_nudge_what_the_person_asked_for(
    planted_service: AgentService, workspace: AgentWorkspace
) -> None:
    def after_a_horror_like(model: ScriptedChatModel | None) -> TurnResult:
        agent = make_agent(planted_service, model)
        session = ChatSession(dataset="planted")
        agent.like(session, "Horror Film 3")
        return agent.run_turn(session, "recommend something")

    rules_only = after_a_horror_like(None)
    contrary = after_a_horror_like(ScriptedChatModel([call("retrieve", value="Comedy", k=12), "Comedies!"]))
    pairs = zip(titles(rules_only), genres(workspace, rules_only), strict=True)
    horror = [title for title, g in pairs if "Horror" in g]
    assert len(horror) >= 4 and titles(contrary)[0] == horror[0]
    assert set(horror[:4]) <= set(titles(contrary))  # a near-tie may move, the person's taste stays on top


def test_the_model_sees_neither_filter_nor_item_info_and_may_not_copy_a_list(planted_service: AgentService) -> None:
    model = ScriptedChatModel([call("retrieve", k=30), call("finish"), "Done."])
    agent = make_agent(planted_service, model)
    assert "filter" not in agent.model_registry and "item_info" not in agent.model_registry
    result = agent.run_turn(ChatSession(dataset="planted"), "recommend something")
    assert result.run.steps[-1].status == "finish" and result.run.reasks == 1
    tool_results = [m for m in model.requests[1] if m.role == "tool"]
    assert "repeats retrieve" in tool_results[-1].content


def test_a_backend_failure_keeps_the_list_and_the_session(planted_service: AgentService) -> None:
    def down(messages: list[Message]) -> AssistantTurn:
        raise ModelBackendError("connection refused by 127.0.0.1:9")

    model = ScriptedChatModel([down, "never asked"])
    session = ChatSession(dataset="planted")
    result = make_agent(planted_service, model).run_turn(session, "no horror")
    assert result.backend_error is not None and "connection refused" in result.backend_error
    assert len(model.requests) == 1  # no re-ask and no reply after a transport failure
    assert len(result.record.items) == 5 and len(session.turns) == 1


def test_a_cancelled_turn_leaves_the_session_as_it_was(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    agent.run_turn(session, "no horror")
    agent.like(session, "2")
    before = session.model_dump()

    def interrupted(messages: list[Message]) -> AssistantTurn:
        raise KeyboardInterrupt

    agent.model = ScriptedChatModel([interrupted])
    with pytest.raises(KeyboardInterrupt):
        agent.run_turn(session, "only comedies")
    assert session.model_dump() == before


def test_turn_steps_are_stored_and_evidence_explains_each_item(planted_service: AgentService, tmp_path: Path) -> None:
    agent = make_agent(planted_service)
    agent.traces = TraceStore(tmp_path / "traces.duckdb")
    session = ChatSession(dataset="planted")
    result = agent.run_turn(session, "like Comedy Film 2, no horror")
    stored = agent.traces.load(result.record.trace_id)
    assert [s.tool for s in stored.steps] == ["filter", "similar"]
    assert stored.user_id.startswith(f"chat {session.session_id}")
    for item in result.record.items:
        assert item.evidence and item.why
        assert all(e.origin in ("rule", "fill") for e in item.evidence)


def test_sessions_round_trip_and_bad_references_are_config_errors(
    planted_service: AgentService, tmp_path: Path
) -> None:
    store = ChatStore(tmp_path / "sessions")
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    agent.run_turn(session, "no horror")
    agent.like(session, "1")
    path = store.save(session)
    assert store.load(session.session_id) == session
    assert store.session_ids() == [session.session_id]
    copy = store.save(session, tmp_path / "elsewhere" / "mine.json")
    assert store.load(str(copy)) == session
    assert json.loads(copy.read_text())["liked"] == session.liked
    assert path.parent == tmp_path / "sessions"
    with pytest.raises(ConfigError, match="no chat session 'nope'"):
        store.load("nope")
    with pytest.raises(ConfigError, match="not a chat session id"):
        store.load("no/such/session")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not a saved chat session"):
        store.load(str(broken))


def test_reset_forgets_everything(planted_service: AgentService) -> None:
    agent = make_agent(planted_service)
    session = ChatSession(dataset="planted")
    agent.run_turn(session, "no horror")
    agent.like(session, "1")
    agent.dislike(session, "2")
    session.reset()
    assert not (session.turns or session.messages or session.liked or session.disliked)
    assert session.constraints.is_empty()


def facts_for_no_horror(service: AgentService) -> str:
    """The reply without a model: facts about the top picks, from the catalog and the pool."""
    facts = make_agent(service).run_turn(ChatSession(dataset="planted"), "no horror").record.reply
    assert facts.startswith("#1 Comedy Film 7 (1987): Comedy; rated 4.3/5 by 10 people; among the most popular.")
    return facts


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (AssistantTurn(text="A classic, classic, classic pick. Second one! Third."), "A classic pick. Second one!"),
        # a sentence cut off by the token limit is not shown: its claim is unfinished
        (AssistantTurn(text="These share a mood; and a decade, and a", finish_reason="length"), ""),
        (AssistantTurn(text="\n\n"), ""),  # an empty reply: the facts
    ],
)
def test_the_models_reply_is_tidied(reply: AssistantTurn, shown: str, planted_service: AgentService) -> None:
    model = ScriptedChatModel([call("finish"), reply])
    result = make_agent(planted_service, model, reply="llm").run_turn(ChatSession(dataset="planted"), "no horror")
    assert result.record.reply == (shown or facts_for_no_horror(planted_service))


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("Comedy Film 7 is a horror film.", False),  # a genre the item does not have
        ("Comedy Film 7 is not a comedy.", False),  # a genre denied that it has
        ("These are 1960s classics.", False),  # a decade none of them is from
        ("Comedy Film 7 is rated 2.1/5.", False),  # a rating it does not have
        ("It is like Casablanca, with jokes.", False),  # a comparison with a title nobody named
        ("A light, light pick for lightheartedness and lightheartedness.", False),  # garbled
        ("Comedy Film 7 is a comedy from 1987.", True),
        ("These are easy picks for tonight.", True),  # no claim to check
    ],
)
def test_a_sentence_that_contradicts_the_catalog_is_dropped(
    said: str, kept: bool, planted_service: AgentService
) -> None:
    model = ScriptedChatModel([call("finish"), AssistantTurn(text=said)])
    result = make_agent(planted_service, model).run_turn(ChatSession(dataset="planted"), "no horror")
    assert result.record.items[0].title == "Comedy Film 7 (1987)"
    assert result.record.reply.endswith(facts_for_no_horror(planted_service))  # the default reply keeps the facts
    assert (said in result.record.reply) is kept and (result.record.dropped == [said]) is not kept


def test_warm_up_sends_nothing_to_a_model_that_keeps_no_prompt_states(planted_service: AgentService) -> None:
    # To a provider a warm-up call is paid, and one that hangs held the REPL's exit until its timeout.
    asked: list[int] = []

    class Counting(ScriptedChatModel):
        def complete(self, *args: object, **kwargs: object) -> AssistantTurn:  # type: ignore[override]
            asked.append(1)
            return super().complete(*args, **kwargs)  # type: ignore[arg-type]

    make_agent(planted_service, Counting([])).warm_up()
    assert asked == []

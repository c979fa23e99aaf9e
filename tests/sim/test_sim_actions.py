"""Search, chat with the agent and the social graph on ml-100k: logged, deterministic, resumable, off by default.

Statistical users drive the whole runs; a scripted model checks what hybrid users
type and say (control flow only), and the embedded model makes one real hybrid search.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from agentrec.llm.records import Message
from agentrec.llm.scripted import ScriptedChatModel
from agentrec.sim.choice import SessionState
from agentrec.sim.events import Event, read_events
from agentrec.sim.llm_choice import LlmChoice
from agentrec.sim.memory import Memory
from agentrec.sim.report import SimulationResult
from agentrec.sim.run import RunOptions, run_simulation
from agentrec.sim.scenario import load_scenario
from agentrec.sim.session import EventRecorder, UserSession
from agentrec.sim.voice import UserVoice
from agentrec.sim.world import SimWorld, WorldSpec

pytestmark = pytest.mark.realdata

# EASE and ItemKNN only: the agent opens in seconds, without embedding the catalog.
PACK = """
datasets = ["ml-100k"]
item_noun = "movie"
tools = ["retrieve", "filter", "similar", "rank", "item_info", "finish"]
[models]
backbone = "ease"
similar = "itemknn"
text = ""
[attributes]
genre = "genres"
decade = "decade"
"""

# MostPop leaves pages without a watch often enough for every detour to happen; the three
# detour rates add up to 1, so every such page leads to one.
ACTIONS = """
name = "{name}"
dataset = "{dataset}"
seed = 11
rounds = 2
pages = 4

[users]
count = {users}
choice_model = "{choice}"

[fidelity]
enabled = false

[search]
enabled = true
source = "{source}"
rate = 0.4

[chat]
enabled = true
rate = 0.3
agent_llm = false
pack = "{pack}"

[social]
enabled = true
post_rate = 0.5
read_rate = 1.0
chat_rate = 0.3

[[arms]]
name = "pop"
recommender = "mostpop"
"""
NEW_KINDS = {
    "search", "search_result", "chat", "chat_reply", "chat_item",
    "read_post", "post", "friend_chat", "friend_message", "friend_reply",
}  # fmt: skip
LIST_OPENERS = ("impression", "search", "chat", "friend_chat", "read_post")


def write_actions(folder: Path, dataset: Path, name: str, users: int = 20, choice: str = "statistical",
                  source: str = "titles") -> Path:  # fmt: skip
    pack = folder / "ml100k-pack.toml"
    pack.write_text(PACK)
    path = folder / f"{name}.toml"
    path.write_text(ACTIONS.format(name=name, dataset=dataset, users=users, choice=choice, source=source, pack=pack))
    return path


def events_of(result: SimulationResult) -> list[tuple[object, ...]]:
    return read_events(result.run_dir / "events.duckdb", result.run_id)


def sessions(rows: list[tuple[object, ...]]) -> dict[tuple[object, ...], list[Event]]:
    grouped: dict[tuple[object, ...], list[Event]] = {}
    for row in rows:
        grouped.setdefault(row[:3], []).append(Event(*row))  # type: ignore[arg-type]
    return grouped


def check_session_shape(events: list[Event]) -> None:
    """Every off-page watch follows a list it came from; every search lists as many results as it says."""
    opener = None
    for n, event in enumerate(events):
        if event.kind in LIST_OPENERS:
            opener = event.kind
        if event.kind == "watch":
            assert (event.page is None) == (opener != "impression"), events
        if event.kind == "search":
            results = [e for e in events[n + 1 : n + 1 + int(event.value or 0)] if e.kind == "search_result"]
            assert len(results) == event.value and event.text
        if event.kind == "read_post":
            assert event.session > 0 and event.text != event.user_id


def test_actions_are_logged_and_the_log_does_not_depend_on_workers(ml100k: Path, tmp_path: Path) -> None:
    scenario = write_actions(tmp_path, ml100k, "actions", users=16)
    single = run_simulation(scenario, RunOptions(workers=1, runs_root=tmp_path / "runs"))
    rows = events_of(single)
    kinds = [row[4] for row in rows]
    assert set(kinds) >= NEW_KINDS
    for events in sessions(rows).values():
        check_session_shape(events)
    actions = single.summary.actions
    for kind, key in [("search", "searches"), ("chat", "chats"), ("post", "posts"), ("read_post", "posts_read")]:
        assert actions[key] == kinds.count(kind)
    assert actions["search_results"] == kinds.count("search_result")
    assert 0 < actions["chat_ctr"] <= 1 and actions["feed_watches"] > 0
    double = run_simulation(scenario, RunOptions(workers=2, runs_root=tmp_path / "runs"))
    assert events_of(double) == rows
    assert {k: v for k, v in double.summary.json_data().items() if k != "run_id"} == {
        k: v for k, v in single.summary.json_data().items() if k != "run_id"
    }


def test_a_run_resumed_after_a_crash_mid_round_is_exact(ml100k: Path, tmp_path: Path) -> None:
    scenario = write_actions(tmp_path, ml100k, "crash", users=12)
    reference = run_simulation(scenario, RunOptions(runs_root=tmp_path / "runs"))
    crashed_root = tmp_path / "crashed"
    shutil.copytree(reference.run_dir, crashed_root / reference.run_id)
    users = sorted({str(row[1]) for row in events_of(reference)})
    with duckdb.connect(str(crashed_root / reference.run_id / "events.duckdb")) as con:
        # round 0: three users never ran and one stopped mid-session; round 1 never started
        con.execute(
            "DELETE FROM events WHERE session = 1 OR (session = 0 AND (user_id IN (?, ?, ?) OR "
            "(user_id = ? AND step >= 6)))",
            users[:4],
        )
    resumed = run_simulation(scenario, RunOptions(runs_root=crashed_root, resume=reference.run_id))
    assert events_of(resumed) == events_of(reference)
    assert resumed.summary.json_data() == reference.summary.json_data()


def test_with_the_actions_off_the_event_log_is_the_one_of_before(ml100k: Path, tmp_path: Path) -> None:
    """A scenario from before the new sections, and one that names them switched off with every rate at 1."""
    plain = write_actions(tmp_path, ml100k, "plain", users=8)
    text = plain.read_text()
    head, tail = text.split("[search]")[0], "[[arms]]" + text.split("[[arms]]")[1]
    plain.write_text(head + tail)
    switched_off = tmp_path / "switched_off.toml"
    text = text.replace('name = "plain"', 'name = "switched_off"').replace("enabled = true", "enabled = false")
    for rate in ("rate = 0.4", "rate = 0.3", "post_rate = 0.5"):
        text = text.replace(rate, rate.split("=")[0] + "= 1.0")
    switched_off.write_text(text)
    before = run_simulation(plain, RunOptions(runs_root=tmp_path / "runs"))
    after = run_simulation(switched_off, RunOptions(runs_root=tmp_path / "runs"))
    rows = events_of(before)
    assert events_of(after) == rows
    assert not {row[4] for row in rows} & NEW_KINDS
    assert not any(row[4] == "watch" and row[5] is None for row in rows)
    assert before.summary.actions["searches"] == 0 and before.summary.actions["posts"] == 0


def scripted_reply(messages: list[Message]) -> str:
    """What the scripted model says, by what it was asked."""
    asked = messages[-1].content
    for cue, reply in [
        ("search box", "space adventure"),
        ("movie assistant", "Something like Star Wars please"),
        ("post about it", "Loved every minute."),
        ("asking a friend", "Any tips for tonight?"),
        ("Your friend asks", "Watch it, it is great."),
    ]:
        if cue in asked:
            return reply
    return "Fine."


def open_session(world: SimWorld, user_id: str, feed: tuple[Event, ...] = ()) -> UserSession:
    world.start_round("pop", 0)
    profile = world.profile(world.train.users.index(user_id))
    state = SessionState(
        profile, world.taste.for_user(profile), Memory(20), world.items, np.random.default_rng(0), world.voice()
    )
    recorder = EventRecorder("pop", user_id, 0)
    return UserSession(world.scenario, world.choice, state, recorder, world.session_tools(), feed)


def test_hybrid_users_type_and_say_what_the_llm_writes(ml100k: Path, tmp_path: Path) -> None:
    path = write_actions(tmp_path, ml100k, "scripted", choice="hybrid")
    path.write_text(path.read_text().replace("post_rate = 0.5", "post_rate = 1.0"))
    world = SimWorld.open(WorldSpec(load_scenario(path), tmp_path / "run", ("1", "7")))
    world._chat = ScriptedChatModel([scripted_reply] * 60)
    seen_by_1 = set(world.profile(world.train.users.index("1")).history.tolist())
    unseen = next(item_id for i, item_id in enumerate(world.items.ids) if i not in seen_by_1)
    posted = Event("pop", "7", 0, 3, "post", item_id=unseen, rating=5, text="A must!")
    session = open_session(world, "1", feed=(posted,))
    session.search(0)
    session.chat(0)
    session.ask_friend(0)
    session.maybe_post(0, world.train.items.index("181"), 5)
    said = {event.kind: event for event in session.recorder.events}
    assert said["search"].text == "space adventure"
    assert said["chat"].text == "Something like Star Wars please"
    assert said["friend_chat"].text == "7" and said["friend_message"].text == "Any tips for tonight?"
    # the friend suggests what they posted about, since user 1 has not seen it
    assert said["friend_reply"].text == "Watch it, it is great."
    assert (said["friend_reply"].item_id, said["friend_reply"].rating) == (unseen, 5)
    assert said["post"].text == "Loved every minute." and said["post"].item_id == "181"
    # llm users let the LLM pick the detour: one not on offer is none, two bad replies fall back to the rates
    replies = ['{"action": "assistant"}', '{"action": "friend"}', "no", "still no"]
    session.state.voice = UserVoice(ScriptedChatModel(replies), world.items, 24, 0.7)
    offered = {"search": 0.0, "chat": 1.0}
    assert [LlmChoice().detour(session.state, offered) for _ in range(3)] == ["chat", None, "chat"]


def test_a_real_hybrid_search_with_the_embedded_model(ml100k: Path, tmp_path: Path) -> None:
    scenario = load_scenario(write_actions(tmp_path, ml100k, "semantic", choice="hybrid", source="semantic"))
    world = SimWorld.open(WorldSpec(scenario, tmp_path / "run", ("1",)))
    queries, results = [], []
    for _ in range(2):  # the same seed twice (the second answer from the response cache): the same search
        session = open_session(world, "1")
        session.search(0)
        events = session.recorder.events
        queries.append(events[0].text)
        results.append([e.item_id for e in events if e.kind == "search_result"])
    assert queries[0] and queries == [queries[0]] * 2 and results == [results[0]] * 2
    seen = {world.items.ids[i] for i in world.profile(world.train.users.index("1")).history.tolist()}
    assert len(results[0]) == scenario.search.results and not set(results[0]) & seen

"""One user's session: read the feed, browse pages, take detours, watch, post; then the interview.

A session runs in this order:

1. With a social graph, the user may read friends' posts of earlier rounds (the
   feed) and watch one of the posted items; every item read is endorsed for the
   rest of the session, which raises its watch odds wherever it shows up.
2. Pages of the recommender's list, as before. After a page without a watch the
   choice model may take one detour: a catalog search, a chat with the
   conversational agent, or a message to a friend. The list it brings is decided
   like a page (without the exit decision) and its watches are logged with
   ``page`` NULL. Leaving was decided on the page; the detour does not undo it.
3. After a watch: a reflection when one is due, and with a social graph perhaps
   a post about it.
4. The interview.

Nothing here draws from the session's rng unless the scenario turned the action
on, so a scenario without search, chat and social gives the event log it gave
before they existed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from agentrec.sim.agent_chat import AgentChat
from agentrec.sim.choice import SessionState, StatisticalChoice
from agentrec.sim.events import Event, EventKind
from agentrec.sim.memory import Watch
from agentrec.sim.profiles import UserProfile
from agentrec.sim.scenario import Scenario
from agentrec.sim.search import CatalogSearch
from agentrec.sim.social import SocialGraph, friend_recommendation
from agentrec.sim.voice import UserVoice


@dataclass
class EventRecorder:
    """Numbers a session's events in the order they happen."""

    arm: str
    user_id: str
    session: int
    events: list[Event] = field(default_factory=list)

    def add(self, kind: EventKind, **values: object) -> None:
        self.events.append(Event(self.arm, self.user_id, self.session, len(self.events), kind, **values))  # type: ignore[arg-type]


@dataclass
class SessionTools:
    """What a session may use besides the recommender (None: the scenario leaves it off)."""

    search: CatalogSearch | None = None
    agent_chat: AgentChat | None = None
    graph: SocialGraph | None = None
    # a friend's profile, its taste (if the LLM writes tastes) written by the asking session's voice
    friend_profile: Callable[[str, UserVoice | None], UserProfile] | None = None
    item_index: dict[str, int] = field(default_factory=dict)


@dataclass
class UserSession:
    """Runs one session and records its events; ``tokens`` counts the agent chats' LLM tokens."""

    scenario: Scenario
    choice: StatisticalChoice
    state: SessionState
    recorder: EventRecorder
    tools: SessionTools
    feed: tuple[Event, ...] = ()
    watches: int = 0
    tokens: int = 0
    detours: Counter[str] = field(default_factory=Counter)

    def run(self, ranked: list[int]) -> None:
        self.read_feed()
        pages_seen = self.browse(ranked)
        self.interview(pages_seen)

    def browse(self, ranked: list[int]) -> int:
        """The recommendation pages; returns how many were seen."""
        state, k, pages, ids = self.state, self.scenario.page_size, self.scenario.pages, self.state.items.ids
        pages_seen = 0
        for page_index in range(pages):
            page = ranked[page_index * k : (page_index + 1) * k]
            if not page:
                break
            pages_seen += 1
            for position, item in enumerate(page):
                self.recorder.add("impression", page=page_index, position=position, item_id=ids[item])
            state.shown += len(page)
            decision = self.choice.decide_page(state, page, page_index)
            for position, (item, seen, rating) in enumerate(zip(page, decision.watched, decision.ratings, strict=True)):
                if seen:
                    self.watch(page_index, position, item, rating, decision.feeling)
            if not any(decision.watched):
                self.detour(page_index)
            if decision.leave:
                self.recorder.add("exit", page=page_index)
                break
            if page_index + 1 < pages and len(ranked) > (page_index + 1) * k:
                self.recorder.add("next_page", page=page_index)
        return pages_seen

    def watch(self, page: int | None, position: int, item: int, rating: int, feeling: str) -> None:
        state = self.state
        self.recorder.add(
            "watch", page=page, position=position, item_id=state.items.ids[item], rating=rating, text=feeling or None
        )
        state.memory.remember(Watch(item, rating, feeling))
        state.ratings.append(rating)
        state.watched_items.add(item)
        self.watches += 1
        if state.memory.due_for_reflection(self.scenario.users.reflect_every):
            text = self.choice.reflection_text(state)
            state.memory.reflect(text, state.items, state.profile.mean_rating)
            self.recorder.add("reflection", text=text)
        self.maybe_post(page, item, rating)

    def offer(self, items: list[int], listed_as: EventKind | None, page_index: int, heading: str) -> None:
        """A list met on a detour: logged item by item (as ``listed_as``), decided, its watches logged."""
        ids = self.state.items.ids
        if listed_as is not None:
            for position, item in enumerate(items):
                self.recorder.add(listed_as, position=position, item_id=ids[item])
        if not items:
            return
        self.state.shown += len(items)
        decision = self.choice.decide_list(self.state, items, page_index, heading)
        for position, (item, seen, rating) in enumerate(zip(items, decision.watched, decision.ratings, strict=True)):
            if seen:
                self.watch(None, position, item, rating, decision.feeling)

    # ----- detours ---------------------------------------------------------------------------------
    def detour_rates(self) -> dict[str, float]:
        """The detours still open to this user, with their scenario rates."""
        scenario, tools, rates = self.scenario, self.tools, {}
        if tools.search is not None and self.detours["search"] < scenario.search.max_per_session:
            rates["search"] = scenario.search.rate
        if tools.agent_chat is not None and self.detours["chat"] < scenario.chat.max_per_session:
            rates["chat"] = scenario.chat.rate
        if tools.graph is not None and tools.graph.of(self.state.profile.user_id) and not self.detours["friend"]:
            rates["friend"] = scenario.social.chat_rate
        return rates

    def detour(self, page_index: int) -> None:
        rates = self.detour_rates()
        if not rates:
            return
        action = self.choice.detour(self.state, rates)
        if action is None:
            return
        self.detours[action] += 1
        {"search": self.search, "chat": self.chat, "friend": self.ask_friend}[action](page_index)

    def search(self, page_index: int) -> None:
        if self.tools.search is None:
            raise RuntimeError("search is off in this scenario")
        spec, state = self.scenario.search, self.state
        query = self.choice.search_query(state, spec.source)
        found = self.tools.search.search(query, spec.results, state.seen_items())
        self.recorder.add("search", page=page_index, text=query, value=float(len(found)))
        self.offer(found, "search_result", page_index, f'Results of your search for "{query}"')

    def chat(self, page_index: int) -> None:
        if self.tools.agent_chat is None:
            raise RuntimeError("chat is off in this scenario")
        state = self.state
        message = self.choice.agent_message(state)
        self.recorder.add("chat", page=page_index, text=message)
        answer = self.tools.agent_chat.ask(state.profile.user_id, message, state.seen_items())
        self.tokens += answer.tokens
        self.recorder.add("chat_reply", text=answer.reply, value=float(len(answer.items)))
        self.offer(answer.items, "chat_item", page_index, "The website's assistant suggests")

    def ask_friend(self, page_index: int) -> None:
        tools, state = self.tools, self.state
        if tools.graph is None or tools.friend_profile is None:
            raise RuntimeError("the social graph is off in this scenario")
        friends = tools.graph.of(state.profile.user_id)
        friend_id = friends[int(state.rng.integers(len(friends)))]
        self.recorder.add("friend_chat", page=page_index, text=friend_id)
        message = self.choice.friend_message(state)
        self.recorder.add("friend_message", text=message)
        friend = tools.friend_profile(friend_id, state.voice)
        posts = [post for post in self.feed if post.user_id == friend_id]
        pick = friend_recommendation(friend, posts, tools.item_index, state.seen_items())
        if pick is None:
            self.recorder.add("friend_reply", text="I have nothing new for you, sorry.")
            return
        item, rating = pick
        reply = self.choice.friend_reply(state, friend, message, item, rating)
        self.recorder.add("friend_reply", item_id=state.items.ids[item], rating=rating, text=reply)
        state.endorsed.add(item)
        self.offer([item], None, page_index, "Your friend recommends")

    # ----- the social feed -------------------------------------------------------------------------
    def read_feed(self) -> None:
        """Friends' posts of earlier rounds: endorse what they name, and maybe watch one."""
        spec, state = self.scenario.social, self.state
        if self.tools.graph is None or not self.feed or not self.choice.chance(state, spec.read_rate):
            return
        index = self.tools.item_index
        unseen: list[int] = []
        for post in self.feed[: spec.feed_size]:
            self.recorder.add("read_post", item_id=post.item_id, rating=post.rating, text=post.user_id)
            item = index.get(post.item_id or "")
            if item is None:
                continue
            state.endorsed.add(item)
            if item not in state.seen_items() and item not in unseen:
                unseen.append(item)
        self.offer(unseen, None, 0, "Movies your friends posted about")

    def maybe_post(self, page: int | None, item: int, rating: int) -> None:
        spec, state = self.scenario.social, self.state
        if self.tools.graph is None or rating < spec.post_min_rating or not self.choice.chance(state, spec.post_rate):
            return
        text = self.choice.post_text(state, item, rating)
        self.recorder.add("post", page=page, item_id=state.items.ids[item], rating=rating, text=text)

    # ----- the end ---------------------------------------------------------------------------------
    def interview(self, pages_seen: int) -> None:
        summary = f"You saw {self.state.shown} movies on {pages_seen} pages and watched {self.watches}."
        done = {"search": "searched the catalog", "chat": "asked the assistant", "friend": "asked a friend"}
        extra = [words for name, words in done.items() if self.detours[name]]
        if extra:
            summary += f" You also {' and '.join(extra)}."
        satisfaction, reason = self.choice.interview(self.state, summary, self.watches)
        self.recorder.add("interview", value=float(satisfaction), text=reason)

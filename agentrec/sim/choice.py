"""Choice models: how a simulated user decides what to watch, how to rate, and when to leave.

* ``statistical``: the calibrated logistic model (``agentrec.sim.taste``) plus
  behavioural priors for page position, fatigue, activity and memory; no LLM.
* ``hybrid``: the same decisions; the LLM writes feelings, reflections,
  interview answers, search queries, messages to the agent and to friends, posts.
* ``llm`` (``agentrec.sim.llm_choice``): the LLM decides everything from the
  page, as in Agent4Rec; a reply that does not validate falls back to the
  statistical decision (and is counted).

Besides the page decision, a choice model decides the detours: after a page
without a watch, whether to search, chat with the agent or ask a friend (each
at a scenario rate, shifted by the activity trait), and whether to read the
feed or post about a watch. Lists met on a detour are decided like a page,
without the exit decision.

The priors cannot be learned from rating logs (MovieLens records no pages or
sessions), so they are fixed, documented constants rather than tuned numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from agentrec.sim import templates
from agentrec.sim.items import SimItems
from agentrec.sim.memory import Memory
from agentrec.sim.profiles import UserProfile
from agentrec.sim.taste import UserTaste
from agentrec.sim.voice import UserVoice, persona

FloatArray = npt.NDArray[np.float64]
# Detours a user may take after a page with nothing they wanted, in the order a draw checks them.
DETOURS = ("search", "chat", "friend")


@dataclass(frozen=True)
class BehaviourPriors:
    """Log-odds effects no rating log can calibrate: where on the page, how tired, how active.

    The exit terms put a session on a page of relevant items at about three pages,
    near Agent4Rec's published average exit page (3.23).
    """

    position: float = -0.1  # per slot down the page
    fatigue: float = -0.15  # per page already seen
    activity: float = 0.3  # per activity level above medium
    memory: float = 0.4  # for a genre the last reflection liked (minus for disliked)
    detour_activity: float = 0.3  # per activity level above medium, on the odds of searching, chatting, posting
    exit_bias: float = -1.3
    exit_per_page: float = 0.3
    exit_per_watch: float = -0.5
    exit_mood: float = -0.5  # per star the page's ratings sit above the user's mean
    exit_activity: float = -0.3


PRIORS = BehaviourPriors()


@dataclass
class SessionState:
    """Everything a choice model may read while one user browses."""

    profile: UserProfile
    taste: UserTaste
    memory: Memory
    items: SimItems
    rng: np.random.Generator
    voice: UserVoice | None = None
    shown: int = 0
    ratings: list[int] = field(default_factory=list)
    watched_items: set[int] = field(default_factory=set)  # watched in this simulation: earlier rounds and now
    endorsed: set[int] = field(default_factory=set)  # items friends posted about or recommended, this session
    influence: float = 0.0  # watch log-odds an endorsement adds

    def seen_items(self) -> set[int]:
        """Items the user would not want offered again: real history and every simulated watch."""
        return set(self.profile.history.tolist()) | self.watched_items

    def seed(self) -> int:
        """A seed for one LLM call, drawn from the session's rng."""
        return int(self.rng.integers(2**31 - 1))

    def system_prompt(self) -> str:
        return persona(self.profile, self.items, self.memory)


@dataclass(frozen=True)
class PageDecision:
    """Per page position: watched or not, and the rating (0 when not watched)."""

    watched: tuple[bool, ...]
    ratings: tuple[int, ...]
    feeling: str
    leave: bool


@dataclass(frozen=True)
class ListDecision:
    """Per position of a list met outside the pages (search, chat, feed): watched or not, and the rating."""

    watched: tuple[bool, ...]
    ratings: tuple[int, ...]
    feeling: str


def _sigmoid(x: FloatArray | float) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64))))


class StatisticalChoice:
    """Calibrated decisions, template texts: no LLM at all."""

    name: ClassVar[str] = "statistical"

    def __init__(self, priors: BehaviourPriors = PRIORS) -> None:
        self.priors = priors

    def logits(self, state: SessionState, page: list[int], page_index: int) -> FloatArray:
        """Watch log-odds of each item on the page."""
        priors, traits = self.priors, state.profile.traits
        result: FloatArray = (
            state.taste.watch_logits(np.asarray(page, dtype=np.int64))
            + priors.position * np.arange(len(page))
            + priors.fatigue * page_index
            + priors.activity * (traits.activity - 1)
            + priors.memory * state.memory.genre_bias(state.items, page)
        )
        if state.endorsed:  # skipped when empty, so runs without a social graph keep their exact floats
            result = result + state.influence * np.isin(np.asarray(page), list(state.endorsed))
        return result

    def decide_page(self, state: SessionState, page: list[int], page_index: int) -> PageDecision:
        watched = state.rng.random(len(page)) < _sigmoid(self.logits(state, page, page_index))
        stars = state.taste.ratings(np.asarray(page, dtype=np.int64))
        ratings = tuple(int(r) if w else 0 for r, w in zip(stars, watched, strict=True))
        leave = bool(state.rng.random() < self.exit_probability(state, page_index, ratings))
        feeling = self.feeling(state, page, watched, ratings)
        return PageDecision(tuple(bool(w) for w in watched), ratings, feeling, leave)

    def decide_list(self, state: SessionState, items: list[int], page_index: int, heading: str) -> ListDecision:
        """Watches and ratings for a list met outside the pages; leaving is decided on the page."""
        del heading
        watched = state.rng.random(len(items)) < _sigmoid(self.logits(state, items, page_index))
        stars = state.taste.ratings(np.asarray(items, dtype=np.int64))
        ratings = tuple(int(r) if w else 0 for r, w in zip(stars, watched, strict=True))
        return ListDecision(tuple(bool(w) for w in watched), ratings, self.feeling(state, items, watched, ratings))

    def activity_adjusted(self, state: SessionState, rate: float) -> float:
        """``rate`` for a medium-activity user, shifted on the log-odds scale by the user's activity."""
        if not 0.0 < rate < 1.0:
            return rate
        shift = self.priors.detour_activity * (state.profile.traits.activity - 1)
        return float(_sigmoid(np.log(rate / (1.0 - rate)) + shift))

    def detour(self, state: SessionState, rates: dict[str, float]) -> str | None:
        """After a page without a watch: one of the offered detours (search, chat, friend), or None."""
        chances = [self.activity_adjusted(state, rates[name]) for name in DETOURS if name in rates]
        names = [name for name in DETOURS if name in rates]
        total = sum(chances)
        scale = 1.0 / total if total > 1.0 else 1.0
        draw = state.rng.random()
        for name, chance in zip(names, np.cumsum(chances) * scale, strict=True):
            if draw < chance:
                return name
        return None

    def chance(self, state: SessionState, rate: float) -> bool:
        """One activity-adjusted coin flip (reading the feed, posting about a watch)."""
        return bool(state.rng.random() < self.activity_adjusted(state, rate))

    def search_query(self, state: SessionState, source: str) -> str:
        return templates.search_query(state.profile, state.items, source, state.rng)

    def agent_message(self, state: SessionState) -> str:
        return templates.agent_message(state.profile, state.items, state.rng)

    def post_text(self, state: SessionState, item: int, rating: int) -> str:
        return templates.post_text(state.items, item, rating)

    def friend_message(self, state: SessionState) -> str:
        return templates.friend_message(state.profile, state.items)

    def friend_reply(self, state: SessionState, friend: UserProfile, message: str, item: int, rating: int) -> str:
        del friend, message
        return templates.friend_reply(state.items, item, rating)

    def exit_probability(self, state: SessionState, page_index: int, ratings: tuple[int, ...]) -> float:
        priors = self.priors
        given = [r for r in ratings if r > 0]
        mood = (
            float(np.mean(given)) - state.profile.mean_rating
            if given and state.profile.mean_rating == state.profile.mean_rating
            else 0.0
        )
        logit = (
            priors.exit_bias
            + priors.exit_per_page * page_index
            + priors.exit_per_watch * len(given)
            + priors.exit_mood * mood
            + priors.exit_activity * (state.profile.traits.activity - 1)
        )
        return float(_sigmoid(logit))

    def feeling(
        self, state: SessionState, page: list[int], watched: npt.NDArray[np.bool_], ratings: tuple[int, ...]
    ) -> str:
        del state, page, watched, ratings
        return ""

    def pick(self, state: SessionState, page: list[int]) -> int:
        """Forced choice: the page position the user would most likely watch."""
        return int(np.argmax(self.logits(state, page, 0)))

    def rate(self, state: SessionState, items: list[int]) -> list[int]:
        return [int(r) for r in state.taste.ratings(np.asarray(items, dtype=np.int64))]

    def satisfaction(self, state: SessionState, watched: int) -> int:
        """1..10 from the share of items watched and how they were rated against the user's norm."""
        click_rate = watched / max(state.shown, 1)
        mean = state.profile.mean_rating if state.profile.mean_rating == state.profile.mean_rating else 3.5
        mood = float(np.mean(state.ratings)) - mean if state.ratings else -1.0
        score = 5.5 + 8.0 * (click_rate - 0.25) + 1.5 * mood + state.rng.normal(0.0, 0.5)
        return int(np.clip(round(score), 1, 10))

    def interview(self, state: SessionState, summary: str, watched: int) -> tuple[int, str]:
        satisfaction = self.satisfaction(state, watched)
        return satisfaction, self.interview_reason(state, summary, satisfaction)

    def interview_reason(self, state: SessionState, summary: str, satisfaction: int) -> str:
        del state, satisfaction
        return summary

    def reflection_text(self, state: SessionState) -> str:
        liked, disliked = state.memory.genre_verdicts(state.items, state.profile.mean_rating)
        names = state.items.genre_names
        parts = []
        if liked:
            parts.append("lately I enjoy " + ", ".join(names[j] for j in liked))
        if disliked:
            parts.append("I was let down by " + ", ".join(names[j] for j in disliked))
        return ("; ".join(parts) or "nothing stood out lately").capitalize() + "."


class HybridChoice(StatisticalChoice):
    """Statistical decisions; the LLM writes the feelings, reflections and interview reasons."""

    name: ClassVar[str] = "hybrid"

    def feeling(
        self, state: SessionState, page: list[int], watched: npt.NDArray[np.bool_], ratings: tuple[int, ...]
    ) -> str:
        taken = [(item, rating) for item, seen, rating in zip(page, watched, ratings, strict=True) if seen]
        if not taken or state.voice is None:
            return ""
        return state.voice.feeling(state.system_prompt(), taken, state.seed())

    def interview_reason(self, state: SessionState, summary: str, satisfaction: int) -> str:
        if state.voice is None:
            return summary
        return state.voice.interview_reason(state.system_prompt(), summary, satisfaction, state.seed())

    def reflection_text(self, state: SessionState) -> str:
        if state.voice is None:
            return super().reflection_text(state)
        return state.voice.reflection(state.system_prompt(), state.memory, state.seed())

    # The LLM writes what the user types and says; an empty reply falls back to the template.
    def search_query(self, state: SessionState, source: str) -> str:
        written = state.voice.search_query(state.system_prompt(), state.seed()) if state.voice else ""
        return written or super().search_query(state, source)

    def agent_message(self, state: SessionState) -> str:
        written = state.voice.agent_message(state.system_prompt(), state.seed()) if state.voice else ""
        return written or super().agent_message(state)

    def post_text(self, state: SessionState, item: int, rating: int) -> str:
        written = state.voice.post_text(state.system_prompt(), item, rating, state.seed()) if state.voice else ""
        return written or super().post_text(state, item, rating)

    def friend_message(self, state: SessionState) -> str:
        written = state.voice.friend_message(state.system_prompt(), state.seed()) if state.voice else ""
        return written or super().friend_message(state)

    def friend_reply(self, state: SessionState, friend: UserProfile, message: str, item: int, rating: int) -> str:
        voice = state.voice
        written = voice.friend_reply(friend.taste, message, item, rating, state.seed()) if voice else ""
        return written or super().friend_reply(state, friend, message, item, rating)

"""Choice models: how a simulated user decides what to watch, how to rate, and when to leave.

* ``statistical``: the calibrated logistic model (``agentrec.sim.taste``) plus
  behavioural priors for page position, fatigue, activity and memory; no LLM.
* ``hybrid``: the same decisions; the LLM writes feelings, reflections and
  interview answers.
* ``llm``: the LLM decides everything from the page, as in Agent4Rec; a reply
  that does not validate falls back to the statistical decision (and is counted).

The priors cannot be learned from rating logs (MovieLens records no pages or
sessions), so they are fixed, documented constants rather than tuned numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import ConfigError
from agentrec.sim.items import SimItems
from agentrec.sim.memory import Memory
from agentrec.sim.profiles import UserProfile
from agentrec.sim.taste import UserTaste
from agentrec.sim.voice import ForcedPick, InterviewAnswer, PageChoice, RatingAnswer, UserVoice, page_lines, persona

FloatArray = npt.NDArray[np.float64]
CHOICE_MODELS = ("hybrid", "statistical", "llm")


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
        return result

    def decide_page(self, state: SessionState, page: list[int], page_index: int) -> PageDecision:
        watched = state.rng.random(len(page)) < _sigmoid(self.logits(state, page, page_index))
        stars = state.taste.ratings(np.asarray(page, dtype=np.int64))
        ratings = tuple(int(r) if w else 0 for r, w in zip(stars, watched, strict=True))
        leave = bool(state.rng.random() < self.exit_probability(state, page_index, ratings))
        feeling = self.feeling(state, page, watched, ratings)
        return PageDecision(tuple(bool(w) for w in watched), ratings, feeling, leave)

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


class LlmChoice(HybridChoice):
    """The LLM decides what to watch, the ratings, when to leave and the satisfaction."""

    name: ClassVar[str] = "llm"

    def decide_page(self, state: SessionState, page: list[int], page_index: int) -> PageDecision:
        voice = self._voice(state)
        request = (
            f"Page {page_index + 1} of recommendations:\n{page_lines(page, state.items)}\n"
            "Which do you watch (positions), how do you rate each one you watch (1-5), how do you feel, "
            "and do you leave now?"
        )
        answer = voice.ask(state.system_prompt(), request, PageChoice, state.seed())
        if answer is None:
            return super().decide_page(state, page, page_index)
        watched = [False] * len(page)
        ratings = [0] * len(page)
        for n, position in enumerate(answer.watch):
            if 1 <= position <= len(page) and not watched[position - 1]:
                watched[position - 1] = True
                given = answer.ratings[n] if n < len(answer.ratings) else 3
                ratings[position - 1] = int(np.clip(given, 1, 5))
        return PageDecision(tuple(watched), tuple(ratings), answer.feeling.strip(), answer.leave)

    def pick(self, state: SessionState, page: list[int]) -> int:
        request = f"Movies:\n{page_lines(page, state.items)}\nWhich ONE would you watch? Give its position."
        answer = self._voice(state).ask(state.system_prompt(), request, ForcedPick, state.seed())
        if answer is None or not 1 <= answer.choice <= len(page):
            return super().pick(state, page)
        return answer.choice - 1

    def rate(self, state: SessionState, items: list[int]) -> list[int]:
        fallback = super().rate(state, items)
        ratings = []
        for item, default in zip(items, fallback, strict=True):
            request = f"You watched {state.items.labels[item]}. How do you rate it (1-5)?"
            answer = self._voice(state).ask(state.system_prompt(), request, RatingAnswer, state.seed())
            ratings.append(answer.rating if answer is not None else default)
        return ratings

    def interview(self, state: SessionState, summary: str, watched: int) -> tuple[int, str]:
        request = f"The session is over. {summary} How satisfied are you (1-10), and why, in one sentence?"
        answer = self._voice(state).ask(state.system_prompt(), request, InterviewAnswer, state.seed())
        if answer is None:
            return super().interview(state, summary, watched)
        return int(np.clip(answer.satisfaction, 1, 10)), answer.reason.strip()

    @staticmethod
    def _voice(state: SessionState) -> UserVoice:
        if state.voice is None:
            raise ConfigError("the llm choice model needs an LLM")
        return state.voice


def make_choice_model(name: str) -> StatisticalChoice:
    """The choice model called ``name``."""
    models: dict[str, type[StatisticalChoice]] = {
        "statistical": StatisticalChoice,
        "hybrid": HybridChoice,
        "llm": LlmChoice,
    }
    if name not in models:
        raise ConfigError(f"unknown choice model {name!r}; choose from {', '.join(CHOICE_MODELS)}")
    return models[name]()

"""The ``llm`` choice model: the LLM decides what to watch, the ratings, when to leave, the detours.

As in Agent4Rec, one structured LLM call per page decides watches, ratings,
feeling and leaving. A reply that does not validate falls back to the
statistical decision (and is counted). Posting about a watch stays a calibrated
coin flip even here: an LLM call after every well-rated watch would double the
cost of a session for a decision the statistical model makes as well.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from agentrec.core.errors import ConfigError
from agentrec.sim.choice import DETOURS, HybridChoice, ListDecision, PageDecision, SessionState
from agentrec.sim.voice import (
    DetourChoice,
    ForcedPick,
    InterviewAnswer,
    PageChoice,
    RatingAnswer,
    UserVoice,
    page_lines,
)

# What the detour prompt calls each detour.
_DETOUR_WORDS = {"search": "search", "chat": "assistant", "friend": "friend"}
_DETOUR_HELP = {
    "search": "search (type words into the catalog's search box)",
    "chat": "assistant (tell the site's movie assistant what you want)",
    "friend": "friend (ask a friend for a movie)",
}


class LlmChoice(HybridChoice):
    """The LLM decides what to watch, the ratings, when to leave, the detours and the satisfaction."""

    name: ClassVar[str] = "llm"

    def decide_page(self, state: SessionState, page: list[int], page_index: int) -> PageDecision:
        request = (
            f"Page {page_index + 1} of recommendations:\n{page_lines(page, state.items)}\n"
            "Which do you watch (positions), how do you rate each one you watch (1-5), how do you feel, "
            "and do you leave now?"
        )
        answer = self._voice(state).ask(state.system_prompt(), request, PageChoice, state.seed())
        if answer is None:
            return super().decide_page(state, page, page_index)
        watched, ratings = _positions(answer, len(page))
        return PageDecision(watched, ratings, answer.feeling.strip(), answer.leave)

    def decide_list(self, state: SessionState, items: list[int], page_index: int, heading: str) -> ListDecision:
        request = (
            f"{heading}:\n{page_lines(items, state.items)}\n"
            "Which do you watch (positions), how do you rate each one you watch (1-5), and how do you feel?"
        )
        answer = self._voice(state).ask(state.system_prompt(), request, PageChoice, state.seed())
        if answer is None:
            return super().decide_list(state, items, page_index, heading)
        watched, ratings = _positions(answer, len(items))
        return ListDecision(watched, ratings, answer.feeling.strip())

    def detour(self, state: SessionState, rates: dict[str, float]) -> str | None:
        offered = [name for name in DETOURS if name in rates and rates[name] > 0]
        if not offered:
            return None
        options = "; ".join(["browse (go on)", *(_DETOUR_HELP[name] for name in offered)])
        request = f"Nothing on this page appealed to you. What do you do now? Options: {options}."
        answer = self._voice(state).ask(state.system_prompt(), request, DetourChoice, state.seed())
        if answer is None:
            return super().detour(state, rates)
        chosen = [name for name in offered if _DETOUR_WORDS[name] == answer.action]
        return chosen[0] if chosen else None

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


def _positions(answer: PageChoice, size: int) -> tuple[tuple[bool, ...], tuple[int, ...]]:
    """Watched flags and ratings per position from a page answer (bad positions are ignored)."""
    watched = [False] * size
    ratings = [0] * size
    for n, position in enumerate(answer.watch):
        if 1 <= position <= size and not watched[position - 1]:
            watched[position - 1] = True
            given = answer.ratings[n] if n < len(answer.ratings) else 3
            ratings[position - 1] = int(np.clip(given, 1, 5))
    return tuple(watched), tuple(ratings)

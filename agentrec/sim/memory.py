"""A simulated user's memory: recent watches and a few reflections, both bounded.

Reflections summarise recent watches. Their text comes from the LLM (or a
template); their structured part, the genres the user liked and disliked lately,
is computed from the memory itself, so replaying the event log rebuilds exactly
the memory a user had, without calling the LLM again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agentrec.sim.items import SimItems

FloatArray = npt.NDArray[np.float64]
MAX_REFLECTIONS = 3


@dataclass(frozen=True)
class Watch:
    """One watched item, the rating given, and what the user felt."""

    item: int
    rating: int
    feeling: str = ""


@dataclass(frozen=True)
class Reflection:
    """A short summary of recent watches, and the genres it found liked and disliked."""

    text: str
    liked: tuple[int, ...]  # genre columns
    disliked: tuple[int, ...]


@dataclass
class Memory:
    """Recent watches (at most ``size``) and the last ``MAX_REFLECTIONS`` reflections."""

    size: int
    watches: deque[Watch] = field(default_factory=deque)
    reflections: deque[Reflection] = field(default_factory=lambda: deque(maxlen=MAX_REFLECTIONS))
    since_reflection: int = 0

    def __post_init__(self) -> None:
        self.watches = deque(self.watches, maxlen=self.size)

    def remember(self, watch: Watch) -> None:
        self.watches.append(watch)
        self.since_reflection += 1

    def due_for_reflection(self, every: int) -> bool:
        return self.since_reflection >= every

    def reflect(self, text: str, items: SimItems, user_mean: float) -> Reflection:
        """Store a reflection with ``text``; its liked/disliked genres come from the recent watches."""
        liked, disliked = self.genre_verdicts(items, user_mean)
        reflection = Reflection(text, liked, disliked)
        self.reflections.append(reflection)
        self.since_reflection = 0
        return reflection

    def genre_verdicts(self, items: SimItems, user_mean: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Genres rated at least half a star above (below) the user's mean in recent watches."""
        if not self.watches or not items.genre_names:
            return (), ()
        flags = items.genres[[w.item for w in self.watches]].astype(np.float64)
        centred = np.array([w.rating for w in self.watches], dtype=np.float64) - user_mean
        seen = flags.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            lift = np.where(seen >= 2, (flags * centred[:, None]).sum(axis=0) / np.maximum(seen, 1), 0.0)
        liked = tuple(int(j) for j in np.flatnonzero(lift >= 0.5))
        disliked = tuple(int(j) for j in np.flatnonzero(lift <= -0.5))
        return liked, disliked

    def genre_bias(self, items: SimItems, candidates: list[int]) -> FloatArray:
        """Per candidate: +1 if it has a genre the latest reflection liked, -1 if only disliked ones."""
        bias = np.zeros(len(candidates))
        if not self.reflections or not candidates:
            return bias
        latest = self.reflections[-1]
        flags = items.genres[candidates]
        if latest.liked:
            bias += flags[:, list(latest.liked)].any(axis=1)
        if latest.disliked:
            bias -= flags[:, list(latest.disliked)].any(axis=1) & (bias <= 0)
        return bias

    def recent_lines(self, items: SimItems, limit: int = 5) -> list[str]:
        """The last watches as prompt lines."""
        return [f"- {items.labels[w.item]} (you rated it {w.rating}/5)" for w in list(self.watches)[-limit:]]

    def latest_reflection(self) -> str:
        return self.reflections[-1].text if self.reflections else ""

"""Agent4Rec's 1:m discrimination: can a simulated user tell an item they rated from ones they never touched?

Each simulated user sees one of their held-out items beside ``m`` items they never
interacted with, in random order, on one page, and decides which they would watch,
with the same page decision a session uses. Every item is one binary case
("would watch" against "is the held-out item"), so accuracy, precision, recall and
F1 read as in Agent4Rec's table (its issue #5 reproduction: 1:1 accuracy 0.5988,
1:9 accuracy 0.7049; ``../shared/ANCHORS.md``). Accuracy rises with ``m`` by
construction, since most cases are negatives; F1 is the figure to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agentrec.data.interactions import Interactions
from agentrec.sim.profiles import UserProfile
from agentrec.sim.taste import TasteModel
from agentrec.sim.world import SimWorld, held_out_state, never_interacted

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
RATIOS = (1, 3, 9)


@dataclass
class Confusion:
    """Counts of one binary task, and the four figures Agent4Rec reports."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    def add(self, predicted: Sequence[bool], actual: Sequence[bool]) -> None:
        for said, real in zip(predicted, actual, strict=True):
            if said and real:
                self.true_positive += 1
            elif said:
                self.false_positive += 1
            elif real:
                self.false_negative += 1
            else:
                self.true_negative += 1

    def figures(self) -> dict[str, float]:
        total = self.true_positive + self.false_positive + self.false_negative + self.true_negative
        said = self.true_positive + self.false_positive
        real = self.true_positive + self.false_negative
        precision = self.true_positive / said if said else 0.0
        recall = self.true_positive / real if real else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        accuracy = (self.true_positive + self.true_negative) / total if total else float("nan")
        return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "cases": float(total)}


def discrimination(
    world: SimWorld,
    taste: TasteModel,
    profiles: dict[int, UserProfile],
    held: dict[int, tuple[IntArray, FloatArray]],
    seen: Interactions,
    ratios: Sequence[int] = RATIOS,
) -> dict[str, dict[str, float]]:
    """``{"1:m": {"accuracy", "precision", "recall", "f1", "cases"}}`` for each ``m`` in ``ratios``."""
    scenario = world.scenario
    history = seen.to_csr(binary=True)
    result: dict[str, dict[str, float]] = {}
    for m in ratios:
        counts = Confusion()
        for user, profile in profiles.items():
            items = held[user][0][: scenario.fidelity.max_pages_per_user]
            state = held_out_state(world, taste, profile, f"discrimination-1:{m}")
            rng = state.rng
            never = never_interacted(history, user)
            if never.size < m:
                continue
            for item in items.tolist():
                page = [int(i) for i in rng.permutation(np.concatenate([[item], rng.choice(never, m, replace=False)]))]
                decision = world.choice.decide_page(state, page, 0)
                counts.add(decision.watched, [i == item for i in page])
        result[f"1:{m}"] = counts.figures()
    return result

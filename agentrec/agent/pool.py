"""The candidate pool: every list the agent gathered, with where each item came from.

Items are dense catalog indices. A list keeps its tool, arguments and order, so
the final ranking can say why an item is there ("retrieve genre=Comedy, rank 3").
Hard constraints from ``filter`` narrow what the pool may hold: items outside the
allowed mask are never added and are dropped from what is already there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

RRF_OFFSET = 60  # the constant of Cormack et al. (2009); it damps the weight of the very top ranks


@dataclass(frozen=True)
class GatheredList:
    """One ranked list a tool returned."""

    tool: str
    arguments: dict[str, Any]
    items: tuple[int, ...]
    step: int
    weight: float = 1.0  # its share in reciprocal-rank fusion (the chat counts the model's lists for less)

    def describe(self) -> str:
        shown = ", ".join(f"{key}={value}" for key, value in self.arguments.items() if value not in (None, [], ""))
        return f"{self.tool}({shown})" if shown else self.tool


@dataclass(frozen=True)
class Provenance:
    """Where an item in the final list came from: its best-ranked source list."""

    source: str
    rank: int
    lists: int


@dataclass
class CandidatePool:
    """Lists gathered for one user, and the hard constraints in force."""

    allowed: BoolArray
    lists: list[GatheredList] = field(default_factory=list)

    def add(self, tool: str, arguments: dict[str, Any], items: Iterable[int], step: int) -> tuple[int, ...]:
        """Add a ranked list (items outside the constraints are dropped); return what was kept."""
        kept = tuple(int(item) for item in items if self.allowed[int(item)])
        self.lists.append(GatheredList(tool, dict(arguments), kept, step))
        return kept

    def constrain(self, mask: BoolArray) -> None:
        """Apply a hard constraint from now on, and to what was gathered."""
        self.allowed = self.allowed & mask
        self.lists = [
            GatheredList(g.tool, g.arguments, tuple(i for i in g.items if self.allowed[i]), g.step, g.weight)
            for g in self.lists
        ]

    def items(self) -> IntArray:
        """Every pooled item once, in first-gathered order."""
        seen: dict[int, None] = {}
        for gathered in self.lists:
            seen.update(dict.fromkeys(gathered.items))
        return np.fromiter(seen, dtype=np.int64, count=len(seen))

    def __len__(self) -> int:
        return len(self.items())

    def list_statistics(self, items: IntArray) -> dict[str, FloatArray]:
        """Per item: how many lists hold it, its best rank, and its (weighted) reciprocal-rank-fusion score."""
        position = {int(item): row for row, item in enumerate(items)}
        count = np.zeros(len(items))
        best = np.full(len(items), np.inf)
        rrf = np.zeros(len(items))
        for gathered in self.lists:
            for rank, item in enumerate(gathered.items, start=1):
                row = position.get(item)
                if row is None:
                    continue
                count[row] += 1
                best[row] = min(best[row], rank)
                rrf[row] += gathered.weight / (RRF_OFFSET + rank)
        return {"lists": count, "best_rank": best, "rrf": rrf}

    def provenance(self, item: int) -> Provenance:
        """The list that ranked ``item`` best (earliest on ties)."""
        best: tuple[int, str] | None = None
        count = 0
        for gathered in self.lists:
            if item in gathered.items:
                count += 1
                rank = gathered.items.index(item) + 1
                if best is None or rank < best[0]:
                    best = (rank, gathered.describe())
        if best is None:
            return Provenance("backbone fallback", 0, 0)
        return Provenance(best[1], best[0], count)

"""The constraints a chat session holds until the person changes them, and how they apply to items.

Hard constraints (genres kept, genres and title kinds ruled out, a year range)
bound every list; a violated one is a bug, never a ranking choice. Preferred
genres are soft: they add lists to the pool each turn. The audience is the word
that set some of them ("family"), so ``/constraints`` can say where they came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from agentrec.data.records import ItemRecord
from agentrec.data.text_attributes import bare_title


class Constraints(BaseModel):
    """Constraints in force for a session; every list obeys the hard ones."""

    genres: list[str] = Field(default_factory=list, description="keep only items with one of these")
    exclude_genres: list[str] = Field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    exclude_kinds: list[str] = Field(default_factory=list, description="title kinds ruled out (the pack's patterns)")
    prefer_genres: list[str] = Field(default_factory=list, description="soft wishes that last the session")
    audience: str | None = None

    def is_empty(self) -> bool:
        return not (self.has_hard() or self.prefer_genres or self.audience)

    def has_hard(self) -> bool:
        return bool(
            self.genres or self.exclude_genres or self.exclude_kinds
            or self.year_min is not None or self.year_max is not None
        )  # fmt: skip

    def filter_arguments(self) -> dict[str, Any]:
        """The ``filter`` tool's arguments for the genre and year constraints (title kinds are masked apart)."""
        arguments: dict[str, Any] = {}
        if self.genres:
            arguments["genres"] = list(self.genres)
        if self.exclude_genres:
            arguments["exclude_genres"] = list(self.exclude_genres)
        if self.year_min is not None:
            arguments["year_min"] = self.year_min
        if self.year_max is not None:
            arguments["year_max"] = self.year_max
        return arguments

    def exclude_genre(self, genre: str) -> None:
        self.genres = [g for g in self.genres if g != genre]
        self.prefer_genres = [g for g in self.prefer_genres if g != genre]
        if genre not in self.exclude_genres:
            self.exclude_genres.append(genre)

    def prefer_genre(self, genre: str) -> None:
        self.exclude_genres = [g for g in self.exclude_genres if g != genre]
        if genre not in self.prefer_genres:
            self.prefer_genres.append(genre)

    def set_year_min(self, year: int) -> None:
        """Newer than before: a ``year_max`` below the new minimum no longer makes sense and goes."""
        self.year_min = year
        if self.year_max is not None and self.year_max < year:
            self.year_max = None

    def set_year_max(self, year: int) -> None:
        self.year_max = year
        if self.year_min is not None and self.year_min > year:
            self.year_min = None

    def describe(self) -> str:
        """In words: "for family; only Comedy; no Horror; 1990-1999; no sequel; prefer Children's"."""
        parts = [f"for {self.audience}"] if self.audience else []
        if self.genres:
            parts.append("only " + " or ".join(self.genres))
        if self.exclude_genres:
            parts.append("no " + ", ".join(self.exclude_genres))
        if self.year_min is not None and self.year_max is not None:
            parts.append(f"{self.year_min}-{self.year_max}")
        elif self.year_min is not None:
            parts.append(f"{self.year_min} or later")
        elif self.year_max is not None:
            parts.append(f"up to {self.year_max}")
        parts += [f"no {kind}" for kind in self.exclude_kinds]
        if self.prefer_genres:
            parts.append("prefer " + ", ".join(self.prefer_genres))
        return "; ".join(parts)

    def violations(self, record: ItemRecord, title_kinds: Mapping[str, re.Pattern[str]]) -> list[str]:
        """The hard constraints ``record`` breaks, in words (empty: it may be listed)."""
        broken = []
        genres = set(record.genres)
        if self.genres and not genres & set(self.genres):
            broken.append("only " + " or ".join(self.genres))
        broken += [f"no {g}" for g in self.exclude_genres if g in genres]
        if self.year_min is not None and (record.year is None or record.year < self.year_min):
            broken.append(f"{self.year_min} or later")
        if self.year_max is not None and (record.year is None or record.year > self.year_max):
            broken.append(f"up to {self.year_max}")
        title = bare_title(record.title)
        broken += [
            f"no {kind}" for kind in self.exclude_kinds if kind in title_kinds and title_kinds[kind].search(title)
        ]
        return broken

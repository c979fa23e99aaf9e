"""Attribute filters over the catalog, compiled to parameterised SQL.

Column names come only from the store's own schema (checked against
``DESCRIBE items``); every value a user or an LLM supplies travels as a bound
parameter, never inside the SQL text.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agentrec.core.errors import ToolRetry

_ALNUM = re.compile(r"[^a-z0-9]")


class AttributeFilter(BaseModel):
    """Hard constraints on items. Every field is optional; all given ones must hold."""

    genres_any: list[str] = Field(
        default_factory=list, description="keep items with at least one of these genres"
    )
    genres_all: list[str] = Field(
        default_factory=list, description="keep items with all of these genres"
    )
    genres_none: list[str] = Field(
        default_factory=list, description="drop items with any of these genres"
    )
    year_min: int | None = Field(None, description="earliest release year, inclusive")
    year_max: int | None = Field(None, description="latest release year, inclusive")
    min_avg_rating: float | None = Field(None, description="lowest average rating, inclusive")
    max_avg_rating: float | None = Field(None, description="highest average rating, inclusive")
    min_popularity: int | None = Field(None, description="fewest interactions, inclusive")
    title_contains: str | None = Field(
        None, description="case-insensitive text the title must contain"
    )
    equals: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="other attributes that must equal (or, for lists, contain) a value",
    )
    exclude_items: list[str] = Field(default_factory=list, description="item ids to leave out")


def genre_key(name: str) -> str:
    """Genres compare on letters and digits only: "sci-fi", "SciFi" and "Sci-Fi" are one genre."""
    return _ALNUM.sub("", name.lower())


def compile_filter(
    spec: AttributeFilter, columns: dict[str, str], genres: dict[str, str]
) -> tuple[str, list[Any]]:
    """A WHERE clause and its parameters. ``genres`` maps genre keys to the catalog's spelling."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if spec.genres_any:
        add("list_has_any(genres, ?::VARCHAR[])", _canonical_genres(spec.genres_any, genres))
    if spec.genres_all:
        add("list_has_all(genres, ?::VARCHAR[])", _canonical_genres(spec.genres_all, genres))
    if spec.genres_none:
        add("NOT list_has_any(genres, ?::VARCHAR[])", _canonical_genres(spec.genres_none, genres))
    if spec.year_min is not None:
        add("year >= ?", spec.year_min)
    if spec.year_max is not None:
        add("year <= ?", spec.year_max)
    if spec.min_avg_rating is not None:
        add("avg_rating >= ?", spec.min_avg_rating)
    if spec.max_avg_rating is not None:
        add("avg_rating <= ?", spec.max_avg_rating)
    if spec.min_popularity is not None:
        add("popularity >= ?", spec.min_popularity)
    if spec.title_contains:
        add("contains(lower(title), lower(?))", spec.title_contains)
    for name, value in spec.equals.items():
        column = _known_column(name, columns)
        if columns[column].endswith("[]"):
            add(
                f'list_contains(list_transform("{column}", lambda x: lower(CAST(x AS VARCHAR))), lower(?))',
                str(value),
            )
        else:
            add(f'lower(CAST("{column}" AS VARCHAR)) = lower(?)', str(value))
    if spec.exclude_items:
        add("NOT list_contains(?::VARCHAR[], item_id)", [str(i) for i in spec.exclude_items])
    return (" AND ".join(clauses) or "TRUE"), params


def _canonical_genres(requested: list[str], genres: dict[str, str]) -> list[str]:
    unknown = [g for g in requested if genre_key(g) not in genres]
    if unknown:
        known = ", ".join(sorted(genres.values()))
        raise ToolRetry(f"unknown genre(s) {', '.join(unknown)}; known genres: {known}")
    return [genres[genre_key(g)] for g in requested]


def _known_column(name: str, columns: dict[str, str]) -> str:
    if name in columns:
        return name
    lowered = {c.lower(): c for c in columns}
    if name.lower() in lowered:
        return lowered[name.lower()]
    raise ToolRetry(f"unknown attribute {name!r}; attributes: {', '.join(sorted(columns))}")

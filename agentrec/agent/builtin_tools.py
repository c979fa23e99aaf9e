"""The built-in tools: retrieve, filter, search, similar, rank, item_info, finish.

Each is a typed function over a ``ToolContext``. Lists they gather go into the
candidate pool; ``filter`` narrows it. Results are pydantic models whose
``observation()`` is the short text the LLM reads back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agentrec.agent.context import ToolContext
from agentrec.agent.interests import MAX_INTERESTS, user_interests
from agentrec.agent.llm_scoring import MAX_SCORED, score_candidates
from agentrec.agent.pool import IntArray
from agentrec.agent.registry import Tool, ToolResult, tool
from agentrec.core.errors import ToolRetry
from agentrec.llm.capabilities import ScoresNextToken, supports
from agentrec.recsys.base import top_k_allowed

ListSize = Annotated[int, Field(ge=1, le=100)]
SHOWN_IN_OBSERVATION = 5


class ItemBrief(BaseModel):
    """An item as a tool reports it."""

    item_id: str
    title: str
    year: int | None = None
    genres: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, context: ToolContext, item: int) -> ItemBrief:
        record = context.record(item)
        # Built from a validated record, so validation would only repeat itself (hundreds of items a run).
        return cls.model_construct(
            item_id=record.item_id, title=record.label, year=record.year, genres=list(record.genres)
        )


class ItemList(ToolResult):
    """A ranked list a tool added to the pool."""

    source: str
    items: list[ItemBrief]
    pool_size: int
    repeated: bool = False

    def observation(self) -> str:
        if self.repeated:
            return f"{self.source}: already gathered with these arguments; nothing new. Pool: {self.pool_size} items."
        if not self.items:
            return f"{self.source}: no items matched. Pool: {self.pool_size} items."
        shown = "; ".join(item.title for item in self.items[:SHOWN_IN_OBSERVATION])
        more = len(self.items) - SHOWN_IN_OBSERVATION
        tail = f" and {more} more" if more > 0 else ""
        return f"{self.source}: {len(self.items)} items: {shown}{tail}. Pool: {self.pool_size} items."


class PoolNarrowed(ToolResult):
    """What a hard filter left."""

    constraints: str
    catalog_matches: int
    pool_size: int

    def observation(self) -> str:
        return f"filter({self.constraints}): {self.catalog_matches} catalog items match; pool now {self.pool_size}."


class ItemDetails(ToolResult):
    """Details of some items."""

    items: list[dict[str, Any]]

    def observation(self) -> str:
        return "; ".join(
            f"{d['title']} [{', '.join(str(g) for g in d['genres'])}] "
            f"mean rating {d['mean_rating']}, {d['interactions']} users"
            for d in self.items
        )


class Finished(ToolResult):
    """The agent is done gathering."""

    pool_size: int

    def observation(self) -> str:
        return f"finished with {self.pool_size} pooled items."


def _gathered(context: ToolContext, source: str, arguments: dict[str, object], items: IntArray) -> ItemList:
    if any(g.tool == source and g.arguments == arguments for g in context.pool.lists):
        # A repeated call adds nothing; pooling it twice would only double its weight in fusion.
        return ItemList(source=source, items=[], pool_size=len(context.pool), repeated=True)
    kept = context.pool.add(source, arguments, items, context.step)
    return ItemList(source=source, items=[ItemBrief.of(context, item) for item in kept], pool_size=len(context.pool))


@tool
def retrieve(
    context: ToolContext, attribute: str | None = None, value: str | None = None, k: ListSize = 20
) -> ItemList:
    """Get the recommender model's top-k items for this user, optionally only items with one attribute value.

    Args:
        attribute: the attribute to condition on (for example genre or decade); leave empty for no condition.
        value: the value the items must have, for example "Comedy" or "1990s".
        k: how many items to get (1 to 100).
    """
    attributes = context.workspace.attributes
    allowed = context.pool.allowed
    if attribute is not None and value is None:
        # "retrieve by genre" without a value means the user's own favourite genre.
        favourites = attributes.top_values(attribute, context.history.items, 1)
        value = favourites[0] if favourites else None
    if value is not None:
        owner = attributes.attribute_of(value)
        if attribute not in attributes.names or (owner is not None and owner != attribute):
            attribute = owner  # a value that belongs to exactly one attribute implies it
        if attribute is None:
            raise ToolRetry(f"{value!r} is not a value of any attribute ({', '.join(attributes.names)})")
        value = attributes.canonical(attribute, value)
        allowed = allowed & attributes.mask(attribute, value)
    items = top_k_allowed(context.scores("backbone"), allowed, k)
    return _gathered(context, "retrieve", {"attribute": attribute if value else None, "value": value, "k": k}, items)


@tool(name="filter")  # the model's word for it; as a Python name it would hide the builtin
def filter_pool(
    context: ToolContext,
    genres: list[str] | None = None,
    exclude_genres: list[str] | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    min_rating: Annotated[float, Field(ge=0)] | None = None,
) -> PoolNarrowed:
    """Keep only items that meet hard constraints, from now on and in the pool already gathered.

    Args:
        genres: keep items with at least one of these genres.
        exclude_genres: drop items with any of these genres.
        year_min: earliest release year.
        year_max: latest release year.
        min_rating: lowest mean rating the item has from other users.
    """
    workspace = context.workspace
    mask = np.ones(workspace.n_items, dtype=bool)
    shown: list[str] = []
    if genres:
        wanted = np.zeros(workspace.n_items, dtype=bool)
        for genre in genres:
            wanted |= workspace.attributes.mask("genre", genre)
        mask &= wanted
        shown.append("genres=" + "|".join(genres))
    for genre in exclude_genres or []:
        mask &= ~workspace.attributes.mask("genre", genre)
        shown.append(f"not {genre}")
    years = workspace.item_years
    if year_min is not None:
        mask &= years >= year_min
        shown.append(f"year>={year_min}")
    if year_max is not None:
        mask &= years <= year_max
        shown.append(f"year<={year_max}")
    if min_rating is not None:
        mask &= workspace.mean_ratings >= min_rating
        shown.append(f"rating>={min_rating}")
    matches = int((mask & context.pool.allowed).sum())
    if matches == 0:
        raise ToolRetry("no unseen item meets all these constraints; relax them")
    context.pool.constrain(mask)
    return PoolNarrowed(constraints=", ".join(shown) or "none", catalog_matches=matches, pool_size=len(context.pool))


@tool
def search(context: ToolContext, text: str, k: ListSize = 20) -> ItemList:
    """Find items whose title and description are closest in meaning to a short text.

    Args:
        text: what to look for, for example "space adventure with robots".
        k: how many items to get (1 to 100).
    """
    model = context.workspace.models.text
    if model is None or not hasattr(model, "search_text"):
        raise ToolRetry("text search is not available for this dataset; use retrieve")
    if not text.strip():
        raise ToolRetry("text must not be empty")
    # Ask for extra, because seen or filtered-out items are dropped afterwards.
    found = model.search_text(text, k + int((~context.pool.allowed).sum()))
    items = np.array([item for item, _ in found if context.pool.allowed[item]][:k], dtype=np.int64)
    return _gathered(context, "search", {"text": text, "k": k}, items)


@tool
def similar(context: ToolContext, item: str, k: ListSize = 20) -> ItemList:
    """Get items similar to one item (by who interacted with both, or by text).

    Args:
        item: the item, by id or by title.
        k: how many items to get (1 to 100).
    """
    index = context.workspace.item_index(item)
    items = context.workspace.similar_items(index, k, context.pool.allowed)
    return _gathered(context, "similar", {"item": context.record(index).label, "k": k}, items)


class InterestList(ItemList):
    """The items nearest one of the user's interests."""

    interest: str = ""

    def observation(self) -> str:
        return f"interest {self.interest}: " + super().observation()


@tool
def retrieve_by_interest(
    context: ToolContext, interest: Annotated[int, Field(ge=1, le=MAX_INTERESTS)] = 1, k: ListSize = 20
) -> InterestList:
    """Get unseen items nearest to one of the user's interests, by its number in the profile.

    Args:
        interest: the interest's number, as listed under "Their interests" in the user's profile.
        k: how many items to get (1 to 100).
    """
    interests = user_interests(context, context.interests)
    if not interests:
        raise ToolRetry("this user has no history to find interests in; use retrieve")
    if interest > len(interests):
        raise ToolRetry(f"this user has {len(interests)} interests; pick a number from 1 to {len(interests)}")
    chosen = interests[interest - 1]
    items = top_k_allowed(chosen.similarity, context.pool.allowed, k)
    gathered = _gathered(context, "retrieve_by_interest", {"interest": interest, "k": k}, items)
    return InterestList(**gathered.model_dump(), interest=f"{interest} ({chosen.label})")


@tool
def rank(
    context: ToolContext,
    by: Literal["score", "popularity", "recency", "similarity", "llm"] = "score",
    k: ListSize = 20,
) -> ItemList:
    """Re-order the gathered pool by a criterion and keep its top k as a new list.

    Args:
        by: score (the model), popularity, recency (newest first), similarity (to liked items) or llm (you score).
        k: how many items to keep (1 to 100).
    """
    pooled = context.pool.items()
    if pooled.size == 0:
        raise ToolRetry("the pool is empty; gather items with retrieve, search or similar first")
    if by == "llm":
        return _gathered(context, "rank by llm", {"by": by, "k": k}, _llm_ranked(context, pooled)[:k])
    workspace = context.workspace
    criteria: dict[str, Callable[[], Any]] = {
        "score": lambda: context.scores("backbone"),
        "popularity": lambda: workspace.popularity,
        "recency": lambda: np.nan_to_num(workspace.item_years, nan=-1.0),
        "similarity": lambda: context.scores("text" if workspace.models.text is not None else "similar"),
    }
    values = np.asarray(criteria[by](), dtype=np.float64)
    allowed = np.zeros(workspace.n_items, dtype=bool)
    allowed[pooled] = True
    return _gathered(context, f"rank by {by}", {"by": by, "k": k}, top_k_allowed(values, allowed, k))


def _llm_ranked(context: ToolContext, pooled: IntArray) -> IntArray:
    """The backbone's top ``MAX_SCORED`` pooled items, ordered by the LLM's label scores."""
    if context.llm is None or not supports(context.llm, ScoresNextToken):
        raise ToolRetry("rank by llm needs an LLM that gives next-token log-probabilities; use another criterion")
    backbone = context.scores("backbone")
    top = pooled[np.argsort(-backbone[pooled], kind="stable")][:MAX_SCORED]
    scored = score_candidates(context.llm, context, top, context.llm_shuffles)
    context.llm_turns.extend(scored.turns)
    return top[np.argsort(-scored.scores, kind="stable")]


@tool
def item_info(context: ToolContext, items: Annotated[list[str], Field(min_length=1, max_length=10)]) -> ItemDetails:
    """Look up details of items: genres, year, mean rating and how many users interacted with them.

    Args:
        items: up to 10 items, by id or by title.
    """
    workspace = context.workspace
    details: list[dict[str, Any]] = []
    for reference in items:
        index = workspace.item_index(reference)
        record = context.record(index)
        rating = workspace.mean_ratings[index]
        details.append(
            {
                "item_id": record.item_id,
                "title": record.label,
                "year": record.year,
                "genres": list(record.genres),
                "mean_rating": None if np.isnan(rating) else round(float(rating), 2),
                "interactions": int(workspace.popularity[index]),
            }
        )
    return ItemDetails(items=details)


@tool
def finish(context: ToolContext) -> Finished:
    """Stop gathering: the pooled items are ranked into the final list.

    Args:
    """
    return Finished(pool_size=len(context.pool))


BUILTIN: dict[str, Tool] = {
    declared.name: declared
    for declared in (retrieve, filter_pool, search, similar, retrieve_by_interest, rank, item_info, finish)
}

"""A user's several interests: their recent history clustered by item similarity (kNN-Embed).

One user vector averages a fan of comedies and of war films into neither. The
recent history is split into at most a few clusters, each shown to the LLM as
a short numbered label (its top attribute values and two titles). Picking one
by number is a small, discrete choice a small model can make; the tool then
retrieves the unseen items nearest to that cluster.

Items are compared by the rows of a model's item-item similarity (the backbone's,
else the text model's, else the similar model's): two items are alike when they
are alike to the same items, so the scale of the model's scores does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from agentrec.agent.context import ToolContext
from agentrec.agent.pool import FloatArray, IntArray
from agentrec.core.errors import ConfigError, ToolRetry
from agentrec.recsys.base import Recommender

DEFAULT_INTERESTS = 4
MAX_INTERESTS = 8  # the most a run may ask for: more labels than a small model can tell apart
INTEREST_HISTORY = 50  # the most recent items: older taste matters less, and the cost stays bounded
_TITLES_SHOWN = 2


@dataclass(frozen=True)
class Interest:
    """One cluster of the user's recent items, numbered from 1 (largest first)."""

    number: int
    members: IntArray
    label: str
    similarity: FloatArray  # mean similarity of every catalog item to the members


def check_interest_count(count: int) -> None:
    """The one rule for an interest count: at least one, at most ``MAX_INTERESTS``."""
    if not 1 <= count <= MAX_INTERESTS:
        raise ConfigError(f"the number of interests must be from 1 to {MAX_INTERESTS}, got {count}")


def user_interests(context: ToolContext, count: int) -> list[Interest]:
    """At most ``count`` interests from the user's last ``INTEREST_HISTORY`` items."""
    check_interest_count(count)
    recent = np.asarray(context.history.items[-INTEREST_HISTORY:], dtype=np.int64)
    if recent.size == 0:
        return []
    model = interest_model(context)
    rows: FloatArray = np.stack([model.item_similarity(int(item)) for item in recent]).astype(np.float64)
    groups = _clusters(rows, recent, min(count, recent.size))
    interests = []
    # Largest first; between equals, the one holding the most recent item.
    for number, positions in enumerate(sorted(groups, key=lambda g: (-len(g), -int(g.max()))), start=1):
        members = recent[positions]
        interests.append(Interest(number, members, _label(context, members), rows[positions].mean(axis=0)))
    return interests


def interest_model(context: ToolContext) -> Recommender:
    """The first of the backbone, text and similar models that can say which items are alike."""
    models = context.workspace.models
    for model in (models.backbone, models.text, models.similar):
        if model is not None and model.has_item_similarity:
            return model
    raise ToolRetry("no model here can say which items are alike; use retrieve")


def _clusters(rows: FloatArray, recent: IntArray, count: int) -> list[IntArray]:
    """Ward clusters of the items' unit similarity rows (Euclidean on unit rows is cosine), at most ``count``."""
    if count == 1 or recent.size < 2:
        return [np.arange(recent.size)]
    # Each item's similarity to itself says nothing about its neighbours; leave it out of its own row.
    profile = rows.copy()
    profile[np.arange(recent.size), recent] = 0.0
    norms = np.linalg.norm(profile, axis=1)
    profile = profile / np.where(norms > 0, norms, 1.0)[:, None]
    # Ward on unit rows: squared Euclidean distance is 2 - 2 cos, and Ward keeps clusters of a size
    # worth retrieving for (average linkage split outliers off as one-item "interests").
    labels = fcluster(linkage(np.nan_to_num(profile), method="ward"), t=count, criterion="maxclust")
    return [np.flatnonzero(labels == label) for label in np.unique(labels)]


def _label(context: ToolContext, members: IntArray) -> str:
    attributes = context.workspace.attributes
    parts = []
    for index, name in enumerate(attributes.names):
        values = attributes.top_values(name, members, 2 if index == 0 else 1)
        if values:
            parts.append("/".join(values))
    # Catalog text is data: one line per interest, whatever a title holds.
    titles = "; ".join(" ".join(context.record(int(i)).label.split()) for i in members[::-1][:_TITLES_SHOWN])
    described = ", ".join(parts)
    count = f"{len(members)} recent item{'s' if len(members) != 1 else ''}"
    return f"{described} (e.g. {titles}; {count})" if described else f"{titles} ({count})"


def describe_interests(interests: list[Interest]) -> str:
    """The numbered lines the LLM reads."""
    return "\n".join(f"{interest.number}. {interest.label}" for interest in interests)

"""What statistical users type and say, without an LLM: built from taste and real history.

The texts are plain on purpose. A search query names a favourite title (for title
search) or the user's top genres and a favourite (for semantic search); a message
to the conversational agent says "a <genre> or <genre> movie, something like
<favourite>", which the agent's rule layer reads as genre wishes and an anchor
title. Favourites come from the training history only, so no held-out item is
ever typed or said.
"""

from __future__ import annotations

import numpy as np

from agentrec.data.text_attributes import display_title
from agentrec.sim.items import SimItems
from agentrec.sim.profiles import UserProfile

FAVOURITES = 5
_YEAR_SUFFIX = " ("


def favourite_items(profile: UserProfile, limit: int = FAVOURITES) -> list[int]:
    """The user's best-rated training items, the most recent first among equal ratings."""
    if not len(profile.history):
        return []
    ratings = np.nan_to_num(profile.ratings, nan=0.0)
    recency = np.arange(len(profile.history))
    order = np.lexsort((-recency, -ratings))
    return [int(profile.history[i]) for i in order[:limit]]


def top_genres(profile: UserProfile, items: SimItems, limit: int = 2) -> list[str]:
    """The genres the user watches most (none when the history has no genres)."""
    share = profile.genre_share
    return [items.genre_names[j] for j in np.argsort(-share, kind="stable")[:limit] if share[j] > 0]


def pick_favourite(profile: UserProfile, rng: np.random.Generator) -> int | None:
    favourites = favourite_items(profile)
    return favourites[int(rng.integers(len(favourites)))] if favourites else None


def title_without_year(label: str) -> str:
    shown = display_title(label)
    return shown.rsplit(_YEAR_SUFFIX, 1)[0] if shown.endswith(")") else shown


def genre_phrase(profile: UserProfile, items: SimItems) -> str:
    genres = top_genres(profile, items)
    return " or ".join(genre.lower() for genre in genres) if genres else "good"


def search_query(profile: UserProfile, items: SimItems, source: str, rng: np.random.Generator) -> str:
    """A query typed into the search box: a favourite's title, or genres plus a favourite."""
    favourite = pick_favourite(profile, rng)
    if source == "titles":
        return title_without_year(items.labels[favourite]) if favourite is not None else genre_phrase(profile, items)
    words = " ".join(top_genres(profile, items)).lower() or "popular"
    like = f" like {title_without_year(items.labels[favourite])}" if favourite is not None else ""
    return f"{words} movie{like}"


def agent_message(profile: UserProfile, items: SimItems, rng: np.random.Generator) -> str:
    """A request to the conversational agent the rule layer can read (genres and an anchor title)."""
    favourite = pick_favourite(profile, rng)
    like = f", something like {items.labels[favourite]}" if favourite is not None else ""
    wanted = genre_phrase(profile, items)
    article = "an" if wanted[:1] in "aeiou" else "a"
    return f"I would like {article} {wanted} movie{like}."


def post_text(items: SimItems, item: int, rating: int) -> str:
    return f"Just watched {items.labels[item]}: {rating}/5."


def friend_message(profile: UserProfile, items: SimItems) -> str:
    return f"Seen any {genre_phrase(profile, items)} movies lately that I should watch?"


def friend_reply(items: SimItems, item: int, rating: int) -> str:
    return f"You should watch {items.labels[item]}, I gave it {rating}/5."

"""User profiles from real data: Agent4Rec's three traits, a taste summary and the real history.

Traits follow Agent4Rec's published percentile rules, computed over every user of
the training data:

* activity: number of ratings, binned at the 60th and 90th percentiles;
* diversity: how many genres cover 80% of the user's genre mentions, binned at
  the 33rd and 66th percentiles;
* conformity: mean absolute deviation of the user's ratings from each item's mean
  rating, binned at the 25th and 80th percentiles (a small deviation is high
  conformity).

Profiles are built from training interactions only, so a held-out item can never
reach a profile or a prompt made from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agentrec.data.interactions import Interactions
from agentrec.sim.items import SimItems

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LEVELS = ("low", "medium", "high")
ACTIVITY_BINS = (60.0, 90.0)
DIVERSITY_BINS = (33.0, 66.0)
CONFORMITY_BINS = (25.0, 80.0)
GENRE_COVER = 0.8


@dataclass(frozen=True)
class Traits:
    """Levels 0 (low), 1 (medium), 2 (high), with the raw values they were binned from."""

    activity: int
    conformity: int
    diversity: int
    ratings: int
    deviation: float
    genres_covering: int

    def describe(self) -> str:
        """The traits as a sentence for prompts."""
        return (
            f"You watch movies with {LEVELS[self.activity]} activity, your opinions show "
            f"{LEVELS[self.conformity]} conformity with the crowd, and your taste has "
            f"{LEVELS[self.diversity]} diversity."
        )


@dataclass(frozen=True)
class UserProfile:
    """One simulated user: who they are in the data, their traits, taste and real history."""

    user: int
    user_id: str
    traits: Traits
    taste: str
    genre_share: FloatArray  # the user's distribution over genres (sums to 1, or all 0)
    history: IntArray  # training items, in time order
    ratings: FloatArray  # their ratings (NaN when implicit)
    mean_rating: float

    def with_taste(self, taste: str) -> UserProfile:
        """The same profile with another taste summary (e.g. one the LLM wrote)."""
        return UserProfile(
            self.user, self.user_id, self.traits, taste, self.genre_share, self.history, self.ratings, self.mean_rating
        )


def build_profiles(train: Interactions, items: SimItems, users: IntArray) -> dict[int, UserProfile]:
    """Profiles of ``users`` with traits binned over every user of ``train``."""
    counts = np.bincount(train.user, minlength=train.n_users)
    deviation = rating_deviation(train)
    covering = genres_covering(train, items)
    active = counts > 0
    activity = _bin(counts.astype(np.float64), active, ACTIVITY_BINS)
    diversity = _bin(covering.astype(np.float64), active, DIVERSITY_BINS)
    # low deviation means high conformity, so the levels run the other way
    conformity = 2 - _bin(deviation, active & np.isfinite(deviation), CONFORMITY_BINS)
    sequences = _time_ordered(train)
    profiles = {}
    for user in users.tolist():
        history, ratings = sequences[user]
        share = genre_share(history, items)
        traits = Traits(
            int(activity[user]),
            int(conformity[user]),
            int(diversity[user]),
            int(counts[user]),
            float(deviation[user]),
            int(covering[user]),
        )
        mean = float(np.nanmean(ratings)) if np.isfinite(ratings).any() else float("nan")
        taste = genre_taste(history, ratings, items)
        profiles[user] = UserProfile(user, train.users.id(user), traits, taste, share, history, ratings, mean)
    return profiles


def _bin(values: FloatArray, valid: npt.NDArray[np.bool_], percentiles: tuple[float, float]) -> IntArray:
    """0/1/2 by the two percentile cuts of the valid values (at or below a cut is the lower level)."""
    levels = np.ones(values.shape[0], dtype=np.int64)
    if not valid.any():
        return levels
    low, high = np.percentile(values[valid], percentiles)
    levels[values <= low] = 0
    levels[values > high] = 2
    return levels


def rating_deviation(train: Interactions) -> FloatArray:
    """Mean |rating - item mean rating| per user (NaN for users without ratings)."""
    rated = np.isfinite(train.rating)
    sums = np.bincount(train.item[rated], weights=train.rating[rated], minlength=train.n_items)
    counts = np.bincount(train.item[rated], minlength=train.n_items)
    item_mean = sums / np.maximum(counts, 1)
    gap = np.abs(train.rating[rated] - item_mean[train.item[rated]])
    total = np.bincount(train.user[rated], weights=gap, minlength=train.n_users)
    n = np.bincount(train.user[rated], minlength=train.n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return result


def genres_covering(train: Interactions, items: SimItems) -> IntArray:
    """Per user, the fewest genres whose mentions make up 80% of all genre mentions in the history."""
    per_user = np.zeros((train.n_users, len(items.genre_names)))
    np.add.at(per_user, train.user, items.genres[train.item].astype(np.float64))
    ordered = -np.sort(-per_user, axis=1)
    totals = ordered.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cumulative = np.where(totals > 0, np.cumsum(ordered, axis=1) / np.maximum(totals, 1e-12), 1.0)
    covering: IntArray = (cumulative < GENRE_COVER - 1e-9).sum(axis=1).astype(np.int64) + 1
    return covering


def genre_share(history: IntArray, items: SimItems) -> FloatArray:
    """The user's distribution over genres (zeros if the history has no genres)."""
    mentions = items.genres[history].sum(axis=0).astype(np.float64)
    total = mentions.sum()
    share: FloatArray = mentions / total if total > 0 else mentions
    return share


def genre_taste(history: IntArray, ratings: FloatArray, items: SimItems, top: int = 3) -> str:
    """A taste summary without an LLM: the most watched genres, and the worst-rated one."""
    if not len(history) or not items.genre_names:
        return "You have no clear genre preferences yet."
    mentions = items.genres[history].sum(axis=0)
    favourites = [items.genre_names[j] for j in np.argsort(-mentions, kind="stable")[:top] if mentions[j] > 0]
    text = f"You mostly watch {', '.join(favourites)} movies."
    rated = np.isfinite(ratings)
    if rated.sum() >= 5:
        flags = items.genres[history[rated]].astype(np.float64)
        seen = flags.sum(axis=0)
        centred = ratings[rated] - ratings[rated].mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            lift = np.where(seen >= 3, (flags * centred[:, None]).sum(axis=0) / np.maximum(seen, 1), np.inf)
        worst = int(np.argmin(lift))
        if np.isfinite(lift[worst]) and lift[worst] < -0.2:
            text += f" You tend to rate {items.genre_names[worst]} movies lower than others."
    return text


def _time_ordered(train: Interactions) -> list[tuple[IntArray, FloatArray]]:
    order = np.lexsort((np.arange(len(train)), train.ts, train.user))
    users, items, ratings = train.user[order], train.item[order], train.rating[order]
    bounds = np.searchsorted(users, np.arange(train.n_users + 1))
    return [(items[bounds[u] : bounds[u + 1]], ratings[bounds[u] : bounds[u + 1]]) for u in range(train.n_users)]

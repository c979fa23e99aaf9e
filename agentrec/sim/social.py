"""The optional social graph: who is friends with whom, what they read, what they recommend.

* The graph is built once per run from the seed and the users alone, so every
  process builds the same one. ``random``: each user befriends ``degree`` others
  drawn at random; ``taste``: the ``degree`` users with the most similar genre
  distribution (cosine). Friendship is mutual, so a user has at least ``degree``
  friends, more when others picked them too.
* A user reads only friends' posts from *earlier rounds*, and a friend asked for a
  movie recommends from their real history and their posts of earlier rounds.
  Sessions of one round run in any order and on any worker, so nothing written in
  the current round may be read in it: this keeps the event log the same whatever
  the worker count, and a resumed round sees exactly what the killed one saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agentrec.sim.events import Event
from agentrec.sim.profiles import UserProfile

FloatArray = npt.NDArray[np.float64]
_GRAPH_STREAM = 0x50C1A1  # keeps the graph's draws apart from every session's


@dataclass(frozen=True)
class SocialGraph:
    """Each simulated user's friends (user ids, sorted)."""

    friends: Mapping[str, tuple[str, ...]]

    def of(self, user_id: str) -> tuple[str, ...]:
        return self.friends.get(user_id, ())

    def mean_degree(self) -> float:
        return float(np.mean([len(f) for f in self.friends.values()])) if self.friends else 0.0


def build_graph(kind: str, degree: int, users: Sequence[str], genre_shares: FloatArray, seed: int) -> SocialGraph:
    """A mutual friendship graph over ``users`` (``genre_shares``: one row per user, same order)."""
    n = len(users)
    picks = min(degree, n - 1)
    links: list[set[int]] = [set() for _ in range(n)]
    if picks > 0:
        chosen = _taste_picks(genre_shares, picks) if kind == "taste" else _random_picks(n, picks, seed)
        for user, others in enumerate(chosen):
            for other in others:
                links[user].add(other)
                links[other].add(user)
    return SocialGraph({users[u]: tuple(sorted(users[f] for f in links[u])) for u in range(n)})


def _random_picks(n: int, picks: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, _GRAPH_STREAM]))
    result = []
    for user in range(n):
        others = np.delete(np.arange(n), user)
        result.append(sorted(int(o) for o in rng.choice(others, size=picks, replace=False)))
    return result


def _taste_picks(genre_shares: FloatArray, picks: int) -> list[list[int]]:
    norms = np.linalg.norm(genre_shares, axis=1, keepdims=True)
    unit = genre_shares / np.maximum(norms, 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    # stable sort: among equally similar users the lower index wins, on every machine
    order = np.argsort(-similarity, axis=1, kind="stable")
    return [[int(o) for o in row[:picks]] for row in order]


def feed_for(user_id: str, graph: SocialGraph, posts: Mapping[str, Sequence[Event]]) -> tuple[Event, ...]:
    """Friends' posts of earlier rounds, newest round first, then by author and order of posting."""
    mine = [post for friend in graph.of(user_id) for post in posts.get(friend, ())]
    return tuple(sorted(mine, key=lambda p: (-p.session, p.user_id, p.step)))


def friend_recommendation(
    friend: UserProfile, friend_posts: Sequence[Event], item_index: Mapping[str, int], seen: set[int]
) -> tuple[int, int] | None:
    """(item, rating) a friend suggests: their best-rated post, else their best-rated real item, unseen by the asker.

    Among equal ratings the most recent wins. ``None`` when the friend has nothing the asker has not seen.
    """
    posted = sorted(friend_posts, key=lambda p: (-(p.rating or 0), -p.session, -p.step))
    for post in posted:
        item = item_index.get(post.item_id or "")
        if item is not None and item not in seen:
            return item, int(post.rating or 0)
    ratings = np.nan_to_num(friend.ratings, nan=0.0)
    recency = np.arange(len(friend.history))
    for position in np.lexsort((-recency, -ratings)).tolist():
        item = int(friend.history[position])
        if item not in seen:
            rating = friend.ratings[position]
            return item, int(rating) if rating == rating else 0
    return None

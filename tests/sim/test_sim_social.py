"""The social graph, feeds and friends' suggestions on planted users; the new scenario sections' defaults."""

from __future__ import annotations

import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.sim.events import Event
from agentrec.sim.items import SimItems
from agentrec.sim.profiles import Traits, UserProfile
from agentrec.sim.scenario import parse_scenario
from agentrec.sim.social import build_graph, feed_for, friend_recommendation
from agentrec.sim.templates import agent_message, search_query

USERS = tuple(str(u) for u in range(12))
# users 0-5 watch only genre A, users 6-11 only genre B
SHARES = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 6)


def test_taste_graph_links_users_of_the_same_taste_and_is_mutual() -> None:
    graph = build_graph("taste", 3, USERS, SHARES, seed=0)
    for user in USERS:
        friends = graph.of(user)
        assert len(friends) >= 3
        assert all((int(f) < 6) == (int(user) < 6) for f in friends)
        assert all(user in graph.of(f) for f in friends)


def test_random_graph_is_seeded_mutual_and_has_the_degree() -> None:
    first = build_graph("random", 2, USERS, SHARES, seed=4)
    assert first == build_graph("random", 2, USERS, SHARES, seed=4)
    assert first != build_graph("random", 2, USERS, SHARES, seed=5)
    for user in USERS:
        assert len(first.of(user)) >= 2 and user not in first.of(user)
        assert all(user in first.of(f) for f in first.of(user))
    assert 2 <= first.mean_degree() <= 4


def planted_items(n: int = 20) -> SimItems:
    """Items 0..n-1, comedies (even) and horror films (odd)."""
    genres = np.zeros((n, 2), dtype=bool)
    genres[np.arange(n) % 2 == 0, 0] = True
    genres[np.arange(n) % 2 == 1, 1] = True
    ids = tuple(str(i) for i in range(n))
    return SimItems(ids, tuple(f"Movie {i} (1990)" for i in ids), ("Comedy", "Horror"), genres, np.ones(n))


def profile_of(history: list[int], ratings: list[float], share: tuple[float, float] = (0.5, 0.5)) -> UserProfile:
    traits = Traits(1, 1, 1, len(history), 0.5, 2)
    array = np.asarray(ratings, dtype=np.float64)
    return UserProfile(0, "u", traits, "taste", np.asarray(share), np.asarray(history), array, float(array.mean()))


def post(author: str, session: int, step: int, item: str, rating: int) -> Event:
    return Event("arm", author, session, step, "post", item_id=item, rating=rating, text="nice")


def test_feed_holds_only_friends_posts_newest_round_first() -> None:
    graph = build_graph("taste", 2, USERS, SHARES, seed=0)
    friend, stranger = graph.of("0")[0], "11"
    posts = {friend: [post(friend, 0, 3, "1", 5), post(friend, 1, 2, "2", 4)], stranger: [post(stranger, 1, 1, "3", 5)]}
    feed = feed_for("0", graph, posts)
    assert [p.item_id for p in feed] == ["2", "1"]


def test_a_friend_suggests_their_best_post_then_their_best_real_item_never_a_seen_one() -> None:
    items = planted_items(21)
    friend = profile_of(list(range(20)), [1.0] * 20)  # items 0..19 in time order, all 1 star
    index = {item_id: i for i, item_id in enumerate(items.ids)}
    posts = [post("19", 0, 1, "3", 4), post("19", 1, 1, "5", 5)]
    assert friend_recommendation(friend, posts, index, seen=set()) == (5, 5)
    assert friend_recommendation(friend, posts, index, seen={5}) == (3, 4)
    # without posts: equal ratings, so the most recent real item
    assert friend_recommendation(friend, [], index, seen=set()) == (19, 1)
    assert friend_recommendation(friend, [], index, seen=set(range(21))) is None


def test_templates_name_the_users_genres_and_a_favourite_from_training_only() -> None:
    items = planted_items()
    # seven comedies; the five best-rated are the favourites, items 4 and 10 never are
    profile = profile_of([0, 2, 4, 6, 8, 10, 12], [5.0, 4.0, 1.0, 5.0, 3.0, 2.0, 4.0], share=(1.0, 0.0))
    rng = np.random.default_rng(0)
    named = set()
    for _ in range(30):
        message = agent_message(profile, items, rng)
        assert message.startswith("I would like a comedy movie, something like Movie ")
        named.add(int(message.rsplit("Movie ", 1)[1].split()[0]))
    assert named == {0, 2, 6, 8, 12}
    query = search_query(profile, items, "titles", rng)
    assert query.startswith("Movie ") and "(1990)" not in query
    assert search_query(profile, items, "semantic", rng).startswith("comedy movie like Movie ")


def test_new_sections_are_off_by_default_and_keep_old_fingerprints() -> None:
    raw: dict[str, object] = {
        "name": "old", "dataset": "ml-100k", "seed": 3,
        "users": {"count": 5, "choice_model": "statistical"}, "arms": [{"name": "ease", "recommender": "ease"}],
    }  # fmt: skip
    scenario = parse_scenario(raw)
    assert not (scenario.search.enabled or scenario.chat.enabled or scenario.social.enabled)
    assert not scenario.needs_llm()
    # computed with the code before these sections existed: old runs can still be resumed
    assert scenario.fingerprint() == "a25182694897e61a"
    explicit = parse_scenario(raw | {"search": {"enabled": False}, "social": {}})
    assert explicit.fingerprint() == scenario.fingerprint()
    assert parse_scenario(raw | {"social": {"enabled": True}}).fingerprint() != scenario.fingerprint()
    assert parse_scenario(raw | {"chat": {"enabled": True}}).needs_llm()


@pytest.mark.parametrize(
    ("section", "fragment"),
    [({"search": {"source": "web"}}, "search.source"), ({"social": {"degre": 3}}, "social.degre")],
)
def test_bad_action_keys_name_the_problem(section: dict[str, object], fragment: str) -> None:
    raw: dict[str, object] = {"dataset": "ml-100k", "arms": [{"name": "a", "recommender": "ease"}]}
    with pytest.raises(ConfigError, match=fragment):
        parse_scenario(raw | section)

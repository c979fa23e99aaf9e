"""Users from data: Agent4Rec trait bins on a planted population, bounded memory, calibration fits."""

from __future__ import annotations

import numpy as np

from agentrec.data.interactions import Interactions, Vocabulary
from agentrec.sim.calibration import fit_conditional_logit, fit_logistic
from agentrec.sim.items import SimItems
from agentrec.sim.memory import Memory, Watch
from agentrec.sim.profiles import build_profiles, genres_covering


def planted_population(n_users: int = 20) -> tuple[Interactions, SimItems]:
    """User u rates u + 1 items; items alternate between genre A and genre B; ratings match item means
    except for the last users, who rate against the crowd."""
    n_items = n_users + 1
    users, items, ratings = [], [], []
    for u in range(n_users):
        for i in range(u + 1):
            users.append(u)
            items.append(i)
            ratings.append(4.0 if u < n_users - 4 else 1.0)
    genres = np.zeros((n_items, 2), dtype=bool)
    genres[np.arange(n_items) % 2 == 0, 0] = True
    genres[np.arange(n_items) % 2 == 1, 1] = True
    data = Interactions(
        np.array(users), np.array(items), np.array(ratings), np.arange(len(users)),
        Vocabulary(tuple(str(u) for u in range(n_users))), Vocabulary(tuple(str(i) for i in range(n_items))),
    )  # fmt: skip
    sim_items = SimItems(
        data.items.ids, tuple(f"Movie {i}" for i in range(n_items)), ("A", "B"), genres,
        np.bincount(data.item, minlength=n_items).astype(np.float64),
    )  # fmt: skip
    return data, sim_items


def test_activity_bins_follow_the_60th_and_90th_percentiles() -> None:
    data, items = planted_population(20)
    profiles = build_profiles(data, items, np.arange(20))
    # counts are 1..20: the 60th percentile is 12.4 and the 90th 18.1
    levels = [profiles[u].traits.activity for u in range(20)]
    assert levels == [0] * 12 + [1] * 6 + [2] * 2


def test_conformity_is_high_for_users_near_the_item_means() -> None:
    data, items = planted_population(20)
    profiles = build_profiles(data, items, np.arange(20))
    contrarians = [profiles[u].traits.conformity for u in range(16, 20)]
    assert contrarians == [0, 0, 0, 0]
    assert profiles[0].traits.deviation < profiles[19].traits.deviation


def test_diversity_counts_genres_covering_80_percent() -> None:
    data, items = planted_population(20)
    covering = genres_covering(data, items)
    assert covering[0] == 1  # one item, one genre
    assert covering[19] == 2  # half A, half B


def test_taste_summary_names_the_genres_and_profiles_hold_only_given_history() -> None:
    data, items = planted_population(20)
    profile = build_profiles(data, items, np.array([5]))[5]
    assert "A" in profile.taste and "B" in profile.taste
    assert sorted(profile.history.tolist()) == list(range(6))


def test_memory_is_bounded_and_reflections_rebuild_from_watches() -> None:
    _, items = planted_population(20)
    memory = Memory(size=5)
    for n in range(12):
        memory.remember(Watch(item=2 * (n % 5), rating=5))  # genre A items, loved
    assert len(memory.watches) == 5
    for n in range(4):
        memory.reflect(f"note {n}", items, user_mean=3.0)
    assert len(memory.reflections) == 3
    assert memory.reflections[-1].liked == (0,)
    assert memory.genre_bias(items, [0, 1]).tolist() == [1.0, 0.0]


def test_logistic_recovers_planted_weights() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(20_000, 2))
    labels = (rng.random(20_000) < 1 / (1 + np.exp(-(1.5 * features[:, 0] - 0.5 * features[:, 1] + 0.3)))).astype(float)
    weights, bias, _ = fit_logistic(features, labels, l2=0.0)
    assert np.allclose(weights, [1.5, -0.5], atol=0.1)
    assert abs(bias - 0.3) < 0.1


def test_conditional_logit_recovers_planted_choice_weights() -> None:
    rng = np.random.default_rng(1)
    pages = rng.normal(size=(5_000, 5, 2))
    utilities = pages @ np.array([2.0, -1.0])
    chosen = np.array([rng.choice(5, p=np.exp(u) / np.exp(u).sum()) for u in utilities])
    # the protocol puts the chosen item first
    ordered = np.stack([np.concatenate([[p[c]], np.delete(p, c, axis=0)]) for p, c in zip(pages, chosen, strict=True)])
    weights = fit_conditional_logit(ordered, l2=0.0)
    assert np.allclose(weights, [2.0, -1.0], atol=0.15)

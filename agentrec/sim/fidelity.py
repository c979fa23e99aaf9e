"""Fidelity: do simulated users behave like the real users they were built from?

* **Choice agreement (random holdout).** A seeded random share (10%) of each
  user's interactions is held out before anything about the user is built. Each
  held-out item is shown on a page with random items the user never interacted
  with, in random order; the simulated user picks one. Chance is 1 / page size.
* **Choice agreement (temporal).** The same with the user's last item held out,
  everything else as history: the harder variant.
* **Rating RMSE** of the simulated user's whole-star ratings of the held-out items.

Leakage guard: held-out items are never part of a profile (profiles are built
from the training part only, checked here per user) and appear in prompts only
as unlabelled candidates on a fidelity page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agentrec.data.interactions import Interactions
from agentrec.data.splits import leave_one_out
from agentrec.sim.choice import SessionState, StatisticalChoice
from agentrec.sim.discrimination import discrimination
from agentrec.sim.items import SimItems, load_items
from agentrec.sim.profiles import UserProfile, build_profiles
from agentrec.sim.rating_baselines import fit_rating_baselines, fit_taste_ratings
from agentrec.sim.rating_fidelity import rating_fidelity
from agentrec.sim.taste import RatingBiases, TasteModel
from agentrec.sim.world import SimWorld, cached_calibration, fit_scorer, held_out_state, never_interacted

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PROTOCOL_KEYS = (
    "rating_mae", "rating_rmse_expected", "rating_baselines", "rating_versus", "rating_distribution", "discrimination",
)  # fmt: skip


def held_out_by_user(held: Interactions, users: IntArray) -> dict[int, tuple[IntArray, FloatArray]]:
    wanted = set(users.tolist())
    grouped: dict[int, tuple[list[int], list[float]]] = {}
    for user, item, rating in zip(held.user.tolist(), held.item.tolist(), held.rating.tolist(), strict=True):
        if user in wanted:
            grouped.setdefault(user, ([], []))[0].append(item)
            grouped[user][1].append(rating)
    return {u: (np.array(i, dtype=np.int64), np.array(r)) for u, (i, r) in grouped.items()}


def check_no_leak(profile: UserProfile, held: IntArray) -> None:
    """The leakage guard: a profile never holds a held-out item (a violation is a bug)."""
    leaked = np.intersect1d(profile.history, held)
    if leaked.size:
        raise RuntimeError(f"held-out items {leaked.tolist()} leaked into the profile of user {profile.user_id}")


@dataclass
class RatedPairs:
    """Held-out (user, item) pairs with a real rating, and what the simulated user made of each."""

    users: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    real: list[float] = field(default_factory=list)
    stars: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)

    def array(self, name: str) -> npt.NDArray[np.float64]:
        return np.asarray(getattr(self, name), dtype=np.float64)


def agreement(
    world: SimWorld,
    taste: TasteModel,
    profiles: dict[int, UserProfile],
    held: dict[int, tuple[IntArray, FloatArray]],
    seen: Interactions,
    variant: str,
    rate: bool,
    pairs: RatedPairs | None = None,
) -> dict[str, float]:
    """Choice agreement (and rating RMSE when ``rate``) over the held-out items of ``profiles``' users.

    ``pairs``, when given, collects every rated pair for the rating-fidelity report.
    """
    scenario = world.scenario
    history = seen.to_csr(binary=True)
    hits, sampled_hits, errors = [], [], []
    choice = world.choice
    for user, profile in profiles.items():
        items, ratings = held[user]
        check_no_leak(profile, items)
        items, ratings = items[: scenario.fidelity.max_pages_per_user], ratings[: scenario.fidelity.max_pages_per_user]
        state = held_out_state(world, taste, profile, f"fidelity-{variant}")
        rng = state.rng
        unwatched = never_interacted(history, user)
        for item in items.tolist():
            page = _page(item, unwatched, scenario.fidelity.negatives, rng)
            hits.append(page[choice.pick(state, page)] == item)
            sampled_hits.append(_sampled_probability(choice, state, page, item))
        if rate:
            rated = np.isfinite(ratings)
            given = choice.rate(state, items[rated].tolist())
            errors += list(np.asarray(given, dtype=np.float64) - ratings[rated])
            if pairs is not None:
                pairs.users += [user] * int(rated.sum())
                pairs.items += items[rated].tolist()
                pairs.real += ratings[rated].tolist()
                pairs.stars += [float(g) for g in given]
                pairs.expected += state.taste.expected_ratings(items[rated]).tolist()
    result = {
        "choice_agreement": float(np.mean(hits)) if hits else float("nan"),
        "choice_agreement_sampled": float(np.mean(sampled_hits)) if sampled_hits else float("nan"),
        "pages": float(len(hits)),
        "chance": 1.0 / (1 + scenario.fidelity.negatives),
    }
    if rate:
        result["rating_rmse"] = float(np.sqrt(np.mean(np.square(errors)))) if errors else float("nan")
        result["ratings"] = float(len(errors))
    return result


def _page(item: int, unwatched: IntArray, negatives: int, rng: np.random.Generator) -> list[int]:
    others = rng.choice(unwatched[unwatched != item], size=negatives, replace=False)
    page = np.concatenate([[item], others])
    return [int(i) for i in rng.permutation(page)]


def _sampled_probability(choice: StatisticalChoice, state: SessionState, page: list[int], item: int) -> float:
    """How often sampling (not the most likely pick) would take the real item: its softmax share."""
    logits = choice.logits(state, page, 0)
    weights = np.exp(logits - logits.max())
    return float(weights[page.index(item)] / weights.sum())


def random_holdout_fidelity(world: SimWorld, users: IntArray) -> dict[str, object]:
    """Agreement and RMSE on the world's own random holdout; with the published protocols, much more."""
    held = held_out_by_user(world.split.test, users)
    profiles = {u: world.profiles[u] for u in users.tolist() if u in held}
    everything = world.store.interactions()
    pairs = RatedPairs()
    result: dict[str, object] = dict(agreement(world, world.taste, profiles, held, everything, "random", True, pairs))
    spec = world.scenario.fidelity
    if spec.protocols:
        result |= rating_report(world, pairs)
        result["discrimination"] = discrimination(world, world.taste, profiles, held, everything, spec.ratios)
    return result


def rating_report(world: SimWorld, pairs: RatedPairs) -> dict[str, object]:
    """RMSE, MAE and the distributions of the simulated ratings, and the baselines on the same pairs."""
    real = pairs.array("real")
    if real.size == 0 or not np.isfinite(world.taste.biases.mu):
        return {}  # implicit data: no ratings to compare
    users, items = np.asarray(pairs.users, dtype=np.int64), np.asarray(pairs.items, dtype=np.int64)
    baselines = {
        name: np.asarray(model.predict(users, items), dtype=np.float64)
        for name, model in fit_rating_baselines(world.split.train, seed=world.scenario.seed).items()
    }
    # on the simulated users' own scale: whole stars cost any predictor its rounding error
    baselines["biased_mf_stars"] = np.clip(np.rint(baselines["biased_mf"]), 1, 5)
    return rating_fidelity(pairs.array("stars"), pairs.array("expected"), real, baselines)


def temporal_fidelity(world: SimWorld, users: IntArray) -> dict[str, float]:
    """Agreement with each user's last item held out; a taste model fitted and calibrated without it."""
    everything = world.store.interactions()
    split = leave_one_out(everything)
    train = split.train.concat(split.valid)
    items: SimItems = load_items(world.store, train)
    scenario = world.scenario
    name = f"sim-last-seed{scenario.seed}"
    scorer = fit_scorer(scenario, train, world.dataset_key, name)
    calibration = cached_calibration(scenario, train, items, world.dataset_key, name)
    taste = TasteModel(scorer, items, RatingBiases.fit(train), calibration, fit_taste_ratings(train, scenario.seed))
    held = held_out_by_user(split.test, users)
    profiles = build_profiles(train, items, np.array(sorted(held), dtype=np.int64))
    return agreement(world, taste, profiles, held, everything, "temporal", rate=False)


def measure_fidelity(world: SimWorld, users: IntArray) -> dict[str, object]:
    """The ``fidelity`` block of ``simulate``'s JSON."""
    random_part = random_holdout_fidelity(world, users)
    result: dict[str, object] = {
        "choice_agreement": random_part["choice_agreement"],
        "rating_rmse": random_part["rating_rmse"],
        "random": random_part,
        "choice_model": world.scenario.users.choice_model,
    }
    for key in PROTOCOL_KEYS:  # the published protocols' figures, at the top level as DESIGN.md names them
        if key in random_part:
            result[key] = random_part[key]
    if world.scenario.fidelity.temporal:
        result["temporal"] = temporal_fidelity(world, users)
    return result

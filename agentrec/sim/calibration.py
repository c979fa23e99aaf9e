"""Calibrate the statistical choice model on training data only, never on held-out data.

Inside the training interactions a seeded 10% of each user's items is set aside
(an *inner* holdout) and a taste model is fitted on the rest. Each inner held-out
item is paired with random items the user never interacted with in training, as
in the fidelity protocol, and a logistic model learns which one the user took.
The rating model's affinity term is fitted on the same inner held-out ratings, as a
correction to a biased matrix factorisation fitted on the inner training part.
The outer held-out items, on which fidelity is measured, are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from agentrec.data.interactions import Interactions
from agentrec.data.splits import random_ratio
from agentrec.recsys.base import Recommender
from agentrec.sim.choice import PRIORS
from agentrec.sim.items import SimItems
from agentrec.sim.profiles import UserProfile, build_profiles
from agentrec.sim.rating_baselines import fit_taste_ratings
from agentrec.sim.taste import Calibration, RatingBiases, TasteModel

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ScorerFactory = Callable[[Interactions, str], Recommender]
INNER_HOLDOUT = 0.1
L2 = 1e-2
BASE_RATE_USERS = 500  # users whose first pages set the base rate: enough for a mean, cheap on any dataset


def calibrate(
    train: Interactions,
    items: SimItems,
    fit_scorer: ScorerFactory,
    seed: int,
    negatives: int = 4,
    click_rate: float | None = None,
    session_pages: int = 5,
    page_size: int = 4,
) -> Calibration:
    """Fit the watch logistic and the rating slope on an inner split of ``train``.

    With ``click_rate``, the watch bias is then shifted so that users watch that share of
    sessions' pages of the taste model's own top items (``base_rate_shift``). Rating logs
    hold no pages, so this base rate cannot be learned from them; without it the base
    rate is the calibration pages' one (one real item in ``1 + negatives``), which makes
    users watch nearly every item they like.
    """
    inner = random_ratio(train, valid_share=0.0, test_share=INNER_HOLDOUT, seed=seed + 7919)
    inner_items = SimItems(
        items.ids,
        items.labels,
        items.genre_names,
        items.genres,
        np.bincount(inner.train.item, minlength=train.n_items).astype(np.float64),
    )
    model = TasteModel(
        fit_scorer(inner.train, "inner"), inner_items, RatingBiases.fit(inner.train),
        rating_base=fit_taste_ratings(inner.train, seed),
    )  # fmt: skip
    pages, affinity, residual = _training_pages(train, inner.train, inner.test, model, seed, negatives)
    choice_weights = fit_conditional_logit(pages)
    # which item a user takes is fitted as a choice within the page (what fidelity measures);
    # how likely any one item is taken is then a logistic on that utility
    utilities = pages @ choice_weights
    labels = np.zeros(utilities.shape)
    labels[:, 0] = 1.0
    (scale,), bias, loss = fit_logistic(utilities.reshape(-1, 1), labels.ravel(), l2=0.0)
    weights = scale * choice_weights
    if click_rate is not None:
        sample = build_profiles(inner.train, inner_items, np.unique(inner.test.user)[:BASE_RATE_USERS])
        bias += base_rate_shift(model, sample, weights, bias, session_pages, page_size, click_rate)
    offset, slope = _rating_line(affinity, residual)
    logger.info(
        "calibrated on %d pages: weights %s bias %.3f; rating %.3f + %.3f * affinity",
        len(pages),
        np.round(weights, 3),
        bias,
        offset,
        slope,
    )
    return Calibration(
        watch_weights=tuple(float(w) for w in weights),
        watch_bias=float(bias),
        rating_offset=offset,
        rating_slope=slope,
        samples=len(pages),
        log_loss=loss,
    )


def base_rate_shift(
    model: TasteModel,
    profiles: dict[int, UserProfile],
    weights: FloatArray,
    bias: float,
    pages: int,
    page_size: int,
    click_rate: float,
) -> float:
    """The log-odds shift that makes the mean watch probability over sessions' pages ``click_rate``.

    A session here is ``pages`` pages of the taste model's top unseen items, with the
    position, fatigue and activity priors of the statistical choice model, and no exit
    (real sessions leave early, from lower pages, so their click-through lands a little
    above the target). The shift is found by bisection.
    """
    calibrated = Calibration(
        watch_weights=tuple(float(w) for w in weights), watch_bias=bias,
        rating_offset=0.0, rating_slope=0.0, samples=0, log_loss=0.0,
    )  # fmt: skip
    scored = TasteModel(model.scorer, model.items, model.biases, calibrated, model.rating_base)
    logits = []
    slots = np.arange(pages * page_size)
    layout = PRIORS.position * (slots % page_size) + PRIORS.fatigue * (slots // page_size)
    for profile in profiles.values():
        taste = scored.for_user(profile)
        shown = np.argsort(-taste.scores, kind="stable")[: slots.size]
        shown = shown[np.isfinite(taste.scores[shown])]
        activity = PRIORS.activity * (profile.traits.activity - 1)
        logits.append(taste.watch_logits(shown) + layout[: shown.size] + activity)
    if not logits:
        return 0.0
    everything = np.concatenate(logits)
    low, high = -30.0, 30.0
    for _ in range(60):
        middle = (low + high) / 2
        if float(_sigmoid(everything + middle).mean()) > click_rate:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def _training_pages(
    train: Interactions,
    inner_train: Interactions,
    inner_test: Interactions,
    model: TasteModel,
    seed: int,
    negatives: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Feature pages (pages x (1 + negatives) x features, the real item first), and rating residuals."""
    rng = np.random.default_rng([seed, 104729])
    seen = train.to_csr(binary=True)
    users = np.unique(inner_test.user)
    profiles = build_profiles(inner_train, model.items, users)
    pages, affinities, residuals = [], [], []
    order = np.argsort(inner_test.user, kind="stable")
    bounds = np.searchsorted(inner_test.user[order], np.append(users, train.n_users))
    for position, user in enumerate(users.tolist()):
        rows = order[bounds[position] : bounds[position + 1]]
        held = inner_test.item[rows]
        unseen = np.setdiff1d(np.arange(train.n_items), seen.indices[seen.indptr[user] : seen.indptr[user + 1]])
        if unseen.size < negatives:
            continue
        sampled = np.stack([rng.choice(unseen, size=negatives, replace=False) for _ in held])
        taste = model.for_user(profiles[user])
        page_items = np.column_stack([held, sampled])
        pages.append(taste.features(page_items.ravel()).reshape(*page_items.shape, -1))
        ratings = inner_test.rating[rows]
        rated = np.isfinite(ratings)
        if rated.any() and np.isfinite(model.biases.mu):
            affinities.append(taste.affinity(held[rated]))
            residuals.append(ratings[rated] - model.base_ratings(user, held[rated]))
    empty = np.zeros(0)
    return (
        np.concatenate(pages),
        np.concatenate(affinities) if affinities else empty,
        np.concatenate(residuals) if residuals else empty,
    )


def fit_conditional_logit(pages: FloatArray, l2: float = L2, steps: int = 30) -> FloatArray:
    """Weights maximising the log-probability that a softmax over each page picks its first item."""
    n_pages, _, n_features = pages.shape
    weights = np.zeros(n_features)
    penalty = l2 * n_pages * np.eye(n_features)
    for _ in range(steps):
        utilities = pages @ weights
        utilities -= utilities.max(axis=1, keepdims=True)
        p = np.exp(utilities)
        p /= p.sum(axis=1, keepdims=True)
        mean = np.einsum("gi,gif->gf", p, pages)
        gradient = (mean - pages[:, 0, :]).sum(axis=0) + penalty @ weights
        centred = pages - mean[:, None, :]
        hessian = np.einsum("gi,gif,gih->fh", p, centred, centred) + penalty + 1e-9 * np.eye(n_features)
        update = np.linalg.solve(hessian, gradient)
        weights -= update
        if np.abs(update).max() < 1e-8:
            break
    return weights


def fit_logistic(
    features: FloatArray, labels: FloatArray, l2: float = L2, steps: int = 30
) -> tuple[FloatArray, float, float]:
    """L2-regularised logistic regression by Newton's method; returns weights, bias and mean log loss."""
    design = np.column_stack([features, np.ones(labels.size)])
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2 * labels.size)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = _sigmoid(design @ theta)
        gradient = design.T @ (p - labels) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(design.shape[1])
        update = np.linalg.solve(hessian, gradient)
        theta -= update
        if np.abs(update).max() < 1e-8:
            break
    p = np.clip(_sigmoid(design @ theta), 1e-12, 1 - 1e-12)
    loss = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    return theta[:-1], float(theta[-1]), loss


def _rating_line(affinity: FloatArray, residual: FloatArray) -> tuple[float, float]:
    """Least-squares ``residual ~ offset + slope * affinity`` (zero without ratings)."""
    if affinity.size < 10:
        return 0.0, 0.0
    design = np.column_stack([np.ones(affinity.size), affinity])
    (offset, slope), *_ = np.linalg.lstsq(design, residual, rcond=None)
    return float(offset), float(slope)


def _sigmoid(x: FloatArray) -> FloatArray:
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return result

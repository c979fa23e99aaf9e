"""Recommenders that learn inside the simulation loop from what users were shown and what they watched.

* ``thompson``: linear Thompson sampling over item vectors, one posterior per user.
  The prior is the user's own factor vector from a fitted factor model (ALS by
  default), so the first round ranks like that model, with noise; every page a
  user saw moves their posterior (a watch is a reward of 1, an unwatched
  impression 0).
* ``reloop``: a frozen base model (EASE by default) corrected by a fast memory of
  its recent errors, after ReLoop2 (Zhu et al., KDD 2023). A logistic link turns
  the base model's per-user standardised score into a click probability; every
  impression stores ``watched - predicted`` under the item's vector; an item's
  correction is the similarity-weighted mean error of its nearest memory entries.
  With an empty memory it ranks exactly as the base model.

Sessions of a round run in parallel, in any worker, so both learn at round
boundaries from every session of the rounds before (a batched bandit). Their
state at round r is a function of the logged rounds before r alone, and their
random draws are seeded by (seed, arm, round, user): a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.linalg import cholesky, solve_triangular

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import top_k_indices
from agentrec.recsys.factors import FactorModel
from agentrec.recsys.faiss_index import l2_normalise
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import make_model, model_class
from agentrec.sim.recommenders import ArmContext, CFArm, Shown
from agentrec.sim.scenario import ArmSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ADAPTIVE_RECOMMENDERS = ("thompson", "reloop")


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ThompsonParams(_Params):
    vectors: str = Field("als", description="the factor model whose item vectors and user priors are used")
    prior_weight: float = Field(1.0, gt=0.0, description="how many impressions the prior is worth")
    exploration: float = Field(0.1, ge=0.0, description="scale of the posterior draw (0: greedy)")


class ReloopParams(_Params):
    base: str = Field("ease", description="the frozen model whose scores are corrected")
    vectors: str = Field("als", description="the factor model whose item vectors key the error memory")
    memory: int = Field(20000, ge=1, description="the most recent impressions the memory keeps")
    neighbours: int = Field(20, ge=1, description="memory entries read for one item")
    candidates: int = Field(100, ge=1, description="the base model's top items that are re-ranked")
    # 0.1: chosen on a development run (seed 1, 200 users, 5 rounds); 1.0 and 0.3 swung whole lists
    strength: float = Field(0.1, ge=0.0, description="weight of the correction against the base probability")


def adaptive_params(spec: ArmSpec) -> ThompsonParams | ReloopParams:
    """The arm's parameters, checked: an unknown or bad one is a ``ConfigError`` naming it."""
    kind = ThompsonParams if spec.recommender == "thompson" else ReloopParams
    try:
        params = kind.model_validate(spec.params)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"arm {spec.name!r}: params.{where}: {first['msg']}") from None
    for name in (params.vectors, getattr(params, "base", params.vectors)):
        make_model(name)  # an unknown model name is a ConfigError before any data is loaded
    if not issubclass(model_class(params.vectors), FactorModel):
        raise ConfigError(
            f"arm {spec.name!r}: params.vectors: {params.vectors!r} has no item vectors; use a factor model (als, bpr)"
        )
    return params


def make_adaptive_arm(spec: ArmSpec, context: ArmContext) -> ThompsonArm | ReloopArm:
    params = adaptive_params(spec)
    if isinstance(params, ThompsonParams):
        return ThompsonArm(spec.name, params, context)
    return ReloopArm(spec, params, context)


def factor_model(name: str, context: ArmContext) -> FactorModel:
    """A factor model fitted on the users' training data (once per state home, then loaded)."""
    model, _ = ModelStore().fit_or_load(make_model(name), context.train, None, context.dataset_key, context.split_name)
    if not isinstance(model, FactorModel):  # adaptive_params refuses such a name before any data is loaded
        raise ConfigError(f"{name!r} has no item vectors; use a factor model (als, bpr)")
    return model


def round_rng(context: ArmContext, arm: str, round_index: int, user: int) -> np.random.Generator:
    """The draws of one user's list in one round, whatever process makes it."""
    return np.random.default_rng(np.random.SeedSequence([context.seed, zlib.crc32(arm.encode()), round_index, user]))


class ThompsonArm:
    """Linear Thompson sampling: per user, a Gaussian posterior over a weight vector on item vectors."""

    def __init__(self, name: str, params: ThompsonParams, context: ArmContext) -> None:
        self.name, self.params, self.context = name, params, context
        model = factor_model(params.vectors, context)
        self.items: FloatArray = np.asarray(model.item_factors, dtype=np.float64)
        self.priors: FloatArray = np.asarray(model.user_factors, dtype=np.float64)
        self.round = 0
        self.seen = context.train.to_csr(binary=True)
        self.precision: dict[int, FloatArray] = {}  # users with feedback: A = w I + sum x x^T
        self.evidence: dict[int, FloatArray] = {}  # b = w prior + sum reward x

    def observe(self, round_index: int, shown: Shown) -> None:
        del round_index
        dims = self.items.shape[1]
        weight = self.params.prior_weight
        self.precision, self.evidence = {}, {}
        for user, rows in rows_by_user(shown.user):
            vectors = self.items[shown.item[rows]]
            self.precision[user] = weight * np.eye(dims) + vectors.T @ vectors
            self.evidence[user] = weight * self.priors[user] + vectors.T @ shown.clicked[rows].astype(np.float64)

    def start_round(self, round_index: int, feedback: Interactions) -> None:
        self.round = round_index
        history = self.context.train.concat(feedback) if len(feedback) else self.context.train
        self.seen = history.to_csr(binary=True)

    def recommend(self, user: int, n: int) -> list[int]:
        mean, precision = self.posterior(user)
        # a draw from N(mean, exploration^2 precision^-1): solve L^T x = z, where precision = L L^T
        noise = round_rng(self.context, self.name, self.round, user).standard_normal(mean.size)
        weights = mean + self.params.exploration * solve_triangular(cholesky(precision, lower=True).T, noise)
        scores = self.items @ weights
        scores[self.seen.indices[self.seen.indptr[user] : self.seen.indptr[user + 1]]] = -np.inf
        return [int(i) for i in top_k_indices(scores, n) if np.isfinite(scores[i])]

    def posterior(self, user: int) -> tuple[FloatArray, FloatArray]:
        """The user's posterior mean and precision (the prior's before any feedback)."""
        if user not in self.precision:
            return self.priors[user], self.params.prior_weight * np.eye(self.items.shape[1])
        precision = self.precision[user]
        mean = np.asarray(np.linalg.solve(precision, self.evidence[user]), dtype=np.float64)
        return mean, precision


class ReloopArm:
    """A frozen base model whose click probabilities are corrected by a memory of recent errors.

    A memory entry is keyed by its user's and item's vectors side by side, so an item's
    correction for one user comes from similar users on similar items.
    """

    def __init__(self, spec: ArmSpec, params: ReloopParams, context: ArmContext) -> None:
        self.params = params
        self.base = CFArm(spec.model_copy(update={"recommender": params.base, "retrain": False, "params": {}}), context)
        vectors = factor_model(params.vectors, context)
        self.user_keys = l2_normalise(np.ascontiguousarray(vectors.user_factors, dtype=np.float32)) / np.sqrt(2)
        self.item_keys = l2_normalise(np.ascontiguousarray(vectors.item_factors, dtype=np.float32)) / np.sqrt(2)
        self.link = (0.0, 0.0)  # logistic intercept and slope on the standardised base score
        self.memory: Any = None  # a faiss index over the memory's keys, with ``self.errors`` beside it
        self.errors: FloatArray = np.zeros(0)
        self.shown: Shown | None = None

    def observe(self, round_index: int, shown: Shown) -> None:
        del round_index
        self.shown = shown  # learned from in start_round, once the base model has this round's scores

    def start_round(self, round_index: int, feedback: Interactions) -> None:
        import faiss

        self.base.start_round(round_index, feedback)
        shown, self.memory, self.link = self.shown, None, (0.0, 0.0)
        if shown is None or len(shown.user) == 0:
            return
        standardised = np.empty(len(shown.user))
        for user, rows in rows_by_user(shown.user):
            standardised[rows] = self.standardised(user)[shown.item[rows]]
        clicked = shown.clicked.astype(np.float64)
        self.link = fit_logistic(standardised, clicked)
        recent = slice(max(0, len(clicked) - self.params.memory), None)
        self.errors = (clicked - sigmoid(self.link[0] + self.link[1] * standardised))[recent]
        keys = np.hstack([self.user_keys[shown.user[recent]], self.item_keys[shown.item[recent]]])
        self.memory = faiss.IndexFlatIP(keys.shape[1])
        self.memory.add(np.ascontiguousarray(keys))

    def standardised(self, user: int) -> FloatArray:
        scores = np.asarray(self.base.scores[user], dtype=np.float64)
        spread = float(scores.std()) or 1.0
        result: FloatArray = (scores - scores.mean()) / spread
        return result

    def recommend(self, user: int, n: int) -> list[int]:
        if self.memory is None or user not in self.base.scores or self.base.model is None:
            return self.base.recommend(user, n)  # no memory yet: exactly the base model's list
        allowed = np.flatnonzero(self.base.model.allowed_items(user))
        standardised = self.standardised(user)
        candidates = allowed[top_k_indices(standardised[allowed], self.params.candidates)]
        intercept, slope = self.link
        probability = sigmoid(intercept + slope * standardised[candidates])
        corrected = probability + self.params.strength * self.correction(user, candidates)
        return [int(candidates[i]) for i in top_k_indices(corrected, n)]

    def correction(self, user: int, items: IntArray) -> FloatArray:
        """Per item, the similarity-weighted mean error of its nearest memory entries for this user."""
        keys = np.hstack([np.repeat(self.user_keys[user : user + 1], len(items), axis=0), self.item_keys[items]])
        similarity, found = self.memory.search(
            np.ascontiguousarray(keys), min(self.params.neighbours, len(self.errors))
        )
        weights = np.maximum(similarity.astype(np.float64), 0.0)
        total = weights.sum(axis=1)
        correction: FloatArray = (weights * self.errors[found]).sum(axis=1) / np.maximum(total, 1e-12)
        return correction


def rows_by_user(users: IntArray) -> list[tuple[int, IntArray]]:
    """Each user in ``users`` with the positions where it occurs, in their order."""
    if len(users) == 0:
        return []
    order = np.argsort(users, kind="stable")
    found, starts = np.unique(users[order], return_index=True)
    return list(zip(found.tolist(), np.split(order, starts[1:]), strict=True))


def sigmoid(values: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))
    return result


def fit_logistic(feature: FloatArray, outcome: FloatArray, steps: int = 25) -> tuple[float, float]:
    """Intercept and slope of a one-feature logistic regression (Newton's method, a tiny ridge)."""
    design = np.column_stack([np.ones_like(feature), feature])
    weights = np.zeros(2)
    for _ in range(steps):
        predicted = sigmoid(design @ weights)
        gradient = design.T @ (outcome - predicted) - 1e-3 * weights
        hessian = (design * (predicted * (1 - predicted))[:, None]).T @ design + 1e-3 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights += step
        if np.abs(step).max() < 1e-8:
            break
    return float(weights[0]), float(weights[1])

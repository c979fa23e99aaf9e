"""Offline evaluation of fitted models: full ranking over all items, seen items masked.

The protocol is decided by the split:

* ``loo``, ``temporal``, ``random``: models fit on train (validation only selects
  hyper-parameters or stops training), then rank with train + validation as the
  user's history (sequence models see the validation item; it is masked too);
* ``given`` (the adjacency layout's published split): models fit on train +
  validation and are tested on test, as the graph-CF papers do.

Per-user metrics are kept so that paired comparisons and bootstrap CIs work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import DataError, InvalidParameter
from agentrec.data.interactions import Interactions
from agentrec.data.protocols import make_split, resolve_protocol
from agentrec.data.splits import Split
from agentrec.data.store import DatasetStore
from agentrec.eval.beyond import beyond_accuracy_per_user, catalog_metrics
from agentrec.eval.bootstrap import metric_cis
from agentrec.eval.metrics import accuracy_per_user, mean_metrics
from agentrec.eval.weighting import Weighting, popularity_propensity, self_normalised, user_weights
from agentrec.recsys.base import Recommender
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import make_model

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class ModelEvaluation:
    """One model's results: mean metrics, 95% CIs, per-user values and timings."""

    name: str
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    per_user: dict[str, npt.NDArray[np.float64]]
    fit_seconds: float
    score_seconds: float
    loaded: bool
    config: dict[str, Any] = field(default_factory=dict)
    dropped_items: int = 0  # items an item-item model left out to fit its memory (EASE's max_items)

    def as_json(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "ci": {k: list(v) for k, v in self.ci.items()},
            "fit_seconds": round(self.fit_seconds, 3),
            "score_seconds": round(self.score_seconds, 3),
            "loaded_from_store": self.loaded,
            "config": self.config,
            "dropped_items": self.dropped_items,
        }


@dataclass
class TestSet:
    """The users evaluated, what each of them held out, and what must be masked."""

    users: npt.NDArray[np.int64]
    relevant: list[npt.NDArray[np.int64]]
    history: Interactions


def test_set(split: Split) -> TestSet:
    """Users with at least one test item; history = train + validation (masked at test time)."""
    order = np.argsort(split.test.user, kind="stable")
    users_sorted = split.test.user[order]
    users, starts = np.unique(users_sorted, return_index=True)
    relevant = np.split(split.test.item[order], starts[1:]) if len(users) else []
    return TestSet(users.astype(np.int64), [r.astype(np.int64) for r in relevant], split.train_and_valid())


def evaluate_models(
    store: DatasetStore,
    model_names: list[str],
    protocol: str = "auto",
    k: int = 10,
    seed: int = 0,
    model_params: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
    weighting: Weighting = "none",
    propensity: npt.NDArray[np.float64] | None = None,
) -> tuple[Split, list[ModelEvaluation]]:
    """Fit (or load) each model, rank all items for every test user, and score the lists.

    ``protocol`` ``auto`` is the dataset's given split when it has one, else ``loo``;
    ``split.name`` says which ran. ``weighting`` ``ips`` weights the accuracy metrics by
    inverse propensity (``agentrec.eval.weighting``): ``propensity`` per item when given
    (say, the logging system's exposure), else from training popularity.
    """
    notify = progress or (lambda message: None)
    protocol = resolve_protocol(store, protocol)
    split = make_split(store, protocol, seed)
    tests = test_set(split)
    if len(tests.users) == 0:
        raise DataError(
            f"{store.name}: no user has a held-out item under the {protocol} protocol "
            f"({len(split.train) + len(split.valid) + len(split.test)} interactions); "
            "a user needs at least two interactions to be evaluated"
        )
    _check_cutoff(k, split.train.n_items)
    context = _Context.from_store(store, split, tests)
    if weighting == "ips":
        chosen = propensity if propensity is not None else popularity_propensity(context.popularity)
        context.weights = user_weights(tests.relevant, chosen)
    params = model_params or {}
    for name in model_names:  # every refusal before the first fit, not after an hour of it
        make_model(name, **params.get(name, {})).check_fits(split.train.n_users, split.train.n_items)
    results = []
    for name in model_names:
        notify(f"{name}: fitting")
        model, fit_seconds, loaded = _fitted(store, split, name, params.get(name, {}), protocol)
        notify(f"{name}: ranking {len(tests.users):,} users")
        started = time.perf_counter()
        model.set_history(tests.history)
        recommended = model.recommend_many(tests.users, k, exclude_seen=True)
        score_seconds = time.perf_counter() - started
        results.append(context.score(name, model, recommended, k, fit_seconds, score_seconds, loaded, seed))
    return split, results


def _check_cutoff(k: int, n_items: int) -> None:
    """A cutoff beyond the catalog would list every item and call it a top-k."""
    if k < 1:
        raise InvalidParameter("k", f"must be at least 1, got {k}")
    if k > n_items:
        raise InvalidParameter("k", f"must be at most the catalog's {n_items:,} items, got {k:,}")


def _fitted(
    store: DatasetStore, split: Split, name: str, params: dict[str, Any], protocol: str
) -> tuple[Recommender, float, bool]:
    model = make_model(name, **params)
    dataset_key = store.key
    started = time.perf_counter()
    if protocol == "given":
        model, loaded = ModelStore().fit_or_load(model, split.train_and_valid(), None, dataset_key, split.name)
    else:
        model, loaded = ModelStore().fit_or_load(model, split.train, split.valid, dataset_key, split.name)
    return model, time.perf_counter() - started, loaded


@dataclass
class _Context:
    """What every model's lists are scored against: relevance, popularity, genres."""

    tests: TestSet
    popularity: npt.NDArray[np.float64]
    n_train_users: int
    genres: list[frozenset[str]] | None
    weights: npt.NDArray[np.float64] | None = None  # per test user, for --weighting ips

    @classmethod
    def from_store(cls, store: DatasetStore, split: Split, tests: TestSet) -> _Context:
        training = split.train_and_valid()
        popularity = np.bincount(training.item, minlength=training.n_items).astype(np.float64)
        rows = store.con.execute("SELECT genres FROM items ORDER BY item_idx").fetchall()
        genres = [frozenset(r[0] or ()) for r in rows]
        has_genres = any(genres)
        n_train_users = int(np.unique(training.user).size)
        return cls(tests, popularity, n_train_users, genres if has_genres else None)

    def score(
        self, name: str, model: Recommender, recommended: npt.NDArray[np.int64], k: int,
        fit_seconds: float, score_seconds: float, loaded: bool, seed: int,
    ) -> ModelEvaluation:  # fmt: skip
        per_user = accuracy_per_user(recommended, self.tests.relevant, k)
        if self.weights is not None:
            per_user = self_normalised(per_user, self.weights)
        beyond = beyond_accuracy_per_user(
            recommended, k, self.popularity, relevant=self.tests.relevant,
            n_train_users=self.n_train_users, item_genres=self.genres,
        )  # fmt: skip
        # the same numbers beyond_accuracy() gives, without computing the per-user part twice
        metrics = mean_metrics(per_user)
        metrics |= catalog_metrics(recommended, k, self.popularity, len(self.popularity), relevant=self.tests.relevant)
        metrics |= mean_metrics(beyond)
        per_user |= beyond
        ci = metric_cis(per_user, seed=seed)
        config = model.config.model_dump(mode="json")
        dropped = int(getattr(model, "dropped_items", 0))
        return ModelEvaluation(name, metrics, ci, per_user, fit_seconds, score_seconds, loaded, config, dropped)

"""Learned fusion: a LightGBM LambdaRank re-ranker over the base models' candidates.

Per (user, candidate) the features are every base model's score and its rank among
the user's candidates, the item's log popularity, and optionally an attribute-match
value the caller supplies. It is trained on validation interactions (the held-out
item is the one positive among the candidates gathered from the base models'
top-N lists) and applied unchanged at test time, or by the agent to fuse its pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.threads import default_plan

AttributeMatch = Callable[[int, IntArray], FloatArray]


@dataclass(frozen=True)
class CandidateFeatures:
    """The feature matrix of one user's candidates: row i describes ``items[i]``.

    ``directions`` holds, per column, +1 where a higher value may only raise an item
    (a model's score), -1 where it may only lower it (a model's rank) and 0 where the
    fusion may learn any shape; empty means 0 everywhere.
    """

    user: int
    items: IntArray
    values: FloatArray
    names: tuple[str, ...]
    directions: tuple[int, ...] = ()


def model_column_directions(names: Sequence[str]) -> tuple[int, ...]:
    """+1 for a model's ``*_score`` column, -1 for its ``*_rank``, 0 for anything else."""
    return tuple(1 if name.endswith("_score") else -1 if name.endswith("_rank") else 0 for name in names)


def gather_candidates(
    models: Mapping[str, Recommender],
    user: int,
    n: int,
    exclude: IntArray | None = None,
) -> IntArray:
    """The union of each model's top-``n`` for ``user`` (seen and ``exclude`` items dropped)."""
    pools = []
    for model in models.values():
        mask = None
        if exclude is not None and exclude.size:
            mask = np.ones(model.n_items, dtype=bool)
            mask[exclude] = False
        pools.append([item for item, _ in model.recommend(user, n, mask=mask)])
    return np.unique(np.concatenate(pools).astype(np.int64)) if pools else np.empty(0, np.int64)


def candidate_features(
    models: Mapping[str, Recommender],
    user: int,
    items: IntArray,
    popularity: FloatArray,
    attribute_match: FloatArray | None = None,
) -> CandidateFeatures:
    """Scores and within-candidate ranks from every model, log popularity, attribute match."""
    columns, names = [], []
    for name, model in models.items():
        scores = model.score([user], items)[0].astype(np.float64)
        ranks = np.empty(len(items))
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(items) + 1)
        columns += [scores, ranks]
        names += [f"{name}_score", f"{name}_rank"]
    columns.append(np.log1p(popularity[items]))
    names.append("log_popularity")
    if attribute_match is not None:
        columns.append(np.asarray(attribute_match, dtype=np.float64))
        names.append("attribute_match")
    return CandidateFeatures(user, items, np.column_stack(columns), tuple(names), model_column_directions(names))


class LearnedFusionConfig(ModelConfig):
    """LightGBM LambdaRank settings; ``num_threads`` 0 means the measured default.

    Small trees by default: validation gives one positive per user, so a few hundred
    to a few thousand positives; 31-leaf trees over-fit them on ml-100k (bench notes).
    """

    n_estimators: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_child_samples: int = 50
    seed: int = 0
    num_threads: int = 0
    # Keep each column's ``directions`` (a better model score never lowers an item). Unconstrained
    # trees learnt noise in a backbone's own order from a few hundred positives (bench/README.md).
    monotone: bool = True
    # A rank column whose order the fusion starts from (score -log rank) and learns corrections to.
    prior_rank: str | None = None


class LearnedFusion:
    """Ranks candidate lists by a LambdaRank model over ``CandidateFeatures``."""

    def __init__(self, config: LearnedFusionConfig | None = None) -> None:
        self.config = config or LearnedFusionConfig()
        self.feature_names: tuple[str, ...] = ()
        self.booster: lgb.Booster | None = None

    def fit(self, feature_lists: Sequence[CandidateFeatures], labels: Sequence[np.ndarray]) -> Self:
        """Train on one query group per list; ``labels[i]`` grades ``feature_lists[i].items``."""
        groups = [(f, y) for f, y in zip(feature_lists, labels, strict=True) if np.any(y > 0)]
        if not groups:
            raise ValueError("no candidate list contains a positive label")
        self.feature_names = groups[0][0].names
        cfg = self.config
        constraints: dict[str, Any] = {}
        directions = groups[0][0].directions
        if cfg.monotone and any(directions):
            constraints = {"monotone_constraints": list(directions), "monotone_constraints_method": "advanced"}
        ranker = lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=cfg.n_estimators,
            learning_rate=cfg.learning_rate,
            num_leaves=cfg.num_leaves,
            min_child_samples=cfg.min_child_samples,
            random_state=cfg.seed,
            n_jobs=cfg.num_threads or default_plan().lightgbm,
            deterministic=True,
            verbose=-1,
            **constraints,
        )
        priors = [prior for f, _ in groups if (prior := self._prior(f)) is not None]
        ranker.fit(
            np.vstack([f.values for f, _ in groups]),
            np.concatenate([y for _, y in groups]),
            group=[len(y) for _, y in groups],
            feature_name=list(self.feature_names),
            init_score=np.concatenate(priors) if priors else None,
        )
        self.booster = ranker.booster_
        return self

    def _prior(self, features: CandidateFeatures) -> FloatArray | None:
        """The starting score of each candidate: -log of its ``prior_rank`` (None without a prior)."""
        if self.config.prior_rank is None:
            return None
        if self.config.prior_rank not in features.names:
            raise ValueError(f"prior column {self.config.prior_rank!r} is not among the features {features.names}")
        ranks = features.values[:, features.names.index(self.config.prior_rank)]
        return -np.log(np.maximum(ranks, 1.0))

    def score(self, features: CandidateFeatures) -> FloatArray:
        """The fused score of every candidate (higher is better)."""
        if self.booster is None:
            raise RuntimeError("LearnedFusion is not fitted; call fit() first")
        if features.names != self.feature_names:
            raise ValueError(f"features {features.names} differ from training {self.feature_names}")
        learned = np.asarray(self.booster.predict(features.values), dtype=np.float64)
        prior = self._prior(features)
        return learned if prior is None else learned + prior

    def rank(self, features: CandidateFeatures) -> IntArray:
        """Row positions of ``features`` best first (ties keep the candidate order)."""
        return np.argsort(-self.score(features), kind="stable").astype(np.int64)

    def save(self, path: Path) -> None:
        """Write the booster as LightGBM's text model format."""
        if self.booster is None:
            raise RuntimeError("LearnedFusion is not fitted")
        path.write_text(self.booster.model_to_string())

    @classmethod
    def load(cls, path: Path, config: LearnedFusionConfig | None = None) -> LearnedFusion:
        fusion = cls(config)
        fusion.booster = lgb.Booster(model_str=path.read_text())
        fusion.feature_names = tuple(fusion.booster.feature_name())
        return fusion


def validation_training_lists(
    models: Mapping[str, Recommender],
    held_out: Interactions,
    n: int,
    popularity: FloatArray,
    attribute_match: AttributeMatch | None = None,
) -> tuple[list[CandidateFeatures], list[np.ndarray]]:
    """Candidate lists and 0/1 labels for every user with a held-out item (the positives)."""
    relevant: sp.csr_matrix = held_out.to_csr(binary=True)
    lists, labels = [], []
    for user in np.flatnonzero(np.diff(relevant.indptr)):
        items = gather_candidates(models, int(user), n)
        truth = relevant.indices[relevant.indptr[user] : relevant.indptr[user + 1]]
        match = attribute_match(int(user), items) if attribute_match is not None else None
        lists.append(candidate_features(models, int(user), items, popularity, match))
        labels.append(np.isin(items, truth).astype(np.float64))
    return lists, labels

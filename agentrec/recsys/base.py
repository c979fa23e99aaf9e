"""The one contract every recommender implements, and the ranking logic they all share.

A model learns from ``fit`` and exposes raw preference scores through ``_score``;
everything else (masking seen items, candidate restriction, boolean masks, top-k,
batched full ranking, persistence of the user histories) lives here once, so every
model behaves the same way and the contract tests in ``tests/recsys`` cover them all.
A model that can say which items are alike implements ``_item_similarity`` too,
and ``similar_items`` ranks it the same way; the others refuse with a ``ConfigError``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating[Any]]
BoolArray = npt.NDArray[np.bool_]

STATE_FILE = "state.npz"
CONFIG_FILE = "config.json"


class ModelConfig(BaseModel):
    """Base of every model's hyper-parameters: frozen, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Recommender(ABC):
    """Fit on interactions, then score, recommend and rank over dense item indices.

    Subclasses set ``name`` and ``Config`` and implement ``_fit`` and ``_score``;
    models with state beyond numpy arrays also override ``_state``/``_restore``
    (or ``save``/``load`` for files such as a torch ``state_dict``).
    """

    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise TypeError("pass either a config object or keyword parameters, not both")
        self.config = config if config is not None else self.Config(**params)
        self._history: sp.csr_matrix | None = None

    # ----- what a model implements -------------------------------------------------
    @abstractmethod
    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        """Learn parameters from ``train`` (``valid`` only for early stopping/tuning)."""

    @abstractmethod
    def _score(self, users: IntArray) -> FloatArray:
        """Scores of ``users`` against every item, shape (len(users), n_items)."""

    def _state(self) -> dict[str, np.ndarray]:
        """The fitted parameters as named numpy arrays (for ``save``)."""
        return {}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of ``_state``."""
        del state  # stateless by default

    def _history_changed(self, history: Interactions) -> None:
        """Hook for models whose scores depend on more than the history matrix."""
        del history  # most models read only ``self.history``

    def check_fits(self, n_users: int, n_items: int) -> None:
        """Raise ``ConfigError`` up front when fitting on this many users and items would exceed the memory budget.

        Models whose footprint grows faster than the data (EASE's items x items) override it;
        ``fit`` calls it, and so does evaluation before fitting anything.
        """
        del n_users, n_items  # the default: memory grows with the interactions, which are already loaded

    def _item_similarity(self, item: int) -> FloatArray:
        """How similar every item is to ``item`` (higher is more alike), shape (n_items,).

        Optional: a model without a notion of item similarity (MostPop) keeps this refusal.
        """
        alike = "itemknn, ease, als, bpr, sasrec or text"
        raise ConfigError(f"model {self.name} cannot say which items are similar; use {alike}")

    # ----- the public contract -----------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None) -> Self:
        """Fit on ``train``; ``valid`` (if given) is used only for model selection."""
        self.check_fits(train.n_users, train.n_items)
        self._history = train.to_csr(binary=True)
        self._fit(train, valid)
        return self

    def set_history(self, history: Interactions) -> None:
        """Score and mask from ``history`` instead of the fitted train data, without refitting.

        Used at test time in leave-one-out evaluation to feed the validation item to
        sequence-aware models; parameters learned in ``fit`` are not touched.
        """
        self._require_fitted()
        self._history = history.to_csr(binary=True)
        self._history_changed(history)

    @property
    def n_items(self) -> int:
        return int(self._require_fitted().shape[1])

    @property
    def n_users(self) -> int:
        return int(self._require_fitted().shape[0])

    @property
    def history(self) -> sp.csr_matrix:
        """The users x items binary matrix of seen items (the fitted train data by default)."""
        return self._require_fitted()

    def seen_items(self, user: int) -> IntArray:
        """Dense indices of the items ``user`` has interacted with."""
        history = self._require_fitted()
        row = history.indices[history.indptr[user] : history.indptr[user + 1]]
        return np.asarray(row, dtype=np.int64)

    def score(self, users: npt.ArrayLike, items: npt.ArrayLike | None = None) -> FloatArray:
        """Scores (higher is better) of ``users`` x all items, or x the given ``items``."""
        user_index = self._check_users(users)
        scores = self._score(user_index)
        if items is None:
            return scores
        return scores[:, self._check_items(items)]

    def recommend(
        self,
        user: int,
        k: int,
        exclude_seen: bool = True,
        candidates: npt.ArrayLike | None = None,
        mask: BoolArray | None = None,
    ) -> list[tuple[int, float]]:
        """The top ``k`` (item, score) pairs for ``user``, best first.

        ``candidates`` restricts the ranking to those items; ``mask`` is a boolean
        array over all items (True = allowed); seen items are dropped unless
        ``exclude_seen`` is false. Fewer than ``k`` pairs come back when fewer
        items are allowed.
        """
        scores = self.score([user])[0].astype(np.float64)
        allowed = self.allowed_items(user, exclude_seen, candidates, mask)
        return [(int(item), float(scores[item])) for item in top_k_allowed(scores, allowed, k)]

    def similar_items(self, item: int, k: int, mask: BoolArray | None = None) -> list[tuple[int, float]]:
        """The ``k`` items most similar to ``item`` as (item, similarity) pairs, best first; never ``item`` itself.

        ``mask`` is a boolean array over all items (True = allowed). Fewer than ``k``
        pairs come back when fewer items are allowed. ``ConfigError`` for a model that
        has no item similarity.
        """
        similarity = self.item_similarity(item)
        allowed = np.ones(self.n_items, dtype=bool) if mask is None else self._check_mask(mask).copy()
        allowed[item] = False
        return [(int(other), float(similarity[other])) for other in top_k_allowed(similarity, allowed, k)]

    @property
    def has_item_similarity(self) -> bool:
        """True when the model can say which items are alike (``item_similarity`` works)."""
        return type(self)._item_similarity is not Recommender._item_similarity

    def item_similarity(self, item: int) -> FloatArray:
        """How similar every item is to ``item`` (higher is more alike), shape (n_items,)."""
        self._require_fitted()
        item = int(self._check_items([item])[0])
        return np.asarray(self._item_similarity(item), dtype=np.float64)

    def allowed_items(
        self,
        user: int,
        exclude_seen: bool = True,
        candidates: npt.ArrayLike | None = None,
        mask: BoolArray | None = None,
    ) -> BoolArray:
        """The boolean item mask ``recommend`` ranks over for ``user``."""
        allowed = np.ones(self.n_items, dtype=bool)
        if candidates is not None:
            allowed[:] = False
            allowed[self._check_items(candidates)] = True
        if mask is not None:
            allowed &= self._check_mask(mask)
        if exclude_seen:
            allowed[self.seen_items(user)] = False
        return allowed

    def recommend_many(
        self,
        users: npt.ArrayLike,
        k: int,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        batch_size: int = 1024,
    ) -> IntArray:
        """Top-``k`` item indices for many users (full ranking), shape (len(users), k).

        ``exclude`` is an optional users x items matrix of further items to mask
        (e.g. the validation item at test time). Rows with fewer than ``k``
        allowed items are padded with -1.
        """
        user_index = self._check_users(users)
        result = np.full((len(user_index), k), -1, dtype=np.int64)
        for start in range(0, len(user_index), batch_size):
            batch = user_index[start : start + batch_size]
            # one writable copy in the model's own float type: float32 -> float64 is exact, so
            # widening would only double the memory the masking and top-k passes walk through
            raw = np.asarray(self._score(batch))
            scores = np.array(raw, dtype=raw.dtype if np.issubdtype(raw.dtype, np.floating) else np.float64)
            if exclude_seen:
                _mask_rows(scores, self._require_fitted()[batch])
            if exclude is not None:
                _mask_rows(scores, exclude[batch])
            result[start : start + len(batch)] = top_k_rows(scores, k, drop_neg_inf=True)
        return result

    # ----- persistence -------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the config and fitted state into ``folder`` (which must exist)."""
        history = self._require_fitted()
        (folder / CONFIG_FILE).write_text(
            json.dumps({"model": self.name, "config": self.config.model_dump(mode="json")})
        )
        arrays = {f"model.{key}": value for key, value in self._state().items()}
        arrays |= {
            "history.data": history.data,
            "history.indices": history.indices,
            "history.indptr": history.indptr,
            "history.shape": np.asarray(history.shape, dtype=np.int64),
        }
        np.savez(folder / STATE_FILE, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Rebuild a fitted model written by ``save``."""
        meta = json.loads((folder / CONFIG_FILE).read_text())
        model = cls(cls.Config(**meta["config"]))
        with np.load(folder / STATE_FILE) as stored:
            arrays = {key: stored[key] for key in stored.files}
        model._history = sp.csr_matrix(
            (arrays["history.data"], arrays["history.indices"], arrays["history.indptr"]),
            shape=tuple(int(x) for x in arrays["history.shape"]),
        )
        model._restore({k.removeprefix("model."): v for k, v in arrays.items() if k.startswith("model.")})
        return model

    # ----- checks ------------------------------------------------------------------
    def _require_fitted(self) -> sp.csr_matrix:
        if self._history is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        return self._history

    def _check_users(self, users: npt.ArrayLike) -> IntArray:
        index = np.atleast_1d(np.asarray(users, dtype=np.int64))
        if index.size and (index.min() < 0 or index.max() >= self.n_users):
            raise ValueError(f"user index out of range 0..{self.n_users - 1}")
        return index

    def _check_items(self, items: npt.ArrayLike) -> IntArray:
        index = np.atleast_1d(np.asarray(items, dtype=np.int64))
        if index.size and (index.min() < 0 or index.max() >= self.n_items):
            raise ValueError(f"item index out of range 0..{self.n_items - 1}")
        return index

    def _check_mask(self, mask: BoolArray) -> BoolArray:
        checked = np.asarray(mask, dtype=bool)
        if checked.shape != (self.n_items,):
            raise ValueError(f"mask must have shape ({self.n_items},), got {checked.shape}")
        return checked


def top_k_allowed(scores: FloatArray, allowed: BoolArray, k: int) -> IntArray:
    """The ``k`` best-scored items where ``allowed`` is true, best first; ties go to the lower index."""
    candidates = np.flatnonzero(allowed)
    return candidates[top_k_indices(np.asarray(scores)[candidates], k)].astype(np.int64)


def top_k_indices(scores: FloatArray, k: int) -> IntArray:
    """Positions of the ``k`` largest scores, best first; ties go to the lower position."""
    ranked: IntArray = top_k_rows(np.asarray(scores)[None, :], k)[0]
    return ranked[: min(max(k, 0), len(scores))]


def top_k_rows(scores: FloatArray, k: int, drop_neg_inf: bool = False) -> IntArray:
    """Row-wise top-``k`` column indices, best first, ties broken by lower column index.

    The result is fully determined by the scores (never by partition internals), so a
    batched ranking equals the one-user ranking. With ``drop_neg_inf``, -inf entries
    (masked items) come back as -1.
    """
    n_rows, n_cols = scores.shape
    kk = min(max(k, 0), n_cols)
    out = np.full((n_rows, max(k, 0)), -1, dtype=np.int64)
    if kk == 0 or n_rows == 0:
        return out
    kth = np.partition(scores, n_cols - kk, axis=1)[:, n_cols - kk : n_cols - kk + 1]
    better = scores > kth
    ties = scores == kth
    needed = kk - better.sum(axis=1, keepdims=True)
    chosen = better | ties
    # only rows with more ties at the k-th score than places left need the running count
    crowded = np.flatnonzero(ties.sum(axis=1) > needed[:, 0])
    if crowded.size:
        keep = ties[crowded] & (np.cumsum(ties[crowded], axis=1) <= needed[crowded])
        chosen[crowded] = better[crowded] | keep
    part = np.nonzero(chosen)[1].reshape(n_rows, kk)
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    ranked = np.take_along_axis(part, order, axis=1)
    if drop_neg_inf:
        ranked = np.where(np.isneginf(np.take_along_axis(part_scores, order, axis=1)), -1, ranked)
    out[:, :kk] = ranked
    return out


def _mask_rows(scores: FloatArray, rows: sp.csr_matrix) -> None:
    """Set ``scores[r, c] = -inf`` for every stored entry (r, c) of ``rows``."""
    coo = rows.tocoo()
    scores[coo.row, coo.col] = -np.inf

"""Everything the agent's tools stand on for one dataset: split, fitted models, item data.

The workspace follows ToolRec's protocol: leave-one-out by time, models fit on
the training part. It has two stages. At ``valid`` the models see the training
history and the validation item is the target (the learned fusion is trained
there); at ``test`` they see training + validation and the test item is the
target. Item records are loaded once, so a tool call never waits on a query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from agentrec.agent.attributes import ItemAttributes
from agentrec.agent.packs import ToolPack, find_pack
from agentrec.agent.progress import Progress
from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.data.protocols import make_split
from agentrec.data.records import ItemRecord
from agentrec.data.splits import Split
from agentrec.data.store import DatasetStore, open_dataset
from agentrec.data.text_attributes import bare_title
from agentrec.recsys.base import Recommender
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import make_model
from agentrec.recsys.threads import repin_torch

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Stage = Literal["valid", "test"]


@dataclass(frozen=True)
class UserHistory:
    """One user's interactions in time order, as the current stage sees them."""

    items: IntArray
    ratings: FloatArray


@dataclass
class WorkspaceModels:
    """The fitted models behind the tools, by role."""

    backbone: Recommender
    similar: Recommender | None = None
    text: Recommender | None = None
    # Models no tool calls, whose scores the learned fusion reads beside the others', by name.
    features: dict[str, Recommender] = field(default_factory=dict)

    def all(self) -> list[Recommender]:
        tools = [model for model in (self.backbone, self.similar, self.text) if model is not None]
        return tools + list(self.features.values())


@dataclass
class AgentWorkspace:
    """A dataset ready for the agent: store, pack, split, models, attributes, item records."""

    store: DatasetStore
    pack: ToolPack
    split: Split
    models: WorkspaceModels
    attributes: ItemAttributes
    records: list[ItemRecord]
    stage: Stage = "test"
    fusion_ranker: object | None = None  # a fitted LearnedFusion, attached by agentrec.agent.fusion
    _histories: list[UserHistory] = field(default_factory=list, repr=False)
    _popularity: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    _mean_ratings: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    # Scores computed ahead for a batch of users, by role ("backbone", "feature:ease", ...) then user.
    _prefetched: dict[str, dict[int, FloatArray]] = field(default_factory=dict, repr=False)
    _prefetched_users: tuple[int, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self.item_years = np.array([np.nan if r.year is None else r.year for r in self.records], dtype=np.float64)
        # Exact titles resolve in memory; only near-misses go to the catalog's fuzzy search.
        self.title_index: dict[str, int] = {}
        for index, record in enumerate(self.records):
            for key in (record.label.lower(), bare_title(record.title)):
                self.title_index.setdefault(key, index)
        self.use_stage(self.stage)

    @property
    def n_items(self) -> int:
        return len(self.records)

    @property
    def dataset_key(self) -> str:
        return self.store.key

    def stage_history(self) -> Interactions:
        return self.split.train if self.stage == "valid" else self.split.train_and_valid()

    def use_stage(self, stage: Stage) -> None:
        """Point every model and the per-user histories at ``stage``'s history."""
        self.stage = stage
        self._prefetched, self._prefetched_users = {}, ()  # scores of the other stage's history
        history = self.stage_history()
        for model in self.models.all():
            model.set_history(history)
        self._histories = _histories(history)
        self._popularity = np.bincount(history.item, minlength=history.n_items).astype(np.float64)
        self._mean_ratings = _mean_ratings(history)

    def history(self, user: int) -> UserHistory:
        return self._histories[user]

    def scoring_models(self) -> dict[str, Recommender]:
        """Every model whose per-user scores a run may read, by the key a run caches them under."""
        roles = {"backbone": self.models.backbone, "similar": self.models.similar, "text": self.models.text}
        found = {role: model for role, model in roles.items() if model is not None}
        return found | {f"feature:{name}": model for name, model in self.models.features.items()}

    @contextmanager
    def scores_prefetched(self, users: Sequence[int]) -> Iterator[None]:
        """Within the block, each model's scores for ``users`` come from one batched call.

        A model scores many users at once for little more than one (a single SASRec
        forward pass, one EASE matrix product), and an evaluation's runs would
        otherwise score one user at a time. Runs in threads only read the batch.
        """
        self.keep_prefetched(users)
        try:
            yield
        finally:
            self._prefetched, self._prefetched_users = {}, ()

    def keep_prefetched(self, users: Sequence[int]) -> None:
        """Hold each model's scores for ``users``, from one batched call (kept while the batch is the same)."""
        if tuple(users) == self._prefetched_users:
            return
        batch = np.asarray(users, dtype=np.int64)
        self._prefetched = {
            key: dict(zip(users, np.asarray(model.score(batch), dtype=np.float64), strict=True))
            for key, model in self.scoring_models().items()
        }
        self._prefetched_users = tuple(users)

    def prefetched_scores(self, key: str, user: int) -> FloatArray | None:
        """The batch's scores of ``user`` under ``key`` (a role, or ``feature:NAME``), if prefetched."""
        return self._prefetched.get(key, {}).get(user)

    def prefetch_batch_size(self, most: int = 4096, bytes_per_model: int = 64_000_000) -> int:
        """How many users to prefetch at once: ``most``, fewer for a catalog too large to hold them."""
        return max(1, min(most, bytes_per_model // (8 * max(1, self.n_items))))

    @property
    def popularity(self) -> FloatArray:
        """Interactions per item in the current stage's history (never the held-out items)."""
        return self._popularity

    @property
    def mean_ratings(self) -> FloatArray:
        """Mean rating per item over the current stage's history (NaN where unrated)."""
        return self._mean_ratings

    def similar_items(self, item: int, k: int, allowed: npt.NDArray[np.bool_]) -> IntArray:
        """The ``k`` allowed items most like ``item``, by the pack's item-item model (else text)."""
        model = self.models.similar or self.models.text
        if model is None:
            raise ConfigError("the tool pack names no similar or text model for similar()")
        return np.array([other for other, _ in model.similar_items(item, k, mask=allowed)], dtype=np.int64)

    def item_index(self, reference: str) -> int:
        """A dense item index from an id or a title (fuzzy); ``DataError`` with suggestions otherwise."""
        text = str(reference).strip()
        items = self.split.train.items
        if text in items:
            return items.index(text)
        exact = self.title_index.get(text.lower())
        if exact is not None:
            return exact
        return items.index(self.store.catalog.resolve(text).item_id)

    def warm_up(self) -> None:
        """Load the text model's sentence encoder, which the first ``search`` would otherwise wait for."""
        text_model = self.models.text
        if text_model is not None and hasattr(text_model, "search_text"):
            logger.info("text: loading the sentence encoder for search")
            text_model.search_text("warm up", 1)

    def target(self, user: int) -> int | None:
        """The held-out item of ``user`` at this stage (None if the user has none)."""
        held_out = self.split.valid if self.stage == "valid" else self.split.test
        rows = np.flatnonzero(held_out.user == user)
        return int(held_out.item[rows[-1]]) if rows.size else None

    def evaluable_users(self) -> IntArray:
        """Users with a held-out item at this stage, ascending."""
        held_out = self.split.valid if self.stage == "valid" else self.split.test
        return np.unique(held_out.user).astype(np.int64)

    def user_index(self, user_id: str) -> int:
        return self.split.train.users.index(user_id)

    def user_id(self, user: int) -> str:
        return self.split.train.users.id(user)


def open_workspace(
    dataset: str,
    pack_path: Path | None = None,
    backbone: str | None = None,
    progress: Progress | None = None,
) -> AgentWorkspace:
    """Open ``dataset``, pick its tool pack, and fit (or load) the pack's models on the LOO split."""
    notify = progress or (lambda message: None)
    store = open_dataset(dataset)
    pack = find_pack(store.name, pack_path, store.catalog.columns)
    if backbone:
        pack = pack.model_copy(update={"models": pack.models.model_copy(update={"backbone": backbone})})
    split = make_split(store, "loo")
    records = store.catalog.items_by_index(list(range(store.catalog.n_items)))
    models = _fit_models(store, pack, split, records, notify)
    attributes = ItemAttributes.from_store(store.con, pack.attributes)
    repin_torch()
    return AgentWorkspace(store, pack, split, models, attributes, records)


def _fit_models(
    store: DatasetStore, pack: ToolPack, split: Split, records: list[ItemRecord], notify: Progress
) -> WorkspaceModels:
    key = store.key
    models_store = ModelStore()

    def fitted(name: str | None) -> Recommender | None:
        if name is None:
            return None
        params = dict(pack.models.params.get(name, {}))
        extra = {"item_texts": [item_text(record) for record in records]} if name == "text" else {}
        model = make_model(name, **params, **extra)
        notify(f"{name}: fitting or loading")
        result, loaded = models_store.fit_or_load(model, split.train, split.valid, key, split.name)
        logger.info("%s %s", name, "loaded" if loaded else "fitted")
        return result

    backbone = fitted(pack.models.backbone)
    assert backbone is not None
    tool_models = {pack.models.backbone, pack.models.similar, pack.models.text}
    # A feature model that already backs a tool would only repeat its columns.
    features = {name: fitted(name) for name in pack.models.features if name not in tool_models}
    return WorkspaceModels(
        backbone,
        fitted(pack.models.similar),
        fitted(pack.models.text),
        {name: model for name, model in features.items() if model is not None},
    )


def item_text(record: ItemRecord) -> str:
    """The text MiniLM embeds for an item: title, then its genres."""
    genres = ", ".join(record.genres)
    return f"{record.label}. {genres}" if genres else record.label


def _mean_ratings(history: Interactions) -> FloatArray:
    rated = ~np.isnan(history.rating)
    totals = np.bincount(history.item[rated], weights=history.rating[rated], minlength=history.n_items)
    counts = np.bincount(history.item[rated], minlength=history.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def _histories(history: Interactions) -> list[UserHistory]:
    order = np.lexsort((np.arange(len(history)), history.ts, history.user))
    users, items, ratings = history.user[order], history.item[order], history.rating[order]
    bounds = np.searchsorted(users, np.arange(history.n_users + 1))
    return [
        UserHistory(items[bounds[u] : bounds[u + 1]].astype(np.int64), ratings[bounds[u] : bounds[u + 1]])
        for u in range(history.n_users)
    ]

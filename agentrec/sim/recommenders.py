"""The one protocol every recommender under test plugs into, and its three kinds of arms.

* a CF model by registry name (``ease``, ``itemknn``, ...): fitted on the users'
  training data; with ``retrain`` it is refitted before every round on training
  data plus what the simulated users watched, which closes the feedback loop;
  without it only its history grows (so watched items are not shown again);
* ``agent``: the ToolRec agent, through ``agentrec.agent.service`` only;
* ``thompson`` and ``reloop``: recommenders that learn from what users were shown
  and watched in earlier rounds (``agentrec.sim.adaptive``);
* ``package.module:Class``: a user's own class, built as ``Class(context, **params)``.

Items are dense indices over the dataset's item vocabulary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import ModelBackendError
from agentrec.data.interactions import Interactions
from agentrec.llm.records import ChatModel
from agentrec.recsys.base import Recommender, top_k_indices
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import make_model
from agentrec.sim.items import SimItems
from agentrec.sim.scenario import ArmSpec


@runtime_checkable
class SimRecommender(Protocol):
    """What the simulator needs from a recommender."""

    def start_round(self, round_index: int, feedback: Interactions) -> None:
        """Prepare for ``round_index``; ``feedback`` holds every watch of earlier rounds."""
        ...

    def recommend(self, user: int, n: int) -> list[int]:
        """Up to ``n`` items for ``user``, best first, none the user has seen or watched."""
        ...


@dataclass(frozen=True)
class Shown:
    """Every item shown on a recommendation page in earlier rounds, whether it was watched, oldest first."""

    user: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    clicked: npt.NDArray[np.bool_]
    round: npt.NDArray[np.int64]


@runtime_checkable
class LearnsFromShown(Protocol):
    """A recommender that also learns from impressions: ``observe`` runs just before each ``start_round``."""

    def observe(self, round_index: int, shown: Shown) -> None:
        """Learn from every page shown in the rounds before ``round_index`` (the whole past, each time)."""
        ...


@dataclass(frozen=True)
class ArmContext:
    """What an arm may use: the simulated users, the dataset, their training data, item info, the run folder."""

    users: npt.NDArray[np.int64]
    dataset: str
    dataset_key: str
    split_name: str
    train: Interactions
    items: SimItems
    seed: int
    list_length: int
    run_dir: Path


class CFArm:
    """A registry CF model; refitted per round when ``retrain`` is set."""

    def __init__(self, spec: ArmSpec, context: ArmContext) -> None:
        self.spec = spec
        self.context = context
        self.model: Recommender | None = None
        self.scores: dict[int, npt.NDArray[np.floating[Any]]] = {}

    def start_round(self, round_index: int, feedback: Interactions) -> None:
        context = self.context
        history = context.train.concat(feedback) if len(feedback) else context.train
        fresh = make_model(self.spec.recommender, **self.spec.params)
        if self.spec.retrain and len(feedback):
            store = ModelStore(context.run_dir / "models")
            self.model, _ = store.fit_or_load(fresh, history, None, self.spec.name, f"round{round_index}")
        else:
            self.model, _ = ModelStore().fit_or_load(
                fresh, context.train, None, context.dataset_key, context.split_name
            )
        self.model.set_history(history)
        self.scores = {}
        users = self.context.users
        for start in range(0, len(users), 256):  # one model call per batch, not per session
            chunk = users[start : start + 256]
            self.scores |= dict(zip(chunk.tolist(), self.model.score(chunk), strict=True))

    def recommend(self, user: int, n: int) -> list[int]:
        if self.model is None:
            raise RuntimeError("start_round() must run before recommend()")
        if user not in self.scores:
            return [item for item, _ in self.model.recommend(user, n)]
        allowed = np.flatnonzero(self.model.allowed_items(user))
        scores = np.asarray(self.scores[user], dtype=np.float64)[allowed]
        return [int(allowed[i]) for i in top_k_indices(scores, n)]


class AgentArm:
    """The ToolRec agent (or its heuristic/backbone policy) through its public service."""

    def __init__(self, spec: ArmSpec, context: ArmContext, chat_model: Callable[[], ChatModel] | None) -> None:
        self.spec = spec
        self.context = context
        self.chat_model = chat_model
        self.service: Any = None
        self.watched: dict[int, set[int]] = {}
        self._opening = threading.Lock()  # sessions in flight together must not open the service twice

    def start_round(self, round_index: int, feedback: Interactions) -> None:
        del round_index
        self.watched = {}
        for user, item in zip(feedback.user.tolist(), feedback.item.tolist(), strict=True):
            self.watched.setdefault(user, set()).add(item)

    def _open(self) -> Any:
        with self._opening:
            if self.service is None:
                from agentrec.agent.policies import RunSettings
                from agentrec.agent.service import open_agent

                model = self.chat_model() if self.chat_model and self.spec.policy == "agent" else None
                # twice the list: items the user watched in earlier rounds are dropped afterwards
                settings = RunSettings(k=2 * self.context.list_length, seed=self.context.seed)
                backbone = self.spec.params.get("backbone")
                self.service = open_agent(self.context.dataset, settings, model, backbone=backbone)  # type: ignore[arg-type]
        return self.service

    def recommend(self, user: int, n: int) -> list[int]:
        return self.recommend_counting_tokens(user, n)[0]

    def recommend_counting_tokens(self, user: int, n: int) -> tuple[list[int], int]:
        """``recommend``, and the LLM tokens the agent spent on this list."""
        service = self._open()
        user_id = self.context.train.users.id(user)
        run = service.run(service.user_index(user_id), self.spec.policy)
        if run.llm_unreachable:  # a backbone list in the agent's name would skew the arm: stop the session
            raise ModelBackendError(f"the agent arm's LLM was not reached ({run.llm_unreachable})")
        vocabulary = self.context.train.items
        known = [vocabulary.index(i.item_id) for i in run.items if i.item_id in vocabulary]
        skip = self.watched.get(user, set())
        return [item for item in known if item not in skip][:n], int(run.tokens)


def recommend_counting_tokens(arm: SimRecommender, user: int, n: int) -> tuple[list[int], int]:
    """The arm's list for ``user`` and the LLM tokens spent on it (0 for an arm without an LLM).

    Returned with the list, not read off a running total: sessions in flight together share the arm.
    """
    if isinstance(arm, AgentArm):
        return arm.recommend_counting_tokens(user, n)
    return arm.recommend(user, n), 0


def shown_records(train: Interactions, rows: list[tuple[str, str, bool, int]]) -> Shown:
    """(user_id, item_id, watched, round) rows, as the log stores them, over ``train``'s vocabularies."""
    return Shown(
        np.array([train.users.index(r[0]) for r in rows], dtype=np.int64),
        np.array([train.items.index(r[1]) for r in rows], dtype=np.int64),
        np.array([bool(r[2]) for r in rows], dtype=np.bool_),
        np.array([int(r[3]) for r in rows], dtype=np.int64),
    )


def feedback_interactions(train: Interactions, watches: list[tuple[str, str, int, int, int]]) -> Interactions:
    """Watches as interactions over ``train``'s vocabularies, timed after every real interaction."""
    start = int(train.ts.max()) + 1 if len(train) else 0
    users = np.array([train.users.index(w[0]) for w in watches], dtype=np.int64)
    items = np.array([train.items.index(w[1]) for w in watches], dtype=np.int64)
    ratings = np.array([w[2] for w in watches], dtype=np.float64)
    ts = np.array([start + w[3] * 1_000_000 + w[4] for w in watches], dtype=np.int64)
    return Interactions(users, items, ratings, ts, train.users, train.items)

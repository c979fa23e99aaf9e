"""The context object every tool receives first: the workspace, one user, the pool, an rng.

Full score vectors are computed once per user and kept, so the second and later
calls of a tool are array work only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from agentrec.agent.pool import BoolArray, CandidatePool
from agentrec.agent.workspace import AgentWorkspace, UserHistory
from agentrec.core.errors import ToolRetry
from agentrec.data.records import ItemRecord
from agentrec.llm.records import AssistantTurn, ChatModel

FloatArray = npt.NDArray[np.float64]
ModelRole = Literal["backbone", "similar", "text"]


@dataclass
class ToolContext:
    """State one agent run shares with its tools."""

    workspace: AgentWorkspace
    user: int
    pool: CandidatePool
    rng: np.random.Generator
    step: int = 0
    # The LLM a tool may consult (rank by llm) and how many shuffled orders it scores; None: no LLM in this run.
    llm: ChatModel | None = None
    llm_shuffles: int = 3
    llm_turns: list[AssistantTurn] = field(default_factory=list)  # calls tools made (rank by llm), for the run's usage
    interests: int = 4  # at most this many interests for retrieve_by_interest (interests.DEFAULT_INTERESTS)
    _scores: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    @classmethod
    def for_user(cls, workspace: AgentWorkspace, user: int, seed: int = 0) -> ToolContext:
        """A fresh context: the pool may hold any item the user has not interacted with."""
        allowed = np.ones(workspace.n_items, dtype=bool)
        allowed[workspace.history(user).items] = False
        return cls(workspace, user, CandidatePool(allowed), np.random.default_rng([seed, user]))

    @property
    def history(self) -> UserHistory:
        return self.workspace.history(self.user)

    @property
    def user_id(self) -> str:
        """Who the run is for, as the run record names them."""
        return self.workspace.user_id(self.user)

    def eligible(self) -> BoolArray:
        """Items the run may ever return, whatever the pool's constraints: those the user has not seen."""
        unseen = np.ones(self.workspace.n_items, dtype=bool)
        unseen[self.history.items] = False
        return unseen

    def target(self) -> int | None:
        """The held-out item the run is scored against (None when there is none)."""
        return self.workspace.target(self.user)

    def scores(self, role: ModelRole) -> FloatArray:
        """The ``role`` model's score for every item, for this user (computed once)."""
        if role not in self._scores:
            model = getattr(self.workspace.models, role)
            if model is None:
                raise ToolRetry(f"this dataset has no {role} model; use another tool")
            ahead = self.workspace.prefetched_scores(role, self.user)
            self._scores[role] = (
                ahead if ahead is not None else np.asarray(model.score([self.user])[0], dtype=np.float64)
            )
        return self._scores[role]

    def feature_scores(self, name: str) -> FloatArray:
        """The fusion-only model ``name``'s score for every item, for this user (computed once)."""
        key = f"feature:{name}"
        if key not in self._scores:
            model = self.workspace.models.features[name]
            ahead = self.workspace.prefetched_scores(key, self.user)
            self._scores[key] = (
                ahead if ahead is not None else np.asarray(model.score([self.user])[0], dtype=np.float64)
            )
        return self._scores[key]

    def record(self, item: int) -> ItemRecord:
        return self.workspace.records[item]

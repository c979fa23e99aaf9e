"""The tool context of a chat session: a person known by what they liked, not only by a user index.

The tools read a context's ``history`` and ``scores``; here both come from the
session profile. The history is the dataset user's items (when the session
started from one) followed by the items liked in the chat, and the scores are
the models' fold-in over that history (``agentrec.agent.chat.fold_in``). With an empty
profile every model falls back to popularity, so a cold start still gets a list.

Disliked items are removed from the pool's allowed mask before any tool runs,
and a session never fills its list past the person's own constraints: a short
list is better than one that breaks "no horror".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from agentrec.agent.chat.fold_in import score_history
from agentrec.agent.context import FloatArray, ModelRole, ToolContext
from agentrec.agent.pool import BoolArray, CandidatePool, IntArray
from agentrec.agent.workspace import AgentWorkspace, UserHistory
from agentrec.core.errors import ToolRetry


@dataclass(frozen=True)
class SessionProfile:
    """Who a session recommends to: a dataset user (or nobody), and what they liked and disliked."""

    user: int | None = None
    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()

    def history(self, workspace: AgentWorkspace) -> UserHistory:
        """The user's items in time order, then the liked ones in the order they were liked."""
        if self.user is None:
            items, ratings = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        else:
            own = workspace.history(self.user)
            items, ratings = own.items, own.ratings
        extra = [item for item in dict.fromkeys(self.liked) if item not in set(items.tolist())]
        return UserHistory(
            np.concatenate([items, np.asarray(extra, dtype=np.int64)]).astype(np.int64),
            np.concatenate([ratings, np.full(len(extra), np.nan)]),
        )


@dataclass
class SessionContext(ToolContext):
    """A ``ToolContext`` whose history and scores come from a session profile."""

    profile: SessionProfile = field(default_factory=SessionProfile)
    label: str = "session"
    _profile_history: UserHistory | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        workspace: AgentWorkspace,
        profile: SessionProfile,
        label: str,
        seed: int = 0,
        blocked: Iterable[int] = (),
    ) -> SessionContext:
        """A fresh context: nothing seen, liked, disliked or ``blocked`` may enter the pool."""
        history = profile.history(workspace)
        allowed = np.ones(workspace.n_items, dtype=bool)
        allowed[history.items] = False
        allowed[list(profile.disliked)] = False
        allowed[list(blocked)] = False
        return cls(
            workspace=workspace,
            user=-1 if profile.user is None else profile.user,
            pool=CandidatePool(allowed),
            rng=np.random.default_rng([seed, len(history.items)]),
            profile=profile,
            label=label,
            _profile_history=history,
        )

    @property
    def history(self) -> UserHistory:
        if self._profile_history is None:
            self._profile_history = self.profile.history(self.workspace)
        return self._profile_history

    @property
    def user_id(self) -> str:
        return self.label

    def target(self) -> int | None:
        return None  # a conversation has no held-out answer

    def eligible(self) -> BoolArray:
        return self.pool.allowed.copy()

    def scores(self, role: ModelRole) -> FloatArray:
        """The ``role`` model's scores for this profile: as fitted, folded in, or popularity when empty."""
        if role not in self._scores:
            model = getattr(self.workspace.models, role)
            if model is None:
                raise ToolRetry(f"this dataset has no {role} model; use another tool")
            items: IntArray = self.history.items
            if items.size == 0:
                scores = self.workspace.popularity.astype(np.float64)
            elif self.profile.user is not None and not self.profile.liked:
                scores = np.asarray(model.score([self.profile.user])[0], dtype=np.float64)
            else:
                scores = score_history(model, items)
            self._scores[role] = scores
        return self._scores[role]

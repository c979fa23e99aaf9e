"""Fold-in scoring for a chat session's person, and the session context built on it.

Planted answer: on the planted catalog a history of comedies must bring unseen
comedies to the top for every model that reads a history; and for a user the
model was fitted on, folding in their own history reproduces ``score``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from agentrec.agent.chat.fold_in import FOLD_IN_MODELS, score_history
from agentrec.agent.chat.session_context import SessionContext, SessionProfile
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import ConfigError
from agentrec.recsys.base import FloatArray, IntArray, Recommender
from agentrec.recsys.registry import make_model

SMALL: dict[str, Callable[[AgentWorkspace], dict[str, object]]] = {
    "ease": lambda w: {"l2": 1.0},
    "itemknn": lambda w: {"neighbours": 10},
    "als": lambda w: {"factors": 2, "iterations": 15, "regularization": 0.1, "alpha": 10.0, "weighting": "none"},
    "bpr": lambda w: {"factors": 8, "batch_size": 32, "learning_rate": 0.05, "weight_decay": 1e-2, "max_epochs": 60},
    "sasrec": lambda w: dict(hidden=16, feedforward=16, layers=1, heads=1, dropout=0.0, max_len=16, max_epochs=25,
                             learning_rate=5e-3, batch_size=32, num_threads=1),
    "text": lambda w: {"item_texts": [f"{r.label}. {', '.join(r.genres)}" for r in w.records]},
    "mostpop": lambda w: {},
}


@pytest.fixture(scope="module")
def fitted(workspace_module: AgentWorkspace) -> dict[str, Recommender]:
    train = workspace_module.stage_history()
    return {name: make_model(name, **SMALL[name](workspace_module)).fit(train) for name in FOLD_IN_MODELS}


@pytest.fixture(scope="module")
def workspace_module(planted_service: object) -> AgentWorkspace:
    workspace: AgentWorkspace = planted_service.workspace  # type: ignore[attr-defined]
    workspace.use_stage("test")
    return workspace


def top_unseen(scores: FloatArray, history: IntArray, k: int) -> list[int]:
    masked = scores.copy()
    masked[history] = -np.inf
    return [int(i) for i in np.argsort(-masked, kind="stable")[:k]]


@pytest.mark.parametrize("name", [n for n in FOLD_IN_MODELS if n != "mostpop"])
def test_a_comedy_history_brings_comedies(
    name: str, fitted: dict[str, Recommender], workspace_module: AgentWorkspace
) -> None:
    records = workspace_module.records
    comedies = [i for i, r in enumerate(records) if r.genres == ("Comedy",)]
    history = np.array(comedies[:4], dtype=np.int64)
    scores = score_history(fitted[name], history)
    assert scores.shape == (workspace_module.n_items,)
    top = top_unseen(scores, history, 3)
    assert all(records[i].genres == ("Comedy",) for i in top), [records[i].label for i in top]


@pytest.mark.parametrize("name", ["ease", "itemknn", "sasrec", "text", "mostpop"])
def test_folding_in_a_fitted_users_history_reproduces_score(
    name: str, fitted: dict[str, Recommender], workspace_module: AgentWorkspace
) -> None:
    model = fitted[name]
    for user_id in ("cu3", "hu5"):
        user = workspace_module.user_index(user_id)
        history = workspace_module.history(user).items
        np.testing.assert_allclose(score_history(model, history), model.score([user])[0], rtol=1e-4, atol=1e-5)


def test_an_empty_history_scores_zero_and_an_unknown_model_is_refused(fitted: dict[str, Recommender]) -> None:
    assert not score_history(fitted["ease"], []).any()

    class Unknown(Recommender):
        name = "unknown"

        def _fit(self, train: object, valid: object) -> None: ...

        def _score(self, users: IntArray) -> FloatArray:
            return np.zeros((len(users), 1))

    with pytest.raises(ConfigError, match="cannot score a session"):
        score_history(Unknown(), [1])


def test_a_cold_session_scores_by_popularity_and_a_known_user_as_fitted(workspace_module: AgentWorkspace) -> None:
    cold = SessionContext.open(workspace_module, SessionProfile(), "cold")
    np.testing.assert_array_equal(cold.scores("backbone"), workspace_module.popularity)
    user = workspace_module.user_index("hu2")
    known = SessionContext.open(workspace_module, SessionProfile(user=user), "known")
    expected = workspace_module.models.backbone.score([user])[0]
    np.testing.assert_allclose(known.scores("backbone"), expected)
    assert known.user_id == "known" and known.target() is None


def test_likes_extend_the_history_and_dislikes_leave_the_pool(workspace_module: AgentWorkspace) -> None:
    user = workspace_module.user_index("cu0")
    own = workspace_module.history(user).items.tolist()
    horror = [i for i, r in enumerate(workspace_module.records) if "Horror" in r.genres and i not in own]
    profile = SessionProfile(user=user, liked=(horror[0],), disliked=(horror[1],))
    context = SessionContext.open(workspace_module, profile, "s", blocked=[horror[2]])
    assert context.history.items.tolist() == [*own, horror[0]]
    allowed = context.pool.allowed
    assert not allowed[own].any() and not allowed[horror[0]] and not allowed[horror[1]] and not allowed[horror[2]]
    np.testing.assert_array_equal(context.eligible(), allowed)
    folded = score_history(workspace_module.models.backbone, context.history.items)
    np.testing.assert_allclose(context.scores("backbone"), folded)

"""Synthetic interactions with planted answers, and the model factories every contract test runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from agentrec.data.interactions import Interactions, Vocabulary
from agentrec.recsys.base import Recommender


def make_interactions(users: list[int], items: list[int], n_users: int, n_items: int) -> Interactions:
    """Implicit interactions in the given row order (the row order is the time order)."""
    user = np.asarray(users, dtype=np.int64)
    return Interactions(
        user=user,
        item=np.asarray(items, dtype=np.int64),
        rating=np.full(len(user), np.nan),
        ts=np.arange(len(user), dtype=np.int64),
        users=Vocabulary(tuple(str(i) for i in range(n_users))),
        items=Vocabulary(tuple(str(i) for i in range(n_items))),
    )


def block_interactions(seed: int = 0) -> Interactions:
    """Two disjoint user groups that each touch only their own half of the items.

    Users 0..19 use items 0..9, users 20..39 use items 10..19; each user has 5 items,
    so every personalised model must recommend unseen items from the user's own block.
    Item popularity inside each block decreases with the item index (planted MostPop order).
    """
    rng = np.random.default_rng(seed)
    weights = np.linspace(2.0, 1.0, 10)
    users, items = [], []
    for user in range(40):
        offset = 0 if user < 20 else 10
        chosen = rng.choice(10, size=5, replace=False, p=weights / weights.sum())
        users += [user] * 5
        items += [offset + int(i) for i in chosen]
    return make_interactions(users, items, 40, 20)


def cyclic_sequences(n_users: int = 60, n_items: int = 24, seed: int = 0) -> Interactions:
    """Each user walks the item cycle 0 -> 1 -> ... -> n-1 -> 0 from a random start.

    The planted next item after a history ending in ``i`` is ``(i + 1) % n_items``.
    """
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(n_users):
        start, length = int(rng.integers(n_items)), int(rng.integers(6, 12))
        users += [user] * length
        items += [(start + step) % n_items for step in range(length)]
    return make_interactions(users, items, n_users, n_items)


def _mostpop() -> Recommender:
    from agentrec.recsys.popularity import MostPop

    return MostPop()


def _itemknn() -> Recommender:
    from agentrec.recsys.itemknn import ItemKNN

    return ItemKNN(neighbours=10)


def _ease() -> Recommender:
    from agentrec.recsys.ease import EASE

    return EASE(l2=1.0)


def _als() -> Recommender:
    from agentrec.recsys.factor_models import ALS

    # capacity matched to the planted rank: with 8 factors on 20 items ALS memorises the seen items
    return ALS(factors=2, iterations=15, regularization=0.1, alpha=10.0, weighting="none")


def _bpr() -> Recommender:
    from agentrec.recsys.bpr import BPR

    # 200 interactions: small batches, a large step and some L2 so that 60 epochs learn the blocks
    return BPR(factors=8, batch_size=32, learning_rate=0.05, weight_decay=1e-2, max_epochs=60)


def _sasrec() -> Recommender:
    from agentrec.recsys.sasrec import SASRec

    return SASRec(
        hidden=16,
        feedforward=16,
        layers=1,
        heads=1,
        dropout=0.0,
        max_len=16,
        max_epochs=25,
        learning_rate=5e-3,
        batch_size=32,
        num_threads=1,  # tiny matrices: a second thread only adds synchronisation
    )


MODEL_FACTORIES: dict[str, Callable[[], Recommender]] = {
    "mostpop": _mostpop,
    "itemknn": _itemknn,
    "ease": _ease,
    "als": _als,
    "bpr": _bpr,
    "sasrec": _sasrec,
}
PERSONALISED = [name for name in MODEL_FACTORIES if name != "mostpop"]


@pytest.fixture(scope="session")
def blocks() -> Interactions:
    return block_interactions()


@pytest.fixture(scope="session")
def cycles() -> Interactions:
    return cyclic_sequences()


@pytest.fixture(scope="session")
def fitted_on_blocks(blocks: Interactions) -> dict[str, Recommender]:
    """Every model fitted once on the block data (fitting dominates the suite's time)."""
    return {name: factory().fit(blocks) for name, factory in MODEL_FACTORIES.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise contract tests over every model (or every personalised model)."""
    if "model_name" in metafunc.fixturenames:
        metafunc.parametrize("model_name", list(MODEL_FACTORIES))
    if "personalised_name" in metafunc.fixturenames:
        metafunc.parametrize("personalised_name", PERSONALISED)


@pytest.fixture(scope="session")
def model_factories() -> dict[str, Callable[[], Recommender]]:
    return MODEL_FACTORIES


@pytest.fixture(scope="session")
def build_interactions() -> Callable[[list[int], list[int], int, int], Interactions]:
    return make_interactions

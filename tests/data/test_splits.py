"""Split invariants: disjoint, deterministic, leave-one-out takes the last item by time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrec.data.interactions import Interactions, Vocabulary
from agentrec.data.protocols import make_split
from agentrec.data.splits import Split, leave_one_out, random_ratio, temporal_global
from agentrec.data.store import open_dataset


def synthetic(rows: list[tuple[int, int, int]]) -> Interactions:
    """Interactions from (user, item, ts) triples, deduplicated per (user, item) like the store does."""
    latest: dict[tuple[int, int], int] = {}
    for user, item, ts in rows:
        latest[(user, item)] = max(ts, latest.get((user, item), ts))
    keys = sorted(latest)
    n_users = max((u for u, _ in keys), default=0) + 1
    n_items = max((i for _, i in keys), default=0) + 1
    return Interactions(
        user=np.array([u for u, _ in keys], dtype=np.int64),
        item=np.array([i for _, i in keys], dtype=np.int64),
        rating=np.full(len(keys), np.nan),
        ts=np.array([latest[k] for k in keys], dtype=np.int64),
        users=Vocabulary(tuple(map(str, range(n_users)))),
        items=Vocabulary(tuple(map(str, range(n_items)))),
    )


def pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.user.tolist(), data.item.tolist(), strict=True))


def assert_partition(data: Interactions, split: Split) -> None:
    assert len(split.train) + len(split.valid) + len(split.test) == len(data)
    assert pairs(split.train) | pairs(split.valid) | pairs(split.test) == pairs(data)
    assert not pairs(split.train) & pairs(split.test)
    assert not pairs(split.valid) & pairs(split.test)


triples = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 15), st.integers(0, 50)), min_size=1, max_size=80
)


@settings(max_examples=60, deadline=None)
@given(rows=triples)
def test_leave_one_out_takes_the_last_items_by_time(rows: list[tuple[int, int, int]]) -> None:
    data = synthetic(rows)
    split = leave_one_out(data)
    assert_partition(data, split)
    for user in range(data.n_users):
        mine = data.user == user
        n = int(mine.sum())
        test_rows = split.test.user == user
        valid_rows = split.valid.user == user
        assert test_rows.sum() == (1 if n >= 2 else 0)
        assert valid_rows.sum() == (1 if n >= 3 else 0)
        if n >= 2:
            train_ts = split.train.ts[split.train.user == user]
            assert split.test.ts[test_rows][0] >= train_ts.max()
            if n >= 3:
                assert split.valid.ts[valid_rows][0] >= train_ts.max()
                assert split.test.ts[test_rows][0] >= split.valid.ts[valid_rows][0]


@settings(max_examples=40, deadline=None)
@given(rows=triples, seed=st.integers(0, 5))
def test_random_ratio_is_a_seeded_partition(rows: list[tuple[int, int, int]], seed: int) -> None:
    data = synthetic(rows)
    first, again = random_ratio(data, seed=seed), random_ratio(data, seed=seed)
    assert_partition(data, first)
    assert pairs(first.test) == pairs(again.test) and pairs(first.valid) == pairs(again.valid)
    for user in set(data.user.tolist()):
        assert (first.train.user == user).sum() >= 1  # every active user keeps training data


@settings(max_examples=40, deadline=None)
@given(rows=triples)
def test_temporal_global_holds_out_the_latest(rows: list[tuple[int, int, int]]) -> None:
    data = synthetic(rows)
    split = temporal_global(data)
    assert_partition(data, split)
    if len(split.test) and len(split.train):
        assert split.test.ts.min() >= split.train.ts.max()


def test_loo_on_real_ml100k(ml100k: Path) -> None:
    store = open_dataset(str(ml100k))
    split = make_split(store, "loo")
    assert len(split.test) == 943 and len(split.valid) == 943
    assert_partition(store.interactions(), split)
    # user 1's test item is the last one in their time-ordered history (ties broken by file order)
    last = store.catalog.history("1")[-1].item.item_id
    user1 = store.interactions().users.index("1")
    assert split.test.items.id(int(split.test.item[split.test.user == user1][0])) == last


def test_given_split_on_adjacency_keeps_the_files(ml1m_implicit: Path) -> None:
    split = make_split(open_dataset(str(ml1m_implicit)), "given")
    assert len(split.train) + len(split.valid) + len(split.test) == 836_478
    assert not pairs(split.train) & pairs(split.test)
    assert split.train.users is split.test.users

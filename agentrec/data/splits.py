"""Train/validation/test splits. All are deterministic; the random one is seeded.

* ``leave_one_out``: per user, the last item by time is the test item and the
  one before it the validation item (ToolRec's protocol).
* ``temporal_global``: one global cut in time; later interactions are held out.
* ``random_ratio``: per user, a seeded random share goes to validation and test.
* ``given``: the split the data came with (the adjacency layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import ConfigError, DataError
from agentrec.data.interactions import Interactions

Protocol = Literal["loo", "temporal", "random", "given"]
PROTOCOLS: tuple[str, ...] = ("loo", "temporal", "random", "given")


@dataclass(frozen=True)
class Split:
    """Three disjoint sets of interactions over the same vocabularies."""

    name: str
    train: Interactions
    valid: Interactions
    test: Interactions

    def train_and_valid(self) -> Interactions:
        """What a model is refitted on before the final test."""
        return self.train.concat(self.valid)


def _time_order(data: Interactions) -> npt.NDArray[np.int64]:
    """Row order sorted by user, then time, then original row (ties stay stable)."""
    return np.lexsort((np.arange(len(data)), data.ts, data.user))


def leave_one_out(data: Interactions) -> Split:
    """Per user: last item -> test, second to last -> validation, the rest -> train.

    Users with two interactions keep one for training and one for test; users
    with one keep it for training, so no user is silently dropped.
    """
    order = _time_order(data)
    users = data.user[order]
    counts = np.bincount(users, minlength=data.n_users)
    ends = np.cumsum(counts)[users]  # one past each user's last row, in sorted order
    from_end = ends - np.arange(len(order))  # 1 for a user's last row, 2 for the one before...
    n = counts[users]
    role = np.zeros(len(data), dtype=np.int8)
    role[order[(from_end == 1) & (n >= 2)]] = 2
    role[order[(from_end == 2) & (n >= 3)]] = 1
    return _from_roles("loo", data, role)


def temporal_global(data: Interactions, valid_share: float = 0.1, test_share: float = 0.1) -> Split:
    """The earliest interactions train; the next ``valid_share`` validate; the last ``test_share`` test."""
    _check_shares(valid_share, test_share)
    order = np.lexsort((np.arange(len(data)), data.ts))
    n = len(data)
    test_start = round(n * (1 - test_share))
    valid_start = round(n * (1 - test_share - valid_share))
    role = np.zeros(n, dtype=np.int8)
    role[order[valid_start:test_start]] = 1
    role[order[test_start:]] = 2
    return _from_roles("temporal", data, role)


def random_ratio(
    data: Interactions, valid_share: float = 0.1, test_share: float = 0.2, seed: int = 0
) -> Split:
    """Per user, a seeded random ``test_share`` and ``valid_share`` are held out (at least one train row)."""
    _check_shares(valid_share, test_share)
    generator = np.random.default_rng(seed)
    shuffled = np.lexsort((generator.random(len(data)), data.user))
    users = data.user[shuffled]
    counts = np.bincount(users, minlength=data.n_users)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(data)) - starts[users]
    n = counts[users]
    n_test = np.floor(n * test_share + 0.5).astype(np.int64)
    n_valid = np.floor(n * valid_share + 0.5).astype(np.int64)
    n_test = np.minimum(n_test, n - 1)
    n_valid = np.minimum(n_valid, n - 1 - n_test)
    role = np.zeros(len(data), dtype=np.int8)
    role[shuffled[position < n_test]] = 2
    role[shuffled[(position >= n_test) & (position < n_test + n_valid)]] = 1
    return _from_roles(f"random-{seed}", data, role)


def given_split(train: Interactions, valid: Interactions | None, test: Interactions) -> Split:
    """The split a dataset was published with; validation may be empty."""
    if valid is None:
        valid = train.subset(np.zeros(len(train), dtype=bool))
    return Split("given", train, valid, test)


def _check_shares(valid_share: float, test_share: float) -> None:
    if not (0 <= valid_share < 1 and 0 < test_share < 1 and valid_share + test_share < 1):
        raise ConfigError(f"invalid split shares: valid {valid_share}, test {test_share}")


def _from_roles(name: str, data: Interactions, role: npt.NDArray[np.int8]) -> Split:
    if len(data) == 0:
        raise DataError("cannot split a dataset with no interactions")
    return Split(name, data.subset(role == 0), data.subset(role == 1), data.subset(role == 2))

"""Interactions as dense-indexed numpy arrays: the form every model and split consumes.

Ids are mapped to dense indices through a ``Vocabulary`` kept beside the arrays,
so no code ever treats a raw row index as an external id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Vocabulary:
    """A two-way map between external ids (strings) and dense indices 0..n-1."""

    ids: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {value: i for i, value in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    def index(self, external_id: object) -> int:
        """The dense index of ``external_id``; raises ``KeyError`` if unknown."""
        return self._index[str(external_id)]

    def indices(self, external_ids: list[str]) -> IntArray:
        return np.fromiter((self._index[str(x)] for x in external_ids), dtype=np.int64)

    def id(self, index: int) -> str:
        return self.ids[int(index)]


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays of (user, item, rating, timestamp) over fixed vocabularies.

    ``rating`` is NaN where the data has none (implicit feedback); ``ts`` is the
    row order where the data has no timestamps, so "by time" stays well defined.
    """

    user: IntArray
    item: IntArray
    rating: FloatArray
    ts: IntArray
    users: Vocabulary
    items: Vocabulary

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The rows where ``mask`` is true, over the same vocabularies."""
        return Interactions(
            self.user[mask],
            self.item[mask],
            self.rating[mask],
            self.ts[mask],
            self.users,
            self.items,
        )

    def concat(self, other: Interactions) -> Interactions:
        """These rows followed by ``other``'s (same vocabularies required)."""
        if other.users is not self.users or other.items is not self.items:
            raise ValueError("cannot concatenate interactions over different vocabularies")
        return Interactions(
            np.concatenate([self.user, other.user]),
            np.concatenate([self.item, other.item]),
            np.concatenate([self.rating, other.rating]),
            np.concatenate([self.ts, other.ts]),
            self.users,
            self.items,
        )

    def to_csr(self, binary: bool = True) -> sp.csr_matrix:
        """A users x items sparse matrix (1.0 per interaction, or the rating)."""
        import scipy.sparse as sp  # scipy is slow to import and only models need it

        values = np.ones(len(self), dtype=np.float32) if binary else self.rating.astype(np.float32)
        matrix = sp.csr_matrix(
            (values, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def sequences(self) -> list[IntArray]:
        """Each user's items in time order (ties keep row order); empty for inactive users."""
        order = np.lexsort((np.arange(len(self)), self.ts, self.user))
        users, items = self.user[order], self.item[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

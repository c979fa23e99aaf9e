"""ItemKNN: cosine item-item similarity with shrinkage, truncated to top-N neighbours.

Each candidate item keeps its own ``neighbours`` most similar items (column-wise
truncation, as RecBole does), so a user's score for item j sums the similarities
of j's neighbours the user has seen:
``sim(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrink)``, with ``sim(j, j) = 0``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender


class ItemKNNConfig(ModelConfig):
    """``neighbours``: similarities kept per item; ``shrink`` damps rare co-occurrences."""

    neighbours: int = 50
    shrink: float = 0.0
    block_size: int = 512


class ItemKNN(Recommender):
    """Item-based collaborative filtering over the binary interaction matrix."""

    name = "itemknn"
    Config = ItemKNNConfig
    config: ItemKNNConfig

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        self.similarity = cosine_top_n(self.history, self.config.neighbours, self.config.shrink, self.config.block_size)

    def _score(self, users: IntArray) -> FloatArray:
        return np.asarray((self.history[users] @ self.similarity).toarray(), dtype=np.float32)

    def _item_similarity(self, item: int) -> FloatArray:
        # column ``item`` holds its kept neighbours; every other item is 0
        return np.asarray(self.similarity[:, item].toarray(), dtype=np.float32).ravel()

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        n = state["indptr"].shape[0] - 1
        self.similarity = sp.csc_matrix((state["data"], state["indices"], state["indptr"]), shape=(n, n))


def cosine_top_n(matrix: sp.csr_matrix, n: int, shrink: float, block_size: int) -> sp.csc_matrix:
    """Items x items similarity whose column j holds j's top-``n`` cosine neighbours."""
    n_items = matrix.shape[1]
    n = min(n, n_items - 1) if n_items > 1 else 0
    items_by_user = matrix.T.tocsr().astype(np.float32)
    norms = np.sqrt(np.asarray(items_by_user.multiply(items_by_user).sum(axis=1)).ravel())
    rows, cols, values = [], [], []
    for start in range(0, n_items, block_size):
        stop = min(start + block_size, n_items)
        # dense block of co-occurrence counts: (block, n_items); bounded memory per block
        block = (items_by_user[start:stop] @ items_by_user.T).toarray()
        block /= norms[start:stop, None] * norms[None, :] + shrink + 1e-6
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if n == 0:
            continue
        top = np.argpartition(-block, n - 1, axis=1)[:, :n]
        top_values = np.take_along_axis(block, top, axis=1)
        keep = top_values > 0
        rows.append(top[keep])
        cols.append(np.repeat(np.arange(start, stop), keep.sum(axis=1)))
        values.append(top_values[keep])
    if not values:
        return sp.csc_matrix((n_items, n_items), dtype=np.float32)
    return sp.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )

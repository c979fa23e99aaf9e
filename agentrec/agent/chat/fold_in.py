"""Scores for a person no model was fitted on, from the items they like (fold-in).

``Recommender.score`` takes a user index, but a chat session's person may be
nobody in the dataset, or a dataset user who has since liked more items. Each
model kind has a natural way to score an ad-hoc history without refitting:

* EASE and ItemKNN are item-item models: the score is ``x @ W`` for the binary
  history vector ``x``, exactly what they compute for a fitted user.
* SASRec reads a sequence: one forward pass over the liked items in order.
* The text model's profile is the normalised mean embedding of the liked items.
* ALS and BPR: the user vector that best explains the history under the fixed
  item factors (ridge least squares), then the usual dot products.
* MostPop ignores the history.

This lives with the agent rather than in each model because only the chat
needs it; a model kind missing here is refused with the list of kinds that work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from agentrec.core.errors import ConfigError
from agentrec.recsys.base import Recommender

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FACTOR_RIDGE = 0.1  # keeps the fold-in solve well posed for a history of one or two items


def score_history(model: Recommender, items: npt.ArrayLike) -> FloatArray:
    """Every item's score for a person whose history is ``items`` (dense indices, oldest first)."""
    history = np.asarray(items, dtype=np.int64).ravel()
    scorer = _SCORERS.get(model.name)
    if scorer is None:
        raise ConfigError(
            f"the {model.name} model cannot score a session's likes; use one of: {', '.join(FOLD_IN_MODELS)}"
        )
    if history.size == 0:
        return np.zeros(model.n_items, dtype=np.float64)
    return np.asarray(scorer(model, history), dtype=np.float64).ravel()


def _item_item(model: Any, history: IntArray) -> FloatArray:
    weights = model.weights if hasattr(model, "weights") else model.similarity  # EASE dense, ItemKNN sparse
    unique = np.unique(history)
    row = sp.csr_matrix((np.ones(unique.size, dtype=np.float32), (np.zeros(unique.size), unique)), (1, model.n_items))
    product = row @ weights
    return np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float64)


def _sequence(model: Any, history: IntArray) -> FloatArray:
    import torch

    tokens = torch.from_numpy(history[-model.config.max_len :][None, :] + 1)  # index 0 is padding
    model.net.eval()
    with torch.no_grad():
        hidden = model.net(tokens)[:, -1, :]
        return np.asarray(model.net.item_logits(hidden).numpy(), dtype=np.float64)


def _text(model: Any, history: IntArray) -> FloatArray:
    vectors = np.asarray(model.item_vectors, dtype=np.float64)
    profile = vectors[np.unique(history)].sum(axis=0)
    profile /= max(float(np.linalg.norm(profile)), 1e-12)
    return np.asarray(vectors @ profile, dtype=np.float64)


def _factors(model: Any, history: IntArray) -> FloatArray:
    factors = np.asarray(model.item_factors, dtype=np.float64)
    liked = factors[np.unique(history)]
    gram = liked.T @ liked + FACTOR_RIDGE * np.eye(factors.shape[1])
    user = np.linalg.solve(gram, liked.sum(axis=0))
    return factors @ user


def _popularity(model: Any, history: IntArray) -> FloatArray:
    del history
    return np.asarray(model.popularity, dtype=np.float64)


_SCORERS: dict[str, Callable[[Any, IntArray], FloatArray]] = {
    "ease": _item_item,
    "itemknn": _item_item,
    "sasrec": _sequence,
    "text": _text,
    "als": _factors,
    "bpr": _factors,
    "mostpop": _popularity,
}
FOLD_IN_MODELS: tuple[str, ...] = tuple(_SCORERS)

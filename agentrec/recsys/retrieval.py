"""Attribute-conditioned retrieval: ToolRec's ``Retrieve[attr, K]`` over any backbone.

The backbone ranks all items; the catalog filter (built by the data layer as a
boolean item mask) decides which may appear. Restricting the *full* ranking, rather
than filtering a short top-K afterwards, always returns K matching items when K exist.
"""

from __future__ import annotations

import numpy as np

from agentrec.recsys.base import BoolArray, Recommender


def attribute_retrieval(
    model: Recommender, user: int, k: int, mask: BoolArray, exclude_seen: bool = True
) -> list[tuple[int, float]]:
    """The ``k`` best items for ``user`` among those where ``mask`` is True, best first.

    Returns fewer than ``k`` pairs when fewer items match (an empty list when none do).
    """
    mask = np.asarray(mask, dtype=bool)
    return model.recommend(user, k, exclude_seen=exclude_seen, mask=mask)

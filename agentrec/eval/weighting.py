"""Inverse-propensity weighting of offline metrics (``agentrec eval --weighting ips``).

Held-out interactions are missing not at random: popular items were more likely to be
seen, so a test set rewards recommending them. Weighting each test user's metric by the
inverse propensity of their held-out items corrects for that, in expectation, when the
propensity is right. Here the propensity of an item is estimated from its training
popularity with the power law of Yang et al. (RecSys 2018, "Unbiased offline recommender
evaluation for missing-not-at-random implicit feedback"): p_i = (n_i / n_max) ** 0.5.
The estimate is self-normalised (SNIPS): sum_u w_u m_u / sum_u w_u, which stays in the
metric's range. Beyond-accuracy metrics (coverage, novelty, ...) are not weighted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Weighting = Literal["none", "ips"]
WEIGHTINGS: tuple[Weighting, ...] = ("none", "ips")
PROPENSITY_POWER = 0.5


def popularity_propensity(popularity: FloatArray, power: float = PROPENSITY_POWER) -> FloatArray:
    """Each item's chance of being observed, from its training count; an unseen item gets the least seen's."""
    positive = popularity[popularity > 0]
    floor = float(positive.min()) if positive.size else 1.0
    counts = np.maximum(popularity, floor)
    propensity: FloatArray = (counts / counts.max()) ** power
    return propensity


def user_weights(relevant: list[IntArray], propensity: FloatArray) -> FloatArray:
    """Per test user, the mean inverse propensity of the items they held out."""
    weights: FloatArray = np.array([float(np.mean(1.0 / propensity[items])) for items in relevant], dtype=np.float64)
    return weights


def self_normalised(per_user: dict[str, FloatArray], weights: FloatArray) -> dict[str, FloatArray]:
    """Per-user values rescaled so that their plain mean is the SNIPS estimate (and bootstraps over users)."""
    scale = weights * (weights.size / weights.sum())
    return {name: values * scale for name, values in per_user.items()}

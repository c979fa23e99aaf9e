"""Inverse-propensity weighting of offline metrics (``agentrec eval --weighting ips``).

Held-out interactions are missing not at random: popular items were more likely to be
seen, so a test set rewards recommending them. Weighting each test user's metric by the
inverse propensity of their held-out items corrects for that, in expectation, when the
propensity is right. Here the propensity of an item is estimated from its training
popularity with the power law of Yang et al. (RecSys 2018, "Unbiased offline recommender
evaluation for missing-not-at-random implicit feedback"): p_i = (n_i / n_max) ** 0.5.
The estimate is self-normalised (SNIPS): sum_u w_u m_u / sum_u w_u, which stays in the
metric's range. Beyond-accuracy metrics (coverage, novelty, ...) are not weighted.

Where the logging system's exposure is known (how often each item was shown), it is a
better propensity than popularity: ``read_propensities`` takes a CSV of item id and
exposure (counts or shares; only their ratios matter).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from agentrec.core.errors import DataError
from agentrec.data.interactions import Vocabulary

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


def read_propensities(path: Path, items: Vocabulary) -> FloatArray:
    """Per item, its exposure from a CSV of ``item_id,exposure`` rows (a header row is allowed).

    Exposures are scaled by the largest; an item the file leaves out, or shows 0 times, gets
    the least exposed item's value (as ``popularity_propensity`` does for unseen items).
    """
    if not path.is_file():
        raise DataError(f"no such propensity file: {path}")
    exposure = np.zeros(len(items), dtype=np.float64)
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or (line == 1 and not _is_number(row[-1])):
                continue  # a blank line, or the header
            if len(row) != 2 or not _is_number(row[1]) or float(row[1]) < 0:
                raise DataError(f"{path}:{line}: expected 'item_id,exposure' with a number >= 0, got {','.join(row)!r}")
            if row[0] not in items:
                raise DataError(f"{path}:{line}: unknown item id {row[0]!r}")
            exposure[items.index(row[0])] = float(row[1])
    if not (exposure > 0).any():
        raise DataError(f"{path}: no item has an exposure above 0")
    return popularity_propensity(exposure, power=1.0)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False

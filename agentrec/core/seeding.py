"""One place that turns a seed into reproducible random state."""

from __future__ import annotations

import random

import numpy as np


def rng(seed: int | None) -> np.random.Generator:
    """A numpy generator for ``seed``; ``None`` gives fresh entropy."""
    return np.random.default_rng(seed)


def seed_everything(seed: int) -> None:
    """Seed Python's and numpy's global generators (torch seeds itself where used)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))

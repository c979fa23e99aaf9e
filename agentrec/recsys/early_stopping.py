"""The epoch loop shared by the trained models (SASRec, BPR): early stopping on validation NDCG.

Each model supplies one training epoch, a validation score and a way to snapshot its
parameters; the loop owns the stopping rule, the wall-clock budget and the learning
curve, so every trained model stops and reports the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

State = TypeVar("State")


@dataclass(frozen=True)
class EpochRecord:
    """One point of the learning curve."""

    epoch: int
    train_loss: float
    val_ndcg: float
    seconds: float


@dataclass(frozen=True)
class StoppingRule:
    """Stop after ``patience`` epochs without a better validation score, or at the budget."""

    max_epochs: int
    patience: int
    time_budget_s: float | None = None


@dataclass(frozen=True)
class TrainingOutcome(Generic[State]):
    """The learning curve, the best epoch (1-based) and the parameters saved at that epoch."""

    curve: list[EpochRecord]
    best_epoch: int
    best_state: State


def train_with_early_stopping(
    rule: StoppingRule,
    train_epoch: Callable[[], float],
    validate: Callable[[], float] | None,
    snapshot: Callable[[], State],
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
) -> TrainingOutcome[State]:
    """Run epochs until the rule stops them; keep the state of the best validated epoch.

    Without ``validate`` every epoch counts as the best, so the last epoch's state comes
    back after exactly ``max_epochs`` epochs (or fewer, if the budget runs out): this is
    how a model is refitted for an epoch count chosen earlier on validation data.
    """
    started = time.perf_counter()
    best_ndcg, best_state, best_epoch, stale = -1.0, snapshot(), 0, 0
    curve: list[EpochRecord] = []
    for epoch in range(1, rule.max_epochs + 1):
        epoch_start = time.perf_counter()
        loss = train_epoch()
        ndcg = validate() if validate is not None else float("nan")
        record = EpochRecord(epoch, loss, ndcg, time.perf_counter() - epoch_start)
        curve.append(record)
        on_epoch(record)
        if validate is None or ndcg > best_ndcg:
            best_ndcg, best_state, best_epoch, stale = ndcg, snapshot(), epoch, 0
        else:
            stale += 1
        over_budget = rule.time_budget_s is not None and time.perf_counter() - started >= rule.time_budget_s
        if stale >= rule.patience or over_budget:
            break
    return TrainingOutcome(curve, best_epoch, best_state)


def curve_array(curve: list[EpochRecord]) -> np.ndarray:
    """The learning curve as an (epochs x 4) float array, for a model's saved state."""
    return np.array([[r.epoch, r.train_loss, r.val_ndcg, r.seconds] for r in curve], dtype=np.float64)


def curve_from_array(array: np.ndarray) -> list[EpochRecord]:
    """Inverse of ``curve_array``."""
    return [EpochRecord(int(e), float(loss), float(n), float(s)) for e, loss, n, s in array.reshape(-1, 4)]

"""BPR matrix factorisation in PyTorch on CPU, trained with RecBole's recipe.

RecBole's defaults (``BPR.yaml``/``overall.yaml`` of RecBole 1.2.1): 64-d user and
item embeddings with Xavier-normal init, no bias, no weight decay; Adam at lr 1e-3;
batches of 2,048 (user, positive, negative) triples, every training interaction once
per epoch with one negative drawn uniformly from the items the user has not seen;
early stopping on full-ranking validation NDCG with a patience of 10. implicit's SGD
BPR (lr .01, 200 epochs, no stopping) stayed well below this on ml-1m-implicit (bench/README.md).

Batches are whole tensors (one gather, one fused loss, one Adam step), and the
negatives of an epoch are drawn at once with vectorised rejection sampling.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import IntArray, ModelConfig
from agentrec.recsys.early_stopping import (
    EpochRecord,
    StoppingRule,
    curve_array,
    curve_from_array,
    train_with_early_stopping,
)
from agentrec.recsys.factors import FactorModel
from agentrec.recsys.selection import validation_ndcg
from agentrec.recsys.threads import torch_threads

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 2048  # RecBole's
SMALL_BATCH = 4096  # up to here one torch thread; beyond, every core


class BPRConfig(ModelConfig):
    """RecBole's BPR defaults. Without validation data, training runs exactly ``max_epochs``.

    ``batch_size`` 0 (the default) chooses by the data's size (``auto_batch_size``):
    RecBole's 2,048 up to ML-1M's size, larger beyond. ``num_threads`` 0 chooses too:
    1 on batches up to 4,096, where a second torch thread gained little and made results
    vary from run to run (bench/README.md, Threads), else every core; ``None`` leaves the
    process setting alone.
    """

    factors: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = Field(default=0, ge=0)
    max_epochs: int = 300
    patience: int = 10
    eval_k: int = 10
    seed: int = 0
    time_budget_s: float | None = None
    num_threads: int | None = Field(default=0, ge=0)


class BPR(FactorModel):
    """Bayesian personalised ranking: ``-log sigmoid(s(u, pos) - s(u, neg))`` over sampled triples."""

    name = "bpr"
    Config = BPRConfig
    config: BPRConfig

    def __init__(self, config: BPRConfig | None = None, **params: object) -> None:
        super().__init__(config, **params)
        self.learning_curve: list[EpochRecord] = []
        self.best_epoch = 0

    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        with torch_threads(self.threads):
            self._train(valid)

    @property
    def batch_size(self) -> int:
        """The configured batch size, or the one chosen for the fitted data's size."""
        return self.config.batch_size or auto_batch_size(self.n_users, self.n_items)

    @property
    def threads(self) -> int | None:
        if self.config.num_threads != 0:
            return self.config.num_threads
        return 1 if self.batch_size <= SMALL_BATCH else (os.cpu_count() or 1)

    def _train(self, valid: Interactions | None) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        users = torch.nn.init.xavier_normal_(torch.empty(self.n_users, cfg.factors))
        items = torch.nn.init.xavier_normal_(torch.empty(self.n_items, cfg.factors))
        optimiser = FusedAdam([users, items], cfg.learning_rate, cfg.weight_decay)
        pairs = TrainingPairs.from_history(self.history)
        generator = np.random.default_rng(cfg.seed)

        def train_epoch() -> float:
            return bpr_epoch(users, items, optimiser, pairs, self.batch_size, generator)

        def validate() -> float:
            assert valid is not None
            # the numpy factors share memory with the tensors: scoring sees the current epoch
            self._set_factors(users.numpy(), items.numpy())
            return validation_ndcg(self, valid, cfg.eval_k)

        def log_epoch(record: EpochRecord) -> None:
            logger.info("bpr epoch %d loss %.4f val ndcg %.4f", record.epoch, record.train_loss, record.val_ndcg)

        outcome = train_with_early_stopping(
            StoppingRule(cfg.max_epochs, cfg.patience, cfg.time_budget_s),
            train_epoch=train_epoch,
            validate=validate if valid is not None else None,
            snapshot=lambda: (users.clone().numpy(), items.clone().numpy()),
            on_epoch=log_epoch,
        )
        self.learning_curve, self.best_epoch = outcome.curve, outcome.best_epoch
        self._set_factors(*outcome.best_state)

    def _state(self) -> dict[str, np.ndarray]:
        return super()._state() | {
            "learning_curve": curve_array(self.learning_curve),
            "best_epoch": np.array(self.best_epoch),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.learning_curve = curve_from_array(state["learning_curve"])
        self.best_epoch = int(state["best_epoch"])


def auto_batch_size(n_users: int, n_items: int) -> int:
    """RecBole's 2,048, or a power of two near (users + items) / 8 when that is larger.

    Every step updates every embedding (the full-size gradient and the fused Adam pass), so
    a step costs (users + items) x factors whatever the batch. With batches of 2,048 on
    ML-25M's 225k embeddings, that dense part is almost all of an epoch's 12,000 steps. On
    ML-25M-sized data, 32,768 on two threads made an epoch 3.9x faster (bench/README.md, "Issue 22").
    """
    wanted = (n_users + n_items) // 8
    if wanted <= DEFAULT_BATCH:
        return DEFAULT_BATCH
    return 1 << (wanted - 1).bit_length()  # the power of two at or above it


class FusedAdam:
    """Adam (torch's defaults: betas .9/.999, eps 1e-8) through torch's fused CPU kernel.

    The kernel is the one ``torch.optim.Adam(fused=True)`` runs, so the updates are the
    same; called directly because ``torch.optim``'s first ``step`` imports
    ``torch._dynamo`` (seconds per process), and the fused kernel is faster than Adam
    written as element-wise tensor ops (bench/README.md).
    """

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float) -> None:
        self.params = params
        self.lr, self.weight_decay = lr, weight_decay
        self.exp_avgs = [torch.zeros_like(p) for p in params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32) for _ in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        """One update of every parameter with its gradient in ``grads``."""
        for count in self.steps:
            count += 1
        torch._fused_adam_(
            self.params, grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps,
            lr=self.lr, beta1=0.9, beta2=0.999, weight_decay=self.weight_decay, eps=1e-8,
            amsgrad=False, maximize=False,
        )  # fmt: skip


class TrainingPairs:
    """The (user, item) positives of one epoch and a fast membership test for negatives."""

    def __init__(self, users: IntArray, items: IntArray, n_items: int) -> None:
        self.users = users
        self.items = items
        self.n_items = n_items
        # user * n_items + item, sorted: membership is one searchsorted per batch of candidates
        self.keys = np.sort(users * n_items + items)

    @classmethod
    def from_history(cls, history: sp.csr_matrix) -> TrainingPairs:
        """Every stored entry of the binary history, minus users who have seen every item.

        Such a user has no negative to sample, so no triple can be formed for them.
        """
        coo = history.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        degree = np.bincount(users, minlength=history.shape[0])
        keep = degree[users] < history.shape[1]
        return cls(users[keep], items[keep], int(history.shape[1]))

    def sample_negatives(self, users: IntArray, generator: np.random.Generator) -> IntArray:
        """One item per entry of ``users``, uniform over the items that user has not seen."""
        negatives = generator.integers(0, self.n_items, size=len(users))
        pending = np.arange(len(users))
        while pending.size:
            keys = users[pending] * self.n_items + negatives[pending]
            slot = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            pending = pending[self.keys[slot] == keys]  # drew a seen item: draw again
            negatives[pending] = generator.integers(0, self.n_items, size=pending.size)
        return negatives


def bpr_epoch(
    users: torch.Tensor,
    items: torch.Tensor,
    optimiser: FusedAdam,
    pairs: TrainingPairs,
    batch_size: int,
    generator: np.random.Generator,
) -> float:
    """One pass over every positive in random order, each with a fresh negative; the mean loss."""
    order = generator.permutation(len(pairs.users))
    batch_users = pairs.users[order]
    positives = torch.from_numpy(pairs.items[order])
    negatives = torch.from_numpy(pairs.sample_negatives(batch_users, generator))
    user_index = torch.from_numpy(batch_users)
    total = 0.0
    for start in range(0, len(order), batch_size):
        stop = start + batch_size
        total += bpr_step(users, items, optimiser, user_index[start:stop], positives[start:stop], negatives[start:stop])
    return total / max(len(order), 1)


@torch.no_grad()
def bpr_step(
    users: torch.Tensor,
    items: torch.Tensor,
    optimiser: FusedAdam,
    batch_users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
) -> float:
    """One Adam step on the mean of ``-log sigmoid(u . (pos - neg))``; returns the batch's summed loss.

    The gradient is written by hand because autograd's backward of each row gather
    zero-fills a full-size gradient (three per batch, a third of an epoch's time);
    here each table's gradient is filled once and the rows are added with ``index_add_``.
    """
    u = users.index_select(0, batch_users)
    difference = items.index_select(0, positives) - items.index_select(0, negatives)
    margin = (u * difference).sum(dim=1)
    # d/dm of -log sigmoid(m) is -sigmoid(-m); the mean over the batch divides by its size
    weight = (torch.sigmoid(-margin) / -len(margin)).unsqueeze(1)
    user_grad = torch.zeros_like(users).index_add_(0, batch_users, weight * difference)
    item_grad = torch.zeros_like(items).index_add_(0, positives, weight * u).index_add_(0, negatives, -weight * u)
    optimiser.step([user_grad, item_grad])
    return float(-F.logsigmoid(margin).sum())

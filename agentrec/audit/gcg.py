"""The ``gcg`` optimiser: greedy coordinate gradient search on token ids, as in the paper.

One iteration (step), on a product order drawn afresh each step:

1. the gradient of -log P("1. <target>") on a one-hot encoding of the STS;
2. the ``top_k`` tokens per position with the most negative gradient (paper: 256);
3. ``candidates`` single-token swaps drawn from them (paper: 512), kept only if
   their text re-tokenises to the same ids inside the rendered prompt;
4. every candidate's exact loss, in batches; the best replaces the current STS
   if it beats it on this step's order.

The model is the recommender's own GGUF (the embedded SmolLM2-135M by
default), loaded through transformers (the ``gcg`` extra). The prompt text is
rendered by llama.cpp's chat template, so the sequence found is scored by the
same tokens at evaluation. The best sequence is the one with the lowest mean
loss over a few fixed validation orders; it is re-scored at the end on the
llama.cpp model through ``problem.score`` (the transfer from float32 torch to
the quantised runtime). Each step records wall and CPU seconds: on this 2-core
machine a step costs about one forward pass per candidate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentrec.audit.catalog import ProductOrder
from agentrec.audit.gcg_model import TorchChatLM, random_sts, token_filter, torch_and_renderer
from agentrec.audit.gcg_prompt import PromptLayout, build_layout, initial_sts_ids
from agentrec.audit.optimizers import (
    OptimizationResult,
    OptimizationStep,
    OptimizerSettings,
    ProgressCallback,
    StsProblem,
    parse_options,
)
from agentrec.core.errors import ConfigError
from agentrec.llm.local import LocalChatModel

logger = logging.getLogger(__name__)
_RANDOM_INIT_ATTEMPTS = 20


class GcgConfig(BaseModel):
    """GCG's knobs; the defaults are scaled to a 2-core CPU (the paper's: 30 tokens, 512 x top-256)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    length: int = Field(default=20, ge=1, le=200, description="STS length in tokens (paper: 30)")
    candidates: int = Field(default=64, ge=1, description="single-token swaps scored per step (paper: 512)")
    top_k: int = Field(default=256, ge=1, description="tokens per position from the gradient (paper: 256)")
    batch_size: int = Field(default=8, ge=1, description="candidates per forward pass")
    val_orders: int | None = Field(default=None, ge=1, description="orders that pick the best STS (--score-orders)")
    threads: int | None = Field(default=None, ge=1, description="torch threads (default: the pinned plan)")
    model: str | None = Field(default=None, description="GGUF to optimise on (default: the recommender's own)")
    init: Literal["x", "random"] = Field(default="x", description='start from "x x ... x" or seeded random tokens')

    @classmethod
    def from_options(cls, options: dict[str, str]) -> GcgConfig:
        """Parse CLI ``key=value`` options; ``ConfigError`` names the bad one."""
        return parse_options(cls, options, "gcg")


@dataclass(frozen=True)
class GcgStepRecord:
    """What one step did; losses are -log P("1. <target>") under the torch model."""

    iteration: int
    order: ProductOrder
    loss_before: float  # the current STS on this step's order
    best_candidate_loss: float | None
    accepted: bool
    candidates_sampled: int
    candidates_valid: int
    validation_loss: float  # the current STS after the step, mean over the validation orders
    sts: str
    gradient_seconds: float
    candidate_seconds: float
    seconds: float
    cpu_seconds: float


class GcgOptimizer:
    """Token-gradient search on a torch-loaded copy of the recommender's GGUF; one iteration is one step."""

    name = "gcg"

    def __init__(self, config: GcgConfig | None = None) -> None:
        self.config = config or GcgConfig()

    def optimize(
        self,
        problem: StsProblem,
        budget: int,
        seed: int,
        progress: ProgressCallback | None = None,
    ) -> OptimizationResult:
        """Run ``budget`` GCG steps from ``problem.initial_sts`` (or "x x ... x") and return the best STS."""
        from agentrec.recsys.threads import torch_threads

        lm, renderer = torch_and_renderer(self.config.model, problem.recommender.chat, "gcg")
        with torch_threads(self.config.threads):
            return GcgSearch(problem, lm, renderer, self.config, seed).run(budget, progress)


class GcgSearch:
    """The state of one GCG run: the current and best STS ids, and the step history."""

    def __init__(
        self, problem: StsProblem, lm: TorchChatLM, renderer: LocalChatModel, config: GcgConfig, seed: int
    ) -> None:
        import torch

        self.problem, self.lm, self.renderer, self.config = problem, lm, renderer, config
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        orders = problem.sample_orders(config.val_orders or problem.score_orders, self.rng)
        self.validation = [self._prepared(order) for order in orders]
        first = self.validation[0][0]
        self.allowed = token_filter(lm, first.lead)
        self.current = self._initial_ids(first)
        self.allowed_rows = self.allowed.for_positions(len(self.current))
        self.initial_ids = list(self.current)
        self.current_loss = self.validation_loss(self.current)
        self.initial_loss = self.current_loss
        self.best, self.best_loss = list(self.current), self.current_loss
        self.records: list[GcgStepRecord] = []

    def _initial_ids(self, layout: PromptLayout) -> list[int]:
        if self.problem.initial_sts or self.config.init == "x":
            return initial_sts_ids(layout, self.lm, self.problem.initial_sts, self.config.length)
        # A random draw can merge with its neighbours inside the prompt; draw again (seeded).
        for _ in range(_RANDOM_INIT_ATTEMPTS - 1):
            try:
                return initial_sts_ids(layout, self.lm, self._random_text(), self.config.length)
            except ConfigError:
                continue
        return initial_sts_ids(layout, self.lm, self._random_text(), self.config.length)

    def _random_text(self) -> str:
        return random_sts(self.lm, self.allowed, self.config.length, self.rng)

    def _prepared(self, order: ProductOrder) -> tuple[PromptLayout, Any]:
        from agentrec.audit.gcg_torch import prefix_state

        layout = build_layout(self.problem, order, self.renderer.render_prompt, self.lm)
        return layout, prefix_state(self.lm, layout)

    def validation_loss(self, ids: list[int]) -> float:
        """Mean -log P("1. <target>") of ``ids`` over the validation orders."""
        import torch

        from agentrec.audit.gcg_torch import candidate_losses

        row = torch.tensor([ids])
        losses = [float(candidate_losses(self.lm, layout, state, row, 1)[0]) for layout, state in self.validation]
        return float(np.mean(losses))

    def sts_of(self, ids: list[int]) -> str:
        """The STS text of ``ids`` (their slot text without the placement's leading space)."""
        layout = self.validation[0][0]
        return self.lm.decode(ids)[len(layout.lead) :]

    def step(self, iteration: int) -> GcgStepRecord:
        """One GCG step on a freshly drawn product order."""
        import torch

        from agentrec.audit.gcg_torch import candidate_losses, sample_swaps, token_gradients

        started, cpu_started = time.perf_counter(), time.process_time()
        order = self.problem.sample_orders(1, self.rng)[0]
        layout, state = self._prepared(order)
        grad, loss_before = token_gradients(self.lm, layout, state, self.current)
        gradient_seconds = time.perf_counter() - started
        sampled = sample_swaps(
            grad, self.current, self.allowed_rows, self.config.top_k, self.config.candidates, self.generator
        )
        valid = sampled[torch.tensor(layout.consistent(self.lm, sampled.tolist()), dtype=torch.bool)]
        evaluated = time.perf_counter()
        losses = candidate_losses(self.lm, layout, state, valid, self.config.batch_size)
        candidate_seconds = time.perf_counter() - evaluated
        best_candidate = float(losses.min()) if len(losses) else None
        accepted = best_candidate is not None and best_candidate < loss_before
        if accepted:
            self.current = valid[int(losses.argmin())].tolist()
            self.current_loss = self.validation_loss(self.current)
            if self.current_loss < self.best_loss:
                self.best, self.best_loss = list(self.current), self.current_loss
        return GcgStepRecord(
            iteration=iteration,
            order=order,
            loss_before=loss_before,
            best_candidate_loss=best_candidate,
            accepted=accepted,
            candidates_sampled=int(sampled.shape[0]),
            candidates_valid=int(valid.shape[0]),
            validation_loss=self.current_loss,
            sts=self.sts_of(self.current),
            gradient_seconds=gradient_seconds,
            candidate_seconds=candidate_seconds,
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu_started,
        )

    def run(self, budget: int, progress: ProgressCallback | None) -> OptimizationResult:
        """``budget`` steps, then the initial and best STS scored by ``problem.score`` on the validation orders."""
        started = time.perf_counter()
        history: list[OptimizationStep] = []
        for iteration in range(budget):
            record = self.step(iteration)
            self.records.append(record)
            step = OptimizationStep(
                iteration=iteration,
                candidate=record.sts,
                score=-record.validation_loss,
                best_score=-self.best_loss,
                accepted=record.accepted,
                seconds=time.perf_counter() - started,
                note=(
                    f"order loss {record.loss_before:.3f} -> {record.best_candidate_loss or float('nan'):.3f}, "
                    f"{record.candidates_valid}/{record.candidates_sampled} candidates, {record.seconds:.1f} s"
                ),
            )
            history.append(step)
            if progress is not None:
                progress(step)
        orders = [layout.order for layout, _ in self.validation]
        initial_sts, best_sts = self.sts_of(self.initial_ids), self.sts_of(self.best)
        return OptimizationResult(
            optimizer="gcg",
            best_sts=best_sts,
            best_score=self.problem.score(best_sts, orders),
            initial_score=self.problem.score(initial_sts, orders),
            score_kind=self.problem.score_kind,
            history=tuple(history),
            seconds=time.perf_counter() - started,
            placement=self.problem.placement,
            extra=self._extra(initial_sts, orders),
        )

    def _extra(self, initial_sts: str, orders: list[ProductOrder]) -> dict[str, Any]:
        import torch

        timed = [r.seconds for r in self.records]
        return {
            "model": str(self.lm.path),
            "config": self.config.model_dump(),
            "torch_threads": torch.get_num_threads(),
            "validation_orders": [list(order) for order in orders],
            "initial_sts": initial_sts,
            "torch_logprob_before": -self.initial_loss,
            "torch_logprob_after": -self.best_loss,
            "best_token_ids": list(self.best),
            "seconds_per_step": float(np.mean(timed)) if timed else None,
            "median_seconds_per_step": float(np.median(timed)) if timed else None,
            "cpu_seconds_per_step": float(np.mean([r.cpu_seconds for r in self.records])) if timed else None,
            "steps": [asdict(r) for r in self.records],
        }


def build_optimizer(settings: OptimizerSettings) -> GcgOptimizer:
    """The ``gcg`` optimiser configured by ``settings.options`` (see ``GcgConfig``); ``llm`` is unused."""
    return GcgOptimizer(GcgConfig.from_options(dict(settings.options)))

"""The ``stealth`` optimiser: a fluent STS from Langevin dynamics on soft tokens, as in StealthRank.

StealthRank (arXiv 2504.05804) and COLD-Attack search a continuous relaxation
of the STS, then decode it to text the model itself would plausibly write, so a
perplexity filter does not flag it. One iteration (step) here is:

1. the energy of the soft STS (``stealth_energy.py``) on ``orders_per_step``
   product orders taken in turn from a fixed pool: -log P("1. <target>")
   + ``fluency`` x the model's NLL of the soft tokens + ``repetition`` x the
   expected repeated n-grams;
2. a Langevin update of the soft logits: a gradient step of about ``step_size``
   logits between a position's candidates, plus Gaussian noise decaying
   geometrically from ``noise`` to ``noise_final``;
3. every ``decode_every`` steps (and at the last), ``samples`` guided decodings
   (among the model's ``top_k`` next tokens, the one the soft logits favour, or
   one drawn by them), each kept only if it tokenises back to its ids inside the
   prompt and scored exactly on the validation orders; the lowest loss is the
   round's pick and replaces the best if lower. The chain then restarts at the
   best (``restart``), whose tokens stay decoding candidates: local edits.

The start is fluent text, never random tokens: ``problem.initial_sts`` or
``seed_text``; else the target's name and the model's greedy continuation
(``init=name``, the default; the name's tokens are kept, because the gradient
at the first positions is large and misleading while the name is what moves
the ranking), the continuation of the target's line alone (``init=lm``), or
the start of its first text field (``init=description``). The model is the
recommender's GGUF through transformers, as for ``gcg``. The initial and best
sequences are re-scored on llama.cpp with ``problem.score``; each pick's
planted product line is scored by the perplexity defence's own measure, and
with ``max_perplexity`` only picks at or under it can become the best (a seed
over it is replaced by the first pick under it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentrec.audit.catalog import ProductOrder
from agentrec.audit.gcg_model import TorchChatLM, token_filter, torch_and_renderer
from agentrec.audit.gcg_prompt import PromptLayout, build_layout, initial_sts_ids
from agentrec.audit.optimizers import (
    OptimizationResult,
    OptimizationStep,
    OptimizerSettings,
    ProgressCallback,
    StsProblem,
    parse_options,
)
from agentrec.audit.perplexity import PerplexityScorer
from agentrec.core.errors import ConfigError
from agentrec.llm.local import LocalChatModel

logger = logging.getLogger(__name__)


class StealthConfig(BaseModel):
    """The energy's weights, the Langevin schedule and the decoding; defaults sized for a 2-core CPU.

    The defaults come from short runs on coffee_machines / ColdBrew Master (``bench/audit_stealth.py``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    length: int = Field(default=20, ge=1, le=200, description="STS length in tokens (a given initial STS sets its own)")
    fluency: float = Field(default=1.0, ge=0.0, description="weight of the model's NLL of the soft STS")
    repetition: float = Field(default=1.0, ge=0.0, description="weight of the expected repeated n-grams")
    ngram: int = Field(default=2, ge=1, le=4, description="n of the repetition penalty")
    step_size: float = Field(default=1.0, gt=0.0, description="logits moved per standard deviation of the gradient")
    noise: float = Field(default=0.5, ge=0.0, description="noise standard deviation at the first step (logits)")
    noise_final: float = Field(default=0.05, gt=0.0, description="noise standard deviation at the last step")
    top_k: int = Field(default=30, ge=1, description="model's next tokens the decoding chooses among")
    decode_every: int = Field(default=3, ge=1, description="steps between decodings (the last step decodes too)")
    samples: int = Field(default=8, ge=1, description="sequences per decoding: the mode, then samples")
    temperature: float = Field(default=2.0, gt=0.0, description="of the soft logits when sampling a decoding")
    batch_size: int = Field(default=8, ge=1, description="sequences per forward pass when scoring")
    orders_per_step: int = Field(default=2, ge=1, description="product orders in one step's energy")
    train_orders: int = Field(default=8, ge=1, description="pool of orders the steps take in turn")
    init: Literal["lm", "name", "description"] = Field(
        default="name", description="seed: the model's continuation (of the target's name, kept), or the description"
    )
    seed_text: str | None = Field(default=None, description="a fluent seed to start from instead of init's")
    init_bonus: float = Field(default=2.0, ge=0.0, description="logit lead of the seed token at a (re)start")
    restart: bool = Field(default=True, description="restart the chain at the best sequence after each decoding")
    max_perplexity: float | None = Field(default=None, gt=0.0, description="best only at or under this perplexity")
    val_orders: int | None = Field(default=None, ge=1, description="orders that pick the best STS (--score-orders)")
    threads: int | None = Field(default=None, ge=1, description="torch threads (default: the pinned plan)")
    model: str | None = Field(default=None, description="GGUF to optimise on (default: the recommender's own)")

    @classmethod
    def from_options(cls, options: dict[str, str]) -> StealthConfig:
        """Parse CLI ``key=value`` options; ``ConfigError`` names the bad one."""
        return parse_options(cls, options, "stealth")

    def noise_at(self, step: int, steps: int) -> float:
        """The noise standard deviation at ``step`` (0-based) of ``steps``: geometric, ``noise`` to ``noise_final``."""
        if steps <= 1 or self.noise == 0.0:
            return self.noise
        return float(self.noise * (self.noise_final / self.noise) ** (step / (steps - 1)))


@dataclass(frozen=True)
class ScoredSts:
    """A decoded STS, scored exactly: torch loss on the validation orders, model NLL, defence perplexity."""

    ids: list[int]
    sts: str
    loss: float  # mean -log P("1. <target>") on the validation orders
    nll: float | None  # nats per token where it was decoded (None for a given or described seed)
    perplexity: float  # the planted product line's, as the perplexity defence scores it


@dataclass(frozen=True)
class StealthStepRecord:
    """One step: the energy terms of the soft STS before its update, and the decoding if the step decoded."""

    iteration: int
    orders: list[ProductOrder]
    ranking: float  # -log P("1. <target>") under the soft STS, mean over the step's orders
    fluency: float  # model NLL of the soft tokens, nats per token
    repetition: float  # expected repeated n-gram pairs
    energy: float
    noise: float
    decoded: ScoredSts | None  # the round's pick, when this step decoded and some text fit the prompt
    sample_losses: list[float]  # of every distinct decoded sequence that fit the prompt, all scored exactly
    accepted: bool  # the decoded STS became the best
    seconds: float
    cpu_seconds: float


class StealthOptimizer:
    """Langevin dynamics on soft STS tokens of a torch-loaded copy of the recommender's GGUF; an iteration is a step."""

    name = "stealth"

    def __init__(self, config: StealthConfig | None = None) -> None:
        self.config = config or StealthConfig()

    def optimize(
        self,
        problem: StsProblem,
        budget: int,
        seed: int,
        progress: ProgressCallback | None = None,
    ) -> OptimizationResult:
        """Run ``budget`` Langevin steps from a fluent seed and return the best decoded STS."""
        from agentrec.recsys.threads import torch_threads

        lm, renderer = torch_and_renderer(self.config.model, problem.recommender.chat, "stealth")
        with torch_threads(self.config.threads):
            return StealthSearch(problem, lm, renderer, self.config, seed).run(budget, progress)


class StealthSearch:
    """The state of one run: the soft logits, the best decoded ids, and the step history."""

    def __init__(
        self, problem: StsProblem, lm: TorchChatLM, renderer: LocalChatModel, config: StealthConfig, seed: int
    ) -> None:
        import torch

        self.problem, self.lm, self.renderer, self.config = problem, lm, renderer, config
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.perplexity = PerplexityScorer(renderer)
        validation_orders = problem.sample_orders(config.val_orders or problem.score_orders, self.rng)
        self.validation = [self._prepared(order) for order in validation_orders]
        self.pool = [self._prepared(o) for o in problem.sample_orders(config.train_orders, self.rng)]
        self.home = self.validation[0]  # the order whose prompt the STS is decoded in
        self.filter = token_filter(lm, self.home.layout.lead)
        self.initial_ids = self._seed_ids()
        self.allowed = self.filter.for_positions(len(self.initial_ids))
        # init=name plants the target's name first and keeps it: its tokens are the only ones allowed there.
        given = problem.initial_sts or config.seed_text
        named = len(self._name_ids()) if config.init == "name" and not given else 0
        self.allowed[:named] = False
        self.allowed[torch.arange(named), torch.tensor(self.initial_ids[:named], dtype=torch.long)] = True
        self.soft = self._soft_at(self.initial_ids)
        self.initial = self._scored(self.initial_ids, self.validation_losses([self.initial_ids])[0], None)
        self.best = self.current = self.initial
        self.records: list[StealthStepRecord] = []

    def _soft_at(self, ids: list[int]) -> Any:
        """Soft logits centred on ``ids`` (the chain's start, and its restarts at the best), now the anchor."""
        from agentrec.audit.stealth_energy import initial_soft_logits

        self.anchor = list(ids)
        return initial_soft_logits(self.lm, self.home, ids, self.allowed, self.config.init_bonus)

    def _prepared(self, order: ProductOrder) -> Any:
        from agentrec.audit.stealth_energy import prepare_order

        return prepare_order(self.lm, build_layout(self.problem, order, self.renderer.render_prompt, self.lm))

    def _seed_ids(self) -> list[int]:
        from agentrec.audit.stealth_energy import guided_decode

        layout = self.home.layout
        given = self.problem.initial_sts or self.config.seed_text
        if given:
            return initial_sts_ids(layout, self.lm, given, self.config.length)
        if self.config.init == "description":
            return self._description_seed(layout)
        # The model's own continuation of the product text, or of the target's name planted first.
        forced = self._name_ids() if self.config.init == "name" else []
        allowed = self.filter.for_positions(max(self.config.length, len(forced) + 1))
        decoded = guided_decode(self.lm, self.home, None, allowed, self.config.top_k, forced=forced)
        if decoded is None:
            raise ConfigError(f"the model's continuation (init={self.config.init}) does not fit the prompt")
        return list(decoded.ids)

    def _name_ids(self) -> list[int]:
        return self.lm.encode(self.home.layout.lead + self.problem.target)

    def _description_seed(self, layout: PromptLayout) -> list[int]:
        product = self.problem.catalog.product(self.problem.target)
        texts = product.text_fields()
        text = str(product.fields[texts[0]]) if texts else product.name
        ids = self.lm.encode(layout.lead + text.replace('"', "").replace("\\", ""))[: self.config.length]
        # The placement strips the STS: drop trailing tokens that end in whitespace.
        while len(ids) > 1 and not bool(self.filter.last[ids[-1]]):
            ids.pop()
        sts = layout.sts_text(self.lm, ids)
        if sts is None:
            raise ConfigError(f"the target's {texts[0] if texts else 'name'} gives no usable seed; use init=lm")
        return initial_sts_ids(layout, self.lm, sts, self.config.length)

    def validation_losses(self, rows: list[list[int]]) -> list[float]:
        """Mean -log P("1. <target>") of each row of ids (equal lengths) over the validation orders (torch, exact)."""
        import torch

        from agentrec.audit.gcg_torch import candidate_losses

        batch = torch.tensor(rows)
        per_order = [
            candidate_losses(self.lm, c.layout, c.state, batch, self.config.batch_size) for c in self.validation
        ]
        return [float(value) for value in torch.stack(per_order).mean(dim=0)]

    def planted_perplexity(self, sts: str) -> float:
        """Perplexity of the target's product line with ``sts`` planted, as the perplexity defence scores it."""
        return self.perplexity.perplexity(self.problem.planted(sts).product(self.problem.target).json_line())

    def sts_of(self, ids: list[int]) -> str:
        """The STS text of ``ids`` (their slot text without the placement's leading space)."""
        return self.lm.decode(ids)[len(self.home.layout.lead) :]

    def step(self, iteration: int, budget: int) -> StealthStepRecord:
        """One Langevin step on the next orders of the pool, then a decoding if one is due."""
        from agentrec.audit.stealth_energy import energy_and_gradient, langevin_step

        started, cpu_started = time.perf_counter(), time.process_time()
        count = self.config.orders_per_step
        contexts = [self.pool[(iteration * count + j) % len(self.pool)] for j in range(count)]
        weights = (self.config.fluency, self.config.repetition)
        terms, grad = energy_and_gradient(self.lm, contexts, self.soft, self.allowed, weights, self.config.ngram)
        noise = self.config.noise_at(iteration, budget)
        self.soft = langevin_step(
            self.soft, grad, self.allowed, (self.config.step_size, noise, self.config.top_k), self.generator
        )
        decoded, sampled = None, list[float]()
        if (iteration + 1) % self.config.decode_every == 0 or iteration == budget - 1:
            decoded, sampled = self._decode_round()
        # A sequence over max_perplexity never becomes the best, but any under it replaces a best over it.
        accepted = (
            decoded is not None
            and self._stealthy(decoded)
            and (decoded.loss < self.best.loss or not self._stealthy(self.best))
        )
        if decoded is not None:
            self.current = decoded
            self.best = decoded if accepted else self.best
            if self.config.restart:
                self.soft = self._soft_at(self.best.ids)
        return StealthStepRecord(
            iteration=iteration,
            orders=[c.layout.order for c in contexts],
            ranking=terms.ranking,
            fluency=terms.fluency,
            repetition=terms.repetition,
            energy=terms.total(*weights),
            noise=noise,
            decoded=decoded,
            sample_losses=sampled,
            accepted=accepted,
            seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu_started,
        )

    def _decode_round(self) -> tuple[ScoredSts | None, list[float]]:
        """Decode ``samples`` sequences from the soft logits and score them exactly; the best, and every loss."""
        from agentrec.audit.stealth_energy import guided_decode

        rows: dict[tuple[int, ...], float] = {}
        for sample in range(self.config.samples):
            sampling = None if sample == 0 else (self.config.temperature, self.generator)
            decoded = guided_decode(
                self.lm, self.home, self.soft, self.allowed, self.config.top_k, sampling, anchor=self.anchor
            )
            if decoded is not None and decoded.ids not in rows:
                rows[decoded.ids] = decoded.nll
        fitting = [ids for ids in rows if self.home.layout.consistent(self.lm, [list(ids)])[0]]
        if not fitting:
            logger.info("stealth: no decoded text tokenises the same inside the prompt; round skipped")
            return None, []
        losses = self.validation_losses([list(ids) for ids in fitting])
        scored = [self._scored(list(ids), loss, rows[ids]) for ids, loss in zip(fitting, losses, strict=True)]
        eligible = [candidate for candidate in scored if self._stealthy(candidate)] or scored
        return min(eligible, key=lambda candidate: candidate.loss), losses

    def _scored(self, ids: list[int], loss: float, nll: float | None) -> ScoredSts:
        sts = self.sts_of(ids)
        return ScoredSts(ids=ids, sts=sts, loss=loss, nll=nll, perplexity=self.planted_perplexity(sts))

    def _stealthy(self, candidate: ScoredSts) -> bool:
        limit = self.config.max_perplexity
        return limit is None or candidate.perplexity <= limit

    def run(self, budget: int, progress: ProgressCallback | None) -> OptimizationResult:
        """``budget`` steps, then the initial and best STS scored by ``problem.score`` on the validation orders."""
        started = time.perf_counter()
        history: list[OptimizationStep] = []
        for iteration in range(budget):
            record = self.step(iteration, budget)
            self.records.append(record)
            step = OptimizationStep(
                iteration=iteration,
                candidate=self.current.sts,
                score=-self.current.loss,
                best_score=-self.best.loss,
                accepted=record.accepted,
                seconds=time.perf_counter() - started,
                note=self._note(record),
            )
            history.append(step)
            if progress is not None:
                progress(step)
        orders = [c.layout.order for c in self.validation]
        initial_sts, best_sts = self.initial.sts, self.best.sts
        return OptimizationResult(
            optimizer="stealth",
            best_sts=best_sts,
            best_score=self.problem.score(best_sts, orders),
            initial_score=self.problem.score(initial_sts, orders),
            score_kind=self.problem.score_kind,
            history=tuple(history),
            seconds=time.perf_counter() - started,
            placement=self.problem.placement,
            extra=self._extra(initial_sts, best_sts, orders),
        )

    @staticmethod
    def _note(record: StealthStepRecord) -> str:
        energy = f"ranking {record.ranking:.3f}, fluency {record.fluency:.3f}, repetition {record.repetition:.3f}"
        if record.decoded is None:
            return f"{energy}, {record.seconds:.1f} s"
        decoded = record.decoded
        return f"{energy}; decoded loss {decoded.loss:.3f}, perplexity {decoded.perplexity:.1f}, {record.seconds:.1f} s"

    def _extra(self, initial_sts: str, best_sts: str, orders: list[ProductOrder]) -> dict[str, Any]:
        import torch

        timed = [r.seconds for r in self.records]
        return {
            "model": str(self.lm.path),
            "config": self.config.model_dump(),
            "torch_threads": torch.get_num_threads(),
            "validation_orders": [list(order) for order in orders],
            "initial_sts": initial_sts,
            "torch_logprob_before": -self.initial.loss,
            "torch_logprob_after": -self.best.loss,
            "planted_perplexity_before": self.initial.perplexity,
            "planted_perplexity_after": self.best.perplexity,
            "initial_token_ids": list(self.initial.ids),
            "best_token_ids": list(self.best.ids),
            "energy": {name: [getattr(r, name) for r in self.records] for name in ("ranking", "fluency", "repetition")},
            "decoded": [{"iteration": r.iteration, **asdict(r.decoded)} for r in self.records if r.decoded],
            "seconds_per_step": float(np.mean(timed)) if timed else None,
            "cpu_seconds_per_step": float(np.mean([r.cpu_seconds for r in self.records])) if timed else None,
            "steps": [asdict(r) for r in self.records],
        }


def build_optimizer(settings: OptimizerSettings) -> StealthOptimizer:
    """The ``stealth`` optimiser configured by ``settings.options`` (see ``StealthConfig``); ``llm`` is unused."""
    return StealthOptimizer(StealthConfig.from_options(dict(settings.options)))

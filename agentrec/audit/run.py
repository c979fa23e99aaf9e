"""One audit end to end: load, optimise (or take a given STS), evaluate in pairs, defend, report.

Bad input fails before any model is loaded: a malformed catalog, a target
that is not in it, an unknown optimiser or defence all raise an
``AgentrecError`` that the CLI prints as one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agentrec.audit.catalog import Catalog, load_catalog
from agentrec.audit.defence_setup import build_defence, defence_details
from agentrec.audit.defences import Defence, check_defence_name
from agentrec.audit.optimizers import (
    DEFAULT_SCORE_ORDERS,
    OPTIMIZER_MODULES,
    OptimizationResult,
    OptimizerSettings,
    ProgressCallback,
    StsProblem,
    build_optimizer,
)
from agentrec.audit.pair_workers import ChatSpec, PairProgress
from agentrec.audit.paired_evaluation import PairedSetup, Parallelism, paired_rank_evaluation
from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.placement import StsPlacement, StsPosition
from agentrec.audit.prompt import DEFAULT_PREFILL, RecommenderPrompt, default_request
from agentrec.audit.recommender import DEFAULT_MAX_TOKENS, AuditedRecommender
from agentrec.audit.results import AuditReport, AuditTiming, DefenceResult, PairRecord
from agentrec.audit.statistics import summarise_pairs
from agentrec.core.errors import ConfigError
from agentrec.core.worker_backends import RAY_WITHOUT_THREADS, check_backend
from agentrec.llm.cache import CacheMode
from agentrec.llm.factory import make_chat_model
from agentrec.llm.pacing import forget_gates, process_snapshot, provider_usage

GIVEN = "given"  # the optimiser label of a sequence passed with --sts


class AuditOptions(BaseModel):
    """Everything an audit run is asked to do (the CLI's flags)."""

    model_config = ConfigDict(frozen=True)

    catalog: Path
    target: str = ""  # --target; empty when --targets names several attackers
    targets: tuple[str, ...] = ()  # --targets A,B,C: several attackers at once (multi_attack.py)
    optimizer: str = "random"
    iters: int = 50
    evals: int = 200
    defence: str = "none"
    llm: str = "local"
    api_base: str | None = None
    seed: int = 0
    sts: str | None = None
    request: str | None = None
    prefill: bool = True
    max_tokens: int = DEFAULT_MAX_TOKENS
    field: str | None = None  # --text-field: where the STS goes (unset: the target's last text field)
    name_field: str | None = None  # --name-field (unset: guessed from the catalog)
    position: StsPosition = "end"
    cache: CacheMode = "on"
    score_orders: int = DEFAULT_SCORE_ORDERS
    optimizer_options: dict[str, str] = {}
    workers: int = 1
    backend: str = "local"  # where the workers run: spawned processes here, or Ray actors
    concurrency: int = 1  # pairs and optimiser scores in flight at once (threads): for remote providers


@dataclass(frozen=True)
class AuditProgress:
    """Callbacks of a run: the optimiser's steps, and paired runs per phase."""

    on_step: ProgressCallback | None = None
    on_phase: Callable[[str, int], PairProgress | None] | None = None  # (label, total) -> per-pair callback


@dataclass(frozen=True)
class AuditResult:
    """The run's report (``report.json_data()`` is the JSON) and the records behind it."""

    report: AuditReport
    optimization: OptimizationResult | None
    outcomes: list[PairOutcome]
    defended: dict[str, list[PairOutcome]] = field(default_factory=dict)


def check_options(options: AuditOptions) -> tuple[Catalog, str, StsPlacement]:
    """Fail fast on bad input, before any model is loaded."""
    catalog = load_catalog(options.catalog, options.name_field)
    target = catalog.product(options.target).name
    placement = StsPlacement(field=options.field, position=options.position)
    placement.field_of(catalog.product(target))
    check_defence_name(options.defence)
    if options.sts is None and options.optimizer not in OPTIMIZER_MODULES:
        raise ConfigError(f"unknown optimizer {options.optimizer!r}; choose one of {', '.join(OPTIMIZER_MODULES)}")
    if options.evals < 1 or options.iters < 0:
        raise ConfigError(f"--evals must be >= 1 and --iters >= 0, got {options.evals} and {options.iters}")
    if options.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {options.workers}")
    if options.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {options.concurrency}")
    if options.backend == "ray" and options.concurrency > 1:
        raise ConfigError(RAY_WITHOUT_THREADS)
    check_backend(options.backend)
    return catalog, target, placement


def build_recommender(options: AuditOptions, catalog: Catalog) -> AuditedRecommender:
    """The recommender under audit for these options."""
    chat = make_chat_model(options.llm, api_base=options.api_base, cache=options.cache)
    prompt = RecommenderPrompt(
        request=options.request or default_request(catalog.name),
        prefill=DEFAULT_PREFILL if options.prefill else "",
    )
    return AuditedRecommender(chat, prompt, max_tokens=options.max_tokens)


def optimise(
    options: AuditOptions, problem: StsProblem, progress: AuditProgress
) -> tuple[str, StsPlacement, OptimizationResult | None]:
    if options.sts is not None:
        return options.sts, problem.placement, None
    settings = OptimizerSettings(llm=options.llm, api_base=options.api_base, options=options.optimizer_options)
    optimizer = build_optimizer(options.optimizer, settings)
    result = optimizer.optimize(problem, options.iters, options.seed, progress.on_step)
    return result.best_sts, result.placement, result


def evaluate_pairs(
    setup: PairedSetup,
    recommender: AuditedRecommender,
    options: AuditOptions,
    label: str,
    progress: AuditProgress,
    defence: Defence | None = None,
) -> list[PairOutcome]:
    on_pair = progress.on_phase(label, options.evals) if progress.on_phase else None
    chat = ChatSpec(options.llm, options.api_base, options.cache)
    parallelism = Parallelism(options.workers, chat, options.concurrency, options.backend)
    return paired_rank_evaluation(setup, recommender, options.evals, options.seed, defence, on_pair, parallelism)


def _call_counts(recommender: AuditedRecommender) -> tuple[int, int]:
    return recommender.requested_calls(), recommender.computed_calls()


def run_audit(options: AuditOptions, progress: AuditProgress | None = None) -> AuditResult:
    """Run the audit ``options`` describe and return its report (CLI contract keys)."""
    progress = progress or AuditProgress()
    catalog, target, placement = check_options(options)
    forget_gates()  # this run's provider counts and budget start from nothing
    recommender = build_recommender(options, catalog)
    problem = StsProblem(
        catalog, target, recommender, placement, score_orders=options.score_orders, concurrency=options.concurrency
    )
    sts, placement, optimization = optimise(options, problem, progress)
    setup = PairedSetup(catalog, target, sts, placement)
    calls_before = _call_counts(recommender)
    started = time.perf_counter()
    outcomes = evaluate_pairs(setup, recommender, options, "pairs evaluated", progress)
    eval_seconds = time.perf_counter() - started
    calls_after = _call_counts(recommender)
    timing = _timing(eval_seconds, calls_before, calls_after, options.evals)
    defended: dict[str, list[PairOutcome]] = {}
    defences: dict[str, DefenceResult] = {}
    if options.defence != "none":
        defence = build_defence(options.defence, recommender, catalog, progress.on_phase)
        label = f"pairs evaluated with {options.defence}"
        defended[options.defence] = evaluate_pairs(setup, recommender, options, label, progress, defence)
        summary = summarise_pairs(defended[options.defence], len(catalog.products), options.seed)
        details = defence_details(defence, setup, optimization)
        defences[options.defence] = DefenceResult(**dict(summary), details=details)
    report = _report(options, catalog, recommender, setup, optimization, outcomes)
    report = report.model_copy(update={"timing": timing, "defences": defences})
    return AuditResult(report, optimization, outcomes, defended)


def _timing(seconds: float, before: tuple[int, int], after: tuple[int, int], evals: int) -> AuditTiming:
    calls, computed = after[0] - before[0], after[1] - before[1]
    return AuditTiming(
        eval_seconds=round(seconds, 3),
        pairs=evals,
        llm_calls=calls,
        backend_calls=computed,
        calls_per_s=round(calls / seconds, 3) if seconds > 0 else None,
        computed_calls_per_s=round(computed / seconds, 3) if seconds > 0 else None,
        seconds_per_pair=round(seconds / evals, 3),
    )


def _report(
    options: AuditOptions,
    catalog: Catalog,
    recommender: AuditedRecommender,
    setup: PairedSetup,
    optimization: OptimizationResult | None,
    outcomes: list[PairOutcome],
) -> AuditReport:
    summary = summarise_pairs(outcomes, len(catalog.products), options.seed)
    return AuditReport(
        catalog=str(options.catalog),
        target=setup.target,
        optimizer=GIVEN if optimization is None else optimization.optimizer,
        sts=setup.sts,
        evals=options.evals,
        **dict(summary),
        llm=recommender.chat.model_id,
        request=recommender.prompt.request,
        prefill=recommender.prompt.prefill,
        placement=setup.placement,
        seed=options.seed,
        products=len(catalog.products),
        optimization=None if optimization is None else optimization.as_dict(),
        pairs=[_pair_record(outcome) for outcome in outcomes],
        usage=provider_usage(process_snapshot()),
    )


def _pair_record(outcome: PairOutcome) -> PairRecord:
    return PairRecord(
        order=list(outcome.order),
        rank_before=outcome.rank_before,
        rank_after=outcome.rank_after,
        logprob_before=outcome.logprob_before,
        logprob_after=outcome.logprob_after,
    )

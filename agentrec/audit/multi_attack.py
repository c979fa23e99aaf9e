"""Several sellers attack one catalog at once (``--targets A,B,C``), as in Adversarial SEO (Nestaas et al.).

Each attacker optimises its own sequence for its own product against the
clean catalog, as a seller would who does not know the others attack. Then,
on the same seeded product orders, two paired evaluations per attacker:

* **alone**: clean catalog vs the catalog with only this attacker's STS;
* **together**: clean catalog vs the catalog with every attacker's STS.

Both share the clean half, and the same orders, so the difference between
them (together minus alone, on the "after" side) is paired by order. The
replies of the shared halves come from the response cache after the first
attacker, so the extra cost is mostly log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentrec.audit.catalog import Catalog, load_catalog
from agentrec.audit.multi_attack_report import AttackerResult, MultiAttackReport
from agentrec.audit.optimizers import OptimizationResult, StsProblem
from agentrec.audit.paired_evaluation import PairedSetup
from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.placement import StsPlacement
from agentrec.audit.run import (
    GIVEN,
    AuditOptions,
    AuditProgress,
    build_recommender,
    check_options,
    evaluate_pairs,
    optimise,
)
from agentrec.audit.statistics import N_RESAMPLES, side_metrics, summarise_pairs
from agentrec.core.errors import ConfigError
from agentrec.eval.bootstrap import paired_bootstrap
from agentrec.eval.intervals import PairedDifference
from agentrec.llm.pacing import forget_gates, process_snapshot, provider_usage

MIN_ATTACKERS = 2


@dataclass(frozen=True)
class Attacker:
    """One seller: its product, the sequence it found, and where that sequence goes."""

    target: str
    sts: str
    placement: StsPlacement
    optimization: OptimizationResult | None


@dataclass(frozen=True)
class MultiAttackResult:
    """The report and, per attacker, the paired runs alone and together."""

    report: MultiAttackReport
    alone: dict[str, list[PairOutcome]]
    together: dict[str, list[PairOutcome]]


def check_targets(options: AuditOptions) -> tuple[Catalog, list[str]]:
    """The catalog and the attackers' names in its spelling; ``ConfigError`` on a bad list, before any model loads."""
    if options.sts is not None:
        raise ConfigError("--sts takes one sequence, for --target; with --targets each attacker optimises its own")
    if options.defence != "none":
        raise ConfigError("--targets measures attackers against each other, without a defence; drop --defence")
    catalog = load_catalog(options.catalog, options.name_field)
    names: list[str] = []
    for wanted in options.targets:
        name = catalog.product(wanted).name
        if name in names:
            raise ConfigError(f"--targets names {name!r} twice; each attacker is one product")
        names.append(name)
    if len(names) < MIN_ATTACKERS:
        raise ConfigError(f"--targets needs at least {MIN_ATTACKERS} products; for one, use --target")
    for name in names:
        check_options(options.model_copy(update={"target": name, "targets": ()}))
    return catalog, names


def run_multi_attack(options: AuditOptions, progress: AuditProgress | None = None) -> MultiAttackResult:
    """Every attacker optimises alone, then is evaluated alone and with all the others attacking too."""
    progress = progress or AuditProgress()
    catalog, names = check_targets(options)
    forget_gates()
    recommender = build_recommender(options, catalog)
    attackers = []
    for name in names:
        single = options.model_copy(update={"target": name, "targets": ()})
        _, _, placement = check_options(single)
        problem = StsProblem(
            catalog, name, recommender, placement, score_orders=options.score_orders, concurrency=options.concurrency
        )
        sts, used, optimization = optimise(single, problem, progress)
        attackers.append(Attacker(name, sts, used, optimization))
    alone: dict[str, list[PairOutcome]] = {}
    together: dict[str, list[PairOutcome]] = {}
    for attacker in attackers:
        setup = PairedSetup(catalog, attacker.target, attacker.sts, attacker.placement)
        alone[attacker.target] = evaluate_pairs(setup, recommender, options, f"{attacker.target} alone", progress)
    for attacker in attackers:
        rivals = tuple((a.target, a.sts, a.placement) for a in attackers if a is not attacker)
        setup = PairedSetup(catalog, attacker.target, attacker.sts, attacker.placement, rivals)
        label = f"{attacker.target} with all attacking"
        together[attacker.target] = evaluate_pairs(setup, recommender, options, label, progress)
    results = {
        a.target: _attacker_result(a, alone[a.target], together[a.target], len(catalog.products), options.seed)
        for a in attackers
    }
    report = MultiAttackReport(
        catalog=str(options.catalog),
        targets=names,
        optimizer=options.optimizer,
        evals=options.evals,
        llm=recommender.chat.model_id,
        request=recommender.prompt.request,
        seed=options.seed,
        products=len(catalog.products),
        attackers=results,
        usage=provider_usage(process_snapshot()),
    )
    return MultiAttackResult(report, alone, together)


def _attacker_result(
    attacker: Attacker, alone: list[PairOutcome], together: list[PairOutcome], n_products: int, seed: int
) -> AttackerResult:
    return AttackerResult(
        sts=attacker.sts,
        placement=attacker.placement,
        optimizer=GIVEN if attacker.optimization is None else attacker.optimization.optimizer,
        optimization=None if attacker.optimization is None else attacker.optimization.as_dict(),
        alone=summarise_pairs(alone, n_products, seed),
        together=summarise_pairs(together, n_products, seed),
        together_minus_alone=_after_differences(alone, together, n_products, seed),
    )


def _after_differences(
    alone: Sequence[PairOutcome], together: Sequence[PairOutcome], n_products: int, seed: int
) -> dict[str, PairedDifference]:
    """Together minus alone on the attacked side, order by order (both use the same orders)."""
    if [o.order for o in alone] != [o.order for o in together]:
        raise ValueError("alone and together must be evaluated on the same product orders")
    first = side_metrics([o.rank_after for o in alone], [o.logprob_after for o in alone], n_products)
    second = side_metrics([o.rank_after for o in together], [o.logprob_after for o in together], n_products)
    return {
        name: PairedDifference.of(
            paired_bootstrap(np.asarray(first[name]), np.asarray(second[name]), n_resamples=N_RESAMPLES, seed=seed),
            digits=4,
        )
        for name in first
        if name in second
    }

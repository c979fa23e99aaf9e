"""Paired evaluation: does the STS move the target, order by order?

Each of N runs draws one random product order (seeded) and shows it twice to
the recommender: the clean catalog and the catalog with the STS planted.
Within a pair the two prompts are identical up to the target product, so
they are issued back to back (llama.cpp keeps the shared prefix), and the
log-probability of each prompt follows its generation for the same reason.
The same seed gives the same orders, so the clean half of a pair is
answered from the response cache in every later audit of the same catalog
and target. With ``workers`` > 1, pairs run in parallel processes
(``pair_workers.py``); one pair is run by ``paired_run.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agentrec.audit.catalog import Catalog, ProductOrder
from agentrec.audit.defences import Defence, NoDefence
from agentrec.audit.pair_workers import ChatSpec, PairJob, PairProgress, run_pairs_in_workers
from agentrec.audit.paired_run import PairOutcome, evaluate_pair
from agentrec.audit.placement import StsPlacement, catalog_with_sts
from agentrec.audit.recommender import AuditedRecommender

# The evaluation's orders come from their own stream of the seed, so an optimiser seeded
# with the same number never scores its candidates on the orders it is evaluated on.
_EVALUATION_STREAM = 1


@dataclass(frozen=True)
class PairedSetup:
    """What a paired evaluation compares: a target, a sequence, and where it goes."""

    catalog: Catalog
    target: str
    sts: str
    placement: StsPlacement = field(default_factory=StsPlacement)


def evaluation_orders(size: int, evals: int, seed: int) -> list[ProductOrder]:
    """The ``evals`` product orders of a paired evaluation (the same for the same seed)."""
    rng = np.random.default_rng([seed, _EVALUATION_STREAM])
    return [tuple(int(i) for i in rng.permutation(size)) for _ in range(evals)]


@dataclass(frozen=True)
class Parallelism:
    """Worker processes for the pairs, and how each builds its LLM (the recommender's own spec)."""

    workers: int = 1
    chat: ChatSpec = field(default_factory=ChatSpec)


def paired_rank_evaluation(
    setup: PairedSetup,
    recommender: AuditedRecommender,
    evals: int,
    seed: int,
    defence: Defence | None = None,
    progress: PairProgress | None = None,
    parallelism: Parallelism | None = None,
) -> list[PairOutcome]:
    """Rank the target in ``evals`` paired runs; the defence (if any) applies to both halves."""
    defence = defence or NoDefence()
    target = setup.catalog.product(setup.target).name
    clean = defence.protect(setup.catalog)
    planted = defence.protect(catalog_with_sts(setup.catalog, target, setup.sts, setup.placement))
    audited = defence.recommender(recommender)
    orders = evaluation_orders(len(setup.catalog.products), evals, seed)
    if parallelism is not None and parallelism.workers > 1 and len(orders) > 1:
        job = PairJob(clean, planted, target, audited.prompt, audited.settings.max_tokens, parallelism.chat)
        outcomes, counts = run_pairs_in_workers(job, orders, parallelism.workers, progress)
        recommender.add_worker_calls(counts.requested, counts.computed)
        return outcomes
    outcomes = []
    for done, order in enumerate(orders, start=1):
        outcomes.append(evaluate_pair(audited, clean, planted, target, order))
        if progress is not None:
            progress(done, len(orders))
    return outcomes

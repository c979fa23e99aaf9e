"""Paired evaluation: does the STS move the target, order by order?

Each of N runs draws one random product order (seeded) and shows it twice to
the recommender: the clean catalog and the catalog with the STS planted.
Within a pair the two prompts are identical up to the target product, so
they are issued back to back (llama.cpp keeps the shared prefix), and the
log-probability of each prompt follows its generation for the same reason.
The same seed gives the same orders, so the clean half of a pair is
answered from the response cache in every later audit of the same catalog
and target. With ``workers`` > 1, pairs run in parallel processes, or on Ray
actors with ``backend`` ray (``pair_workers.py``); with ``concurrency`` > 1 they run in threads of this
process instead, for a remote provider whose calls mostly wait. One pair is run
by ``paired_run.py``; outcomes are in the order of the orders either way.
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
from agentrec.core.in_flight import ordered_in_threads
from agentrec.core.worker_backends import runs_in_workers

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
    # Other attackers' sequences, planted in the "after" half too (``--targets``: everyone attacks at once).
    rivals: tuple[tuple[str, str, StsPlacement], ...] = ()

    def planted_catalog(self) -> Catalog:
        """The catalog of the "after" half: this target's STS and every rival's planted."""
        planted = catalog_with_sts(self.catalog, self.target, self.sts, self.placement)
        for rival, sts, placement in self.rivals:
            planted = catalog_with_sts(planted, rival, sts, placement)
        return planted


def evaluation_orders(size: int, evals: int, seed: int) -> list[ProductOrder]:
    """The ``evals`` product orders of a paired evaluation (the same for the same seed)."""
    rng = np.random.default_rng([seed, _EVALUATION_STREAM])
    return [tuple(int(i) for i in rng.permutation(size)) for _ in range(evals)]


@dataclass(frozen=True)
class Parallelism:
    """Worker processes for the pairs, and how each builds its LLM (the recommender's own spec);
    or pairs in flight at once in this process (threads), which takes precedence over workers."""

    workers: int = 1
    chat: ChatSpec = field(default_factory=ChatSpec)
    concurrency: int = 1
    backend: str = "local"  # where the workers run: spawned processes here, or Ray actors


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
    planted = defence.protect(setup.planted_catalog())
    audited = defence.recommender(recommender)
    orders = evaluation_orders(len(setup.catalog.products), evals, seed)
    in_flight = parallelism.concurrency if parallelism is not None else 1
    workers = parallelism.workers if parallelism is not None else 1
    if parallelism is not None and in_flight == 1 and runs_in_workers(parallelism.backend, workers, len(orders)):
        job = PairJob(clean, planted, target, audited.prompt, audited.settings.max_tokens, parallelism.chat)
        outcomes, counts = run_pairs_in_workers(job, orders, workers, progress, parallelism.backend)
        recommender.add_worker_calls(counts.requested, counts.computed)
        return outcomes
    outcomes = []
    pairs = ordered_in_threads(lambda order: evaluate_pair(audited, clean, planted, target, order), orders, in_flight)
    for done, outcome in enumerate(pairs, start=1):
        outcomes.append(outcome)
        if progress is not None:
            progress(done, len(orders))
    return outcomes

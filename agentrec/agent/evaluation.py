"""agent-eval: ToolRec's protocol for every policy on the same seeded users.

Leave-one-out by time, full ranking, a seeded sample of test users. Every run is
saved as it finishes (trace store, keyed by the run's settings), so an
interrupted evaluation resumes where it stopped. ``--cache replay`` instead
recomputes every run from the response cache, which proves the result exact.
No user is dropped: a run with no usable pool falls back to the backbone and is
counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from pydantic import PositiveInt
from pydantic.dataclasses import dataclass as pydantic_dataclass

from agentrec.agent.eval_report import (
    AgentEvalReport,
    PolicyRates,
    PolicyReport,
    PolicyUsage,
    SlicePolicy,
    UserRow,
    UserSlice,
)
from agentrec.agent.fusion import LLM_FUSIONS
from agentrec.agent.policies import ALL_POLICIES, ANSWER_AWARE_POLICIES, POLICIES, RunSettings
from agentrec.agent.service import AgentService, open_agent
from agentrec.agent.trace import AgentRun, BatchedSaves, TraceStore
from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.core.in_flight import map_in_threads
from agentrec.core.worker_backends import RAY_WITHOUT_THREADS, Backend, check_backend, runs_in_workers, start_workers
from agentrec.eval.bootstrap import metric_cis, paired_bootstrap
from agentrec.eval.intervals import PairedDifference
from agentrec.eval.metrics import accuracy_per_user, mean_metrics
from agentrec.llm.cache import CacheMode
from agentrec.llm.factory import make_chat_model
from agentrec.llm.pacing import ProviderLimits, forget_gates, provider_usage, shared_gate
from agentrec.llm.worker_hooks import LLM_WORKERS

logger = logging.getLogger(__name__)

# (label, users done, users in all); a total of 0 carries a plain note (what is being opened).
UserProgress = Callable[[str, int, int], None]


@pydantic_dataclass(frozen=True)
class AgentEvalSpec:
    """What one agent-eval run is: the data, the users, the policies, the model and settings.

    ``users`` and ``workers`` are bounded at construction (a ``ValidationError`` names the field).
    """

    dataset: str
    users: PositiveInt = 200
    policies: tuple[str, ...] = POLICIES
    llm: str = "local"
    api_base: str | None = None
    cache: CacheMode = "on"
    workers: PositiveInt = 1
    backend: Backend = "local"  # where the workers run: spawned processes here, or Ray actors
    concurrency: PositiveInt = 1  # users in flight at once in this process (threads): for remote providers
    limits: ProviderLimits = field(default_factory=ProviderLimits)  # --rpm, --tpm, --max-cost and prices
    backbone: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)

    def check(self) -> None:
        unknown = [p for p in self.policies if p not in ALL_POLICIES]
        if unknown or not self.policies:
            raise ConfigError(f"unknown policy {unknown or self.policies}; choose from {', '.join(ALL_POLICIES)}")
        if self.backend == "ray" and self.concurrency > 1:
            raise ConfigError(RAY_WITHOUT_THREADS)
        check_backend(self.backend)


@dataclass
class PolicyResult:
    runs: list[AgentRun]
    per_user: dict[str, np.ndarray]


def run_agent_eval(spec: AgentEvalSpec, progress: UserProgress | None = None) -> AgentEvalReport:
    """Evaluate the policies on the same users; return the report (``json_data()`` is the JSON)."""
    spec.check()
    notify = progress or (lambda label, done, total: None)
    started = time.perf_counter()
    forget_gates()  # this run's counts and budget start from nothing
    model = make_chat_model(spec.llm, spec.api_base, spec.cache, limits=_limits(spec)) if _needs_llm(spec) else None
    service = open_agent(
        spec.dataset, spec.settings, model, backbone=spec.backbone, progress=lambda text: notify(text, 0, 0)
    )
    users = sample_users(service, spec.users, spec.settings.seed)
    batches = score_batches(service, users)
    store = TraceStore()
    finished: dict[str, dict[str, AgentRun]] = {}  # policy -> user id -> its run
    failed: dict[str, dict[str, str]] = {}  # policy -> user id -> why its LLM was not reached
    # Wall time per phase, so a reader can tell fitting from running (resumed runs count only new work).
    wall_seconds = {"open": time.perf_counter() - started}
    for policy in spec.policies:
        policy_started = time.perf_counter()
        key = run_key(spec, service, policy, users)
        runs = finished[policy] = {} if spec.cache == "replay" else dict(store.finished(key))
        todo = [u for u in users if service.workspace.user_id(u) not in runs]
        notify(policy, len(runs), len(users))
        with BatchedSaves(store, key) as saves:
            for run in _runs(spec, service, policy, todo, batches):
                if run.llm_unreachable:  # not a result: never saved, so the next run asks again
                    failed.setdefault(policy, {})[run.user_id] = run.llm_unreachable
                    continue
                saves.add(run)
                runs[run.user_id] = run
                notify(policy, len(runs) + len(failed.get(policy, {})), len(users))
        wall_seconds[policy] = time.perf_counter() - policy_started
    # Every policy is compared on the same users: those finished by all of them.
    complete = [u for u in users if all(service.workspace.user_id(u) in runs for runs in finished.values())]
    if not complete:
        reasons = "; ".join(f"{p}: {why}" for p, why in _first_reasons(failed).items())
        raise ModelBackendError(f"no user finished: the LLM was not reached ({reasons}); nothing was saved")
    results: dict[str, PolicyResult] = {}
    for policy, runs in finished.items():
        ordered = [runs[service.workspace.user_id(u)] for u in complete]
        results[policy] = PolicyResult(ordered, _per_user(service, ordered, spec.settings.k))
    wall_seconds["total"] = time.perf_counter() - started
    wall = {phase: round(seconds, 2) for phase, seconds in wall_seconds.items()}
    summary = {
        "failed_units": {p: sorted(ids) for p, ids in failed.items()},
        "failures": _first_reasons(failed),
        "usage": provider_usage(shared_gate(_limits(spec)).snapshot()),
    }
    return report(spec, service, complete, results).model_copy(update={"wall_seconds": wall, **summary})


def _first_reasons(failed: dict[str, dict[str, str]]) -> dict[str, str]:
    """Per policy, the first reason its LLM was not reached (the rest are usually the same)."""
    return {policy: next(iter(reasons.values())) for policy, reasons in failed.items() if reasons}


def _limits(spec: AgentEvalSpec) -> ProviderLimits:
    """The provider limits of one process: all of them in this one, a share in each worker."""
    # Users in flight run in threads of this process; otherwise each worker process asks one at a time.
    return spec.limits.per_process(spec.concurrency, spec.workers if spec.concurrency == 1 else 1)


def _needs_llm(spec: AgentEvalSpec) -> bool:
    return "agent" in spec.policies or (
        spec.settings.fusion in LLM_FUSIONS and any(p != "backbone" for p in spec.policies)
    )


def _calls_llm(spec: AgentEvalSpec, policy: str) -> bool:
    """The agent calls the LLM; so does every fused policy when the fusion does, and random may draw
    rank(by=llm) whenever the evaluation has an LLM. These run in the workers."""
    if policy == "backbone":
        return False
    return policy == "agent" or spec.settings.fusion in LLM_FUSIONS or (policy == "random" and _needs_llm(spec))


def sample_users(service: AgentService, n: int, seed: int) -> list[int]:
    """A seeded sample of test users (all of them when ``n`` is larger), ascending."""
    candidates = service.workspace.evaluable_users()
    if len(candidates) == 0:
        raise ConfigError(f"{service.workspace.store.name} has no user with a held-out item")
    if n > len(candidates):
        logger.warning(
            "users: asked for %s, but %s has %s users with a held-out item; evaluating all %s",
            f"{n:,}", service.workspace.store.name, f"{len(candidates):,}", f"{len(candidates):,}",
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    chosen = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    return sorted(int(u) for u in chosen)


def run_key(spec: AgentEvalSpec, service: AgentService, policy: str, users: list[int]) -> str:
    """Everything that changes a policy's results, hashed."""
    workspace = service.workspace
    payload = {
        "dataset": workspace.dataset_key,
        "pack": workspace.pack.model_dump(mode="json", exclude={"source"}),
        "models": [m.config.model_dump(mode="json") | {"name": m.name} for m in workspace.models.all()],
        "policy": policy,
        "users": users,
        "settings": spec.settings.__dict__,
        # Any policy but the backbone may consult the LLM (rank by llm, an LLM fusion).
        "llm": service.model.model_id if service.model is not None and policy != "backbone" else "",
    }
    canonical = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def _runs(
    spec: AgentEvalSpec, service: AgentService, policy: str, users: list[int], batches: list[tuple[int, ...]]
) -> Iterator[AgentRun]:
    """Runs of ``users`` (those not yet finished), each scored within its batch of the whole sample.

    Every model scores a batch of users at once (``scores_prefetched``). A user's scores
    may differ in the last float bits with the batch they are computed in, so the
    batches are fixed slices of the whole sample, the same whatever is resumed, the
    concurrency, or the backend: every path gives the same lists.
    """
    todo = set(users)
    in_this_process = not _calls_llm(spec, policy) or not runs_in_workers(spec.backend, spec.workers, len(users))
    if in_this_process or (spec.concurrency > 1 and len(users) > 1):
        for batch in batches:
            waiting = [user for user in batch if user in todo]
            if not waiting:
                continue
            with service.workspace.scores_prefetched(batch):
                if _calls_llm(spec, policy) and spec.concurrency > 1 and len(waiting) > 1:
                    yield from _concurrent_runs(service, policy, waiting, spec.concurrency)
                else:
                    yield from (service.run(user, policy) for user in waiting)
        return
    jobs = [(user, batch) for batch in batches for user in batch if user in todo]
    with start_workers(spec.backend, spec.workers, _start_worker, (spec,), LLM_WORKERS) as workers:
        for _, run in workers.results(partial(_worker_run, policy=policy), jobs):
            yield run


def score_batches(service: AgentService, users: list[int]) -> list[tuple[int, ...]]:
    """The sample cut into the batches its scores are computed in (as large as memory allows)."""
    size = service.workspace.prefetch_batch_size()
    return [tuple(users[start : start + size]) for start in range(0, len(users), size)]


def _concurrent_runs(service: AgentService, policy: str, users: list[int], in_flight: int) -> Iterator[AgentRun]:
    """Runs for ``users`` with up to ``in_flight`` of them waiting on the provider at once.

    A remote model spends its time waiting, so threads suffice; each run has its own
    context, and its result does not depend on the order runs finish in.
    """
    for _, run in map_in_threads(lambda user: service.run(user, policy), users, in_flight, "agent-eval"):
        yield run


_WORKER: AgentService | None = None


def _start_worker(spec: AgentEvalSpec) -> None:
    """Each worker opens its own service (models load from the store) and its own LLM."""
    global _WORKER
    model = make_chat_model(spec.llm, spec.api_base, spec.cache, limits=_limits(spec))
    _WORKER = open_agent(spec.dataset, spec.settings, model, backbone=spec.backbone)


def _worker_run(job: tuple[int, tuple[int, ...]], policy: str) -> AgentRun:
    """One user's run in a worker, its scores computed with its batch's, as in the parent."""
    assert _WORKER is not None
    user, batch = job
    _WORKER.workspace.keep_prefetched(batch)
    return _WORKER.run(user, policy)


def _per_user(service: AgentService, runs: list[AgentRun], k: int) -> dict[str, np.ndarray]:
    items = service.workspace.split.train.items
    recommended = np.full((len(runs), k), -1, dtype=np.int64)
    relevant = []
    for row, run in enumerate(runs):
        indices = [items.index(i) for i in run.item_ids[:k]]
        recommended[row, : len(indices)] = indices
        relevant.append(np.array([items.index(run.target)] if run.target else [], dtype=np.int64))
    return accuracy_per_user(recommended, relevant, k)


def report(
    spec: AgentEvalSpec, service: AgentService, users: list[int], results: dict[str, PolicyResult]
) -> AgentEvalReport:
    """The agent-eval record: metrics, paired CIs against the backbone, usage, rates, per-user rows."""
    baseline = results.get("backbone")
    policies = {
        name: _policy_report(spec, service, result, None if name == "backbone" else baseline)
        for name, result in results.items()
    }
    seed = spec.settings.seed
    return AgentEvalReport(
        llm_value=_difference(results, "random", "agent", seed),
        llm_vs_heuristic=_difference(results, "heuristic", "agent", seed),
        headroom=_difference(results, "backbone", "oracle", seed),
        slices=_slices(service, users, results, seed),
        dataset=service.workspace.store.name,
        k=spec.settings.k,
        users_evaluated=len(users),
        seed=spec.settings.seed,
        llm=service.model.model_id if service.model is not None else None,
        backbone=service.workspace.models.backbone.name,
        fusion=spec.settings.fusion,
        max_steps=spec.settings.max_steps,
        policies=policies,
        per_user=[_per_user_row(run) for result in results.values() for run in result.runs],
    )


def _difference(
    results: dict[str, PolicyResult], before: str, after: str, seed: int
) -> dict[str, PairedDifference] | None:
    """``after`` minus ``before`` per metric on the same users, when both ran."""
    if before not in results or after not in results:
        return None
    first, second = results[before].per_user, results[after].per_user
    return {metric: PairedDifference.of(paired_bootstrap(first[metric], second[metric], seed=seed)) for metric in first}


# History-length bands (interactions the model sees for the user): cold start first.
HISTORY_SLICES: tuple[tuple[str, int, float], ...] = (("<=20", 0, 20), ("21-50", 21, 50), (">50", 51, np.inf))


def _slices(
    service: AgentService, users: list[int], results: dict[str, PolicyResult], seed: int
) -> dict[str, UserSlice]:
    """Every policy on the users of each history-length band, with paired differences to the backbone."""
    lengths = np.array([len(service.workspace.history(user).items) for user in users])
    baseline = results.get("backbone")
    slices: dict[str, UserSlice] = {}
    for label, low, high in HISTORY_SLICES:
        inside = (lengths >= low) & (lengths <= high)
        policies = {}
        for name, result in results.items():
            values = {metric: per_user[inside] for metric, per_user in result.per_user.items()}
            versus = None
            if baseline is not None and name != "backbone" and inside.any():
                versus = {
                    metric: PairedDifference.of(paired_bootstrap(baseline.per_user[metric][inside], part, seed=seed))
                    for metric, part in values.items()
                }
            policies[name] = SlicePolicy(metrics=mean_metrics(values) if inside.any() else {}, ci_vs_backbone=versus)
        slices[label] = UserSlice(users=int(inside.sum()), policies=policies)
    return slices


def _policy_report(
    spec: AgentEvalSpec, service: AgentService, result: PolicyResult, baseline: PolicyResult | None
) -> PolicyReport:
    runs = result.runs
    steps = sum(len(run.steps) for run in runs)
    seed = spec.settings.seed
    return PolicyReport(
        metrics=mean_metrics(result.per_user),
        ci=metric_cis(result.per_user, seed=seed),
        usage=PolicyUsage(
            llm_calls=sum(run.llm_calls for run in runs),
            tokens=sum(run.tokens for run in runs),
            seconds=round(sum(run.seconds for run in runs), 3),
        ),
        rates=PolicyRates(
            reask=sum(run.reasks for run in runs) / steps if steps else 0.0,
            skipped_step=sum(run.skipped_steps for run in runs) / steps if steps else 0.0,
            fallback=sum(run.fallback for run in runs) / len(runs),
            filled=sum(run.filled > 0 for run in runs) / len(runs),
        ),
        ungrounded_items=ungrounded_items(service, runs),
        uses_answer=bool(runs) and runs[0].policy in ANSWER_AWARE_POLICIES,
        median_tool_ms=_median_tool_ms(runs),
        ci_vs_backbone=None
        if baseline is None
        else {
            metric: PairedDifference.of(paired_bootstrap(baseline.per_user[metric], values, seed=seed))
            for metric, values in result.per_user.items()
        },
    )


def ungrounded_items(service: AgentService, runs: list[AgentRun]) -> int:
    """Items in final lists that are not catalog items or that the user has already seen (must be 0)."""
    workspace = service.workspace
    vocabulary = workspace.split.train.items
    bad = 0
    for run in runs:
        seen = set(workspace.history(workspace.user_index(run.user_id)).items.tolist())
        for item_id in run.item_ids:
            bad += item_id not in vocabulary or vocabulary.index(item_id) in seen
    return bad


def _median_tool_ms(runs: list[AgentRun]) -> float | None:
    times = [step.tool_ms for run in runs for step in run.steps if step.tool]
    return float(np.median(times)) if times else None


def _per_user_row(run: AgentRun) -> UserRow:
    return UserRow(
        user=run.user_id,
        policy=run.policy,
        items=run.item_ids,
        target=run.target,
        hit=run.target in run.item_ids,
        trace_id=run.trace_id,
        llm_calls=run.llm_calls,
        tokens=run.tokens,
        seconds=round(run.seconds, 3),
        tool_calls=sum(1 for step in run.steps if step.tool),
        fallback=run.fallback,
    )

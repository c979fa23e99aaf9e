"""``agentrec recommend`` and ``agentrec agent-eval``: the ToolRec agent from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrec.ui.choices import BackendChoice, BackendOption, CacheChoice, FusionChoice, PolicyChoice
from agentrec.ui.provider_options import (
    BatchProgress,
    ConcurrencyOption,
    MaxCostOption,
    PriceInOption,
    PriceOutOption,
    RpmOption,
    TpmOption,
    provider_limits,
)

if TYPE_CHECKING:
    from agentrec.agent.eval_report import AgentEvalReport
    from agentrec.agent.trace import AgentRun
    from agentrec.eval.intervals import PairedDifference

LlmOption = Annotated[
    str, typer.Option("--llm", help="local (embedded SmolLM2-135M), a .gguf path, or a litellm model.")
]
ApiBaseOption = Annotated[str | None, typer.Option("--api-base", help="OpenAI-compatible endpoint for --llm.")]
CacheOption = Annotated[
    CacheChoice,
    typer.Option("--cache", help="on (reuse identical LLM calls) | off | replay (recompute all from the cache)."),
]
FusionOption = Annotated[
    FusionChoice,
    typer.Option(
        "--fusion",
        help="lgbm (learned) | rrf (rank fusion) | llm (LLM re-rank) | llm-logits (lgbm, then the LLM scores "
        "its top 20 by label log-probabilities and a learned rescorer weighs them in).",
    ),
]
BackboneOption = Annotated[
    str | None, typer.Option("--backbone", help="Model behind retrieve (default: the tool pack's, e.g. sasrec).")
]
MaxStepsOption = Annotated[int, typer.Option("--max-steps", min=1, help="Most tool calls per user.")]
InterestsOption = Annotated[
    int, typer.Option("--interests", help="At most this many interests (1 to 8) for the retrieve_by_interest tool.")
]
ShufflesOption = Annotated[
    int,
    typer.Option(
        "--llm-shuffles", min=1, help="Shuffled candidate orders the LLM scorer averages (llm-logits, rank by llm)."
    ),
]
EVAL_METRICS = ("recall", "ndcg", "mrr", "hit", "precision")


def _settings(k: int, max_steps: int, fusion: FusionChoice, seed: int, interests: int, shuffles: int) -> Any:
    from agentrec.agent.policies import RunSettings

    return RunSettings(
        k=k, max_steps=max_steps, fusion=fusion.value, seed=seed, interests=interests, llm_shuffles=shuffles
    )


def recommend(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    user: Annotated[str, typer.Option("--user", help="The user's id in the dataset.")],
    k: Annotated[int, typer.Option(min=1, help="How many items to recommend (at most the catalog's size).")] = 10,
    policy: Annotated[
        PolicyChoice,
        typer.Option(
            help="agent (LLM) | heuristic (no LLM) | backbone (plain model) | random (random tool calls) |"
            " oracle (reads the held-out item: an upper bound for analysis)."
        ),
    ] = PolicyChoice.agent,
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    trace: Annotated[bool, typer.Option("--trace", help="Print every step the agent took.")] = False,
    fusion: FusionOption = FusionChoice.lgbm,
    backbone: BackboneOption = None,
    max_steps: MaxStepsOption = 7,
    interests: InterestsOption = 4,
    llm_shuffles: ShufflesOption = 3,
    cache: CacheOption = CacheChoice.on,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the run here.")] = None,
) -> None:
    """Recommend k items to one user, with each item's provenance (which tool found it, at what rank).

    The user's history is everything but their last interaction, which is held out
    and shown, so you can see whether the list would have found it.
    """
    from agentrec.agent.service import open_agent
    from agentrec.agent.trace import TraceStore
    from agentrec.llm.factory import make_chat_model
    from agentrec.recsys.threads import pin_threads
    from agentrec.ui.console import stdout, write_json

    settings = _settings(k, max_steps, fusion, 0, interests, llm_shuffles)
    pin_threads()
    needs_llm = policy == "agent" or (fusion in (FusionChoice.llm, FusionChoice.llm_logits) and policy != "backbone")
    model = make_chat_model(llm, api_base, cache.value) if needs_llm else None
    with stdout.status(f"opening {dataset}...") as status:
        service = open_agent(dataset, settings, model, backbone=backbone, progress=lambda m: status.update(m))
        index = service.user_index(user)
        status.update(f"{policy}: recommending for user {user}")
        run = service.run(index, policy.value)
    TraceStore().save([run])
    render_run(run, trace)
    if json_out:
        write_json(json_out, run.model_dump(mode="json"))
    if run.llm_unreachable:
        from agentrec.ui.console import stderr

        stderr.print(
            f"warning: the LLM was not reached ({run.llm_unreachable}); shown instead: the backbone's own list"
            f" fused by {run.fusion or 'the backbone'}, without any tool call of the LLM",
            highlight=False, soft_wrap=True, markup=False,
        )  # fmt: skip


def render_run(run: AgentRun, show_trace: bool) -> None:
    """The final list with provenance, the held-out item, and (when asked) the step trace."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    answer = " (reads the held-out item: an upper bound, not a recommendation)" if run.policy == "oracle" else ""
    table = Table(title=f"{run.policy} for user {run.user_id} ({run.dataset}), trace {run.trace_id}{answer}")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("id", style="dim")
    table.add_column("found by")
    for position, item in enumerate(run.items, start=1):
        hit = item.item_id == run.target
        source = item.source if item.source_rank == 0 else f"{item.source} #{item.source_rank}"
        if item.lists > 1:
            source += f" (+{item.lists - 1} lists)"
        title = f"[green]{item.title}  <- held-out item[/green]" if hit else item.title
        table.add_row(str(position), title, item.item_id, source)
    stdout.print(table)
    if run.target is not None:
        found = "found" if run.target in run.item_ids else "not in the list"
        stdout.print(f"held-out next item: {run.target} ({found})")
    notes = [f"{run.llm_calls} LLM calls", f"{run.tokens} tokens", f"{run.seconds:.1f} s"]
    if run.reasks or run.skipped_steps:
        notes.append(f"{run.reasks} re-asks, {run.skipped_steps} skipped steps")
    if run.fallback:
        notes.append("no usable pool: backbone list used")
    elif run.filled:
        notes.append(f"{run.filled} items filled from the backbone")
    stdout.print("[dim]" + ", ".join(notes) + "[/dim]")
    if show_trace:
        render_trace(run)


def render_trace(run: AgentRun) -> None:
    from rich.table import Table

    from agentrec.ui.console import stdout

    table = Table(title=f"trace {run.trace_id}")
    for column in ("step", "thought", "call", "status", "observation", "llm ms", "tool ms"):
        table.add_column(column, overflow="fold")
    for step in run.steps:
        arguments = ", ".join(f"{k}={v!r}" for k, v in step.arguments.items())
        table.add_row(
            str(step.step), step.thought, f"{step.tool}({arguments})", step.status, step.observation,
            f"{step.llm_ms:.0f}", f"{step.tool_ms:.2f}",
        )  # fmt: skip
    stdout.print(table)


def agent_eval(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    users: Annotated[int, typer.Option(min=1, help="How many test users to sample (seeded; all when fewer).")] = 200,
    k: Annotated[int, typer.Option(min=1, help="Cutoff for every metric (at most the catalog's size).")] = 10,
    policy: Annotated[
        str,
        typer.Option(
            help="Comma-separated policies from backbone,heuristic,random,agent,oracle. backbone is the baseline,"
            " random (the agent's tools with random arguments) the floor for the LLM's choices, oracle (reads the"
            " held-out item; never a default) the ceiling."
        ),
    ] = "backbone,heuristic,random,agent",
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the user sample, the bootstrap and the LLM.")] = 0,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes (or Ray actors) running the agent (each loads its own LLM).")
    ] = 1,
    backend: BackendOption = BackendChoice.local,
    concurrency: ConcurrencyOption = 1,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_cost: MaxCostOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    fusion: FusionOption = FusionChoice.lgbm,
    backbone: BackboneOption = None,
    max_steps: MaxStepsOption = 7,
    interests: InterestsOption = 4,
    llm_shuffles: ShufflesOption = 3,
    cache: CacheOption = CacheChoice.on,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Accept results without the users whose LLM could not be reached (exit 0); by default such a"
            " run exits 1, and running the command again retries exactly those users.",
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report here.")] = None,
) -> None:
    """ToolRec's protocol: leave-one-out by time, full ranking, the same seeded users for every policy.

    Each run is saved as it finishes: an interrupted evaluation resumes where it
    stopped when run again with the same options. --cache replay recomputes every
    run from recorded LLM replies, reproducing the result exactly.
    """
    from agentrec.agent.evaluation import AgentEvalSpec, run_agent_eval
    from agentrec.core.paths import state_dir
    from agentrec.recsys.threads import pin_threads
    from agentrec.ui.console import stderr, write_json

    spec = AgentEvalSpec(
        dataset=dataset,
        users=users,
        policies=tuple(p.strip() for p in policy.split(",") if p.strip()),
        llm=llm,
        api_base=api_base,
        cache=cache.value,
        workers=workers,
        backend=backend.value,
        concurrency=concurrency,
        limits=provider_limits(rpm, tpm, max_cost, price_in, price_out),
        backbone=backbone,
        settings=_settings(k, max_steps, fusion, seed, interests, llm_shuffles),
    )
    spec.check()
    pin_threads()
    with BatchProgress("users") as bar:
        result = run_agent_eval(spec, bar.update)
    render_agent_eval(result)
    target = json_out or state_dir("reports") / f"agent-eval-{result.dataset}-{users}u-seed{seed}.json"
    write_json(target, result.json_data())
    plotted = plot_agent_eval(result, target.with_suffix(".png"))
    if plotted is not None:
        stderr.print(f"[dim]plot: {plotted}[/dim]", highlight=False, soft_wrap=True)
    if result.failed_units:
        stderr.print(failed_units_line(result, partial), highlight=False, soft_wrap=True, markup=False)
        if not partial:
            raise typer.Exit(1)


def failed_units_line(result: AgentEvalReport, partial: bool) -> str:
    """One line on the users not finished: the budget ran out, or the LLM was not reached."""
    from agentrec.llm.pacing import BUDGET_STOP

    counts = ", ".join(f"{len(ids)} {policy}" for policy, ids in result.failed_units.items())
    reasons = list(result.failures.values())
    accept = "" if partial else ", or pass --partial to accept these results"
    budget = next((r for r in reasons if r.startswith(BUDGET_STOP)), None)
    if budget is not None:
        return (
            f"{budget}; not finished: {counts} user run(s), in no metric and not saved. Finished runs are kept:"
            f" the same command with a higher --max-cost carries on from here{accept}"
        )
    return (
        f"failed: {counts} user run(s), the LLM was not reached ({reasons[0] if reasons else ''}); they are in"
        f" no metric and were not saved: run the same command again to retry exactly them{accept}"
    )


def render_agent_eval(result: AgentEvalReport) -> None:
    from rich.table import Table

    from agentrec.ui.console import stdout

    k = result.k
    table = Table(
        title=f"{result.dataset}: {result.users_evaluated} users, leave-one-out, full ranking @{k}; "
        f"backbone {result.backbone}, fusion {result.fusion}, LLM {result.llm or '-'}"
    )
    table.add_column("policy", style="bold")
    for metric in EVAL_METRICS:
        table.add_column(f"{metric}@{k}", justify="right")
    table.add_column(f"ndcg@{k} vs backbone (95% CI)", justify="right")
    table.add_column("LLM calls/user", justify="right")
    table.add_column("s/user", justify="right")
    table.add_column("re-ask / skip / fallback", justify="right")
    users = max(1, result.users_evaluated)
    for name, entry in result.policies.items():
        if entry.uses_answer:
            name = f"{name} *"
        cells = [f"{entry.metrics[f'{m}@{k}']:.4f}" for m in EVAL_METRICS]
        comparison = (entry.ci_vs_backbone or {}).get(f"ndcg@{k}")
        versus = _interval(comparison) if comparison else "-"
        rates = entry.rates
        table.add_row(
            name, *cells, versus, f"{entry.usage.llm_calls / users:.1f}", f"{entry.usage.seconds / users:.2f}",
            f"{rates.reask:.0%} / {rates.skipped_step:.0%} / {rates.fallback:.0%}",
        )  # fmt: skip
    captions = []
    if any(entry.uses_answer for entry in result.policies.values()):
        captions.append("* reads the held-out item: an upper bound for analysis, not a recommender")
    if result.wall_seconds:
        wall = result.wall_seconds.items()
        captions.append("wall time: " + ", ".join(f"{phase} {seconds:,.0f} s" for phase, seconds in wall))
    table.caption = "\n".join(captions) or None
    stdout.print(table)
    _render_contributions(result)
    _render_slices(result)


def _interval(difference: PairedDifference) -> str:
    colour = "green" if difference.low > 0 else ("red" if difference.high < 0 else "white")
    return f"[{colour}]{difference.diff:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}][/]"


def _render_contributions(result: AgentEvalReport) -> None:
    """What the LLM adds over a random choice of the same tools, and what a perfect choice could add."""
    from agentrec.ui.console import stdout

    metric = f"ndcg@{result.k}"
    lines = []
    if result.llm_value:
        value = result.llm_value[metric]
        verdict = "" if value.excludes_zero else " (the LLM's choices add nothing measurable over random ones)"
        lines.append(f"LLM value, agent - random {metric}: {_interval(value)}{verdict}")
    if result.llm_vs_heuristic:
        lines.append(f"agent - heuristic {metric}: {_interval(result.llm_vs_heuristic[metric])}")
    if result.headroom:
        lines.append(f"headroom, oracle - backbone {metric} (reads the answer): {_interval(result.headroom[metric])}")
    for line in lines:
        stdout.print(line)


def _render_slices(result: AgentEvalReport) -> None:
    """Each policy by the user's history length: the mean and the difference to the backbone."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    metric = f"ndcg@{result.k}"
    slices = {label: part for label, part in result.slices.items() if part.users}
    if not slices:
        return
    table = Table(title=f"{metric} by history length (interactions), vs backbone with 95% CI")
    table.add_column("policy", style="bold")
    for label, part in slices.items():
        table.add_column(f"{label} ({part.users} users)", justify="right")
    for name in result.policies:
        cells = []
        for part in slices.values():
            entry = part.policies[name]
            versus = (entry.ci_vs_backbone or {}).get(metric)
            cells.append(f"{entry.metrics[metric]:.4f}" + (f" {_interval(versus)}" if versus else ""))
        table.add_row(name, *cells)
    stdout.print(table)


def plot_agent_eval(result: AgentEvalReport, path: Path) -> Path | None:
    """Each policy's difference to the backbone in NDCG@k, with 95% CIs, overall and per history slice."""
    from agentrec.eval.plots import plot_model_comparison

    metric = f"ndcg@{result.k}"
    groups = ["all users", *(f"{label} ({part.users})" for label, part in result.slices.items() if part.users)]
    differences: dict[str, dict[str, float]] = {}
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    for name, entry in result.policies.items():
        if entry.ci_vs_backbone is None:
            continue
        label = f"{name} (reads the answer)" if entry.uses_answer else name
        found = {"all users": entry.ci_vs_backbone[metric]}
        for slice_label, part in result.slices.items():
            versus = (part.policies[name].ci_vs_backbone or {}).get(metric) if part.users else None
            if versus is not None:
                found[f"{slice_label} ({part.users})"] = versus
        differences[label] = {group: found[group].diff for group in found}
        intervals[label] = {group: (found[group].low, found[group].high) for group in found}
    if not differences:
        return None
    title = f"{result.dataset}: {metric} minus the backbone's ({result.backbone}), by history length"
    return plot_model_comparison(
        differences, intervals, groups, path, title=title, ylabel=f"{metric} difference (95% paired CI)"
    )

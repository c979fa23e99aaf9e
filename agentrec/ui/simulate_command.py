"""``agentrec simulate``: run a scenario of simulated users against one or more recommenders."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrec.ui.choices import BackendChoice, BackendOption, resume_id
from agentrec.ui.provider_options import (
    MaxCostOption,
    PriceInOption,
    PriceOutOption,
    RpmOption,
    TpmOption,
    current_provider_note,
    run_limits_for,
)

if TYPE_CHECKING:
    from agentrec.eval.intervals import PairedDifference
    from agentrec.sim.report import SimulationResult
    from agentrec.sim.results import FidelityReport

SUMMARY_METRICS = ("ctr", "avg_rating", "exit_page", "session_length", "satisfaction")
CATALOG_METRICS = ("coverage", "gini", "novelty", "genre_entropy")


def simulate(
    scenario: Annotated[Path, typer.Argument(help="A scenario TOML file (see simulations/).")],
    users: Annotated[
        int | None, typer.Option(min=1, help="Simulate this many users (a seeded sample; all when fewer).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes (or Ray actors) running sessions.")] = 1,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Sessions in flight at once in each process: for a remote provider ([llm] model = provider/model"
            " or api_base in the scenario), whose calls mostly wait. The embedded model gains from --workers instead.",
        ),
    ] = 1,
    backend: BackendOption = BackendChoice.local,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_cost: MaxCostOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    resume: Annotated[
        str | None, typer.Option(callback=resume_id, help="Resume the run with this id after a crash or kill.")
    ] = None,
    fidelity: Annotated[
        bool,
        typer.Option(
            "--fidelity",
            help="Also measure the published protocols on the held-out ratings: Agent4Rec's 1:m discrimination"
            " (m from [fidelity] ratios, default 1,3,9), rating RMSE/MAE beside the global-mean, user+item-bias and"
            " biased-MF baselines, and the rating distribution (JSD, Spearman).",
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
) -> None:
    """Simulated users built from real data browse pages of recommendations, watch, rate and leave.

    Every event goes to DuckDB as sessions finish; a killed run continues with
    --resume RUN and ends with the same events and metrics as an uninterrupted one.
    The report folder (JSON, CSV, PNG plots) is inside the run folder.
    """
    from agentrec.llm.pacing import limits_of_this_run
    from agentrec.recsys.threads import pin_threads
    from agentrec.sim.run import RunOptions, run_simulation
    from agentrec.ui.console import stderr, write_json

    pin_threads()
    options = RunOptions(
        users=users, workers=workers, concurrency=concurrency, backend=backend.value, resume=resume,
        fidelity_protocols=fidelity,
    )  # fmt: skip
    limits = run_limits_for(concurrency, workers, rpm, tpm, max_cost, price_in, price_out)
    with limits_of_this_run(limits), SimulationProgress() as on_progress:
        result = run_simulation(scenario, options, on_progress)
    render_summary(result)
    stderr.print(
        f"[dim]run {result.run_id}: events in {result.run_dir / 'events.duckdb'}, "
        f"report in {result.run_dir / 'report'}[/dim]"
    )
    if json_out:
        write_json(json_out, result.summary.json_data())


class SimulationProgress:
    """A rich progress bar of sessions, with events/s and LLM tokens."""

    def __enter__(self) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from agentrec.ui.console import stderr

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        self.bar = Progress(*columns, console=stderr, transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("starting", total=None, rate="")
        self.started = time.monotonic()
        self.first_events: int | None = None
        return self.update

    def update(self, progress: Any) -> None:
        if self.first_events is None:
            self.first_events = progress.events
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{(progress.events - self.first_events) / elapsed:,.0f} events/s, {progress.tokens:,} tokens"
        provider = current_provider_note()
        rate += f", {provider}" if provider else ""
        self.bar.update(
            self.task,
            description=progress.stage,
            total=progress.sessions_total,
            completed=progress.sessions_done,
            rate=rate,
        )

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)


def render_summary(result: SimulationResult) -> None:
    """Per arm: behaviour with 95% CIs, catalog metrics, and the paired difference to the first arm."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    summary = result.summary
    table = Table(
        title=f"{summary.scenario} on {summary.dataset}: {summary.users} {summary.choice_model} "
        f"users x {summary.rounds} round(s), {summary.sessions:,} sessions, "
        f"{summary.events:,} events, {result.seconds:.1f} s"
    )
    table.add_column("arm", style="bold")
    for metric in (*SUMMARY_METRICS, *CATALOG_METRICS):
        table.add_column(metric, justify="right")
    for arm, report in summary.arms.items():
        differences = report.versus.differences if report.versus else {}
        cells = [
            _cell(report.metrics.value(metric), report.ci.get(metric), differences.get(metric))
            for metric in SUMMARY_METRICS
        ]
        cells += [_number(report.metrics.value(metric)) for metric in CATALOG_METRICS]
        table.add_row(arm, *cells)
    stdout.print(table)
    for arm, report in summary.arms.items():
        line = actions_line(report.actions)
        if line:
            stdout.print(f"{arm}: {line}")
    _render_fidelity(summary.fidelity)


def _render_fidelity(fidelity: FidelityReport) -> None:
    from agentrec.ui.console import stdout

    if _number(fidelity.choice_agreement) == "-":  # not measured, or no held-out page
        return
    temporal = fidelity.temporal.choice_agreement if fidelity.temporal else None
    extra = f", temporal (last item) {_number(temporal)}" if temporal is not None else ""
    chance = f"{fidelity.random.chance:.2f}" if fidelity.random else "-"
    stdout.print(
        f"fidelity vs held-out real behaviour: choice agreement {_number(fidelity.choice_agreement)} "
        f"(chance {chance}){extra}; rating RMSE {_number(fidelity.rating_rmse)}"
    )
    _render_protocols(fidelity)


def _render_protocols(fidelity: FidelityReport) -> None:
    """The published protocols (``--fidelity``): ratings beside the baselines, then the 1:m table."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    if fidelity.rating_baselines:
        baselines = ", ".join(f"{name} {_number(value)}" for name, value in fidelity.rating_baselines.items())
        distribution = fidelity.rating_distribution
        shape = (
            f"; distribution JSD {_number(distribution.jsd)}, Spearman {_number(distribution.spearman)}"
            if distribution
            else ""
        )
        stdout.print(
            f"ratings (same held-out pairs): simulated stars RMSE {_number(fidelity.rating_rmse)}, "
            f"MAE {_number(fidelity.rating_mae)}, expected rating RMSE {_number(fidelity.rating_rmse_expected)}; "
            f"baselines RMSE: {baselines}{shape}"
        )
        for name, versus in (fidelity.rating_versus or {}).items():
            interval = f"[{versus['low']:+.4f}, {versus['high']:+.4f}]"
            stdout.print(f"  RMSE {name.replace('_vs_', ' - ')}: {versus['diff']:+.4f} {interval}")
    if fidelity.discrimination:
        table = Table(title="Agent4Rec 1:m discrimination (Agent4Rec's reproduction: 1:1 acc .5988, 1:9 acc .7049)")
        for column in ("1:m", "accuracy", "precision", "recall", "F1", "cases"):
            table.add_column(column, justify="right")
        for ratio, figures in fidelity.discrimination.items():
            table.add_row(
                ratio, *(_number(v) for v in (figures.accuracy, figures.precision, figures.recall, figures.f1)),
                f"{figures.cases:.0f}",
            )  # fmt: skip
        stdout.print(table)


# (count key, rate key, words) for the actions line, in the order they are shown
ACTION_PARTS = (
    ("searches", "search_ctr", "searches"),
    ("chats", "chat_ctr", "chats with the agent"),
    ("friend_chats", "friend_acceptance", "chats with friends"),
    ("posts_read", "feed_ctr", "posts read"),
)


def actions_line(actions: dict[str, float]) -> str:
    """Detours, posts and feed reads of one arm in a sentence; empty when there were none."""
    sessions = actions.get("sessions") or 1.0
    parts = []
    for count, rate, words in ACTION_PARTS:
        done = actions.get(count) or 0.0
        if done:
            watched = actions.get(rate)
            share = "" if watched is None or not math.isfinite(watched) else f", {watched:.0%} watched"
            parts.append(f"{done:.0f} {words} ({done / sessions:.2f}/session{share})")
    if actions.get("posts"):
        parts.append(f"{actions['posts']:.0f} posts")
    return "; ".join(parts)


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _cell(value: float, ci: tuple[float, float] | None, versus: PairedDifference | None) -> str:
    text = _number(value)
    if ci:
        text += f"\n[dim]{ci[0]:.3f}-{ci[1]:.3f}[/dim]"
    if versus:
        colour = "green" if versus.low > 0 else ("red" if versus.high < 0 else "white")
        text += f"\n[{colour}]{versus.diff:+.3f}[/]"
    return text

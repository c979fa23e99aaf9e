"""``agentrec simulate``: run a scenario of simulated users against one or more recommenders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agentrec.sim.run import SimulationResult

SUMMARY_METRICS = ("ctr", "avg_rating", "exit_page", "session_length", "satisfaction")


def simulate(
    scenario: Annotated[Path, typer.Argument(help="A scenario TOML file (see simulations/).")],
    users: Annotated[int | None, typer.Option(help="Simulate this many users (a seeded sample).")] = None,
    workers: Annotated[int, typer.Option(help="Processes (or Ray actors) running sessions.")] = 1,
    backend: Annotated[str, typer.Option(help="local (process pool) | ray (needs the ray extra).")] = "local",
    resume: Annotated[str | None, typer.Option(help="Resume the run with this id after a crash or kill.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
) -> None:
    """Simulated users built from real data browse pages of recommendations, watch, rate and leave.

    Every event goes to DuckDB as sessions finish; a killed run continues with
    --resume RUN and ends with the same events and metrics as an uninterrupted one.
    The report folder (JSON, CSV, PNG plots) is inside the run folder.
    """
    from agentrec.recsys.threads import pin_threads
    from agentrec.sim.run import RunOptions, run_simulation
    from agentrec.ui.console import stderr, write_json

    pin_threads()
    options = RunOptions(users=users, workers=workers, backend=backend, resume=resume)
    with SimulationProgress() as on_progress:
        result = run_simulation(scenario, options, on_progress)
    render_summary(result)
    stderr.print(
        f"[dim]run {result.run_id}: events in {result.run_dir / 'events.duckdb'}, "
        f"report in {result.run_dir / 'report'}[/dim]"
    )
    if json_out:
        write_json(json_out, result.payload)


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

    payload = result.payload
    table = Table(
        title=f"{payload['scenario']} on {payload['dataset']}: {payload['users']} {payload['choice_model']} "
        f"users x {payload['rounds']} round(s), {payload['sessions']:,} sessions, "
        f"{payload['events']:,} events, {result.seconds:.1f} s"
    )
    table.add_column("arm", style="bold")
    for metric in (*SUMMARY_METRICS, "coverage", "gini", "novelty", "genre_entropy"):
        table.add_column(metric, justify="right")
    first = next(iter(payload["arms"]), None)
    for arm, report in payload["arms"].items():
        cells = []
        for metric in SUMMARY_METRICS:
            cells.append(
                _cell(
                    report["metrics"].get(metric), report["ci"].get(metric), report.get(f"vs_{first}", {}).get(metric)
                )
            )
        cells += [_number(report["metrics"].get(m)) for m in ("coverage", "gini", "novelty", "genre_entropy")]
        table.add_row(arm, *cells)
    stdout.print(table)
    for arm, report in payload["arms"].items():
        line = actions_line(report.get("actions", {}))
        if line:
            stdout.print(f"{arm}: {line}")
    fidelity = payload["fidelity"]
    if fidelity.get("choice_agreement") is not None:
        temporal = fidelity.get("temporal", {}).get("choice_agreement")
        extra = f", temporal (last item) {temporal:.3f}" if temporal is not None else ""
        stdout.print(
            f"fidelity vs held-out real behaviour: choice agreement {fidelity['choice_agreement']:.3f} "
            f"(chance {fidelity['random']['chance']:.2f}){extra}; rating RMSE {fidelity['rating_rmse']:.3f}"
        )


# (count key, rate key, words) for the actions line, in the order they are shown
ACTION_PARTS = (
    ("searches", "search_ctr", "searches"),
    ("chats", "chat_ctr", "chats with the agent"),
    ("friend_chats", "friend_acceptance", "chats with friends"),
    ("posts_read", "feed_ctr", "posts read"),
)


def actions_line(actions: dict[str, float | None]) -> str:
    """Detours, posts and feed reads of one arm in a sentence; empty when there were none."""
    sessions = actions.get("sessions") or 1.0
    parts = []
    for count, rate, words in ACTION_PARTS:
        done = actions.get(count) or 0.0
        if done:
            watched = actions.get(rate)
            share = "" if watched is None else f", {watched:.0%} watched"
            parts.append(f"{done:.0f} {words} ({done / sessions:.2f}/session{share})")
    if actions.get("posts"):
        parts.append(f"{actions['posts']:.0f} posts")
    return "; ".join(parts)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(value: float | None, ci: list[float] | None, versus: dict[str, float] | None) -> str:
    text = _number(value)
    if ci:
        text += f"\n[dim]{ci[0]:.3f}-{ci[1]:.3f}[/dim]"
    if versus:
        colour = "green" if versus["low"] > 0 else ("red" if versus["high"] < 0 else "white")
        text += f"\n[{colour}]{versus['diff']:+.3f}[/]"
    return text

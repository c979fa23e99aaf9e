"""The flags every LLM-bound batch command shares, and its progress bar.

``--concurrency``, ``--rpm``, ``--tpm``, ``--max-cost`` and ``--price-in/--price-out``
mean the same in agent-eval, simulate, audit and audit-agent; they are declared
once here. typer checks their bounds, so a bad value is one usage line and exit 2.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from agentrec.llm.pacing import GateSnapshot, ProviderLimits

ConcurrencyOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Requests in flight at once in one process (threads): for a remote provider (--llm provider/model or"
        " --api-base), whose calls mostly wait; halved while the provider answers 429 and grown back after."
        " The embedded model gains from --workers instead.",
    ),
]
RpmOption = Annotated[
    float | None, typer.Option("--rpm", min=0.001, help="At most this many requests a minute to the provider.")
]
TpmOption = Annotated[
    float | None,
    typer.Option("--tpm", min=1, help="At most this many tokens (prompt + completion) a minute to the provider."),
]
MaxCostOption = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        min=0,
        help="Stop before this run spends more than this many US dollars (litellm's prices, or --price-in/out);"
        " finished work is kept, and the same command with a higher cap carries on without paying for it again.",
    ),
]
PriceInOption = Annotated[
    float | None,
    typer.Option("--price-in", min=0, help="USD per million prompt tokens, for a model litellm cannot price."),
]
PriceOutOption = Annotated[
    float | None,
    typer.Option("--price-out", min=0, help="USD per million completion tokens (goes with --price-in)."),
]


def provider_limits(
    rpm: float | None, tpm: float | None, max_cost: float | None, price_in: float | None, price_out: float | None
) -> ProviderLimits:
    """The flags as limits (checked: a price without its pair is one error line)."""
    from agentrec.llm.pacing import ProviderLimits

    return ProviderLimits(rpm=rpm, tpm=tpm, max_cost_usd=max_cost, price_in_per_m=price_in, price_out_per_m=price_out)


def run_limits_for(
    concurrency: int, workers: int, rpm: float | None, tpm: float | None, max_cost: float | None,
    price_in: float | None, price_out: float | None,
) -> ProviderLimits:  # fmt: skip
    """The limits of each process of a run: ``concurrency`` in flight, the rest shared by ``workers`` processes
    (the processes that call the provider)."""
    return provider_limits(rpm, tpm, max_cost, price_in, price_out).per_process(concurrency, workers)


def current_provider_note() -> str:
    """The provider note of this process's calls so far."""
    from agentrec.llm.pacing import process_snapshot

    return provider_note(process_snapshot())


def provider_note(snapshot: GateSnapshot) -> str:
    """Calls/s, tokens/s, cost and what is in flight; empty before the first request."""
    if snapshot.calls == 0 and snapshot.failed_calls == 0:
        return ""
    limit = f"/{snapshot.limit}" if snapshot.limit else ""
    failed = f", {snapshot.failed_calls} failed" if snapshot.failed_calls else ""
    return (
        f"{snapshot.calls_per_second:.1f} calls/s, {snapshot.tokens_per_second:,.0f} tok/s, "
        f"${snapshot.cost_usd:.4f}, {snapshot.in_flight}{limit} in flight{failed}"
    )


class BatchProgress:
    """One rich bar per phase: done/total, the provider's calls/s, tokens/s, cost, in flight, and ETA.

    With no terminal (a log file, CI) rich draws nothing, so a plain line is
    printed at every tenth of a phase instead.
    """

    def __init__(self, unit: str = "users") -> None:
        self.unit = unit
        self.tasks: dict[str, Any] = {}
        self.logged: dict[str, int] = {}

    def __enter__(self) -> BatchProgress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from agentrec.ui.console import stderr

        self.console = stderr
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=stderr, transient=True,
        )  # fmt: skip
        self.shown = False  # the bar starts with the first counted unit: an early error stays one clean line
        self.started = time.monotonic()
        return self

    def update(self, label: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of phase ``label``; a total of 0 prints ``label`` as a note."""
        from agentrec.llm.pacing import process_snapshot

        if total == 0:
            self.console.print(f"[dim]{label}[/dim]", highlight=False)
            return
        if not self.shown:
            self.bar.__enter__()
            self.shown = True
        note = provider_note(process_snapshot())
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total, note=note)
        self.bar.update(self.tasks[label], completed=done, note=note)
        tenth = done * 10 // total
        if not self.console.is_terminal and tenth > self.logged.get(label, -1):
            self.logged[label] = tenth
            elapsed = time.monotonic() - self.started
            extra = f", {note}" if note else ""
            self.console.print(
                f"{label}: {done}/{total} {self.unit}, {elapsed:.0f} s{extra}", style="dim", markup=False,
                highlight=False,
            )  # fmt: skip

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.shown:
            self.bar.__exit__(kind, error, trace)

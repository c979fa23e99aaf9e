"""``agentrec audit``: does a strategic text sequence raise one product in an LLM recommender?"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrec.ui.choices import BackendChoice, BackendOption, CacheChoice, PositionChoice
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
    from agentrec.audit.optimizers import OptimizationStep
    from agentrec.audit.pair_workers import PairProgress
    from agentrec.audit.results import AuditReport, PairSummary
    from agentrec.audit.run import AuditOptions, AuditResult


def audit(
    catalog: Annotated[Path, typer.Argument(help="A JSONL catalog, one product per line (see catalogs/).")],
    target: Annotated[str | None, typer.Option(help="Name of the product the STS promotes.")] = None,
    targets: Annotated[
        str | None,
        typer.Option(
            help="Several attackers at once, comma-separated (A,B,C): each optimises its own sequence, and each is"
            " measured attacking alone and with all the others attacking too (instead of --target)."
        ),
    ] = None,
    optimizer: Annotated[str, typer.Option(help="random | rewrite | gcg | stealth.")] = "random",
    iters: Annotated[int, typer.Option(min=0, help="Optimiser budget in iterations.")] = 50,
    evals: Annotated[int, typer.Option(min=1, help="Paired runs (random product orders, clean vs STS).")] = 200,
    defence: Annotated[
        str,
        typer.Option(
            help="none | perplexity | semantic | paraphrase | sandwich, or a comma list applied in turn"
            " (perplexity,semantic)."
        ),
    ] = "none",
    llm: Annotated[str, typer.Option(help="local (default), a .gguf path, or a litellm model name.")] = "local",
    api_base: Annotated[str | None, typer.Option(help="Endpoint of an OpenAI-compatible server.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full result here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Report folder (default under $AGENTREC_HOME).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the optimiser and of the evaluation's orders.")] = 0,
    sts: Annotated[str | None, typer.Option(help="Evaluate this sequence instead of optimising one.")] = None,
    request: Annotated[str | None, typer.Option(help="The user's request (default: from the catalog name).")] = None,
    prefill: Annotated[bool, typer.Option(help="Start the assistant's reply with '1.'.")] = True,
    max_tokens: Annotated[int, typer.Option(min=1, help="Reply length cap of the recommender.")] = 256,
    field: Annotated[
        str | None,
        typer.Option(
            "--text-field", "--field", help="Field of the target the STS goes into (default: its last text field)."
        ),
    ] = None,
    name_field: Annotated[
        str | None,
        typer.Option(help="The products' name field (default: Name, else name, title, product_name or product)."),
    ] = None,
    position: Annotated[
        PositionChoice, typer.Option(help="end | start | replace (within the field).")
    ] = PositionChoice.end,
    cache: Annotated[CacheChoice, typer.Option(help="off | on | replay (the LLM response cache).")] = CacheChoice.on,
    score_orders: Annotated[int, typer.Option(min=1, help="Product orders per optimiser score.")] = 3,
    option: Annotated[list[str] | None, typer.Option(help="Optimiser option KEY=VALUE (repeatable).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes (or Ray actors) for the paired runs (each loads its own LLM).")
    ] = 1,
    backend: BackendOption = BackendChoice.local,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Pairs (and optimiser scores) in flight at once in this process: for a remote provider"
            " (--llm provider/model or --api-base), whose calls mostly wait. The embedded model gains from"
            " --workers instead; above 1 this replaces --workers.",
        ),
    ] = 1,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_cost: MaxCostOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
) -> None:
    """Plant a strategic text sequence in one product and measure, in paired runs, how far it moves.

    The recommender under audit is the paper's prompt-only recommender on any
    --llm. The report folder holds audit.json, the rank distribution before and
    after, the advantage bars and a Markdown summary. With --targets, several
    sellers attack at once; the folder holds each attacker's ranks clean, alone
    and together (attackers.png).
    """
    from agentrec.audit.run import AuditOptions, AuditProgress, run_audit
    from agentrec.llm.pacing import limits_of_this_run

    names = _attackers(target, targets)
    options = AuditOptions(
        catalog=catalog, target=names[0] if targets is None else "", targets=() if targets is None else names,
        optimizer=optimizer, iters=iters, evals=evals, defence=defence,
        llm=llm, api_base=api_base, seed=seed, sts=sts, request=request, prefill=prefill,
        max_tokens=max_tokens, field=field, name_field=name_field, position=position.value, cache=cache.value,
        score_orders=score_orders,
        optimizer_options=_parse_options(option or []), workers=workers, backend=backend.value,
        concurrency=concurrency,
    )  # fmt: skip
    limits = run_limits_for(concurrency, workers if concurrency == 1 else 1, rpm, tpm, max_cost, price_in, price_out)
    if options.targets:
        _several_attackers(options, limits, report, json_out)
        return
    with limits_of_this_run(limits), AuditBars(iters) as bars:
        result = run_audit(options, AuditProgress(on_step=bars.step, on_phase=bars.phase))
    render_summary(result.report)
    _write_outputs(result, report, json_out)


def _attackers(target: str | None, targets: str | None) -> tuple[str, ...]:
    from agentrec.core.errors import ConfigError

    if (target is None) == (targets is None):
        raise ConfigError("give one of --target NAME or --targets A,B,C")
    if targets is None:
        return (str(target),)
    names = tuple(name.strip() for name in targets.split(","))
    if any(not name for name in names):
        raise ConfigError(f"--targets takes comma-separated product names, got {targets!r}")
    return names


def _several_attackers(options: AuditOptions, limits: Any, report: Path | None, json_out: Path | None) -> None:
    from agentrec.audit.multi_attack import run_multi_attack
    from agentrec.audit.multi_attack_report import markdown_summary, write_multi_report
    from agentrec.audit.run import AuditProgress
    from agentrec.core.paths import state_dir
    from agentrec.llm import run_usage
    from agentrec.llm.pacing import limits_of_this_run
    from agentrec.ui.console import stderr, stdout, write_json

    with limits_of_this_run(limits), AuditBars(options.iters * len(options.targets)) as bars:
        result = run_multi_attack(options, AuditProgress(on_step=bars.step, on_phase=bars.phase))
    stdout.print(markdown_summary(result.report), markup=False, highlight=False)
    slug = re.sub(r"[^0-9A-Za-z]+", "-", f"{options.catalog.stem}-{len(options.targets)}-attackers").strip("-")
    default = state_dir("reports", "audit") / f"{slug.lower()}-{options.optimizer}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = write_multi_report(result.report, report or default)
    stderr.print(f"[dim]report in {folder}[/dim]")
    if json_out is not None:
        write_json(json_out, result.report.json_data())
    if run_usage().calls:
        stderr.print(run_usage().summary(), style="dim", markup=False, highlight=False)


def _write_outputs(result: AuditResult, report: Path | None, json_out: Path | None) -> None:
    from agentrec.audit.report import write_report
    from agentrec.llm import run_usage
    from agentrec.ui.console import stderr, write_json

    folder = write_report(result.report, report or _default_report_folder(result.report), result.outcomes)
    stderr.print(f"[dim]report in {folder}[/dim]")
    if json_out is not None:
        write_json(json_out, result.report.json_data())
    # Every call is metered (replies, log-probabilities, the attacker's, workers' calls too); a run
    # that needed no model call (an empty meter) prints no line.
    if run_usage().calls:
        stderr.print(run_usage().summary(), style="dim", markup=False, highlight=False)


def _parse_options(pairs: list[str]) -> dict[str, str]:
    from agentrec.core.errors import ConfigError

    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option takes KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


def _default_report_folder(report: AuditReport) -> Path:
    from agentrec.core.paths import state_dir

    slug = re.sub(r"[^0-9A-Za-z]+", "-", f"{Path(report.catalog).stem}-{report.target}").strip("-").lower()
    return state_dir("reports", "audit") / f"{slug}-{report.optimizer}-{time.strftime('%Y%m%d-%H%M%S')}"


class AuditBars:
    """Rich progress bars: one for the optimiser's iterations, one per evaluation phase."""

    def __init__(self, iters: int) -> None:
        self.iters = iters

    def __enter__(self) -> AuditBars:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from agentrec.ui.console import stderr

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=stderr, transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        self.optimising: Any = None
        self.steps_done = 0
        return self

    def step(self, step: OptimizationStep) -> None:
        """One optimiser iteration done."""
        if self.optimising is None:
            self.optimising = self.bar.add_task("optimising", total=self.iters, note="")
        # Counted here, not read from the step: with --targets each attacker's iterations start from 0 again.
        self.steps_done += 1
        note = f"incumbent {step.best_score:.3f}" + (" (new)" if step.accepted else "")
        self.bar.update(self.optimising, completed=self.steps_done, note=note)
        self._log(f"optimising: iteration {self.steps_done}/{self.iters}, {note}, {step.seconds:.0f} s")

    def _log(self, line: str) -> None:
        # Without a terminal rich draws no bar; long runs (benchmarks in the background) get plain lines.
        from agentrec.ui.console import stderr

        if not stderr.is_terminal:
            stderr.print(line, style="dim", markup=False, highlight=False)

    def phase(self, label: str, total: int) -> PairProgress:
        """A bar for one phase (pairs evaluated, or products scored); returns its callback."""
        task = self.bar.add_task(label, total=total, note="")
        started = time.monotonic()

        def advance(done: int, total: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-9)
            note = f"{done / elapsed:.3f}/s" + (f", {provider}" if (provider := current_provider_note()) else "")
            self.bar.update(task, completed=done, note=note)
            if done == total or done % max(1, total // 20) == 0:
                self._log(f"{label}: {done}/{total}, {elapsed:.0f} s, {note}")

        return advance

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)


def render_summary(report: AuditReport) -> None:
    """The paper's table: rank and rates before / after, the advantage, and each defence."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    table = Table(title=f"{report.target} in {Path(report.catalog).name}: {report.evals} paired runs")
    for column in ("defence", "side", "top-1 rate", "not rec.", "mean rank", "mean log P", "improved/unch./worse"):
        table.add_column(column, justify="left" if column in ("defence", "side") else "right")
    sections: dict[str, PairSummary] = {"none": report, **report.defences}
    for name, result in sections.items():
        shares = result.advantage
        for side, numbers in (("before", result.before), ("after", result.after)):
            low, high = numbers.ci["top1_rate"]
            logprob = "-" if numbers.mean_logprob is None else f"{numbers.mean_logprob:.3f}"
            share_text = (
                f"{shares.improved:.1%} / {shares.unchanged:.1%} / {shares.worsened:.1%}"
                if side == "after" else ""
            )  # fmt: skip
            table.add_row(
                name if side == "before" else "", side, f"{numbers.top1_rate:.3f} [{low:.3f}, {high:.3f}]",
                f"{numbers.not_recommended_rate:.3f}", f"{numbers.mean_rank:.2f}", logprob, share_text,
            )  # fmt: skip
    stdout.print(table)
    stdout.print(f"STS ({report.optimizer}): {report.sts!r}", highlight=False, markup=False)
    optimization = report.optimization
    if optimization:
        stdout.print(
            f"optimiser score ({optimization['score_kind']}): initial {optimization['initial_score']:.3f}, "
            f"best {optimization['best_score']:.3f}, {len(optimization['history'])} iterations in "
            f"{optimization['seconds']:.0f} s",
            highlight=False,
        )
    timing = report.timing
    if timing:
        rate = "-" if timing.calls_per_s is None else f"{timing.calls_per_s:.2f}"
        stdout.print(
            f"paired evaluation: {timing.eval_seconds:.1f} s, {timing.llm_calls} calls "
            f"({rate} calls/s), {timing.backend_calls} computed",
            highlight=False,
        )

"""The report folder of an audit: the JSON, two PNG charts and a Markdown summary.

Charts use matplotlib's object API on the Agg canvas (as ``agentrec.eval.plots``
does), so no display and no global backend are needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.results import Advantage, AuditReport, PairSummary, SideSummary
from agentrec.core.json_records import finite_tree

SIDES = ("before", "after")


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)
    return path


def plot_rank_distribution(report: AuditReport, path: Path) -> Path:
    """Grouped bars: how often the target got each rank, without and with the STS."""
    labels = list(report.before.rank_distribution)
    positions = np.arange(len(labels), dtype=np.float64)
    figure = Figure(figsize=(7.5, 4.0))
    axes = figure.add_subplot()
    for offset, side, numbers in ((-0.2, "before", report.before), (0.2, "after", report.after)):
        counts = [numbers.rank_distribution[label] for label in labels]
        axes.bar(positions + offset, counts, 0.4, label=f"{side} (top-1 {numbers.top1_rate:.0%})")
    tick_labels = [*labels[:-1], f"not rec. ({labels[-1]})"]
    axes.set_xticks(positions, tick_labels, fontsize=8)
    axes.set_xlabel("rank of the target")
    axes.set_ylabel("paired runs")
    axes.set_title(f"{report.target}: rank over {report.evals} paired runs ({report.optimizer})")
    axes.legend(frameon=False)
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def plot_advantage(report: AuditReport, path: Path) -> Path:
    """Bars of improved / unchanged / worsened shares with 95% CIs, undefended and per defence."""
    groups: dict[str, Advantage] = {"no defence": report.advantage}
    groups |= {name: result.advantage for name, result in report.defences.items()}
    kinds = ("improved", "unchanged", "worsened")
    positions = np.arange(len(kinds), dtype=np.float64)
    width = 0.8 / len(groups)
    figure = Figure(figsize=(6.5, 4.0))
    axes = figure.add_subplot()
    for j, (label, shares) in enumerate(groups.items()):
        means = np.asarray([shares.improved, shares.unchanged, shares.worsened])
        lows = np.asarray([shares.ci[kind][0] for kind in kinds])
        highs = np.asarray([shares.ci[kind][1] for kind in kinds])
        errors = np.vstack([np.clip(means - lows, 0, None), np.clip(highs - means, 0, None)])
        bars = axes.bar(positions - 0.4 + width * (j + 0.5), means, width, yerr=errors, capsize=3, label=label)
        axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axes.set_xticks(positions, list(kinds))
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share of paired runs (95% CI)")
    axes.set_title("Does the STS move the target?")
    axes.legend(frameon=False, fontsize=8)
    return _save(figure, path)


def _side_row(label: str, side: SideSummary) -> str:
    logprob = "-" if side.mean_logprob is None else f"{side.mean_logprob:.3f}"
    low, high = side.ci["top1_rate"]
    return (
        f"| {label} | {side.top1_rate:.3f} [{low:.3f}, {high:.3f}] "
        f"| {side.not_recommended_rate:.3f} | {side.mean_rank:.2f} | {logprob} |"
    )


def _evaluation_section(title: str, result: PairSummary) -> list[str]:
    shares = result.advantage
    lines = [
        f"### {title}",
        "",
        "| side | top-1 rate [95% CI] | not recommended | mean rank | mean log P(1. target) |",
        "|---|---|---|---|---|",
        _side_row("before (clean)", result.before),
        _side_row("after (STS)", result.after),
        "",
        f"Pairs improved / unchanged / worsened: {shares.improved:.1%} / {shares.unchanged:.1%} / "
        f"{shares.worsened:.1%}.",
    ]
    for name, diff in result.paired.items():
        verdict = "excludes 0" if diff.excludes_zero else "includes 0"
        interval = f"[{diff.low:+.4f}, {diff.high:+.4f}]"
        lines.append(f"- {name}: after - before = {diff.diff:+.4f} {interval} ({verdict})")
    return [*lines, ""]


def markdown_summary(report: AuditReport) -> str:
    """A short summary a person can read."""
    lines = [
        f"# Visibility audit: {report.target} in {Path(report.catalog).name}",
        "",
        f"- Recommender: `{report.llm}`, request {report.request!r}, prefill {report.prefill!r}.",
        f"- Optimiser: `{report.optimizer}`; STS ({report.placement.model_dump()}): `{report.sts}`",
        f"- {report.evals} paired runs (seeded random product orders, clean vs STS).",
    ]
    optimization = report.optimization
    if optimization:
        lines.append(
            f"- Optimisation: {len(optimization['history'])} iterations in {optimization['seconds']:.0f} s; "
            f"score ({optimization['score_kind']}) {optimization['initial_score']:.3f} for the initial sequence, "
            f"{optimization['best_score']:.3f} for the best (same validation orders)."
        )
    timing = report.timing
    if timing:
        lines.append(
            f"- Evaluation: {timing.eval_seconds:.1f} s, {timing.llm_calls} calls "
            f"({_rate(timing.calls_per_s)} calls/s; {timing.backend_calls} computed, the rest cached)."
        )
    lines += ["", *_evaluation_section("No defence", report)]
    for name, result in report.defences.items():
        lines += _evaluation_section(f"Defence: {name}", result)
        if result.details:
            lines += ["```json", json.dumps(finite_tree(result.details), indent=2), "```", ""]
    lines.append("Charts: `rank_distribution.png`, `advantage.png`. Numbers: `audit.json`; replies: `replies.jsonl`.")
    lines.append("")
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_report(report: AuditReport, folder: Path, outcomes: Sequence[PairOutcome] = ()) -> Path:
    """Write ``audit.json``, the two charts, ``summary.md`` and the raw replies into ``folder``."""
    folder = folder.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    data = report.json_data()
    (folder / "audit.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    if outcomes:
        with (folder / "replies.jsonl").open("w", encoding="utf-8") as replies:
            for outcome in outcomes:
                replies.write(json.dumps(asdict(outcome)) + "\n")
    plot_rank_distribution(report, folder / "rank_distribution.png")
    plot_advantage(report, folder / "advantage.png")
    (folder / "summary.md").write_text(markdown_summary(report), encoding="utf-8")
    return folder

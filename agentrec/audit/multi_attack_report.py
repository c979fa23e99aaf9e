"""The records, chart and summary of a several-attacker audit (``agentrec audit --targets A,B,C``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import Field

from agentrec.audit.placement import StsPlacement
from agentrec.audit.results import PairSummary, SideSummary
from agentrec.core.json_records import JsonRecord, JsonTree
from agentrec.eval.intervals import PairedDifference
from agentrec.llm.pacing import ProviderUsage


class AttackerResult(JsonRecord):
    """One attacker: its sequence, its paired numbers alone and with everyone attacking, and the difference."""

    sts: str
    placement: StsPlacement
    optimizer: str
    optimization: JsonTree | None
    alone: PairSummary
    together: PairSummary
    # Together minus alone on the attacked side, paired by product order (negative mean_rank: better together).
    together_minus_alone: dict[str, PairedDifference]


class MultiAttackReport(JsonRecord):
    """The ``audit --targets`` result: one entry per attacker, in the order given."""

    catalog: str
    targets: list[str]
    optimizer: str
    evals: int
    llm: str
    request: str
    seed: int
    products: int
    attackers: dict[str, AttackerResult] = Field(default_factory=dict)
    usage: ProviderUsage | None = None

    omitted_when_none = ("usage",)


# (label, summary side) of each bar group in the chart and the table.
def _sides(result: AttackerResult) -> list[tuple[str, SideSummary]]:
    return [("clean", result.alone.before), ("alone", result.alone.after), ("together", result.together.after)]


def plot_attackers(report: MultiAttackReport, path: Path) -> Path:
    """Mean rank (lower is better) per attacker: clean, attacking alone, all attacking, with 95% CIs."""
    names = list(report.attackers)
    positions = np.arange(len(names), dtype=np.float64)
    figure = Figure(figsize=(max(6.0, 2.2 * len(names)), 4.0))
    axes = figure.add_subplot()
    for j, label in enumerate(("clean", "alone", "together")):
        sides = [dict(_sides(report.attackers[name]))[label] for name in names]
        means = np.asarray([side.mean_rank for side in sides])
        lows = np.asarray([side.ci["mean_rank"][0] for side in sides])
        highs = np.asarray([side.ci["mean_rank"][1] for side in sides])
        errors = np.vstack([np.clip(means - lows, 0, None), np.clip(highs - means, 0, None)])
        bars = axes.bar(positions + (j - 1) * 0.27, means, 0.27, yerr=errors, capsize=3, label=label)
        axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axes.set_xticks(positions, names, fontsize=8)
    axes.set_ylabel(f"mean rank (95% CI; {report.products + 1} = not recommended)")
    axes.set_title(f"{len(names)} attackers, {report.evals} paired runs each ({report.optimizer})")
    axes.legend(frameon=False, fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)
    return path


def markdown_summary(report: MultiAttackReport) -> str:
    """A table a person can read: each attacker clean, alone and together, and together minus alone."""
    lines = [
        f"# Several attackers at once in {Path(report.catalog).name}",
        "",
        f"- Recommender: `{report.llm}`, request {report.request!r}.",
        f"- {len(report.targets)} attackers, each with its own `{report.optimizer}` sequence, optimised alone.",
        f"- {report.evals} paired runs per attacker and condition, on the same seeded product orders.",
        "",
        "| attacker | clean mean rank | alone | together | together - alone [95% CI] | log P alone - clean |"
        " log P together - clean |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in report.attackers.items():
        clean, alone, together = (side for _, side in _sides(result))
        rank = result.together_minus_alone["mean_rank"]
        lines.append(
            f"| {name} | {clean.mean_rank:.2f} | {alone.mean_rank:.2f} | {together.mean_rank:.2f} "
            f"| {rank.diff:+.2f} [{rank.low:+.2f}, {rank.high:+.2f}] "
            f"| {_logprob_gain(result.alone)} | {_logprob_gain(result.together)} |"
        )
    lines += ["", "Sequences:", ""]
    lines += [f"- {name}: `{result.sts}`" for name, result in report.attackers.items()]
    lines += ["", "Chart: `attackers.png`. Numbers: `audit.json`.", ""]
    return "\n".join(lines)


def _logprob_gain(summary: PairSummary) -> str:
    gain = summary.paired.get("mean_logprob")
    return "-" if gain is None else f"{gain.diff:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}]"


def write_multi_report(report: MultiAttackReport, folder: Path) -> Path:
    """Write ``audit.json``, ``attackers.png`` and ``summary.md`` into ``folder``."""
    folder = folder.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.json_data(), indent=2, default=str) + "\n"
    (folder / "audit.json").write_text(text, encoding="utf-8")
    plot_attackers(report, folder / "attackers.png")
    (folder / "summary.md").write_text(markdown_summary(report), encoding="utf-8")
    return folder

"""PNG charts of a simulation: arms side by side, metrics across rounds, exit pages.

Built like ``agentrec.eval.plots``: matplotlib's object API on the Agg canvas,
no pyplot, no global backend, no open figures left behind.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from agentrec.eval.plots import plot_model_comparison
from agentrec.sim.metrics import SessionRow
from agentrec.sim.results import ArmReport, MacroFigures

ARM_METRICS = ("ctr", "avg_rating", "exit_page", "satisfaction")


def _save(figure: Figure, out_path: Path) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(out_path, format="png", dpi=120)
    return out_path


def plot_arms(arms: dict[str, ArmReport], out_path: Path) -> Path:
    """Per arm: CTR, average rating, exit page and satisfaction with 95% bootstrap CIs (over users)."""
    results = {
        arm: {m: v for m, v in report.metrics.model_dump().items() if v is not None} for arm, report in arms.items()
    }
    cis = {arm: report.ci for arm, report in arms.items()}
    return plot_model_comparison(results, cis, list(ARM_METRICS), out_path, title="Simulated behaviour per arm")


def plot_rounds(arms: dict[str, ArmReport], out_path: Path, metric: str, label: str) -> Path:
    """One line per arm: ``metric`` in each round, with its 95% band where the round has one
    (a falling genre entropy is a filter bubble)."""
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    for arm, report in arms.items():
        values = [(entry.round + 1, entry.value(metric)) for entry in report.rounds]
        points = [(x, y) for x, y in values if math.isfinite(y)]
        if points:
            xs, ys = zip(*points, strict=True)
            line = axes.plot(xs, ys, marker="o", markersize=4, label=arm)[0]
            bands = [(entry.round + 1, *entry.ci[metric]) for entry in report.rounds if metric in entry.ci]
            if len(bands) > 1:
                bx, low, high = zip(*bands, strict=True)
                axes.fill_between(bx, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set_xlabel("round")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(label)
    axes.set_title(f"{label} by round")
    axes.grid(alpha=0.3)
    if arms:
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, out_path)


def plot_exit_pages(rows: Sequence[SessionRow], out_path: Path) -> Path:
    """Share of sessions ending on each page, per arm."""
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    arms = sorted({row.arm for row in rows})
    width = 0.8 / max(len(arms), 1)
    for j, arm in enumerate(arms):
        pages = Counter(row.exit_page for row in rows if row.arm == arm)
        total = sum(pages.values())
        xs = sorted(pages)
        axes.bar([x - 0.4 + width * (j + 0.5) for x in xs], [pages[x] / total for x in xs], width, label=arm)
    axes.set_xlabel("exit page")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("share of sessions")
    axes.set_title("Where sessions end")
    axes.grid(axis="y", alpha=0.3)
    if arms:
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, out_path)


def plot_macro(macro: MacroFigures, out_path: Path) -> Path:
    """Simulated against real: the popularity deciles and the genres of what was watched."""
    figure = Figure(figsize=(11, 4.2))
    for axes, gap, title in (
        (figure.add_subplot(1, 2, 1), macro.popularity, "popularity decile of watched items"),
        (figure.add_subplot(1, 2, 2), macro.genres, "genres of watched items"),
    ):
        xs = np.arange(len(gap.labels))
        axes.bar(xs - 0.2, gap.simulated, 0.4, label="simulated")
        axes.bar(xs + 0.2, gap.real, 0.4, label="real (held out)")
        short = [label.removeprefix("decile ") for label in gap.labels]
        axes.set_xticks(xs, short, rotation=90 if len(xs) > 10 else 0, fontsize=7)
        axes.set_ylabel("share of watches")
        axes.set_title(f"{title} (JSD {gap.jsd:.3f} bits)", fontsize=9)
        axes.grid(axis="y", alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, out_path)

"""PNG charts of evaluation results: models side by side, and training curves.

Figures are built on matplotlib's object API with the Agg canvas, never through pyplot,
so plotting needs no display, sets no global backend and leaks no open figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import NDArray

from agentrec.core.errors import ConfigError

_AXIS_KEYS = ("epoch", "seconds", "step")


# What the Agg canvas writes; the format is the file's suffix, so a name never lies about its bytes.
PLOT_FORMATS = ("png", "svg", "pdf")


def _save(figure: Figure, out_path: str | Path) -> Path:
    path = Path(out_path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in PLOT_FORMATS:
        raise ConfigError(f"{path}: a chart is written as .png, .svg or .pdf, chosen by the file's suffix")
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format=kind, dpi=120)
    return path


def _error_bars(
    means: Sequence[float], intervals: Sequence[tuple[float, float] | None]
) -> NDArray[np.float64]:
    """Asymmetric error-bar lengths (2 x n); 0 where a model has no interval."""
    lengths = np.zeros((2, len(means)))
    for j, (mean, interval) in enumerate(zip(means, intervals, strict=True)):
        if interval is not None:
            # Clipped because a percentile interval can, rarely, sit beside the point value.
            lengths[0, j] = max(0.0, mean - interval[0])
            lengths[1, j] = max(0.0, interval[1] - mean)
    return lengths


def plot_model_comparison(
    results: Mapping[str, Mapping[str, float]],
    cis: Mapping[str, Mapping[str, tuple[float, float]]],
    metrics: Sequence[str],
    out_path: str | Path,
    title: str = "Model comparison",
    ylabel: str = "mean over users (95% bootstrap CI)",
) -> Path:
    """Grouped bar chart: one group per metric, one bar per model, 95% CI error bars.

    ``results[model][metric]`` is the mean and ``cis[model][metric]`` its ``(low, high)``;
    a missing CI draws no error bar. Put metrics of a similar scale on one chart.
    """
    models = list(results)
    if not models or not metrics:
        raise ValueError("plot_model_comparison needs at least one model and one metric")
    width = 0.8 / len(models)
    positions = np.arange(len(metrics), dtype=np.float64)
    figure = Figure(figsize=(max(6.0, 1.2 + len(metrics) * (0.5 + 0.35 * len(models))), 4.5))
    axes = figure.add_subplot()
    for j, model in enumerate(models):
        means = [float(results[model].get(metric, np.nan)) for metric in metrics]
        intervals = [cis.get(model, {}).get(metric) for metric in metrics]
        offsets = positions - 0.4 + width * (j + 0.5)
        bars = axes.bar(
            offsets, means, width, label=model, capsize=3, yerr=_error_bars(means, intervals)
        )
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    axes.set_xticks(positions, list(metrics))
    axes.set_ylabel(ylabel)
    axes.axhline(0.0, color="black", linewidth=0.6)  # differences read against zero; means sit above it
    axes.set_title(title)
    # Outside the axes, so the legend never hides a bar or its value label.
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.margins(y=0.15)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, out_path)


def _curve_metric(curves: Mapping[str, Sequence[Mapping[str, float]]], x: str) -> str:
    for records in curves.values():
        for record in records:
            for key in record:
                if key != x and key not in _AXIS_KEYS:
                    return key
    raise ValueError("learning curves hold no metric besides the x axis")


def plot_learning_curve(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    out_path: str | Path,
    x: str = "epoch",
    y: str | None = None,
    title: str = "Validation curve",
) -> Path:
    """One line per run: ``y`` (default: the first non-axis key, e.g. ``ndcg@10``) against ``x``.

    ``curves[name]`` is a list of records such as ``{"epoch": 3, "seconds": 41.2,
    "ndcg@10": 0.061}``; records lacking ``x`` or ``y`` are skipped.
    """
    metric = y if y is not None else _curve_metric(curves, x)
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    for name, records in curves.items():
        points = [(r[x], r[metric]) for r in records if x in r and metric in r]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o", markersize=3, label=name)
    axes.set_xlabel(x)
    if x == "epoch":
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if curves:
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, out_path)

"""``agentrec eval``: fit models and compare them under one protocol, with bootstrap CIs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrec.ui.choices import ProtocolChoice, WeightingChoice, plot_path

if TYPE_CHECKING:
    from agentrec.eval.offline import ModelEvaluation
    from agentrec.eval.weighting import Weighting

DEFAULT_MODELS = "mostpop,itemknn,ease"
# What each protocol that ran means, for the table's caption.
PROTOCOL_WORDS = {
    "loo": "leave-one-out by time",
    "given": "the dataset's own train/test split",
    "temporal": "one global cut in time",
    "random": "a seeded random share per user",
}
TABLE_METRICS = ("hit", "ndcg", "recall", "mrr", "precision", "map", "coverage", "gini")


def evaluate(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    models: Annotated[str, typer.Option(help="Comma-separated: mostpop,itemknn,ease,als,bpr,sasrec.")] = DEFAULT_MODELS,
    protocol: Annotated[
        ProtocolChoice,
        typer.Option(
            help="auto (the dataset's own train/test split if it ships one, else loo) | loo (leave-one-out "
            "by time) | temporal | random | given."
        ),
    ] = ProtocolChoice.auto,
    k: Annotated[int, typer.Option(min=1, help="Cutoff for every metric (at most the catalog's size).")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for the random split and the bootstrap.")] = 0,
    weighting: Annotated[
        WeightingChoice,
        typer.Option(
            help="none: every test user counts the same | ips: weight each user by the inverse propensity of "
            "their held-out item (popularity ** 0.5, self-normalised), so popular items stop inflating accuracy."
        ),
    ] = WeightingChoice.none,
    propensities: Annotated[
        Path | None,
        typer.Option(
            help="With --weighting ips: a CSV of item_id,exposure (how often the logging system showed each "
            "item) to use as propensities instead of popularity.",
        ),
    ] = None,
    max_items: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="EASE keeps the N most popular items (default 20,000: 1.6 GB of weights) and ranks the rest last. "
            "Its memory grows as N squared; a cap over the memory budget (75% of RAM, or AGENTREC_MEMORY_GB) "
            "is refused before anything is fitted.",
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full results here.")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(callback=plot_path, help="Write a chart comparing the models here (.png, .svg or .pdf)."),
    ] = None,
) -> None:
    """Full-ranking evaluation (never sampled negatives; seen items masked) of several models.

    Fitted models are saved in the state home and reused by the next run with the
    same dataset, split and configuration.
    """
    from agentrec.core.errors import ConfigError
    from agentrec.recsys.registry import model_class

    names = [m.strip().lower() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models is empty; name at least one model")
    for name in names:
        model_class(name)  # fails fast, with the list of known models
    chosen: Weighting = "ips" if weighting == WeightingChoice.ips else "none"
    if propensities is not None and chosen != "ips":
        raise ConfigError("--propensities weights users by exposure: add --weighting ips")
    params = {"ease": {"max_items": max_items}} if max_items is not None else {}
    results, payload = run_evaluation(dataset, names, protocol.value, k, seed, chosen, propensities, params)
    render_results(results, k, payload["users_evaluated"], dataset, payload["protocol"])
    _write_outputs(results, payload, k, json_out, plot)


def run_evaluation(
    dataset: str,
    names: list[str],
    protocol: str,
    k: int,
    seed: int,
    weighting: Weighting = "none",
    propensities: Path | None = None,
    model_params: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[ModelEvaluation], dict[str, Any]]:
    """Evaluate ``names`` on ``dataset`` with a spinner; return results and the JSON payload.

    The payload's ``protocol`` is the one that ran: ``auto`` resolved to ``given`` or ``loo``.
    """
    import numpy as np

    from agentrec.data.protocols import resolve_protocol
    from agentrec.data.store import open_dataset
    from agentrec.eval.offline import evaluate_models
    from agentrec.eval.weighting import read_propensities
    from agentrec.recsys.threads import pin_threads
    from agentrec.ui.console import stdout

    pin_threads()
    with stdout.status(f"opening {dataset}...") as status:
        store = open_dataset(dataset)
        protocol = resolve_protocol(store, protocol)
        exposure = read_propensities(propensities, store.interactions().items) if propensities else None
        split, results = evaluate_models(
            store,
            names,
            protocol,
            k,
            seed,
            model_params=model_params,
            progress=lambda m: status.update(m),
            weighting=weighting,
            propensity=exposure,
        )
    payload = {
        "dataset": store.name,
        "protocol": protocol,
        "split": split.name,
        "k": k,
        "weighting": weighting,
        "propensities": "none" if weighting == "none" else str(propensities) if propensities else "popularity",
        "users_evaluated": len(np.unique(split.test.user)) if len(split.test) else 0,
        "models": {r.name: r.as_json() for r in results},
    }
    return results, payload


def render_results(results: list[ModelEvaluation], k: int, users: int, dataset: str, protocol: str) -> None:
    from rich.table import Table

    from agentrec.ui.console import stdout

    described = f"{protocol} ({PROTOCOL_WORDS[protocol]})" if protocol in PROTOCOL_WORDS else protocol
    table = Table(title=f"{dataset}, protocol {described}, {users:,} test users, full ranking @{k} (95% bootstrap CI)")
    table.add_column("model", style="bold")
    for metric in TABLE_METRICS:
        table.add_column(f"{metric}@{k}", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("rank s", justify="right")
    best = {m: max(r.metrics.get(f"{m}@{k}", float("-inf")) for r in results) for m in TABLE_METRICS}
    for result in results:
        cells = []
        for metric in TABLE_METRICS:
            key = f"{metric}@{k}"
            value = result.metrics.get(key)
            text = "-" if value is None else f"{value:.4f}"
            if key in result.ci:
                low, high = result.ci[key]
                text += f"\n[dim]{low:.3f}-{high:.3f}[/dim]"
            if value is not None and value == best[metric] and metric != "gini" and len(results) > 1:
                text = f"[green]{text}[/green]"
            cells.append(text)
        fit = f"{result.fit_seconds:.2f}" + (" (saved)" if result.loaded else "")
        table.add_row(result.name, *cells, fit, f"{result.score_seconds:.2f}")
    stdout.print(table)


def _write_outputs(
    results: list[ModelEvaluation],
    payload: dict[str, Any],
    k: int,
    json_out: Path | None,
    plot: Path | None,
) -> None:
    from agentrec.ui.console import write_json

    if json_out:
        write_json(json_out, payload)
    if plot:
        from agentrec.eval.plots import plot_model_comparison
        from agentrec.ui.console import stderr

        metrics = [f"{m}@{k}" for m in ("hit", "ndcg", "recall", "mrr")]
        path = plot_model_comparison(
            {r.name: r.metrics for r in results}, {r.name: r.ci for r in results}, metrics, plot,
            title=f"{payload['dataset']}, protocol {payload['protocol']}, full ranking @{k}",
        )  # fmt: skip
        stderr.print(f"[dim]wrote {path}[/dim]")

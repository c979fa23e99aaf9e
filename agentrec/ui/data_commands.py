"""``agentrec data ...``: inspect datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Inspect datasets (MovieLens layouts, adjacency lists, or your own folder).",
    no_args_is_help=True,
)

DatasetArg = Annotated[
    str,
    typer.Argument(
        help="ml-100k | ml-1m | ml-latest-small | ml-latest | a folder name under AGENTREC_DATA_HOME | a PATH"
    ),
]


@app.command("info")
def info(
    dataset: DatasetArg,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the full summary to this JSON file.")
    ] = None,
) -> None:
    """Show users, items, interactions, density, rating scale, attributes and time span.

    The first call parses the raw files into a DuckDB store; later calls reuse it.
    """
    from agentrec.data.store import open_dataset
    from agentrec.data.summary import dataset_summary
    from agentrec.ui.console import stdout, write_json

    with stdout.status(f"opening {dataset}..."):
        store = open_dataset(dataset)
        summary = dataset_summary(store)
    render_summary(summary)
    if json_out:
        write_json(json_out, summary)


def render_summary(summary: dict[str, Any]) -> None:
    """Print a dataset summary as two rich tables."""
    from rich.table import Table

    from agentrec.ui.console import stdout

    overview = Table(title=f"{summary['dataset']}  ({summary['layout']} layout)", show_header=False)
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("users", f"{summary['users']:,}")
    overview.add_row("items", f"{summary['items']:,} ({summary['items_with_interactions']:,} with interactions)")
    overview.add_row("interactions", f"{summary['interactions']:,}")
    overview.add_row("density", f"{summary['density']:.4%}")
    scale = summary["rating_scale"]
    overview.add_row(
        "ratings",
        f"{scale['min']:g} to {scale['max']:g}, {scale['distinct_values']} values" if scale else "none (implicit)",
    )
    span = summary["time_span"]
    overview.add_row(
        "time span",
        f"{span['first']} to {span['last']} ({span['days']:,} days)" if span else "no timestamps",
    )
    if summary["splits"]:
        overview.add_row("given split", ", ".join(f"{k} {v:,}" for k, v in summary["splits"].items()))
    reuse = "reused" if summary["reused_store"] else "built"
    overview.add_row("store", f"{summary['store']} ({reuse} in {summary['open_seconds']:.2f} s)")
    stdout.print(overview)
    attributes = Table(title="item attributes")
    for column in ("attribute", "type", "examples"):
        attributes.add_column(column)
    for attribute in summary["attributes"]:
        attributes.add_row(attribute["name"], attribute["type"], ", ".join(attribute["examples"]))
    stdout.print(attributes)

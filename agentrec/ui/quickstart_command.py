"""``agentrec quickstart``: the main job on the embedded defaults, end to end."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_DATASET = "ml-100k"


def quickstart(
    dataset: Annotated[str, typer.Option(help="Dataset to run on.")] = DEFAULT_DATASET,
) -> None:
    """Run agentrec end to end on the default dataset and say what it found."""
    from agentrec.core.paths import data_home, state_home
    from agentrec.data.store import open_dataset
    from agentrec.data.summary import dataset_summary
    from agentrec.ui.console import stdout
    from agentrec.ui.data_commands import render_summary

    stdout.rule("agentrec quickstart")
    stdout.print(f"data home: {data_home()}   state home: {state_home()}")
    with stdout.status(f"loading {dataset}..."):
        store = open_dataset(dataset)
        summary = dataset_summary(store)
    render_summary(summary)
    stdout.print(f"[green]ok[/green]: {dataset} is ready; its store is {store.path}")

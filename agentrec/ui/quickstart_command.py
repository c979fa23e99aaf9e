"""``agentrec quickstart``: the main job on the embedded defaults, end to end."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_DATASET = "ml-100k"
# SASRec is left out: its epochs slow sharply when other jobs share the 2 cores (see bench/README.md).
DEFAULT_MODELS = "mostpop,itemknn,ease"


def quickstart(
    dataset: Annotated[str, typer.Option(help="Dataset to run on.")] = DEFAULT_DATASET,
    models: Annotated[str, typer.Option(help="Models to fit and compare.")] = DEFAULT_MODELS,
) -> None:
    """Run agentrec end to end on the default dataset: load it, fit the models, evaluate them.

    Fitted models are kept in the state home, so a second run is much faster.
    """
    import time

    from agentrec.core.paths import data_home, state_dir, state_home
    from agentrec.data.store import open_dataset
    from agentrec.data.summary import dataset_summary
    from agentrec.ui.console import stdout, write_json
    from agentrec.ui.data_commands import render_summary
    from agentrec.ui.eval_command import render_results, run_evaluation

    started = time.perf_counter()
    stdout.rule("agentrec quickstart")
    stdout.print(f"data home: {data_home()}   state home: {state_home()}")
    with stdout.status(f"loading {dataset}..."):
        summary = dataset_summary(open_dataset(dataset))
    render_summary(summary)

    stdout.rule("1. recommender models: leave-one-out by time, full ranking")
    names = [m.strip() for m in models.split(",") if m.strip()]
    results, payload = run_evaluation(dataset, names, "loo", 10, 0)
    render_results(results, 10, payload["users_evaluated"], dataset, "loo")
    report = state_dir("reports") / f"quickstart-{summary['dataset']}-eval.json"
    write_json(report, payload)

    stdout.rule("done")
    stdout.print(f"finished in {time.perf_counter() - started:.1f} s; evaluation report: {report}")

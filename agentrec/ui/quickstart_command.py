"""``agentrec quickstart``: the main job on the embedded defaults, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATASET = "ml-100k"
# SASRec is left out: its epochs slow sharply when other jobs share the 2 cores (see bench/README.md).
DEFAULT_MODELS = "mostpop,itemknn,ease"
# The agent's backbone here is EASE, which fits in seconds; the MovieLens tool pack's own
# default (SASRec) is stronger but needs minutes of training on 2 cores.
DEFAULT_BACKBONE = "ease"
DEFAULT_AGENT_USERS = 20


def quickstart(
    dataset: Annotated[str, typer.Option(help="Dataset to run on.")] = DEFAULT_DATASET,
    models: Annotated[str, typer.Option(help="Models to fit and compare.")] = DEFAULT_MODELS,
    backbone: Annotated[str, typer.Option(help="The agent's backbone model.")] = DEFAULT_BACKBONE,
    agent_users: Annotated[int, typer.Option(help="Users in the agent evaluation (0 skips it).")] = DEFAULT_AGENT_USERS,
    llm: Annotated[str, typer.Option(help="The agent's LLM: local (embedded SmolLM2-135M) or litellm name.")] = "local",
) -> None:
    """Run agentrec end to end on the embedded defaults: data, models, one agent run, an agent evaluation.

    Fitted models and LLM replies are kept in the state home, so a second run is much faster.
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

    agent_report = _agent_part(dataset, backbone, llm, agent_users)

    stdout.rule("done")
    stdout.print(
        f"finished in {time.perf_counter() - started:.1f} s; reports: {report}"
        + (f", {agent_report}" if agent_report else "")
    )


def _agent_part(dataset: str, backbone: str, llm: str, users: int) -> Path | None:
    """One user's agent run with its trace, then the policies compared on ``users`` users."""
    from agentrec.agent.evaluation import AgentEvalSpec, run_agent_eval
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent
    from agentrec.agent.trace import TraceStore
    from agentrec.core.paths import state_dir
    from agentrec.llm.factory import make_chat_model
    from agentrec.ui.agent_commands import render_agent_eval, render_run
    from agentrec.ui.console import stdout, write_json

    stdout.rule(f"2. the agent: an LLM ({llm}) as surrogate user, calling {backbone} and other models as tools")
    model = make_chat_model(llm)
    with stdout.status("opening the agent's workspace...") as status:
        service = open_agent(dataset, RunSettings(), model, backbone=backbone, progress=status.update)
        user = int(service.workspace.evaluable_users()[0])
        status.update(f"agent: recommending for user {service.workspace.user_id(user)}")
        run = service.run(user, "agent")
    TraceStore().save([run])
    render_run(run, show_trace=True)
    if users < 1:
        return None
    stdout.rule(f"3. agent-eval: backbone vs heuristic vs agent on {users} users (ToolRec protocol)")
    spec = AgentEvalSpec(dataset=dataset, users=users, llm=llm, backbone=backbone)
    with stdout.status(f"evaluating {users} users...") as status:
        result = run_agent_eval(spec, lambda label, done, total: status.update(f"{label} {done}/{total}"))
    render_agent_eval(result)
    stdout.print(
        "[dim]The embedded 135M model is weak: expect the agent near its backbone. "
        "Try --llm with a stronger model (any litellm name) to see what the LLM adds.[/dim]"
    )
    report = state_dir("reports") / f"quickstart-{result['dataset']}-agent-eval.json"
    write_json(report, result)
    return report

"""``agentrec audit-agent``: plant a strategic text in one movie and see which fusion mode it fools."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentrec.ui.agent_commands import ApiBaseOption, BackboneOption, CacheOption, LlmOption
from agentrec.ui.choices import AuditPolicyChoice, CacheChoice
from agentrec.ui.provider_options import (
    MaxCostOption,
    PriceInOption,
    PriceOutOption,
    RpmOption,
    TpmOption,
    run_limits_for,
)

if TYPE_CHECKING:
    from agentrec.agent.service import AgentService
    from agentrec.audit.agent_audit import AgentAuditPlan, AgentAuditReport


def audit_agent(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    target: Annotated[str, typer.Option("--target", help="The movie to promote: an item id or a title.")],
    sts: Annotated[
        str | None, typer.Option("--sts", help="The text planted in its title (default: a fluent pitch).")
    ] = None,
    users: Annotated[int, typer.Option(min=1, help="How many users for whom the target is a candidate.")] = 30,
    fusion: Annotated[
        str,
        typer.Option(
            help="Comma-separated fusion modes to compare: lgbm, rrf, llm, llm-logits (the LLM scorer; its rescorer "
            "is trained once per model and dataset)."
        ),
    ] = "lgbm,rrf,llm",
    policy: Annotated[
        AuditPolicyChoice, typer.Option(help="heuristic (tools without an LLM) | agent (the LLM picks tools).")
    ] = AuditPolicyChoice.heuristic,
    k: Annotated[int, typer.Option(min=1, help="Top-k cut-off.")] = 10,
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    backbone: BackboneOption = None,
    cache: CacheOption = CacheChoice.on,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Agent runs in flight at once: for a remote provider (--llm provider/model or --api-base),"
            " whose calls mostly wait. The embedded model answers one call at a time, so it gains nothing.",
        ),
    ] = 1,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_cost: MaxCostOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the user order.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report here.")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Report folder (default: under AGENTREC_HOME).")
    ] = None,
) -> None:
    """Plant a strategic text sequence in one movie's text and count how often each fusion puts it in the top-k.

    Users are those who have not seen the movie and whose tool pool gathers it. Each runs
    clean, then with the text planted. rrf reads no item text; lgbm reads it through one
    text-similarity feature; the LLM re-rank (llm) and the LLM scorer (llm-logits) read the
    title itself. The report folder has JSON, a plot and a summary.
    """
    from agentrec.agent.fusion import FusionName
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent
    from agentrec.audit.agent_audit import DEFAULT_AGENT_STS, FUSIONS, AgentAuditPlan
    from agentrec.audit.agent_audit_report import summary_markdown, write_agent_audit_report
    from agentrec.core.errors import ConfigError
    from agentrec.core.paths import state_dir
    from agentrec.llm.factory import make_chat_model
    from agentrec.recsys.threads import pin_threads
    from agentrec.ui.console import stderr, stdout, write_json

    fusions = tuple(name.strip() for name in fusion.split(",") if name.strip())
    if not fusions or any(name not in FUSIONS for name in fusions):
        raise ConfigError(f"--fusion takes a comma-separated subset of {', '.join(FUSIONS)}, got {fusion!r}")
    plan = AgentAuditPlan(target=target, sts=sts or DEFAULT_AGENT_STS, fusions=fusions, policy=policy.value,
                          users=users, seed=seed)  # fmt: skip
    pin_threads()
    needs_llm = policy == "agent" or "llm" in fusions or "llm-logits" in fusions
    limits = run_limits_for(concurrency, 1, rpm, tpm, max_cost, price_in, price_out)
    model = make_chat_model(llm, api_base, cache.value, limits=limits) if needs_llm else None
    with stdout.status(f"opening {dataset}...") as status:
        # Opened with llm-logits, the service trains (or loads) the lgbm ranker and the LLM rescorer both.
        trained: FusionName = "llm-logits" if "llm-logits" in fusions else "lgbm"
        service = open_agent(dataset, RunSettings(k=k, seed=seed, fusion=trained), model, backbone=backbone,
                             progress=lambda m: status.update(m))  # fmt: skip
    result = _run_with_progress(service, plan, concurrency)
    stdout.print(summary_markdown(result))
    folder = report or state_dir("reports", "audit-agent") / f"{result.dataset}-{result.target_id}-{int(time.time())}"
    write_agent_audit_report(result, folder)
    stderr.print(f"[dim]report in {folder}[/dim]")
    if json_out:
        write_json(json_out, result.json_data())


def _run_with_progress(service: AgentService, plan: AgentAuditPlan, concurrency: int) -> AgentAuditReport:
    from agentrec.audit.agent_audit import run_agent_audit
    from agentrec.ui.provider_options import BatchProgress

    label = "clean, then planted runs"
    with BatchProgress("runs") as bar:
        bar.update("finding users for whom the target is a candidate", 0, 0)
        counted = {"done": 0, "total": 0}

        def users_found(n: int) -> None:
            counted["total"] = 2 * n * len(plan.fusions)
            bar.update(label, 0, counted["total"])

        def one_run() -> None:
            counted["done"] += 1
            bar.update(label, counted["done"], counted["total"])

        return run_agent_audit(service, plan, on_run=one_run, on_users=users_found, concurrency=concurrency)

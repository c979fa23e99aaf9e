"""The choices and bounds of CLI options, checked by typer before a command runs.

Each choice is a ``StrEnum`` whose values are the library's own names (a test keeps
them equal to the library's tuples), so typer lists them in ``--help`` and refuses
anything else with one usage line and exit status 2. They live here, not beside the
library's tuples, because importing the library would slow ``agentrec --help``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

# Formats matplotlib's Agg canvas writes, chosen by the file's suffix.
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class CacheChoice(StrEnum):
    """The LLM response cache (``agentrec.llm.cache.CACHE_MODES``)."""

    on = "on"
    off = "off"
    replay = "replay"


class WeightingChoice(StrEnum):
    """How test users are weighted in ``agentrec eval`` (``agentrec.eval.weighting``)."""

    none = "none"
    ips = "ips"


class ReplyChoice(StrEnum):
    """How a chat reply is written (``agentrec.agent.chat.conversation.ReplyMode``)."""

    facts = "facts"
    llm = "llm"


class FusionChoice(StrEnum):
    """How the agent's tool lists are fused (``agentrec.agent.fusion.FUSIONS``)."""

    lgbm = "lgbm"
    rrf = "rrf"
    llm = "llm"
    llm_logits = "llm-logits"


class ProtocolChoice(StrEnum):
    """Evaluation protocols (``agentrec.data.splits.PROTOCOLS`` and ``auto``)."""

    auto = "auto"
    loo = "loo"
    temporal = "temporal"
    random = "random"
    given = "given"


class PolicyChoice(StrEnum):
    """One policy (``agentrec.agent.policies.ALL_POLICIES``); ``oracle`` reads the held-out item."""

    agent = "agent"
    heuristic = "heuristic"
    backbone = "backbone"
    random = "random"
    oracle = "oracle"


class AuditPolicyChoice(StrEnum):
    """Who picks the tools in ``audit-agent``."""

    heuristic = "heuristic"
    agent = "agent"


class BackendChoice(StrEnum):
    """Where a command's --workers run (``agentrec.core.worker_backends.BACKENDS``)."""

    local = "local"
    ray = "ray"


BackendOption = Annotated[
    BackendChoice,
    typer.Option(
        "--backend",
        help="Where --workers run: local (processes here) | ray (actors on the cluster at RAY_ADDRESS, else on"
        " a local one; needs the ray extra).",
    ),
]


class PositionChoice(StrEnum):
    """Where a strategic text goes within its field (``agentrec.audit.placement.StsPosition``)."""

    end = "end"
    start = "start"
    replace_text = "replace"  # not ``replace``: that would shadow ``str.replace``


def plot_path(path: Path | None) -> Path | None:
    """A ``--plot`` path whose suffix names a format matplotlib writes (typer callback)."""
    if path is not None and path.suffix.lower() not in PLOT_SUFFIXES:
        raise typer.BadParameter(f"{path} must end in {', '.join(PLOT_SUFFIXES)} (the format is taken from the suffix)")
    return path


def resume_id(value: str | None) -> str | None:
    """A ``--resume`` value that names something: an empty one would silently start afresh (typer callback)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty; give the id of the run or session to continue")
    return value


def flag_name(parameter: str) -> str:
    """The CLI flag of a library parameter: ``max_steps`` -> ``--max-steps`` (typer's own rule)."""
    return "--" + parameter.replace("_", "-")

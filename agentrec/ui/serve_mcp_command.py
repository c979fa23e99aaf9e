"""``agentrec serve-mcp``: the agent's tools, and the agent itself, for any MCP client."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Annotated, BinaryIO

import typer

from agentrec.ui.agent_commands import (
    ApiBaseOption,
    BackboneOption,
    CacheOption,
    FusionOption,
    LlmOption,
    MaxStepsOption,
)
from agentrec.ui.choices import CacheChoice, FusionChoice

logger = logging.getLogger("agentrec.serve_mcp")


@dataclass(frozen=True)
class ServeOptions:
    """What to serve: the dataset, and how the agent behind ``recommend`` and ``finish`` runs."""

    dataset: str
    llm: str
    api_base: str | None
    fusion: str
    backbone: str | None
    max_steps: int
    cache: str


def serve_mcp(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            min=0,
            max=65535,
            help="Serve streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio.",
        ),
    ] = None,
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    fusion: FusionOption = FusionChoice.lgbm,
    backbone: BackboneOption = None,
    max_steps: MaxStepsOption = 7,
    cache: CacheOption = CacheChoice.on,
) -> None:
    """Serve the agent's tools and a recommend tool (the whole agent) to MCP clients.

    Stdio by default: an MCP client starts this command and talks on its
    stdin/stdout; progress and logs go to stderr. The models are fitted or loaded
    before the first answer, so tools/list answers at once.
    """
    from agentrec.mcp_server.channels import bind_loopback, reserved_stdout

    started = time.perf_counter()
    # Taken before the heavy imports, so a busy port fails at once rather than after model fitting.
    listener = bind_loopback(http) if http is not None else None
    with reserved_stdout() if listener is None else nullcontext() as channel:
        _log_to_stderr()
        # The text model's loader draws a progress bar; a client's log of this process wants lines.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        options = ServeOptions(dataset, llm, api_base, fusion.value, backbone, max_steps, cache.value)
        _serve(options, listener, channel, started)


def _serve(options: ServeOptions, listener: socket.socket | None, channel: BinaryIO | None, started: float) -> None:
    """Open the dataset on the worker thread, then serve on ``listener`` (HTTP) or ``channel`` (stdio)."""
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent
    from agentrec.agent.trace import TraceStore
    from agentrec.llm.factory import make_chat_model
    from agentrec.mcp_server.server import build_server, serve_http, serve_stdio
    from agentrec.mcp_server.toolbox import McpToolbox
    from agentrec.recsys.threads import pin_threads

    settings = RunSettings(max_steps=options.max_steps, fusion=options.fusion)  # type: ignore[arg-type]
    model = make_chat_model(options.llm, options.api_base, options.cache)  # type: ignore[arg-type]
    # One worker thread runs every model call: see agentrec.mcp_server.server.
    with ThreadPoolExecutor(1, thread_name_prefix="agentrec-tools", initializer=pin_threads) as worker:
        opening = worker.submit(open_agent, options.dataset, settings, model, None, options.backbone, _progress)
        toolbox = McpToolbox(opening.result(), TraceStore())
        # Before answering too: importing torch and loading the encoder in the background would hold
        # the GIL for seconds, and tools/list would wait on it.
        worker.submit(toolbox.warm_up).result()
        server = build_server(toolbox, worker)
        elapsed, cpu = time.perf_counter() - started, time.process_time()
        logger.info("ready in %.1f s (%.1f s CPU): %s", elapsed, cpu, ", ".join(toolbox.tools))
        if listener is not None:
            serve_http(server, listener)
        elif channel is not None:
            serve_stdio(server, channel)


def _progress(message: str) -> None:
    logger.info("%s", message)


def _log_to_stderr() -> None:
    """agentrec's log records to stderr, one line each: on stdio, stdout is the protocol channel."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("agentrec serve-mcp: %(message)s"))
    package = logging.getLogger("agentrec")
    package.addHandler(handler)
    package.setLevel(logging.INFO)

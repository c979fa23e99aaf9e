"""The MCP server: the ``mcp`` SDK's low-level ``Server`` over an ``McpToolbox``, on stdio or streamable HTTP.

The low-level server is used rather than the decorator API because the tools
already exist, with pydantic argument models; the listing is built once from
them, so ``tools/list`` is a constant answer. Tool calls run on one worker
thread: the models, llama.cpp and the pools are not thread-safe, per-thread
OpenMP settings (``pin_threads``) hold only on the thread that set them, and the
event loop stays free to answer ``tools/list`` while a long ``recommend`` runs.

The command reserves stdout or a loopback port first (``agentrec.mcp_server.channels``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from concurrent.futures import Executor
from io import TextIOWrapper
from typing import Any, BinaryIO

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from agentrec import __version__
from agentrec.mcp_server.channels import HOST
from agentrec.mcp_server.toolbox import McpToolbox, ToolAnswer

logger = logging.getLogger(__name__)

HTTP_PATH = "/mcp"
INSTRUCTIONS = (
    "agentrec recommends catalog items with real recommender models. recommend(user or liked, k, policy) "
    "runs the whole agent in one call. To steer it yourself, gather lists with retrieve, search and similar, "
    "narrow them with filter, re-order with rank, then call finish for the fused top-k: these calls share one "
    "candidate pool per person (the same user and liked on every call), kept by the server until finish. "
    "Every returned item is a catalog item the person has not interacted with, with the tool call that found it."
)


def build_server(toolbox: McpToolbox, worker: Executor) -> Server[Any]:
    """An MCP server offering ``toolbox``'s tools; calls run on ``worker`` (one thread)."""
    listing = types.ListToolsResult(
        tools=[
            types.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema())
            for tool in toolbox.tools.values()
        ]
    )

    async def list_tools(context: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listing

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in toolbox.tools:
            # Not a tool error: the spec answers a call to an unknown tool with a protocol error.
            raise MCPError(INVALID_PARAMS, f"unknown tool {params.name!r}; tools: {', '.join(toolbox.tools)}")
        future = worker.submit(toolbox.call, params.name, dict(params.arguments or {}))
        return call_result(await asyncio.wrap_future(future))

    return Server(
        "agentrec", version=__version__, instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool
    )


def call_result(answer: ToolAnswer) -> types.CallToolResult:
    """A tool error as an ``isError`` result the client's model can read; otherwise the payload, twice.

    The payload goes out as JSON text (what most clients show a model) and as
    structured content (what programs read).
    """
    if answer.error is not None:
        return types.CallToolResult(content=[types.TextContent(text=answer.error)], is_error=True)
    text = json.dumps(answer.payload, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=answer.payload)


def serve_stdio(server: Server[Any], channel: BinaryIO) -> None:
    """Serve one client on stdin and ``channel`` (the real stdout) until stdin closes."""

    async def serve() -> None:
        stdout = anyio.wrap_file(TextIOWrapper(channel, encoding="utf-8", write_through=True))
        async with stdio_server(stdout=stdout) as (read_stream, write_stream):
            logger.info("serving MCP on stdio")
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(serve)


def serve_http(server: Server[Any], listener: socket.socket) -> None:
    """Serve streamable HTTP at ``http://127.0.0.1:PORT/mcp`` on ``listener`` until interrupted."""
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=HOST)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on")
    logger.info("serving MCP on http://%s:%s%s", HOST, listener.getsockname()[1], HTTP_PATH)
    try:
        anyio.run(uvicorn.Server(config).serve, [listener])
    finally:
        listener.close()

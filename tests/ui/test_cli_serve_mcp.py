"""``agentrec serve-mcp`` as an MCP client uses it: the ``mcp`` SDK's own client against the real command.

One server process over stdio serves the planted catalog (comedy users, horror
users; tests/conftest.py) with a pack that adds the MiniLM text model, so that
``search`` exists; every stdio test talks to it through one client session.
Results must be grounded: catalog ids only, never an item the person
interacted with (the held-out last one included). Bad arguments must come back
as tool errors (``isError``) and leave the server answering. One test serves
streamable HTTP, one serves ml-100k when the data is there.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ListToolsResult

TIMEOUT = 300  # seconds a call may take: other jobs may share the two cores
PERSON = {"user", "liked"}
# The planted pack of tests/conftest.py, plus MiniLM behind search.
MCP_PACK = """
datasets = ["planted"]
item_noun = "film"
tools = ["retrieve", "filter", "search", "similar", "rank", "item_info", "finish"]
[models]
backbone = "ease"
similar = "itemknn"
text = "text"
[attributes]
genre = "genres"
decade = "decade"
"""


@dataclass
class Connected:
    """A client session with a server, driven from synchronous tests through a blocking portal."""

    portal: BlockingPortal
    client: Client
    stream_errors: list[Exception] = field(default_factory=list)

    def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result: CallToolResult = self.portal.call(self.client.call_tool, name, arguments)
        return result

    def payload(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.call(name, arguments)
        assert not result.is_error, result.content
        payload: dict[str, Any] = result.structured_content
        assert json.loads(result.content[0].text) == payload  # type: ignore[union-attr]
        return payload

    def error(self, name: str, arguments: dict[str, Any]) -> str:
        result = self.call(name, arguments)
        assert result.is_error, result
        text: str = result.content[0].text  # type: ignore[union-attr]
        return text

    def list_tools(self) -> ListToolsResult:
        listed: ListToolsResult = self.portal.call(partial(self.client.list_tools, cache_mode="refresh"))
        return listed


@contextmanager
def connected(server: StdioServerParameters | str, **options: Any) -> Iterator[Connected]:
    errors: list[Exception] = []

    async def keep_stream_errors(message: IncomingMessage) -> None:
        if isinstance(message, Exception):  # e.g. a stdout line that is not a JSON-RPC message
            errors.append(message)

    client = Client(server, read_timeout_seconds=TIMEOUT, message_handler=keep_stream_errors, **options)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(client) as entered:
        yield Connected(portal, entered, errors)


@pytest.fixture(scope="module")
def mcp_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The whole environment (the SDK passes a server only a safe subset), with the MCP pack."""
    folder = tmp_path_factory.mktemp("mcp-packs")
    (folder / "planted.toml").write_text(MCP_PACK)
    return {**os.environ, "AGENTREC_TOOLS": str(folder)}


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentrec.cli", "serve-mcp", *args]


@pytest.fixture(scope="module")
def served(planted_folder: Path, mcp_env: dict[str, str]) -> Iterator[Connected]:
    command = serve_command(str(planted_folder))
    with connected(StdioServerParameters(command=command[0], args=command[1:], env=mcp_env)) as session:
        yield session


def catalog(folder: Path) -> set[str]:
    with (folder / "items.csv").open() as handle:
        return {row["item_id"] for row in csv.DictReader(handle)}


def interacted(folder: Path, user: str) -> set[str]:
    """Everything the user interacted with, the held-out last item included."""
    with (folder / "interactions.csv").open() as handle:
        return {row["item_id"] for row in csv.DictReader(handle) if row["user_id"] == user}


def item_ids(payload: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in payload["items"]]


def test_tools_are_the_registry_tools_with_their_schemas_plus_recommend(
    served: Connected, planted_folder: Path, mcp_env: dict[str, str]
) -> None:
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent

    pack = Path(mcp_env["AGENTREC_TOOLS"]) / "planted.toml"
    registry = open_agent(str(planted_folder), RunSettings(fusion="rrf"), pack_path=pack).registry
    listed = {tool.name: tool for tool in served.list_tools().tools}
    assert list(listed) == [*registry.tools, "recommend"]
    for name, declared in registry.tools.items():
        schema = listed[name].input_schema
        expected = declared.spec().parameters
        if name == "item_info":  # reads only the catalog, so it takes no person
            assert schema == expected
            continue
        own = {key: value for key, value in schema["properties"].items() if key not in PERSON}
        if name == "finish":  # the registry's finish takes nothing; fusing for a client needs a length
            assert set(own) == {"k"}
            continue
        assert own == expected["properties"], name
        assert schema.get("required", []) == expected.get("required", []), name
        assert set(schema["properties"]) - set(own) == PERSON and schema["additionalProperties"] is False
    policy = listed["recommend"].input_schema["properties"]["policy"]
    assert set(policy["enum"]) == {"agent", "heuristic", "backbone"}


def test_search_returns_unseen_catalog_items(served: Connected, planted_folder: Path) -> None:
    payload = served.payload("search", {"text": "a scary horror thriller", "k": 5, "user": "cu1"})
    found = item_ids(payload)
    assert found and len(set(found)) == len(found) <= 5
    assert set(found) <= catalog(planted_folder) and not set(found) & interacted(planted_folder, "cu1")
    assert any(item.startswith("h") for item in found), found  # the text matches the horror films


@pytest.mark.parametrize("policy", ["backbone", "heuristic"])
def test_recommend_is_grounded_with_provenance(policy: str, served: Connected, planted_folder: Path) -> None:
    run = served.payload("recommend", {"user": "cu1", "k": 5, "policy": policy})
    found = item_ids(run)
    assert run["policy"] == policy and len(set(found)) == 5
    assert set(found) <= catalog(planted_folder) and not set(found) & interacted(planted_folder, "cu1")
    assert all(item["source"] and item["title"] for item in run["items"]) and run["trace_id"]
    if policy == "backbone":  # the planted answer: a comedy watcher's unseen comedies come first
        assert all(item.startswith("c") for item in found), found


def test_recommend_for_liked_items_only(served: Connected, planted_folder: Path) -> None:
    run = served.payload("recommend", {"liked": ["Horror Film 3 (1993)", "h4"], "k": 4, "policy": "backbone"})
    found = item_ids(run)
    assert len(found) == 4 and set(found) <= catalog(planted_folder) - {"h3", "h4"}
    assert all(item.startswith("h") for item in found), found


def test_pool_tools_share_one_pool_per_person_until_finish(served: Connected, planted_folder: Path) -> None:
    gathered = served.payload("retrieve", {"user": "hu2", "k": 8})
    horror = [item["item_id"] for item in gathered["items"] if "Horror" in item["genres"]]
    narrowed = served.payload("filter", {"user": "hu2", "genres": ["Horror"]})
    assert narrowed["pool_size"] == len(horror) < gathered["pool_size"]
    ranked = served.payload("rank", {"user": "hu2", "by": "popularity", "k": 3})
    assert set(item_ids(ranked)) <= set(horror) and ranked["pool_size"] == len(horror)
    assert "the pool is empty" in served.error("rank", {"user": "hu3"})  # another person, another pool
    final = served.payload("finish", {"user": "hu2", "k": 3})
    assert final["policy"] == "tools" and len(item_ids(final)) == 3
    assert set(item_ids(final)) <= catalog(planted_folder) - interacted(planted_folder, "hu2")
    assert all(item_id.startswith("h") for item_id in item_ids(final))  # the filter holds to the end
    assert "nothing is pooled" in served.error("finish", {"user": "hu2"})


@pytest.mark.parametrize(
    ("name", "arguments", "fragment"),
    [
        ("recommend", {"user": "cu1", "policy": "oracle"}, "policy: Input should be 'agent', 'heuristic'"),
        ("recommend", {"user": "nobody"}, "unknown user id 'nobody'"),
        ("recommend", {"k": 3}, "say who to recommend to"),
        ("retrieve", {"user": "cu1", "k": "many"}, "k: Input should be a valid integer"),
        ("retrieve", {"user": "cu1", "k": 0}, "k: Input should be greater than or equal to 1"),
        ("retrieve", {"value": "Western"}, "value: Input should be"),
        ("search", {"text": "horror", "mood": "dark"}, "mood: Extra inputs are not permitted"),
        ("similar", {"item": "Zzyzx Qwerty Plonk"}, "Zzyzx Qwerty Plonk"),
        ("search", {"text": "horror", "liked": ["Zzyzx Qwerty Plonk"]}, "Zzyzx Qwerty Plonk"),
        ("item_info", {"items": []}, "items: List should have at least 1 item"),
        ("rank", {"user": "cu4"}, "the pool is empty"),
    ],
)
def test_bad_arguments_are_tool_errors_and_the_server_goes_on(
    name: str, arguments: dict[str, Any], fragment: str, served: Connected
) -> None:
    assert fragment in served.error(name, arguments)
    assert len(served.list_tools().tools) == 8


def test_an_unknown_tool_is_a_protocol_error_and_the_server_goes_on(served: Connected) -> None:
    with pytest.raises(MCPError, match="unknown tool 'recommand'"):
        served.call("recommand", {})
    assert served.payload("item_info", {"items": ["c1"]})["items"][0]["item_id"] == "c1"


def test_stdout_carried_only_protocol_messages(served: Connected) -> None:
    served.payload("search", {"text": "comedy", "k": 3})  # loads nothing new, but runs the text model once more
    assert served.stream_errors == []


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["/nonexistent/planted"], "no such folder"),
        # --http 70000 is typer's usage error now: tests/ui/test_cli_edges.py
    ],
)
def test_bad_start_up_input_is_one_line_and_exit_2(arguments: list[str], fragment: str) -> None:
    result = subprocess.run(
        serve_command(*arguments), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"serve-mcp --http {port} was not listening after {TIMEOUT} s")


def test_streamable_http_serves_the_tools(planted_folder: Path, planted_pack_folder: Path) -> None:
    port = free_port()
    # The shared planted pack has no text model: nothing to load, so the server starts and stops quickly.
    env = {**os.environ, "AGENTREC_TOOLS": str(planted_pack_folder)}
    command = serve_command(str(planted_folder), "--http", str(port), "--fusion", "rrf")
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, process)
        with connected(f"http://127.0.0.1:{port}/mcp", mode="legacy") as session:
            listed = [tool.name for tool in session.list_tools().tools]
            assert listed == ["retrieve", "filter", "similar", "rank", "item_info", "finish", "recommend"]
            run = session.payload("recommend", {"user": "hu1", "k": 3, "policy": "backbone"})
            assert all(item.startswith("h") for item in item_ids(run))
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert f"serving MCP on http://127.0.0.1:{port}/mcp" in stderr


# ml-100k with the fast models only: EASE and ItemKNN fit in seconds; MiniLM (search) is tested on the planted catalog.
ML100K_PACK = """
datasets = ["ml-100k"]
item_noun = "movie"
tools = ["retrieve", "filter", "similar", "rank", "item_info", "finish"]
[models]
backbone = "ease"
similar = "itemknn"
text = ""
[attributes]
genre = "genres"
decade = "decade"
"""


@pytest.mark.realdata
def test_ml100k_recommend_over_stdio(ml100k: Path, tmp_path: Path) -> None:
    (tmp_path / "ml100k.toml").write_text(ML100K_PACK)
    env = {**os.environ, "AGENTREC_DATA_HOME": str(ml100k.parent), "AGENTREC_TOOLS": str(tmp_path)}
    command = serve_command("ml-100k", "--fusion", "rrf")
    with connected(StdioServerParameters(command=command[0], args=command[1:], env=env)) as session:
        run = session.payload("recommend", {"user": "1", "k": 10, "policy": "heuristic"})
        found = {int(item) for item in item_ids(run)}
        with (ml100k / "u.data").open() as handle:
            seen = {int(row[1]) for row in csv.reader(handle, delimiter="\t") if row[0] == "1"}
        assert len(found) == 10 and found <= set(range(1, 1683)) and not found & seen
        comedies = session.payload("retrieve", {"user": "1", "attribute": "genre", "value": "Comedy", "k": 5})
        assert all("Comedy" in item["genres"] for item in comedies["items"])
        assert "Toy Story" in session.payload("item_info", {"items": ["Toy Story"]})["items"][0]["title"]

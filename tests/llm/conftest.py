"""Fixtures for the LLM layer: loopback HTTP servers and the embedded model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentrec.llm.local import LocalChatModel, bundled_gguf_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chat_completion_body(content: str, prompt_tokens: int = 7, completion_tokens: int = 2) -> dict:
    """A minimal valid OpenAI chat completion."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass
class ScriptedReply:
    """One HTTP answer of the fake server: a status, headers and a JSON body (or a hang)."""

    status: int
    body: dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class FakeOpenAIServer:
    """A loopback server answering POST /v1/chat/completions from a script."""

    replies: list[ScriptedReply]
    requests: list[dict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _handler_for(state: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            index = min(len(state.requests), len(state.replies)) - 1
            reply = state.replies[index]
            if reply.hang:
                state.release.wait(30)
                return
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


class FakeServerFactory:
    """Starts scripted fake OpenAI servers and builds their replies."""

    def __init__(self) -> None:
        self._servers: list[tuple[ThreadingHTTPServer, FakeOpenAIServer]] = []

    def start(self, replies: list[ScriptedReply]) -> FakeOpenAIServer:
        """Serve ``replies`` in order (the last one repeats)."""
        state = FakeOpenAIServer(replies=replies)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
        server.daemon_threads = True
        state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append((server, state))
        return state

    @staticmethod
    def ok(content: str) -> ScriptedReply:
        """A valid chat completion saying ``content`` (7 prompt, 2 completion tokens)."""
        return ScriptedReply(200, chat_completion_body(content))

    @staticmethod
    def error(status: int, headers: dict[str, str] | None = None) -> ScriptedReply:
        """An OpenAI-style error answer."""
        body = {"error": {"message": f"scripted {status}", "type": "server_error"}}
        return ScriptedReply(status, body, headers or {})

    @staticmethod
    def hang() -> ScriptedReply:
        """Read the request and never answer."""
        return ScriptedReply(200, hang=True)

    def stop_all(self) -> None:
        for server, state in self._servers:
            state.release.set()
            server.shutdown()
            server.server_close()


@pytest.fixture
def fake_openai() -> Iterator[FakeServerFactory]:
    """A factory of loopback fake OpenAI servers, all stopped after the test."""
    factory = FakeServerFactory()
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def local_model() -> LocalChatModel:
    """The embedded SmolLM2 model (loaded once for the whole session)."""
    return LocalChatModel()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``llama_cpp.server`` on loopback serving the bundled GGUF; yields its /v1 URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "llama_server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(bundled_gguf_path()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base, process, log)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/v1/models", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"llama_cpp.server not ready after 90 s:\n{log.read_text()[-2000:]}")

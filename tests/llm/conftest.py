"""Fixtures for the LLM layer: scripted fake OpenAI servers on loopback.

The embedded model (``local_model``) and the real llama.cpp server (``llama_server``)
are session fixtures in tests/conftest.py, shared by every test folder.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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

"""``agentrec chat`` as a person uses it: the real REPL in a pseudo-terminal, with the embedded model.

Most tests chat about the planted catalog (comedy users and horror users), whose
answers are known; one talks about ml-100k when the data is there. Each test
waits for what the REPL prints, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

PROMPT = "you>"
TIMEOUT = 240  # generous: other jobs may share the two cores
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[=>]|\r")
ITEM_LINE = re.compile(r"^\s*(\d{1,2})\. (.+?)\s{2,}(\S.*)$")


def clean(text: str) -> str:
    return ANSI.sub("", text)


class Chat:
    """One ``agentrec chat`` process in a pseudo-terminal, and everything it printed."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            sys.executable, ["-m", "agentrec.cli", "chat", *args], env=env, encoding="utf-8",
            timeout=TIMEOUT, dimensions=(60, 220),
        )  # fmt: skip
        self.transcript = ""
        self.greeting = self.wait("for commands")
        self.wait(PROMPT)

    def wait(self, pattern: str) -> str:
        self.child.expect(pattern)
        seen = clean(self.child.before + str(self.child.after))
        self.transcript += seen
        return seen

    def say(self, line: str, until: str = "LLM calls") -> str:
        """Send a line; return what was printed up to ``until`` (a turn ends with its cost line)."""
        self.child.sendline(line)
        seen = self.wait(until)
        self.wait(PROMPT)
        return seen

    def leave(self) -> str:
        self.child.sendcontrol("d")
        seen = self.wait(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0, self.transcript[-2000:]
        assert "Traceback" not in self.transcript, self.transcript
        return seen


def items(output: str) -> list[tuple[str, str]]:
    """(title, genres) of each numbered line of the last list in ``output``."""
    found: list[tuple[str, str]] = []
    for line in output.splitlines():
        match = ITEM_LINE.match(line)
        if match:
            if match.group(1) == "1":
                found = []
            found.append((match.group(2).strip(), match.group(3).strip()))
    return found


@pytest.fixture(scope="module")
def chat_env(planted_pack_folder: Path) -> dict[str, str]:
    return {
        **os.environ, "AGENTREC_TOOLS": str(planted_pack_folder), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
        "AGENTREC_LLM_THREADS": "1",
    }  # fmt: skip


@pytest.fixture
def planted(planted_folder: Path) -> str:
    return str(planted_folder)


def test_cold_start_a_like_that_changes_the_list_and_the_commands(planted: str, chat_env: dict[str, str]) -> None:
    chat = Chat(planted, "--k", "5", env=chat_env)
    assert "cold start" in chat.greeting
    first = items(chat.say("recommend me something"))
    assert len(first) == 5
    assert "liked Horror Film 3 (1993)" in chat.say("/like Horror Film 3", until="next lists")
    second = items(chat.say("recommend me something"))
    assert second != first and "Horror Film 3 (1993)" not in [t for t, _ in second]
    assert "Horror" in second[0][1] and sum("Horror" in g for _, g in second) >= 3, second
    why = chat.say("/why 1", until="ranked it #")
    assert second[0][0] in why
    assert "observation" in chat.say("/trace", until="observation")
    assert "Horror Film 3 (1993)" in chat.say("/history", until="constraints:")
    assert "similar" in chat.say("/tools", until="finish")
    assert "/dislike" in chat.say("/help", until="for example")
    chat.child.send("/dis\t")  # Tab completes the command, then a title
    chat.child.send(" Lonely\t\r")
    assert "disliked Lonely Drama (1975)" in chat.wait("not come back")
    chat.wait(PROMPT)
    goodbye = chat.leave()
    assert re.search(r"--resume [0-9a-f]{10}", goodbye)


def test_a_dislike_is_never_recommended_again(planted: str, chat_env: dict[str, str]) -> None:
    chat = Chat(planted, "--k", "12", env=chat_env)
    first = items(chat.say("only horror"))
    assert len(first) == 12 and all("Horror" in g for _, g in first)
    disliked = first[0][0]
    assert f"disliked {disliked}" in chat.say("/dislike 1", until="not come back")
    for message in ("only horror", "more like #2", "something else", "any genre"):
        shown = [title for title, _ in items(chat.say(message))]
        assert shown and disliked not in shown, (message, shown)
    chat.leave()


def test_save_and_resume(planted: str, chat_env: dict[str, str], tmp_path: Path) -> None:
    chat = Chat(planted, "--k", "5", env=chat_env)
    listed = items(chat.say("no horror"))
    chat.say("/like 2", until="next lists")
    target = tmp_path / "saved.json"
    assert "saved to" in chat.say(f"/save {target}", until="continue it with")
    session_id = re.search(r"--resume ([0-9a-f]{10})", chat.leave())
    saved = json.loads(target.read_text())
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant"]
    assert len(saved["liked"]) == 1 and saved["constraints"]["exclude_genres"] == ["Horror"]

    resumed = Chat(planted, "--resume", str(target), env=chat_env)
    assert "resumed: 1 turns, 1 likes" in resumed.greeting
    assert items(resumed.greeting) == listed
    assert listed[1][0] in resumed.say("/history", until="constraints:")
    answer = resumed.say("only 80s")
    assert "keeping: no Horror; 1980-1989" in answer
    shown = resumed.say("/constraints", until="until you change them")
    assert "no genres: Horror" in shown and "years: 1980-1989" in shown
    resumed.leave()

    assert session_id is not None  # the file and the id are one session: it now has both turns
    by_id = Chat(planted, "--resume", session_id.group(1), env=chat_env)
    assert "resumed: 2 turns, 1 likes" in by_id.greeting
    by_id.leave()


def test_tab_completes_commands_and_titles() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from agentrec.ui.chat_input import ChatCompleter

    titles = ["The Matrix (1999)", "Alien (1979)", "Aliens (1986)", "Toy Story (1995)"]
    completer = ChatCompleter(["/like", "/dislike", "/why", "/help"], lambda: titles)

    def complete(text: str) -> list[str]:
        found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
        return [c.text for c in found]

    assert complete("/li") == ["/like"]
    assert complete("/like ali") == ["Alien (1979)", "Aliens (1986)"]
    assert complete("/like matr") == ["The Matrix (1999)"]  # a leading article is optional
    assert complete("something like toy s") == ["Toy Story (1995)"]
    assert complete("hi") == [] and complete("/unknown x") == []


class SilentServer:
    """A loopback endpoint that accepts connections and never answers: an LLM call hangs on it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.port = int(self.socket.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_ctrl_c_cancels_a_turn_and_keeps_the_session(
    planted: str, chat_env: dict[str, str], silent_server: SilentServer
) -> None:
    api = f"http://127.0.0.1:{silent_server.port}/v1"  # the model call of the turn hangs until Ctrl-C
    chat = Chat(planted, "--k", "5", "--llm", "openai/silent", "--api-base", api, env=chat_env)
    chat.child.sendline("only comedies")
    chat.wait("thinking")
    chat.child.sendintr()
    chat.wait("turn cancelled")
    chat.wait(PROMPT)
    assert "nothing said yet" in chat.say("/history", until="constraints:")
    chat.say("/model local", until="now using")
    answer = chat.say("no horror")
    assert len(items(answer)) == 5
    history = chat.say("/history", until="constraints:")
    assert "no horror" in history and "only comedies" not in history
    chat.leave()


def test_garbage_gets_a_helpful_answer(planted: str, chat_env: dict[str, str]) -> None:
    chat = Chat(planted, "--k", "5", env=chat_env)
    chat.child.sendline("")
    chat.child.sendline("   ")
    assert "no list yet" in chat.say("/like 3", until="ask for something first")
    assert "unknown command /nonsense" in chat.say("/nonsense", until="lists the commands")
    assert len(items(chat.say("🙂🙂 ünïcödé ☃ ¿qué?"))) == 5
    assert len(items(chat.say("asdf qwer zxcv"))) == 5
    assert "don't know a title" in chat.say("something like Zyzzyva Quux Returns")
    assert "message is long" in chat.say("no horror " * 1000)
    assert "from 1 to 5" in chat.say("/why", until="from 1 to 5")
    assert "from 1 to 5" in chat.say("/why 99", until="from 1 to 5")
    # what cannot be used about one item is one line, and nothing changes
    assert "1 to 5, not 0" in chat.say("/seen 0", until="not 0")
    assert "say what about it" in chat.say("/dislike 3 because", until="too old")
    assert "don't know the reason" in chat.say("/dislike 3 because it smells of cheese", until="or a genre")
    assert "disliked: -" in chat.say("/history", until="seen:")
    chat.child.send("\x1b[200~only\ncomedies\x1b[201~\r")  # a bracketed paste of two lines is one message
    pasted = chat.wait("LLM calls")
    chat.wait(PROMPT)
    assert "only Comedy" in pasted
    assert "Traceback" not in chat.transcript
    chat.leave()


def test_a_backend_failure_is_one_line_and_the_session_survives(planted: str, chat_env: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/v1"
    chat = Chat(planted, "--k", "5", "--llm", "openai/broken", "--api-base", api, env=chat_env)
    answer = chat.say("no horror")
    assert len(items(answer)) == 5
    assert answer.count("the LLM was not reached") == 1 and "LLM call failed" not in answer
    assert "now using local/" in chat.say("/model local", until=r"now using \S+")
    healthy = chat.say("only comedies")
    assert "backend failed" not in healthy and len(items(healthy)) == 5
    chat.leave()


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", "chat", *args], capture_output=True, text=True, env=env, timeout=TIMEOUT
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("no-such-dataset-anywhere",), "unknown dataset"),
        (("{planted}", "--user", "nobody"), "unknown user id 'nobody'"),
        (("{planted}", "--resume", "0123456789"), "no chat session '0123456789'"),
        # --k 0 and --resume '' are typer's usage errors now: tests/ui/test_cli_edges.py
        (("{planted}", "--llm", "/no/such/model.gguf"), "GGUF model file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], fragment: str, planted: str, chat_env: dict[str, str], tmp_path: Path
) -> None:
    result = run(*(a.format(planted=planted) for a in args), env={**chat_env, "AGENTREC_DATA_HOME": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, result.stderr

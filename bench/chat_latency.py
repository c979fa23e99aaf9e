"""How long a chat turn takes with the embedded model (issue target: a turn feels interactive).

Run:  AGENTREC_DATA_HOME=/work/shared/data python bench/chat_latency.py
      (add --no-state-cache to also time the same turns without llama.cpp's prompt-state cache,
      and --steps 0 to time turns where the model only writes the reply)

One scripted conversation is played against ml-100k twice (a cold start, then
starting from user 5), through the same ``ChatAgent.run_turn`` the REPL calls,
with the response cache off so that every turn really runs SmolLM2-135M. Each
turn is timed from the outside: the rule layer, the model's tool step, fusion,
explanations and the model's reply (timed apart too). The REPL's background
warm-up (the model's fixed prompt, the text model) runs first and is reported
on its own. Writes ``bench/out/chat_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.agent.chat.conversation import ChatAgent, ChatSettings
from agentrec.agent.chat.records import ChatSession
from agentrec.agent.policies import RunSettings
from agentrec.agent.service import open_agent
from agentrec.agent.trace import TraceStore
from agentrec.llm.factory import make_chat_model
from agentrec.llm.local import LocalChatModel
from agentrec.recsys.threads import pin_threads

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONVERSATION = (
    "something like Alien but funnier",
    "/like 2",
    "no horror",
    "more like #3",
    "/dislike 1",
    "only 90s",
    "space adventure with robots",
    "something else",
    "like Toy Story and Fargo",
    "any genre, any year",
    "scary movies from the 80s",
    "recommend me something",
)
STARTS = (None, "5")  # a cold start, then a dataset user's history


class ReplyTimer:
    """Passes calls through to a chat model and keeps the time of each free-text (reply) call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.model_id = model.model_id
        self.reply_seconds: list[float] = []

    def complete(self, messages: Any, tools: Any = None, response_schema: Any = None, settings: Any = None) -> Any:
        started = time.perf_counter()
        turn = self.model.complete(messages, tools, response_schema, settings)
        if not tools:
            self.reply_seconds.append(time.perf_counter() - started)
        return turn


def play(agent: ChatAgent, user: str | None, timer: ReplyTimer) -> list[dict[str, Any]]:
    """One conversation; the measurements of each turn (commands are not timed)."""
    session = ChatSession(dataset="ml-100k", user_id=user)
    turns = []
    for message in CONVERSATION:
        if message.startswith("/like "):
            agent.like(session, message.removeprefix("/like "))
            continue
        if message.startswith("/dislike "):
            agent.dislike(session, message.removeprefix("/dislike "))
            continue
        replies = len(timer.reply_seconds)
        started = time.perf_counter()
        result = agent.run_turn(session, message)
        seconds = time.perf_counter() - started
        reply = sum(timer.reply_seconds[replies:])
        steps = result.run.steps
        turns.append(
            {
                "start": user or "cold",
                "message": message,
                "seconds": round(seconds, 3),
                "llm_calls": result.record.llm_calls,
                "step_llm_s": round(sum(s.llm_ms for s in steps) / 1000.0, 3),
                "reply_s": round(reply, 3),
                "tool_ms": round(sum(s.tool_ms for s in steps), 2),
                "model_tools": [s.tool for s in steps if not s.thought.startswith("rule:")],
                "first_item": result.record.items[0].title if result.record.items else None,
            }
        )
        print(f"{seconds:6.2f} s  {result.record.llm_calls} LLM calls  {message}", flush=True)
    return turns


def summary(turns: list[dict[str, Any]]) -> dict[str, float]:
    seconds = np.array([t["seconds"] for t in turns])
    return {
        "turns": len(turns),
        "median_s": round(float(np.median(seconds)), 2),
        "p95_s": round(float(np.percentile(seconds, 95)), 2),
        "mean_s": round(float(seconds.mean()), 2),
        "max_s": round(float(seconds.max()), 2),
        "first_turn_s": round(float(seconds[0]), 2),
        "median_step_llm_s": round(float(np.median([t["step_llm_s"] for t in turns])), 2),
        "median_reply_s": round(float(np.median([t["reply_s"] for t in turns])), 2),
        "llm_calls_per_turn": round(statistics.mean(t["llm_calls"] for t in turns), 2),
    }


def run(state_cache: bool, steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    service = open_agent("ml-100k", RunSettings(k=8, fusion="rrf"), backbone="ease")
    model = make_chat_model("local", cache="off")
    local = model.backend
    assert isinstance(local, LocalChatModel)
    local.loaded  # noqa: B018  # loads the GGUF now, so the first turn measures a turn
    if state_cache:
        model.keep_prompt_states()  # as the REPL does
    else:
        local.loaded.llama.set_cache(None)  # the model is shared within the process
    startup = time.perf_counter() - started
    traces = TraceStore(Path(tempfile.mkdtemp()) / "traces.duckdb")
    timer = ReplyTimer(model)
    settings = ChatSettings(k=8, llm_steps=steps)
    agent = ChatAgent(service.workspace, service.registry, timer, settings, traces)  # type: ignore[arg-type]
    started = time.perf_counter()
    agent.warm_up()
    warm_up = time.perf_counter() - started
    turns = [turn for user in STARTS for turn in play(agent, user, timer)]
    timings = {"startup_s": round(startup, 2), "warm_up_s": round(warm_up, 2)}
    return {"state_cache": state_cache, "llm_steps": steps, **timings, **summary(turns), "per_turn": turns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-state-cache", action="store_true", help="also time the turns without it")
    parser.add_argument("--steps", type=int, default=ChatSettings().llm_steps, help="the model's tool steps per turn")
    args = parser.parse_args()
    pin_threads()
    load_before = os.getloadavg()
    runs = [run(state_cache=True, steps=args.steps)]
    if args.no_state_cache:
        runs.append(run(state_cache=False, steps=args.steps))
    report = {
        "dataset": "ml-100k",
        "backbone": "ease",
        "llm": "local (SmolLM2-135M-Instruct Q4_1)",
        "settings": {"k": 8, "llm_steps": args.steps, "response_cache": "off"},
        "machine": {
            "platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "AGENTREC_DATA_HOME=/work/shared/data python bench/chat_latency.py"
        + (" --no-state-cache" if args.no_state_cache else "")
        + (f" --steps {args.steps}" if args.steps != ChatSettings().llm_steps else ""),
        "runs": runs,
    }
    OUT.mkdir(exist_ok=True)
    default_steps = args.steps == ChatSettings().llm_steps
    path = OUT / ("chat_latency.json" if default_steps else f"chat_latency_steps{args.steps}.json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    for entry in runs:
        shown = {k: v for k, v in entry.items() if k != "per_turn"}
        print(json.dumps(shown))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""The embedded model as shipped (Q4_1) against its Q8_0 re-encoding: speed and sameness.

Side by side in one run, one llama.cpp thread each, alternating:
* prompt evaluation (tokens/s) of 1,000 fresh tokens and of 300 tokens after 1,000;
* decoding (tokens/s), one token per step after 1,300 tokens of context;
* sameness on short chat prompts: log P of a continuation (nats) and greedy text.

    python bench/llm_encoding.py [--json bench/out/llm_encoding.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from agentrec.llm.local import LocalChatModel, bundled_gguf_path, embedded_gguf_path
from agentrec.llm.records import GenerationSettings, Message

PROBES = [
    "Recommend three science fiction movies from the 1990s.",
    "What is the capital of France?",
    "Write a haiku about coffee.",
    "I liked Toy Story and Babe. What should I watch next?",
    "Which coffee machine is best for cold brew?",
    "Explain collaborative filtering in one sentence.",
    "Name a good comedy from 1995.",
    "Give me a JSON object with a key 'genre'.",
]
REPEATS = 3


def _speed(model: LocalChatModel) -> dict[str, float]:
    llama = model.loaded.llama
    tokens = llama.tokenize(("The quick brown fox jumps over the lazy dog. " * 200).encode())[:1400]
    timings: dict[str, float] = {}
    llama.n_tokens = 0
    started = time.perf_counter()
    llama.eval(tokens[:1000])
    timings["prompt_fresh"] = 1000 / (time.perf_counter() - started)
    started = time.perf_counter()
    llama.eval(tokens[1000:1300])
    timings["prompt_after_1000"] = 300 / (time.perf_counter() - started)
    started = time.perf_counter()
    for token in tokens[1300:1350]:
        llama.eval([token])
    timings["decode"] = 50 / (time.perf_counter() - started)
    return timings


def _sameness(shipped: LocalChatModel, encoded: LocalChatModel) -> dict[str, Any]:
    settings = GenerationSettings(max_tokens=40)
    gaps, same = [], 0
    for probe in PROBES:
        messages = [Message.system("You are a helpful assistant."), Message.user(probe)]
        gaps.append(abs(shipped.logprob(messages, " Sure, here") - encoded.logprob(messages, " Sure, here")))
        same += shipped.complete(messages, settings=settings).text == encoded.complete(messages, settings=settings).text
    return {
        "probes": len(PROBES),
        "greedy_identical": same,
        "logprob_gap_max": max(gaps),
        "logprob_gap_median": statistics.median(gaps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=Path("bench/out/llm_encoding.json"))
    args = parser.parse_args()
    sides = {
        "shipped Q4_1": LocalChatModel(bundled_gguf_path(), n_threads=1),
        "Q8_0": LocalChatModel(embedded_gguf_path(), n_threads=1),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(REPEATS):
        for name, model in sides.items():
            runs[name].append(_speed(model))
    medians = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
    result = {"medians_tokens_per_s": medians, "repeats": REPEATS, "sameness": _sameness(*sides.values())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print("| measure | shipped Q4_1 | Q8_0 | ratio |")
    print("|---|---|---|---|")
    shipped, encoded = medians["shipped Q4_1"], medians["Q8_0"]
    for key in shipped:
        print(f"| {key} tokens/s | {shipped[key]:.0f} | {encoded[key]:.0f} | {encoded[key] / shipped[key]:.2f}x |")
    print(json.dumps(result["sameness"]))


if __name__ == "__main__":
    main()

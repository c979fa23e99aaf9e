"""Can an audit reply be decoded faster on this CPU? Plain greedy decoding against the alternatives.

An audit pair spends most of its time decoding (up to two 256-token replies after ~720-token
prompts). On the audit's own prompts (coffee catalog, seeded orders), one llama.cpp thread,
side by side in one run:

* ``plain``: greedy, one token per llama.cpp call (what ``agentrec audit`` does);
* ``lookup-builtin``: llama-cpp-python's ``LlamaPromptLookupDecoding`` draft model (it needs
  ``logits_all``, so every prompt token's logits are computed too);
* ``lookup-verify``: prompt-lookup drafts verified in one batch, with logits computed only at
  the verified positions (the cheapest form of the same idea);
* decode cost per token at 10 and 800 tokens of context: Q8_0, Q8_0 with flash attention, and
  the shipped Q4_1 file.

Each reply is compared with the plain one: llama.cpp rounds a batch differently from a single
token, so where two tokens nearly tie a batched method writes different greedy text.

    python bench/audit_decoding.py [--orders 6] [--json bench/out/audit_decoding.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.audit.catalog import load_catalog
from agentrec.audit.paired_evaluation import evaluation_orders
from agentrec.audit.prompt import RecommenderPrompt, default_request
from agentrec.llm.local import LocalChatModel, bundled_gguf_path, embedded_gguf_path

MAX_TOKENS = 256
DRAFT_TOKENS = 8
NGRAM = 3


def _logits(llama: Any, row: int) -> np.ndarray:
    return np.ctypeslib.as_array(llama._ctx.get_logits_ith(row), shape=(llama.n_vocab(),))


def plain_greedy(llama: Any, prompt: list[int]) -> list[int]:
    """One token per call, as create_completion does with temperature 0."""
    llama.reset()
    llama.eval(prompt)
    out: list[int] = []
    while len(out) < MAX_TOKENS:
        token = int(_logits(llama, -1).argmax())
        if token == llama.token_eos():
            break
        out.append(token)
        llama.eval([token])
    return out


def _draft(sequence: list[int]) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the sequence's last n-gram."""
    tokens = np.asarray(sequence)
    for size in range(min(NGRAM, len(tokens) - 1), 0, -1):
        windows = np.lib.stride_tricks.sliding_window_view(tokens[:-1], size)
        hits = np.nonzero(np.all(windows == tokens[-size:], axis=1))[0]
        if len(hits):
            start = int(hits[-1]) + size
            return tokens[start : start + DRAFT_TOKENS].tolist()
    return []


def lookup_verify(llama: Any, prompt: list[int]) -> tuple[list[int], int]:
    """Prompt-lookup decoding: evaluate the last token plus a draft; keep the draft while it matches."""
    llama.reset()
    llama.eval(prompt)
    token, out, steps, sequence = int(_logits(llama, -1).argmax()), [], 0, list(prompt)
    while token != llama.token_eos() and len(out) < MAX_TOKENS:
        out.append(token)
        sequence.append(token)
        draft = _draft(sequence)[: MAX_TOKENS - len(out)]
        batch, past = [token, *draft], llama.n_tokens
        llama._ctx.kv_cache_seq_rm(-1, past, -1)
        llama._batch.set_batch(batch=batch, n_past=past, logits_all=True)
        llama._ctx.decode(llama._batch)
        steps += 1
        accepted = 0
        for row in range(len(batch)):
            token = int(_logits(llama, row).argmax())
            if row < len(draft) and token == draft[row] and token != llama.token_eos() and len(out) < MAX_TOKENS:
                out.append(token)
                sequence.append(token)
                accepted += 1
                continue
            break
        llama.input_ids[past : past + 1 + accepted] = batch[: 1 + accepted]
        llama.n_tokens = past + 1 + accepted
    return out[:MAX_TOKENS], steps


def lookup_builtin(llama: Any, prompt_text: str, stop: list[str]) -> str:
    llama.reset()
    reply = llama.create_completion(prompt_text, max_tokens=MAX_TOKENS, temperature=0.0, seed=0, stop=stop)
    return str(reply["choices"][0]["text"])


def decode_ms_per_token(path: Path, flash_attn: bool, context: int) -> float:
    from llama_cpp import Llama

    llama = Llama(
        model_path=str(path), n_ctx=4096, n_threads=1, n_threads_batch=1, verbose=False, flash_attn=flash_attn
    )
    tokens = llama.tokenize(b"Products: " + b"a coffee machine with a grinder, " * 90)[:800]
    llama.eval(tokens[:context])
    started = time.perf_counter()
    for step in range(64):
        llama.eval([tokens[step % 50]])
    elapsed = (time.perf_counter() - started) / 64 * 1000
    llama.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=6, help="seeded product orders (prompts) to decode")
    parser.add_argument("--json", type=Path, default=Path("bench/out/audit_decoding.json"))
    args = parser.parse_args()
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    catalog = load_catalog(Path(__file__).resolve().parent.parent / "catalogs" / "coffee_machines.jsonl")
    prompt = RecommenderPrompt(request=default_request("coffee_machines"))
    model = LocalChatModel(n_threads=1)
    llama = model.loaded.llama
    # logits_all=True by hand: llama-cpp-python 0.3 sizes its score buffer from the argument, not
    # from the draft model's requirement, and fails on the first batch without it.
    builtin = Llama(
        model_path=str(embedded_gguf_path()),
        n_ctx=4096,
        n_threads=1,
        n_threads_batch=1,
        verbose=False,
        logits_all=True,
        draft_model=LlamaPromptLookupDecoding(num_pred_tokens=DRAFT_TOKENS),
    )
    stop = [model.loaded.eos_text]
    rows: list[dict[str, Any]] = []
    for order in evaluation_orders(len(catalog.products), args.orders, 0):
        text = model.render_prompt(prompt.messages(catalog.ordered(order)))
        tokens = model._tokens(text)
        started = time.perf_counter()
        reference = plain_greedy(llama, tokens)
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        verified, steps = lookup_verify(llama, tokens)
        verify_s = time.perf_counter() - started
        started = time.perf_counter()
        builtin_text = lookup_builtin(builtin, text, stop)
        builtin_s = time.perf_counter() - started
        reference_text = llama.detokenize(reference).decode("utf-8", "replace")
        rows.append(
            {
                "prompt_tokens": len(tokens),
                "reply_tokens": len(reference),
                "plain_s": plain_s,
                "lookup_verify_s": verify_s,
                "lookup_builtin_s": builtin_s,
                "lookup_verify_tokens_per_step": len(verified) / max(steps, 1),
                "lookup_verify_same": verified == reference,
                "lookup_builtin_same": builtin_text == reference_text,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    builtin.close()
    decode = {
        f"{name}_ctx{context}": decode_ms_per_token(path, flash, context)
        for name, path, flash in (
            ("q8_0", embedded_gguf_path(), False),
            ("q8_0_flash", embedded_gguf_path(), True),
            ("q4_1_shipped", bundled_gguf_path(), False),
        )
        for context in (10, 800)
    }
    summary = {
        "replies": len(rows),
        "plain_s": sum(r["plain_s"] for r in rows),
        "lookup_verify_s": sum(r["lookup_verify_s"] for r in rows),
        "lookup_builtin_s": sum(r["lookup_builtin_s"] for r in rows),
        "lookup_verify_same": sum(r["lookup_verify_same"] for r in rows),
        "lookup_builtin_same": sum(r["lookup_builtin_same"] for r in rows),
        "decode_ms_per_token": decode,
    }
    print(f"\n| method | time for {len(rows)} replies | vs plain | replies identical to plain |")
    print("|---|---|---|---|")
    for name in ("plain", "lookup_builtin", "lookup_verify"):
        same = len(rows) if name == "plain" else summary[f"{name}_same"]
        seconds = summary[f"{name}_s"]
        print(f"| {name} | {seconds:.1f} s | {summary['plain_s'] / seconds:.2f}x | {same} of {len(rows)} |")
    print("\ndecode ms/token: " + ", ".join(f"{k} {v:.1f}" for k, v in decode.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

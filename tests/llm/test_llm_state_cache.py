"""The opt-in prompt-state cache: prompts used in turn keep their evaluated states."""

from __future__ import annotations

from agentrec.llm.local import LocalChatModel
from agentrec.llm.records import GenerationSettings, Message


def test_alternating_prompts_keep_their_states() -> None:
    model = LocalChatModel(n_ctx=1024)  # its own llama.cpp instance: the shared one stays as it was
    assert model.loaded.llama.cache is None  # off unless asked for
    model.keep_prompt_states(capacity_bytes=64 << 20)
    cache = model.loaded.llama.cache
    settings = GenerationSettings(max_tokens=8)
    first = [Message.system("You recommend films."), Message.user("Name one comedy.")]
    second = [Message.system("You are terse."), Message.user("Say hello.")]
    sizes = []
    for messages in (first, second, first):
        assert model.complete(messages, settings=settings).text
        sizes.append(cache.cache_size)
    assert 0 < sizes[0] < sizes[1]  # both prompts' states are kept, so switching back restores one

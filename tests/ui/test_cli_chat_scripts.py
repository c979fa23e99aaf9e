"""Twenty scripted conversations against the real ``agentrec chat`` on ml-100k, in a pseudo-terminal.

The conversations and what each turn must not show are in ``chat_scripts.py``: titles
the person said they loved, saw or hated; items outside a constraint in force; and,
in every reply, a sentence whose genres or years contradict the catalog. The embedded
model (SmolLM2-135M) writes every reply. Its tool step is off (``--steps 0``) to keep
the suite's time; it cannot change what is checked here, because the model cannot call
``filter`` and every list is grounded in the constraints. ``bench/chat_trust.py --parts
scripts`` plays the same conversations with the tool step on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import real_dataset
from tests.ui.chat_scripts import SCRIPTS, Listed, ScriptState, contradiction, sentences
from tests.ui.test_cli_chat import PROMPT, Chat, items


@pytest.mark.realdata
@pytest.mark.slow
def test_twenty_conversations_never_show_a_named_title_a_broken_constraint_or_a_false_sentence(
    tmp_path: Path,
) -> None:
    data = real_dataset("ml-100k")
    env = {
        **os.environ, "AGENTREC_DATA_HOME": str(data.parent), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
        "AGENTREC_LLM_THREADS": "2",
    }  # fmt: skip
    chat = Chat("ml-100k", "--steps", "0", env=env)
    problems: list[str] = []
    replies = 0
    for number, script in enumerate(SCRIPTS, start=1):
        state = ScriptState()
        for turn in script:
            state.before(turn)
            said = turn["say"]
            if said.startswith("/seen"):
                chat.say(said, until="will not be recommended")
                continue
            if said.startswith("/dislike"):
                chat.say(said, until="will not come back")
                continue
            answer = chat.say(said)
            listed = [Listed(title, tuple(g.split(", "))) for title, g in items(answer)]
            assert listed, (said, answer)
            state.last = listed
            problems += [f"#{number} {said!r}: {v}" for v in state.violations(turn, listed)]
            problems += [f"#{number} {said!r}: note missing {word!r}" for word in turn.get("keeping", [])
                         if word not in answer]  # fmt: skip
        saved = tmp_path / f"conversation-{number}.json"
        chat.say(f"/save {saved}", until="continue it with")
        for record in json.loads(saved.read_text())["turns"]:
            shown = [Listed(item["title"], tuple(item["genres"])) for item in record["items"]]
            for sentence in sentences(record["reply"]):
                replies += 1
                if (why := contradiction(sentence, shown)) is not None:
                    problems.append(f"#{number} reply {sentence!r}: {why}")
        chat.child.sendline("/reset")
        chat.wait("started over")
        chat.wait(PROMPT)
    chat.leave()
    assert replies >= 90  # every turn's reply was read and checked
    assert not problems, "\n".join(problems)

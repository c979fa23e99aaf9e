"""A simulated user's chat with the conversational agent, through the agent's public functions.

The agent is what ``agentrec chat`` runs: ``open_agent`` builds the workspace
(the dataset's tool pack, ``backbone`` behind ``retrieve``, reciprocal-rank
fusion), and ``ChatAgent.run_turn`` answers one message with rules, the LLM's
tool calls and a fused, grounded list. Every simulated chat is a new one-turn
``ChatSession`` for the real user the simulated one was built from, so no chat
depends on another session's chat, whatever process runs it.

The agent knows the user's history from its own split (leave-one-out), which is
not the simulation's; items the simulated user has seen or watched are dropped
from the answer here, so the agent is asked for twice the list it must return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentrec.data.interactions import Vocabulary
from agentrec.llm.records import ChatModel
from agentrec.sim.scenario import ChatSpec

if TYPE_CHECKING:
    from agentrec.agent.chat.conversation import ChatAgent


@dataclass(frozen=True)
class AgentAnswer:
    """What the agent said and listed (dense item indices, unseen by the user), and its LLM tokens."""

    reply: str
    items: list[int]
    tokens: int


class AgentChat:
    """One conversational agent per process, opened on first use."""

    def __init__(
        self,
        spec: ChatSpec,
        dataset: str,
        seed: int,
        items: Vocabulary,
        chat_model: Callable[[], ChatModel] | None,
    ) -> None:
        self.spec = spec
        self.dataset = dataset
        self.seed = seed
        self.items = items
        self.chat_model = chat_model
        self._agent: ChatAgent | None = None

    def open(self) -> ChatAgent:
        """The agent, with its models fitted (or loaded from the model store) on first use."""
        if self._agent is None:
            from agentrec.agent.chat.conversation import ChatAgent, ChatSettings
            from agentrec.agent.policies import RunSettings
            from agentrec.agent.service import open_agent

            spec = self.spec
            pack = Path(spec.pack).expanduser() if spec.pack else None
            service = open_agent(
                self.dataset, RunSettings(k=2 * spec.results, fusion="rrf"), pack_path=pack, backbone=spec.backbone
            )
            model = self.chat_model() if spec.agent_llm and self.chat_model is not None else None
            settings = ChatSettings(k=2 * spec.results, llm_steps=spec.llm_steps, seed=self.seed)
            self._agent = ChatAgent(service.workspace, service.registry, model, settings)
        return self._agent

    def ask(self, user_id: str, message: str, exclude: set[int]) -> AgentAnswer:
        """One turn for ``user_id``: the agent's reply and its list without the ``exclude`` items."""
        from agentrec.agent.chat.records import ChatSession

        agent = self.open()
        session = ChatSession(dataset=self.dataset, user_id=user_id)
        result = agent.run_turn(session, message)
        listed = [self.items.index(i.item_id) for i in result.record.items if i.item_id in self.items]
        kept = [item for item in listed if item not in exclude][: self.spec.results]
        return AgentAnswer(result.record.reply, kept, result.run.tokens)

"""Fixtures of the audit tests: the shipped catalogs, small bad catalogs, and a model with a planted answer.

``PlantedLogprobModel`` is a synthetic recommender whose log P("1. <target>")
is known: it grows with the number of shopping words in the target's line.
Optimiser tests check that the search finds what was planted. Control-flow
tests use ``ScriptedChatModel``; tests where the real model matters use the
session's embedded SmolLM2 (``local_model`` in tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agentrec.audit.catalog import Catalog, load_catalog
from agentrec.llm.records import (
    AssistantTurn,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolSpec,
)

if TYPE_CHECKING:
    from agentrec.audit.gcg_model import TorchChatLM
    from agentrec.audit.gcg_prompt import PromptLayout
    from agentrec.audit.optimizers import StsProblem
    from agentrec.llm.local import LocalChatModel

CATALOGS = Path(__file__).resolve().parents[2] / "catalogs"
PLANTED_WORDS = frozenset({"best", "top", "first", "recommended", "premium"})


@pytest.fixture
def coffee_path() -> Path:
    return CATALOGS / "coffee_machines.jsonl"


@pytest.fixture
def coffee() -> Catalog:
    return load_catalog(CATALOGS / "coffee_machines.jsonl")


class PlantedLogprobModel:
    """Ranks the target first more surely the more planted words its line holds; replies list names."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.logprob_calls = 0
        self.completions = 0

    @property
    def model_id(self) -> str:
        return "planted/logprob"

    def _target_line(self, messages: list[Message]) -> str:
        return next(line for line in messages[1].content.splitlines() if self.target in line)

    def logprob(self, messages: list[Message], continuation: str) -> float:
        self.logprob_calls += 1
        words = [w.strip(".,\"'{}").lower() for w in self._target_line(messages).split()]
        return -10.0 + sum(w in PLANTED_WORDS for w in words)

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Lists products in prompt order, the target first once it holds two planted words."""
        self.completions += 1
        lines = [line for line in messages[1].content.splitlines() if line.startswith("{")]
        names = [line.split('"Name": "')[1].split('"')[0] for line in lines]
        if self.logprob(messages, "") >= -8.0:
            names.remove(self.target)
            names.insert(0, self.target)
        listing = "\n".join(f"{i}. {name}" for i, name in enumerate(names, start=1))
        return AssistantTurn(text=listing.removeprefix("1."))  # the recommender's prefill says "1."


@pytest.fixture
def planted_model() -> PlantedLogprobModel:
    return PlantedLogprobModel("ColdBrew Master")


# The torch optimisers' fixtures (gcg, stealth), on the four-product catalog. Their modules skip
# without the gcg extra; the imports are inside so that the other audit tests never load torch.
@pytest.fixture(scope="module")
def lm(local_model: LocalChatModel) -> TorchChatLM:
    from agentrec.audit.gcg_model import load_torch_chat_lm

    return load_torch_chat_lm(local_model.path)


@pytest.fixture(scope="module")
def problem(local_model: LocalChatModel) -> StsProblem:
    from agentrec.audit.optimizers import StsProblem
    from agentrec.audit.prompt import RecommenderPrompt
    from agentrec.audit.recommender import AuditedRecommender
    from tests.audit.four_products import REQUEST, TARGET, four_products

    recommender = AuditedRecommender(local_model, RecommenderPrompt(request=REQUEST))
    return StsProblem(catalog=four_products(), target=TARGET, recommender=recommender)


@pytest.fixture(scope="module")
def layout(problem: StsProblem, lm: TorchChatLM, local_model: LocalChatModel) -> PromptLayout:
    from agentrec.audit.gcg_prompt import build_layout

    return build_layout(problem, (2, 1, 0, 3), local_model.render_prompt, lm)

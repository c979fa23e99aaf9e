"""The choice models by name, as a scenario's ``users.choice_model`` names them.

Kept apart from ``choice.py``: the ``llm`` model builds on the hybrid one there,
so only a module above both can list all three.
"""

from __future__ import annotations

from agentrec.core.errors import ConfigError
from agentrec.sim.choice import HybridChoice, StatisticalChoice
from agentrec.sim.llm_choice import LlmChoice

CHOICE_MODELS: dict[str, type[StatisticalChoice]] = {
    "hybrid": HybridChoice,
    "statistical": StatisticalChoice,
    "llm": LlmChoice,
}


def make_choice_model(name: str) -> StatisticalChoice:
    """The choice model called ``name``."""
    if name not in CHOICE_MODELS:
        raise ConfigError(f"unknown choice model {name!r}; choose from {', '.join(CHOICE_MODELS)}")
    return CHOICE_MODELS[name]()

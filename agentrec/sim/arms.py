"""Which arm a scenario names: checked before any data is loaded, then built over the run's context.

The kinds of arm are in ``agentrec.sim.recommenders`` (CF models, the agent) and
``agentrec.sim.adaptive`` (recommenders that learn from the pages they showed).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from agentrec.core.errors import ConfigError
from agentrec.llm.records import ChatModel
from agentrec.recsys.registry import MODEL_NAMES, make_model
from agentrec.sim.adaptive import ADAPTIVE_RECOMMENDERS, adaptive_params, make_adaptive_arm
from agentrec.sim.recommenders import AgentArm, ArmContext, CFArm, SimRecommender
from agentrec.sim.scenario import ArmSpec


def check_arm(spec: ArmSpec) -> None:
    """Fail fast (before any data is loaded) on an unknown recommender or a bad model parameter."""
    if spec.recommender == "agent":
        return
    if spec.recommender in ADAPTIVE_RECOMMENDERS:
        adaptive_params(spec)
        return
    if ":" in spec.recommender:
        _load_class(spec)
        return
    if spec.recommender.lower() not in MODEL_NAMES:
        raise ConfigError(
            f"arm {spec.name!r}: unknown recommender {spec.recommender!r}; use a model "
            f"({', '.join(MODEL_NAMES)}), 'agent', {', '.join(repr(n) for n in ADAPTIVE_RECOMMENDERS)},"
            " or 'package.module:Class'"
        )
    make_model(spec.recommender, **spec.params)


def make_arm(spec: ArmSpec, context: ArmContext, chat_model: Callable[[], ChatModel] | None) -> SimRecommender:
    """The arm ``spec`` names; ``ConfigError`` for an unknown model or a class that cannot be loaded."""
    check_arm(spec)
    if spec.recommender == "agent":
        return AgentArm(spec, context, chat_model)
    if spec.recommender in ADAPTIVE_RECOMMENDERS:
        return make_adaptive_arm(spec, context)
    if ":" in spec.recommender:
        arm = _load_class(spec)(context, **spec.params)
        if not isinstance(arm, SimRecommender):
            raise ConfigError(f"arm {spec.name!r}: {spec.recommender} lacks start_round() and recommend()")
        return arm
    return CFArm(spec, context)


def _load_class(spec: ArmSpec) -> Any:
    module_name, _, class_name = spec.recommender.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"arm {spec.name!r}: cannot load {spec.recommender!r} ({error})") from None

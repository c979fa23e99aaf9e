"""Model names the CLI and tool packs use, mapped to classes (imported lazily).

Lazy because torch and sentence-transformers take seconds to import and most runs
need neither.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from agentrec.core.errors import ConfigError
from agentrec.recsys.base import Recommender

_MODEL_PATHS: dict[str, str] = {
    "mostpop": "agentrec.recsys.popularity:MostPop",
    "itemknn": "agentrec.recsys.itemknn:ItemKNN",
    "ease": "agentrec.recsys.ease:EASE",
    "als": "agentrec.recsys.factor_models:ALS",
    "bpr": "agentrec.recsys.bpr:BPR",
    "sasrec": "agentrec.recsys.sasrec:SASRec",
    "text": "agentrec.recsys.text_similarity:TextSimilarity",
}

MODEL_NAMES: tuple[str, ...] = tuple(_MODEL_PATHS)


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; ``ConfigError`` names the known models."""
    try:
        module_name, class_name = _MODEL_PATHS[name.lower()].split(":")
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None
    cls: type[Recommender] = getattr(importlib.import_module(module_name), class_name)
    return cls


def make_model(name: str, **params: Any) -> Recommender:
    """A fresh, unfitted model by name; bad hyper-parameters raise ``ConfigError``."""
    cls = model_class(name)
    try:
        return cls(**params)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{name}: invalid parameter {field!r}: {first['msg']}") from None

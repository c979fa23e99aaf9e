"""Fitted models on disk, keyed by (dataset fingerprint, split, model name, config hash).

A second run with the same key loads instead of refitting. Each model is a folder
written by the model's own ``save`` (numpy ``.npz`` for matrices, a torch
``state_dict`` for SASRec) into a temporary sibling and renamed into place, so a
crash never leaves a half-written model that later loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from agentrec.core.files import folder_replaced_into_place
from agentrec.core.paths import state_dir
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import CONFIG_FILE, Recommender
from agentrec.recsys.registry import model_class

logger = logging.getLogger(__name__)

# What a garbage or truncated model folder raises on load: numpy (ValueError for object data, EOFError,
# BadZipFile), torch (RuntimeError, UnpicklingError), json (ValueError), a missing file (OSError, KeyError).
UNREADABLE_MODEL: tuple[type[Exception], ...] = (
    OSError, EOFError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile, pickle.UnpicklingError,
)  # fmt: skip


def config_hash(config: BaseModel) -> str:
    """A short stable hash of a model config (sorted JSON, sha256)."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelKey:
    """Identifies one fitted model: the data it saw, and what it is."""

    dataset: str
    split: str
    model: str
    config_hash: str

    @classmethod
    def for_model(cls, model: Recommender, dataset: str, split: str) -> ModelKey:
        """The key of ``model`` (its name and config hash) fitted on ``dataset``/``split``."""
        return cls(dataset, split, model.name, config_hash(model.config))

    def relative_path(self) -> Path:
        parts = (self.dataset, self.split, self.model, self.config_hash)
        return Path(*(_safe_component(part) for part in parts))


class ModelStore:
    """A folder of fitted models (default: the ``models`` state folder)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else state_dir("models")

    def path(self, key: ModelKey) -> Path:
        return self.root / key.relative_path()

    def contains(self, key: ModelKey) -> bool:
        return (self.path(key) / CONFIG_FILE).is_file()

    def save(self, model: Recommender, key: ModelKey) -> Path:
        """Write ``model`` under ``key`` atomically, replacing any earlier version."""
        target = self.path(key)
        with folder_replaced_into_place(target) as staging:
            model.save(staging)
        return target

    def load(self, key: ModelKey) -> Recommender:
        """The fitted model stored under ``key`` (``FileNotFoundError`` if absent)."""
        folder = self.path(key)
        meta = json.loads((folder / CONFIG_FILE).read_text())
        return model_class(meta["model"]).load(folder)

    def fit_or_load(
        self,
        model: Recommender,
        train: Interactions,
        valid: Interactions | None,
        dataset: str,
        split: str,
    ) -> tuple[Recommender, bool]:
        """Load the stored fit of ``model``'s config on this data, or fit and store it.

        Returns the fitted model and whether it was loaded (True) or fitted (False).
        """
        key = ModelKey.for_model(model, dataset, split)
        if self.contains(key):
            logger.info("loading %s from %s", key.model, self.path(key))
            try:
                return self.load(key), True
            except UNREADABLE_MODEL as error:
                # A fitted model is derived from the data: refit it rather than fail (the save replaces it).
                reason = (str(error).splitlines() or [type(error).__name__])[0]
                logger.warning("%s is unreadable (%s); refitting %s", self.path(key), reason, key.model)
        model.fit(train, valid)
        self.save(model, key)
        return model, False


def _safe_component(text: str) -> str:
    """A path component from any string: unsafe characters replaced, never empty or dotted."""
    cleaned = re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip(".")
    return cleaned or "_"

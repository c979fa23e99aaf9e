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
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from agentrec.core.paths import state_dir
from agentrec.data.interactions import Interactions
from agentrec.recsys.base import CONFIG_FILE, Recommender
from agentrec.recsys.registry import model_class

logger = logging.getLogger(__name__)


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
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            model.save(staging)
            if target.exists():
                # os.replace cannot replace a non-empty folder: move the old one aside first
                retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
                os.replace(target, retired / "model")
                os.replace(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
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
            return self.load(key), True
        model.fit(train, valid)
        self.save(model, key)
        return model, False


def _safe_component(text: str) -> str:
    """A path component from any string: unsafe characters replaced, never empty or dotted."""
    cleaned = re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip(".")
    return cleaned or "_"

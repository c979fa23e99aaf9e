"""Tool packs: per dataset, which fitted model backs which tool, which attributes exist, what the LLM reads.

A pack is a TOML file in ``tools/`` (or in ``$AGENTREC_TOOLS``, or given by path).
The first pack whose ``datasets`` list names the dataset is used; a dataset no
pack names gets the generic pack, built from what its catalog holds. A pack adds
a tool by naming a typed ``@tool`` function as ``module:function`` or
``file.py:function`` (a file path is relative to the pack).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from agentrec.agent.registry import Tool
from agentrec.core.errors import ConfigError

BUILTIN_TOOLS = (
    "retrieve", "filter", "search", "similar", "retrieve_by_interest", "rank", "item_info", "finish",
)  # fmt: skip


class PackModels(BaseModel):
    """Which registered recommender model backs each tool."""

    backbone: str = Field(default="ease", description="retrieve and rank(by=score): a full-ranking CF model")
    similar: str | None = Field(default="itemknn", description="similar(item): an item-item model (None: text)")
    text: str | None = Field(default="text", description="search(text) and rank(by=similarity): the MiniLM model")
    features: list[str] = Field(
        default_factory=list, description="more models whose scores only inform the learned fusion (finish)"
    )
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="hyper-parameters per model")

    @field_validator("similar", "text", mode="before")
    @classmethod
    def _none_word(cls, value: object) -> object:
        # TOML has no null: "" or "none" switches a tool's model off.
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value


class ToolPack(BaseModel):
    """A parsed tool pack."""

    name: str
    datasets: list[str] = Field(default_factory=list)
    item_noun: str = "item"
    models: PackModels = Field(default_factory=lambda: PackModels())
    attributes: dict[str, str] = Field(
        default_factory=dict, description="attribute the LLM names -> catalog column (decade: from year)"
    )
    tools: list[str] = Field(default_factory=lambda: list(BUILTIN_TOOLS))
    descriptions: dict[str, str] = Field(default_factory=dict, description="tool name -> description override")
    persona: str = ""
    chat: dict[str, Any] = Field(
        default_factory=dict, description="the chat's words-to-constraints rules (agentrec.agent.chat.chat_rules)"
    )
    source: str = "builtin"

    def extra_tools(self) -> list[Tool]:
        """The tools named by import path (``module:function`` or ``file.py:function``)."""
        return [_import_tool(reference, Path(self.source).parent) for reference in self.tools if ":" in reference]

    def builtin_tool_names(self) -> list[str]:
        unknown = [name for name in self.tools if ":" not in name and name not in BUILTIN_TOOLS]
        if unknown:
            builtins = ", ".join(BUILTIN_TOOLS)
            raise ConfigError(f"tool pack {self.name}: unknown tools {unknown}; builtins are {builtins}")
        return [name for name in self.tools if ":" not in name]


def pack_folders() -> list[Path]:
    """Where packs are looked for: ``$AGENTREC_TOOLS``, then the project's ``tools/`` folder."""
    folders = []
    configured = os.environ.get("AGENTREC_TOOLS")
    if configured:
        folders.append(Path(configured).expanduser())
    folders.append(Path(__file__).resolve().parents[2] / "tools")
    return [folder for folder in folders if folder.is_dir()]


def read_pack(path: Path) -> ToolPack:
    """Parse one pack file; ``ConfigError`` names the file and the problem."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read tool pack {path}: {error}") from None
    try:
        return ToolPack.model_validate({"name": path.stem, **raw, "source": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"tool pack {path}: {where}: {first['msg']}") from None


def find_pack(dataset: str, path: Path | None = None, catalog_columns: dict[str, str] | None = None) -> ToolPack:
    """The pack for ``dataset``: the file at ``path``, else the first pack naming it, else the generic one."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"tool pack not found: {path}")
        return read_pack(path)
    for folder in pack_folders():
        for candidate in sorted(folder.glob("*.toml")):
            pack = read_pack(candidate)
            if dataset in pack.datasets:
                return pack
    return generic_pack(catalog_columns or {})


def generic_pack(catalog_columns: dict[str, str]) -> ToolPack:
    """A pack for any catalog: genre and decade when the catalog has them."""
    attributes = {}
    if "genres" in catalog_columns:
        attributes["genre"] = "genres"
    if "year" in catalog_columns:
        attributes["decade"] = "decade"
    return ToolPack(name="generic", attributes=attributes)


def _import_tool(reference: str, base: Path) -> Tool:
    module_ref, _, attribute = reference.rpartition(":")
    try:
        if module_ref.endswith(".py"):
            file = (base / module_ref).resolve()
            spec = importlib.util.spec_from_file_location(f"agentrec_pack_{file.stem}", file)
            if spec is None or spec.loader is None or not file.is_file():
                raise ConfigError(f"tool file not found: {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
        found = getattr(module, attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"cannot load tool {reference!r}: {error}") from None
    if not isinstance(found, Tool):
        raise ConfigError(f"{reference!r} is not declared with @tool")
    return found

"""A dataset's tool registry: the pack's tools, narrowed to the values its catalog really has."""

from __future__ import annotations

from agentrec.agent.builtin_tools import BUILTIN
from agentrec.agent.packs import ToolPack
from agentrec.agent.registry import Tool, ToolRegistry
from agentrec.agent.workspace import AgentWorkspace

# Enumerating more values than this in a grammar slows constrained sampling for little gain.
MAX_ENUM_VALUES = 60


def build_registry(workspace: AgentWorkspace, pack: ToolPack | None = None) -> ToolRegistry:
    """The registry the agent uses: builtin tools the pack lists (minus unusable ones), then its own."""
    pack = pack or workspace.pack
    registry = ToolRegistry()
    for name in pack.builtin_tool_names():
        declared = _narrowed(BUILTIN[name], workspace)
        if declared is None:
            continue
        description = pack.descriptions.get(name)
        registry.register(declared.with_choices({}, description) if description else declared)
    for extra in pack.extra_tools():
        registry.register(extra)
    return registry


def _narrowed(declared: Tool, workspace: AgentWorkspace) -> Tool | None:
    """Put the catalog's attribute values into the schema; drop tools whose model is missing."""
    attributes = workspace.attributes
    models = workspace.models
    if declared.name == "search" and models.text is None:
        return None
    if declared.name == "similar" and models.similar is None and models.text is None:
        return None
    if declared.name == "retrieve" and attributes.names:
        values = [value for name in attributes.names for value in attributes.values(name)]
        if len(values) <= MAX_ENUM_VALUES:
            return declared.with_choices({"attribute": attributes.names, "value": values})
        return declared.with_choices({"attribute": attributes.names})
    if declared.name == "filter":
        if "genre" not in attributes.names:
            return None
        return declared
    return declared

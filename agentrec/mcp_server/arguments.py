"""What an MCP client sees of each tool: the registry's argument model, plus who the call is for.

The agent's tools take a tool context (one person, one candidate pool) that an
MCP client cannot pass. So each MCP tool's argument model is the registry's own
model extended with the ``Person`` fields, and ``tools/list`` shows that model's
JSON schema: the schemas come from the registry and are never written twice.
``finish`` (it fuses the person's pool for an outside client) and ``recommend``
(the whole agent in one call) are the two tools whose meaning is the server's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from agentrec.agent.builtin_tools import ListSize
from agentrec.agent.registry import Tool, ToolRegistry
from agentrec.core.errors import ConfigError

ToolKind = Literal["pool", "catalog", "finish", "recommend"]
MAX_LIKED = 50
FINISH = "finish"
RECOMMEND = "recommend"
# Tools that read only the catalog: a person would change nothing, so they take none.
CATALOG_TOOLS = ("item_info",)

POOL_NOTES = {
    "filter": "Narrows this person's candidate pool, which the server keeps (one per user and liked) until finish.",
    "rank": "Works on this person's candidate pool, kept by the server until finish: gather items first.",
}
POOL_NOTE = "The list joins this person's candidate pool, which the server keeps (one per user and liked) until finish."
FINISH_DESCRIPTION = (
    "Fuse this person's candidate pool (what retrieve, search, similar and rank gathered, narrowed by filter) "
    "into the final top-k catalog items, each with the call that found it; the pool is then emptied."
)
RECOMMEND_DESCRIPTION = (
    "Recommend k catalog items to a person: the agent (an LLM calling the recommender tools), the same tools "
    "without the LLM (heuristic), or the plain model (backbone). Each item says which tool found it. "
    "Self-contained: it neither reads nor changes the candidate pools."
)


class Person(BaseModel):
    """Who a call is for: a dataset user, items they like, or both."""

    user: str | None = Field(
        None,
        description="the dataset's id of the user the call is for; their history steers the models and the items "
        "they interacted with are never returned. Omit it for a person known only by liked items.",
    )
    liked: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIKED,
        description=f"items the person likes, by id or title (at most {MAX_LIKED}); they steer the models like a "
        "history and are never returned.",
    )


class RecommendArguments(Person):
    """The arguments of ``recommend``."""

    model_config = ConfigDict(extra="forbid")

    k: ListSize = Field(10, description="how many items to recommend (1 to 100).")
    policy: Literal["agent", "heuristic", "backbone"] = Field(
        "agent",
        description="agent (the LLM calls the tools), heuristic (the same tools without an LLM) or backbone "
        "(the recommender model's own top-k).",
    )


@dataclass(frozen=True)
class McpTool:
    """One tool as the server offers it: name, description, argument model and how it runs."""

    name: str
    description: str
    arguments: type[BaseModel]
    kind: ToolKind

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema ``tools/list`` shows: the argument model's own."""
        return self.arguments.model_json_schema()


def mcp_tools(registry: ToolRegistry) -> dict[str, McpTool]:
    """The registry's tools in its order, as MCP tools, then ``recommend``."""
    tools: dict[str, McpTool] = {}
    for name, declared in registry.tools.items():
        if name == RECOMMEND:
            raise ConfigError(f"a tool pack may not name a tool {RECOMMEND!r}: the MCP server has its own")
        if name in CATALOG_TOOLS:
            tools[name] = McpTool(name, declared.description, declared.arguments, "catalog")
        elif name == FINISH:
            tools[name] = McpTool(name, FINISH_DESCRIPTION, finish_arguments(declared), "finish")
        else:
            description = f"{declared.description} {POOL_NOTES.get(name, POOL_NOTE)}"
            tools[name] = McpTool(name, description, with_person(declared), "pool")
    tools[RECOMMEND] = McpTool(RECOMMEND, RECOMMEND_DESCRIPTION, RecommendArguments, "recommend")
    return tools


def with_person(declared: Tool, **extra: Any) -> type[BaseModel]:
    """The argument model of ``declared`` with ``extra`` fields, then the ``Person`` fields, added."""
    clash = sorted(set(Person.model_fields) & set(declared.arguments.model_fields))
    if clash:
        raise ConfigError(f"tool {declared.name}: arguments {clash} clash with the MCP server's person arguments")
    person: dict[str, Any] = {name: (field.annotation, field) for name, field in Person.model_fields.items()}
    model: type[BaseModel] = create_model(
        f"{declared.name}_mcp_arguments", __base__=declared.arguments, **extra, **person
    )
    return model


def finish_arguments(declared: Tool) -> type[BaseModel]:
    """``finish``'s registry model (no arguments) plus the list length and the person."""
    return with_person(declared, k=(ListSize, Field(10, description="how many items the final list holds (1 to 100).")))

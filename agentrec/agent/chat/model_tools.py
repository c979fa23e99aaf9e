"""The tools the chat's LLM may call: the registry's, less ``filter`` and ``item_info``, refusing copies."""

from __future__ import annotations

from typing import Any

from agentrec.agent.context import ToolContext
from agentrec.agent.registry import Tool, ToolRegistry, ToolResult
from agentrec.core.errors import ToolRetry

# Hard constraints come only from the person's words (the rules): a small model that calls
# filter(genres=["Horror"]) after "no horror" would otherwise empty the list of what was asked.
# item_info adds nothing to the pool. Dropping both also halves the tool prompt.
MODEL_TOOLS_LEFT_OUT = ("filter", "item_info")
REPEAT_OVERLAP = 0.9  # a list sharing this much of its head with a pooled list of the same tool is a copy


def model_tools(registry: ToolRegistry) -> ToolRegistry:
    """``registry`` without the tools the model may not call, each refusing a repeated list."""
    return ToolRegistry.of(
        refusing_repeats(declared) for name, declared in registry.tools.items() if name not in MODEL_TOOLS_LEFT_OUT
    )


def refusing_repeats(declared: Tool) -> Tool:
    """``declared``, but a call whose list starts like one already pooled is undone and sent back.

    Small models copy the calls they were shown with another ``k``; in a fused
    pool such a copy only doubles the weight of a list that is already there.
    """

    def guarded(context: ToolContext, **arguments: Any) -> ToolResult:
        before = len(context.pool.lists)
        result = declared.function(context, **arguments)
        if len(context.pool.lists) > before:
            new = context.pool.lists[-1]
            for old in context.pool.lists[:before]:
                shared = min(len(old.items), len(new.items))
                # compared as sets: items tied at the cut-off may swap places between two list sizes
                overlap = len(set(old.items[:shared]) & set(new.items[:shared]))
                if old.tool == new.tool and shared and overlap >= REPEAT_OVERLAP * shared:
                    context.pool.lists.pop()
                    raise ToolRetry(f"{new.describe()} repeats {old.describe()}; gather something different or finish")
        return result

    return Tool(guarded, declared.name, declared.description, declared.arguments)

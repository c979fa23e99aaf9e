"""The ToolRec agent: typed tools over fitted recommenders, a surrogate-user loop, grounded lists."""

from agentrec.agent.policies import POLICIES, RunSettings
from agentrec.agent.registry import Tool, ToolRegistry, tool
from agentrec.agent.service import AgentService, open_agent
from agentrec.agent.trace import AgentRun, AgentStep, TraceStore

__all__ = [
    "POLICIES",
    "AgentRun",
    "AgentService",
    "AgentStep",
    "RunSettings",
    "Tool",
    "ToolRegistry",
    "TraceStore",
    "open_agent",
    "tool",
]

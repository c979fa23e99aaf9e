"""The agent's public entry point: open a dataset once, then run any policy for any user.

``sim`` and ``audit`` use the agent only through ``AgentService``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from agentrec.agent.context import ToolContext
from agentrec.agent.dataset_tools import build_registry
from agentrec.agent.fusion import FusionModels, FusionName, train_fusion, train_rescorer
from agentrec.agent.llm_scoring import require_label_scoring
from agentrec.agent.loop import run_agent
from agentrec.agent.policies import ALL_POLICIES, RunSettings, heuristic_pool, run_backbone, run_heuristic
from agentrec.agent.progress import Progress
from agentrec.agent.reference_policies import run_oracle, run_random
from agentrec.agent.registry import ToolRegistry
from agentrec.agent.trace import AgentRun
from agentrec.agent.workspace import AgentWorkspace, open_workspace
from agentrec.core.errors import ConfigError, DataError, InvalidParameter
from agentrec.llm.records import ChatModel
from agentrec.recsys.ranker import LearnedFusion


@dataclass
class AgentService:
    """A workspace with its tools and fusion model, ready to recommend."""

    workspace: AgentWorkspace
    registry: ToolRegistry
    settings: RunSettings
    trained: FusionModels = field(default_factory=FusionModels)
    model: ChatModel | None = None

    @property
    def ranker(self) -> LearnedFusion | None:
        """The learned fusion (None unless the service was opened with an LGBM-based fusion)."""
        return self.trained.lgbm

    def user_index(self, user_id: str) -> int:
        """The dense index of a user id; ``DataError`` if unknown."""
        try:
            return self.workspace.user_index(str(user_id))
        except KeyError:
            raise DataError(f"unknown user id {user_id!r} in {self.workspace.store.name}") from None

    def run(self, user: int, policy: str) -> AgentRun:
        """One policy's grounded top-k for ``user`` at the workspace's current stage."""
        return self.run_in(ToolContext.for_user(self.workspace, user, self.settings.seed), policy)

    def run_in(self, context: ToolContext, policy: str) -> AgentRun:
        """One policy's grounded top-k in ``context`` (a dataset user's, or a session's such as the MCP server's).

        The context is handed this service's LLM, for the tools that consult one (rank by llm).
        """
        if context.llm is None:
            context.llm, context.llm_shuffles = self.model, self.settings.llm_shuffles
        context.interests = self.settings.interests
        if policy == "backbone":
            return run_backbone(context, self.settings)
        if policy == "heuristic":
            return run_heuristic(context, self.settings, self.trained, self.model)
        if policy == "agent":
            if self.model is None:
                raise ConfigError("the agent policy needs an LLM")
            return run_agent(context, self.model, self.registry, self.settings, self.trained)
        if policy == "random":
            return run_random(context, self.registry, self.settings, self.trained)
        if policy == "oracle":
            return run_oracle(context, self.settings, self.trained)
        raise ConfigError(f"unknown policy {policy!r}; choose from {', '.join(ALL_POLICIES)}")

    def with_fusion(self, fusion: FusionName) -> AgentService:
        """The same workspace, tools and models, fusing pools by ``fusion`` instead."""
        if fusion == "lgbm" and self.ranker is None:
            raise ConfigError("fusion lgbm needs the service opened with lgbm fusion (it trains the ranker)")
        if fusion == "llm-logits" and self.trained.llm_logits is None:
            raise ConfigError("fusion llm-logits needs the service opened with it (it trains the rescorer)")
        return replace(self, settings=replace(self.settings, fusion=fusion))

    def candidate_items(self, user: int) -> list[int]:
        """What the heuristic gathers for ``user`` (backbone seed, attribute lists, similar): who can see an item."""
        context = ToolContext.for_user(self.workspace, user, self.settings.seed)
        heuristic_pool(context, self.settings)
        return [int(item) for item in context.pool.items()]

    def item_index(self, reference: str) -> int:
        """A dense item index from an id or a title (fuzzy); ``DataError`` with suggestions otherwise."""
        return self.workspace.item_index(reference)


def open_agent(
    dataset: str,
    settings: RunSettings | None = None,
    model: ChatModel | None = None,
    pack_path: Path | None = None,
    backbone: str | None = None,
    progress: Progress | None = None,
) -> AgentService:
    """Open ``dataset`` with its tool pack, fit or load the models, and train the fusion if needed."""
    settings = settings or RunSettings()
    if settings.fusion == "llm-logits":  # before any fitting: one line naming the backend
        if model is None:
            raise ConfigError("--fusion llm-logits needs an LLM")
        require_label_scoring(model)
    workspace = open_workspace(dataset, pack_path, backbone, progress)
    if settings.k > workspace.n_items:
        # a top-k longer than the catalog is the whole catalog in some order: say so rather than print it
        raise InvalidParameter("k", f"must be at most the catalog's {workspace.n_items:,} items, got {settings.k:,}")
    registry = build_registry(workspace)
    return AgentService(workspace, registry, settings, _trained_fusion(workspace, settings, model, progress), model)


def _trained_fusion(
    workspace: AgentWorkspace, settings: RunSettings, model: ChatModel | None, progress: Progress | None
) -> FusionModels:
    """The learned fusion for ``lgbm`` and ``llm-logits``, and the LLM-logit rescorer for the latter."""
    if settings.fusion not in ("lgbm", "llm-logits"):
        return FusionModels()
    if progress:
        progress("fusion: training or loading")
    tag = f"seed{settings.seed_pool}-list{settings.list_size}"
    build = lambda context: _quiet_heuristic(context, settings)  # noqa: E731
    ranker = train_fusion(workspace, build, tag=tag)
    if settings.fusion == "lgbm" or model is None:
        return FusionModels(lgbm=ranker)

    def report(done: int, total: int) -> None:
        if progress and (done % 10 == 0 or done == total):
            progress(f"fusion: LLM-logit rescorer, validation user {done}/{total} (once per model)")

    rescorer = train_rescorer(workspace, build, ranker, model, settings.llm_shuffles, tag=tag, progress=report)
    return FusionModels(lgbm=ranker, llm_logits=rescorer)


def _quiet_heuristic(context: ToolContext, settings: RunSettings) -> None:
    heuristic_pool(context, settings)

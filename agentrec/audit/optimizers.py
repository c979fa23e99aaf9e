"""The contract every STS optimiser follows, and the records they share.

An optimiser searches for a strategic text sequence (STS) that, planted in the
target product, raises the target's rank. Four plug in here:
``random`` (agentrec/audit/random_search.py), ``rewrite``
(agentrec/audit/rewrite.py), ``gcg`` (agentrec/audit/gcg.py) and ``stealth``
(agentrec/audit/stealth.py).

The contract:

* A module named in ``OPTIMIZER_MODULES`` exposes
  ``build_optimizer(settings: OptimizerSettings) -> StsOptimizer``.
  It is imported lazily, so a missing extra (torch tools for ``gcg``) costs
  nothing until that optimiser is asked for. Raise ``ConfigError`` from
  ``build_optimizer`` for an unusable setting or a missing extra.
* ``StsOptimizer.optimize(problem, budget, seed, progress)`` runs at most
  ``budget`` iterations (each module documents what one iteration costs),
  is reproducible for a given seed and cache, calls ``progress`` once per
  iteration with that iteration's ``OptimizationStep``, and returns an
  ``OptimizationResult`` holding the best sequence and the whole history.
* Scores are "higher is better". ``StsProblem.score`` gives the shared score:
  the mean log P("1. <target>") over some product orders where the backend
  has log-probabilities, otherwise minus the mean rank over sampled orders.
  An optimiser may use its own loss internally (gcg's cross-entropy), but
  reports ``best_score``/``initial_score`` in its ``score_kind``.
* The STS is text, planted by ``problem.placement`` (the target's last field,
  appended, by default). An optimiser that rewrites a whole field returns the
  placement it used in ``OptimizationResult.placement`` (``position="replace"``),
  and the evaluation plants ``best_sts`` the same way.
* The problem never changes: optimisers build candidate catalogs through
  ``problem.products(order, sts)`` and talk to the model through
  ``problem.recommender`` (``rank``, ``first_place_logprob``, ``chat``).
* Calls that do not depend on each other go through ``problem.each``, which
  keeps ``problem.concurrency`` of them in flight (``--concurrency``, for a
  remote provider) and returns the results in order, so scores do not depend on it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from agentrec.audit.catalog import Catalog, Product, ProductOrder
from agentrec.audit.placement import StsPlacement, catalog_with_sts
from agentrec.audit.recommender import AuditedRecommender
from agentrec.core.errors import ConfigError
from agentrec.core.in_flight import ordered_in_threads
from agentrec.llm.records import Message

ScoreKind = Literal["logprob", "rank"]
Config = TypeVar("Config", bound=BaseModel)
Item = TypeVar("Item")
Result = TypeVar("Result")
OPTIMIZER_MODULES: dict[str, str] = {
    "random": "agentrec.audit.random_search",
    "rewrite": "agentrec.audit.rewrite",
    "gcg": "agentrec.audit.gcg",
    "stealth": "agentrec.audit.stealth",
}
# A few orders per score: enough that the STS does not fit one order, cheap on the embedded model.
DEFAULT_SCORE_ORDERS = 3


@dataclass(frozen=True)
class StsProblem:
    """What to optimise: a target in a catalog, as ranked by a recommender under audit."""

    catalog: Catalog
    target: str
    recommender: AuditedRecommender
    placement: StsPlacement = field(default_factory=StsPlacement)
    initial_sts: str = ""
    score_orders: int = DEFAULT_SCORE_ORDERS
    concurrency: int = 1  # model calls in flight at once (threads): for remote providers

    def __post_init__(self) -> None:
        # Normalise to the catalog's spelling of the name; raises CatalogError if absent.
        object.__setattr__(self, "target", self.catalog.product(self.target).name)

    @property
    def score_kind(self) -> ScoreKind:
        """``logprob`` where the backend scores continuations, else ``rank``."""
        return "logprob" if self.recommender.supports_logprob else "rank"

    def planted(self, sts: str, placement: StsPlacement | None = None) -> Catalog:
        """The catalog with ``sts`` planted in the target."""
        return catalog_with_sts(self.catalog, self.target, sts, placement or self.placement)

    def products(self, order: ProductOrder, sts: str, placement: StsPlacement | None = None) -> list[Product]:
        """The products as the recommender sees them: ``sts`` planted, shown in ``order``."""
        return self.planted(sts, placement).ordered(order)

    def messages(self, order: ProductOrder, sts: str, placement: StsPlacement | None = None) -> list[Message]:
        """The recommender's prompt for ``order`` with ``sts`` planted (gcg reads token positions from it)."""
        return self.recommender.prompt.messages(self.products(order, sts, placement))

    def sample_orders(self, count: int, rng: np.random.Generator) -> list[ProductOrder]:
        """``count`` random product orders."""
        size = len(self.catalog.products)
        return [tuple(int(i) for i in rng.permutation(size)) for _ in range(count)]

    def each(self, work: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """``work`` over ``items``, results in their order, with up to ``concurrency`` in flight at once."""
        return list(ordered_in_threads(work, items, self.concurrency, "audit-score"))

    def score(self, sts: str, orders: Sequence[ProductOrder], placement: StsPlacement | None = None) -> float:
        """Higher is better: mean log P("1. <target>") over ``orders``, or minus the mean rank."""
        return float(np.mean(self.each(lambda order: self._order_score(sts, order, placement), orders)))

    def _order_score(self, sts: str, order: ProductOrder, placement: StsPlacement | None) -> float:
        shown = self.products(order, sts, placement)
        logprob = self.recommender.first_place_logprob(shown, self.target)
        return -float(self.recommender.rank(shown, self.target)[0]) if logprob is None else logprob


@dataclass(frozen=True)
class OptimizationStep:
    """One iteration: the candidate tried, its score, and the best score after it."""

    iteration: int
    candidate: str
    score: float
    best_score: float
    accepted: bool
    seconds: float  # since the optimisation started
    note: str = ""


@dataclass(frozen=True)
class OptimizationResult:
    """The best sequence an optimiser found, and how it got there."""

    optimizer: str
    best_sts: str
    best_score: float
    initial_score: float
    score_kind: ScoreKind
    history: tuple[OptimizationStep, ...]
    seconds: float
    placement: StsPlacement = field(default_factory=StsPlacement)
    extra: Mapping[str, Any] = field(default_factory=dict)  # optimiser-specific numbers (e.g. gcg s/step)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON data."""
        payload = asdict(self)
        payload["placement"] = self.placement.model_dump()
        payload["extra"] = dict(self.extra)
        return payload


ProgressCallback = Callable[[OptimizationStep], None]


class StsOptimizer(Protocol):
    """Searches for an STS that raises ``problem.target``; see the module docstring."""

    name: str

    def optimize(
        self,
        problem: StsProblem,
        budget: int,
        seed: int,
        progress: ProgressCallback | None = None,
    ) -> OptimizationResult:
        """Run at most ``budget`` iterations and return the best sequence with its history."""
        ...


@dataclass(frozen=True)
class OptimizerSettings:
    """What ``build_optimizer`` gets from the CLI: the attacker LLM and free-form options."""

    llm: str = "local"
    api_base: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)


def parse_options(config: type[Config], options: Mapping[str, str], optimizer: str) -> Config:
    """An optimiser's config from CLI ``key=value`` options; ``ConfigError`` names the bad one and lists the rest."""
    try:
        return config.model_validate(dict(options))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        known = ", ".join(config.model_fields)
        raise ConfigError(f"{optimizer} option {where!r}: {first['msg']} (options: {known})") from error


def build_optimizer(name: str, settings: OptimizerSettings | None = None) -> StsOptimizer:
    """The optimiser called ``name``, imported lazily from its module."""
    module_name = OPTIMIZER_MODULES.get(name)
    if module_name is None:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_MODULES)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            path = module_name.replace(".", "/") + ".py"
            raise ConfigError(f"optimizer {name!r} is not available: {path} is not installed yet") from error
        raise ConfigError(f"optimizer {name!r} needs the missing package {error.name!r}") from error
    factory = getattr(module, "build_optimizer", None)
    if factory is None:
        raise ConfigError(f"optimizer module {module_name} has no build_optimizer(settings)")
    optimizer: StsOptimizer = factory(settings or OptimizerSettings())
    return optimizer

"""Scenario files: a TOML description of who is simulated, against which recommenders, how long.

Every table is a pydantic model that forbids unknown keys, so a typo in a scenario
is a ``ConfigError`` naming the key instead of a setting silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, model_validator

from agentrec.core.errors import ConfigError
from agentrec.core.redaction import redact_url

ChoiceModelName = Literal["hybrid", "statistical", "llm"]
TasteSource = Literal["genres", "llm"]
SearchSource = Literal["semantic", "titles"]
GraphKind = Literal["random", "taste"]
# Sections whose defaults (everything off) must not change the fingerprint of a scenario
# written before they existed, or such runs could no longer be resumed.
OPTIONAL_SECTIONS = ("search", "chat", "social")
_ARM_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UsersSpec(_Strict):
    """Which real users are simulated, and how they decide."""

    count: int | None = Field(None, ge=1, description="a seeded sample of this many users (all users if unset)")
    ids: tuple[str, ...] = Field((), description="explicit user ids (overrides count)")
    choice_model: ChoiceModelName = "hybrid"
    taste: TasteSource = "genres"
    taste_model: str = "ease"
    memory_size: int = Field(20, ge=1, le=500)
    reflect_every: int = Field(5, ge=1)
    click_rate: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="share of shown items users watch, set on the taste model's own pages (unset: as calibrated)",
    )


class LlmSpec(_Strict):
    """The LLM that writes (hybrid) or makes (llm) the users' decisions, and the agent's."""

    model: str = "local"
    api_base: str | None = None
    cache: Literal["on", "off", "replay"] = "on"
    max_tokens: int = Field(48, ge=8, le=512)
    temperature: float = Field(0.7, ge=0.0, le=2.0)

    @field_serializer("api_base", when_used="json-unless-none")
    def _without_credentials(self, api_base: str) -> str:
        # Every JSON form of a scenario (run.json, its fingerprint) may reach a file; a password
        # in the endpoint must not. The model itself keeps it: workers get the scenario pickled.
        return redact_url(api_base)


# Keys added after runs were made, per section: at their defaults they change no fingerprint.
LATER_KEYS = {"fidelity": ("protocols", "ratios"), "users": ("click_rate",)}


class FidelitySpec(_Strict):
    """Fidelity against held-out real behaviour of the simulated users."""

    enabled: bool = True
    holdout: float = Field(0.1, gt=0.0, lt=0.5)
    negatives: int = Field(4, ge=1, le=20)
    max_pages_per_user: int = Field(50, ge=1)
    temporal: bool = True
    protocols: bool = Field(
        False, description="also the published protocols: Agent4Rec's 1:m, rating fidelity beside baselines"
    )
    ratios: list[Annotated[int, Field(ge=1, le=50)]] = Field(
        default_factory=lambda: [1, 3, 9], min_length=1, description="the m of each 1:m discrimination task"
    )


class SearchSpec(_Strict):
    """Searching the catalog when a recommendation page held nothing the user wanted."""

    enabled: bool = False
    source: SearchSource = Field("semantic", description="semantic: MiniLM + faiss; titles: fuzzy title match")
    rate: float = Field(0.3, ge=0.0, le=1.0, description="chance of a search after a page without a watch")
    results: int = Field(4, ge=1, le=20, description="results the user looks at")
    max_per_session: int = Field(1, ge=1, le=10)


class ChatSpec(_Strict):
    """Telling the conversational agent what one wants, after a page without a watch."""

    enabled: bool = False
    rate: float = Field(0.2, ge=0.0, le=1.0, description="chance of a chat after a page without a watch")
    results: int = Field(4, ge=1, le=20, description="items in the agent's answer")
    max_per_session: int = Field(1, ge=1, le=10)
    agent_llm: bool = Field(True, description="the agent uses the scenario's LLM (false: rules and tools only)")
    llm_steps: int = Field(1, ge=0, le=5, description="tool calls the agent's LLM may add per turn")
    backbone: str = Field("ease", description="the model behind the agent's retrieve tool")
    pack: str | None = Field(None, description="a tool pack file (default: the dataset's own pack)")


class SocialSpec(_Strict):
    """A friendship graph between the simulated users: a feed of posts and one-to-one chats."""

    enabled: bool = False
    graph: GraphKind = Field("taste", description="random, or each user's most similar users by genre taste")
    degree: int = Field(4, ge=1, le=100, description="friends each user picks (friendship is mutual)")
    post_rate: float = Field(0.1, ge=0.0, le=1.0, description="chance of posting about a watch rated post_min_rating+")
    post_min_rating: int = Field(4, ge=1, le=5)
    read_rate: float = Field(0.5, ge=0.0, le=1.0, description="chance of reading the feed at the start of a session")
    feed_size: int = Field(5, ge=1, le=50, description="newest friends' posts read from the feed")
    chat_rate: float = Field(0.1, ge=0.0, le=1.0, description="chance of asking a friend after a page without a watch")
    influence: float = Field(0.7, ge=0.0, le=5.0, description="watch log-odds added for an item a friend endorsed")


class ArmSpec(_Strict):
    """One recommender under test: a CF model name, ``agent``, or ``module:Class``."""

    name: str
    recommender: str
    retrain: bool = False
    policy: Literal["agent", "heuristic", "backbone"] = "agent"
    params: dict[str, object] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_name(self) -> ArmSpec:
        if not _ARM_NAME.match(self.name):
            raise ValueError(f"arm name {self.name!r} may hold only letters, digits, '_', '.', '-'")
        return self


class Scenario(_Strict):
    """A whole simulation: dataset, users, arms, rounds, pages, seed."""

    name: str = "simulation"
    dataset: str
    seed: int = 0
    rounds: int = Field(1, ge=1, le=100)
    pages: int = Field(5, ge=1, le=50)
    page_size: int = Field(4, ge=1, le=20)
    users: UsersSpec = Field(default_factory=lambda: UsersSpec.model_validate({}))
    llm: LlmSpec = Field(default_factory=lambda: LlmSpec.model_validate({}))
    fidelity: FidelitySpec = Field(default_factory=lambda: FidelitySpec.model_validate({}))
    search: SearchSpec = Field(default_factory=lambda: SearchSpec.model_validate({}))
    chat: ChatSpec = Field(default_factory=lambda: ChatSpec.model_validate({}))
    social: SocialSpec = Field(default_factory=lambda: SocialSpec.model_validate({}))
    arms: tuple[ArmSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_arms(self) -> Scenario:
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        return self

    @property
    def list_length(self) -> int:
        """How many ranked items one session can show."""
        return self.pages * self.page_size

    def needs_llm(self) -> bool:
        """Whether any part of the run calls an LLM (users or the agent)."""
        agent_llm = any(a.recommender == "agent" and a.policy == "agent" for a in self.arms)
        chat_llm = self.chat.enabled and self.chat.agent_llm
        return self.users.choice_model != "statistical" or self.users.taste == "llm" or agent_llm or chat_llm

    def fingerprint(self) -> str:
        """A hash of every setting, so a resumed run can check it runs the same scenario."""
        settings = self.model_dump(mode="json")
        defaults = Scenario.model_validate({"dataset": self.dataset, "arms": settings["arms"]}).model_dump(mode="json")
        for section in OPTIONAL_SECTIONS:
            if settings[section] == defaults[section]:
                del settings[section]
        for section, keys in LATER_KEYS.items():
            for key in keys:
                if settings[section][key] == defaults[section][key]:
                    del settings[section][key]
        payload = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; any problem is one ``ConfigError`` line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"no such scenario file: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    raw.setdefault("name", path.stem)
    return parse_scenario(raw, str(path))


def parse_scenario(raw: dict[str, object], source: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (what the TOML file holds)."""
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "scenario"
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{source}: unknown key {where!r}") from None
        if first["type"] == "missing":
            raise ConfigError(f"{source}: missing key {where!r}") from None
        raise ConfigError(f"{source}: {where}: {first['msg']}") from None

"""The world one process simulates in: data, taste model, users, arms, detour tools; one session.

Every worker (and the parent) opens the same ``SimWorld`` from a ``WorldSpec``.
Fitted models and the calibration are written once by the parent and only loaded
by workers, so every process scores with bit-identical weights, and a session's
events depend only on the seed, the arm, the round, the user and the log of
earlier rounds: never on which worker ran it.

Within one process, ``run_sessions`` keeps up to ``WorldSpec.concurrency``
sessions in flight in threads (for a remote LLM, whose calls mostly wait).
Sessions share the world read-only: each has its own state, rng and
``UserVoice`` (so its token count is its own), rounds are started before the
threads are, and outcomes come back in the order of the tasks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agentrec.core.files import write_atomically
from agentrec.core.in_flight import ordered_in_threads
from agentrec.core.paths import state_dir
from agentrec.data.interactions import IntArray, Interactions
from agentrec.data.splits import Split, random_ratio
from agentrec.data.store import DatasetStore, open_dataset
from agentrec.llm.records import ChatModel
from agentrec.recsys.base import Recommender
from agentrec.recsys.model_store import ModelStore
from agentrec.recsys.registry import make_model
from agentrec.sim.agent_chat import AgentChat
from agentrec.sim.arms import make_arm
from agentrec.sim.calibration import calibrate
from agentrec.sim.choice import SessionState, StatisticalChoice
from agentrec.sim.choice_models import make_choice_model
from agentrec.sim.events import Event
from agentrec.sim.items import SimItems, load_items
from agentrec.sim.memory import Memory, Watch
from agentrec.sim.profiles import UserProfile, build_profiles
from agentrec.sim.rating_baselines import fit_taste_ratings
from agentrec.sim.recommenders import (
    ArmContext,
    LearnsFromShown,
    Shown,
    SimRecommender,
    recommend_counting_tokens,
    shown_records,
)
from agentrec.sim.scenario import Scenario
from agentrec.sim.search import open_search
from agentrec.sim.session import EventRecorder, SessionTools, UserSession
from agentrec.sim.social import SocialGraph, build_graph
from agentrec.sim.taste import Calibration, RatingBiases, TasteModel
from agentrec.sim.voice import UserVoice

if TYPE_CHECKING:
    import scipy.sparse as sparse

logger = logging.getLogger(__name__)
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class WorldSpec:
    """Everything a process needs to open the world (picklable)."""

    scenario: Scenario
    run_dir: Path
    users: tuple[str, ...]
    concurrency: int = 1  # sessions in flight at once in each process (threads): for remote providers


@dataclass(frozen=True)
class SessionTask:
    """One user's session in one round (0-based) of one arm, with the memory events of earlier rounds."""

    arm: str
    round: int  # stored as the events' ``session`` column
    user_id: str
    prior: tuple[Event, ...] = ()
    feed: tuple[Event, ...] = ()  # friends' posts of earlier rounds, newest first (social graph only)


@dataclass(frozen=True)
class SessionOutcome:
    arm: str
    round: int
    user_id: str
    events: tuple[Event, ...]
    tokens: int
    llm_failures: int = 0  # structured replies that did not validate, decided statistically instead


def stable_number(text: str) -> int:
    """A process-independent integer for a string (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def session_rng(seed: int, arm: str, session: int, user_id: str) -> np.random.Generator:
    """The one generator a session draws from, whatever process runs it."""
    return np.random.default_rng(np.random.SeedSequence([seed, stable_number(arm), session, stable_number(user_id)]))


def holdout_split(data: Interactions, scenario: Scenario) -> Split:
    """The seeded random per-user holdout: simulated users are built from the rest only."""
    return random_ratio(data, valid_share=0.0, test_share=scenario.fidelity.holdout, seed=scenario.seed)


@dataclass
class SimWorld:
    """Data, models and users of one scenario, opened in one process."""

    spec: WorldSpec
    store: DatasetStore
    split: Split
    items: SimItems
    taste: TasteModel
    profiles: dict[int, UserProfile]
    arms: dict[str, SimRecommender]
    choice: StatisticalChoice
    _round: dict[str, int] = field(default_factory=dict)
    _voice: UserVoice | None = None
    _chat: ChatModel | None = None
    _tools: SessionTools | None = None

    @property
    def scenario(self) -> Scenario:
        return self.spec.scenario

    @property
    def train(self) -> Interactions:
        return self.split.train

    @property
    def dataset_key(self) -> str:
        return self.store.key

    @classmethod
    def open(cls, spec: WorldSpec) -> SimWorld:
        scenario = spec.scenario
        store = open_dataset(scenario.dataset)
        split = holdout_split(store.interactions(), scenario)
        items = load_items(store, split.train)
        key = store.key
        split_name = split_label(scenario)
        scorer = fit_scorer(scenario, split.train, key, split_name)
        calibration = load_or_calibrate(spec.run_dir, scenario, split.train, items, key, split_name)
        taste = TasteModel(
            scorer, items, RatingBiases.fit(split.train), calibration, fit_taste_ratings(split.train, scenario.seed)
        )
        indices = np.array([split.train.users.index(u) for u in spec.users], dtype=np.int64)
        profiles = build_profiles(split.train, items, indices)
        taste.precompute(indices)
        world = cls(spec, store, split, items, taste, profiles, {}, make_choice_model(scenario.users.choice_model))
        context = ArmContext(
            indices,
            scenario.dataset,
            key,
            split_name,
            split.train,
            items,
            scenario.seed,
            scenario.list_length,
            spec.run_dir,
        )
        world.arms = {arm.name: make_arm(arm, context, world.chat_model) for arm in scenario.arms}
        # fitted (and stored) here, so the workers of a pool only load the search model and the agent's
        world.session_tools()
        return world

    def chat_model(self) -> ChatModel:
        """The scenario's LLM, opened on first use (statistical runs never load one)."""
        if self._chat is None:
            from agentrec.llm.factory import make_chat_model
            from agentrec.llm.usage import UsageMeter

            llm = self.scenario.llm
            self._chat = make_chat_model(llm.model, llm.api_base, llm.cache, meter=UsageMeter())
        return self._chat

    def voice(self) -> UserVoice | None:
        """The world's own voice (fidelity pages), or None when the users never call the LLM."""
        if self._voice is None:
            self._voice = self.session_voice()
        return self._voice

    def session_voice(self) -> UserVoice | None:
        """A new voice, so one session's tokens are counted apart from the sessions in flight beside it."""
        users = self.scenario.users
        if users.choice_model == "statistical" and users.taste == "genres":
            return None
        return UserVoice(self.chat_model(), self.items, self.scenario.llm.max_tokens, self.scenario.llm.temperature)

    def start_round(self, arm: str, session: int) -> None:
        """Point ``arm`` at round ``session``: the feedback the parent stored for it, refitted if asked."""
        if self._round.get(arm) == session:
            return
        feedback = load_feedback(self.spec.run_dir, arm, session, self.train)
        recommender = self.arms[arm]
        if isinstance(recommender, LearnsFromShown):
            recommender.observe(session, load_shown(self.spec.run_dir, arm, session, self.train))
        recommender.start_round(session, feedback)
        self._round[arm] = session

    def profile(self, user: int, voice: UserVoice | None = None) -> UserProfile:
        """``user``'s profile; with ``taste = "llm"`` its taste is summarised by ``voice`` (the world's if None)."""
        profile = self.profiles[user]
        voice = voice or self.voice()
        if self.scenario.users.taste == "llm" and voice is not None:
            # seeded by the user alone, so every session (and a cached rerun) gets the same summary
            summary = voice.taste_summary(profile, seed=stable_number(profile.user_id) % (2**31 - 1))
            profile = profile.with_taste(summary or profile.taste)
        return profile

    def run_sessions(self, tasks: Sequence[SessionTask]) -> Iterator[SessionOutcome]:
        """The outcomes of ``tasks`` in their order, up to ``spec.concurrency`` sessions in flight at once."""
        # What sessions share is opened here, before any thread could race to open it twice.
        for arm, session in dict.fromkeys((task.arm, task.round) for task in tasks):
            self.start_round(arm, session)
        self.voice()
        yield from ordered_in_threads(self.run_session, tasks, self.spec.concurrency, "sim-session")

    def run_session(self, task: SessionTask) -> SessionOutcome:
        """Simulate one session and return its events (nothing is written here)."""
        self.start_round(task.arm, task.round)
        user = self.train.users.index(task.user_id)
        voice = self.session_voice()
        profile = self.profile(user, voice)
        memory = replay_memory(task.prior, Memory(self.scenario.users.memory_size), self.items, self.train, profile)
        state = SessionState(
            profile,
            self.taste.for_user(profile),
            memory,
            self.items,
            session_rng(self.scenario.seed, task.arm, task.round, task.user_id),
            voice,
            watched_items=watched_before(task.prior, self.train),
            influence=self.scenario.social.influence,
        )
        ranked, arm_spent = recommend_counting_tokens(self.arms[task.arm], user, self.scenario.list_length)
        recorder = EventRecorder(task.arm, task.user_id, task.round)
        recorder.add("session_start", value=float(len(ranked)))
        session = UserSession(self.scenario, self.choice, state, recorder, self.session_tools(), task.feed)
        session.run(ranked)
        tokens = (voice.tokens if voice else 0) + session.tokens + arm_spent
        recorder.add("session_end", value=float(tokens))
        failures = voice.failures if voice else 0
        return SessionOutcome(task.arm, task.round, task.user_id, tuple(recorder.events), tokens, failures)

    def session_tools(self) -> SessionTools:
        """Search, the conversational agent and the social graph, as far as the scenario turns them on."""
        if self._tools is None:
            scenario = self.scenario
            tools = SessionTools(item_index={item_id: i for i, item_id in enumerate(self.items.ids)})
            if scenario.search.enabled:
                tools.search = open_search(
                    scenario.search, self.store, self.train, self.items, self.dataset_key, split_label(scenario)
                )
            if scenario.chat.enabled:
                tools.agent_chat = AgentChat(
                    scenario.chat, scenario.dataset, scenario.seed, self.train.items, self.chat_model
                )
                tools.agent_chat.open()
            if scenario.social.enabled:
                tools.graph = self.social_graph()
                tools.friend_profile = lambda user_id, voice: self.profile(self.train.users.index(user_id), voice)
            self._tools = tools
        return self._tools

    def social_graph(self) -> SocialGraph:
        """The run's friendship graph (built from the seed and the users alone)."""
        social = self.scenario.social
        users = self.spec.users
        shares = np.stack([self.profiles[self.train.users.index(u)].genre_share for u in users])
        return build_graph(social.graph, social.degree, users, shares, self.scenario.seed)


def watched_before(prior: tuple[Event, ...], train: Interactions) -> set[int]:
    """Every item the user watched in earlier rounds (memory keeps only the latest)."""
    return {train.items.index(e.item_id) for e in prior if e.kind == "watch" and e.item_id is not None}


def replay_memory(
    prior: tuple[Event, ...], memory: Memory, items: SimItems, train: Interactions, profile: UserProfile
) -> Memory:
    """Rebuild a user's memory from the watch and reflection events of earlier rounds."""
    for event in prior:
        if event.kind == "watch" and event.item_id is not None:
            memory.remember(Watch(train.items.index(event.item_id), int(event.rating or 0), event.text or ""))
        elif event.kind == "reflection":
            memory.reflect(event.text or "", items, profile.mean_rating)
    return memory


def split_label(scenario: Scenario) -> str:
    return f"sim-random{scenario.fidelity.holdout:g}-seed{scenario.seed}"


def fit_scorer(scenario: Scenario, train: Interactions, dataset_key: str, split_name: str) -> Recommender:
    """The users' taste model on ``train`` (fitted once, then loaded from the model store)."""
    model = make_model(scenario.users.taste_model)
    fitted, _ = ModelStore().fit_or_load(model, train, None, dataset_key, split_name)
    return fitted


def load_or_calibrate(
    run_dir: Path, scenario: Scenario, train: Interactions, items: SimItems, dataset_key: str, split_name: str
) -> Calibration:
    """The run's calibration: read from the run folder, or fitted on ``train`` and stored there."""
    path = run_dir / CALIBRATION_FILE
    if path.is_file():
        return Calibration.model_validate_json(path.read_text())
    calibration = cached_calibration(scenario, train, items, dataset_key, split_name)
    write_atomically(path, calibration.model_dump_json(indent=2))
    return calibration


def cached_calibration(
    scenario: Scenario, train: Interactions, items: SimItems, dataset_key: str, split_name: str
) -> Calibration:
    """A calibration is fixed by the data, split, taste model and page size: fit it once per state home."""
    # "mf": the rating line corrects a biased MF (before: the biases), so older calibrations do not apply
    key = f"{dataset_key}-{split_name}-{scenario.users.taste_model}-neg{scenario.fidelity.negatives}-mf"
    click_rate = scenario.users.click_rate
    if click_rate is not None:  # the base rate is read on sessions of the scenario's pages
        key += f"-ctr{click_rate:g}-pages{scenario.pages}x{scenario.page_size}"
    path = state_dir("sim", "calibrations") / f"{key}.json"
    if path.is_file():
        return Calibration.model_validate_json(path.read_text())
    calibration = calibrate(
        train,
        items,
        lambda data, tag: fit_scorer(scenario, data, dataset_key, f"{split_name}-{tag}"),
        scenario.seed,
        scenario.fidelity.negatives,
        click_rate,
        scenario.pages,
        scenario.page_size,
    )
    write_atomically(path, calibration.model_dump_json(indent=2))
    return calibration


def held_out_state(world: SimWorld, taste: TasteModel, profile: UserProfile, task: str) -> SessionState:
    """A fresh session for a fidelity task: an empty memory and a generator seeded by the task and user."""
    rng = session_rng(world.scenario.seed, task, 0, profile.user_id)
    memory = Memory(world.scenario.users.memory_size)
    return SessionState(profile, taste.for_user(profile), memory, taste.items, rng, world.voice())


def never_interacted(history: sparse.csr_matrix, user: int) -> IntArray:
    """The items ``user`` has no interaction with in ``history`` (a users x items CSR matrix)."""
    own = history.indices[history.indptr[user] : history.indptr[user + 1]]
    found: IntArray = np.setdiff1d(np.arange(history.shape[1]), own)
    return found


def feedback_path(run_dir: Path, arm: str, session: int) -> Path:
    return run_dir / "feedback" / f"{arm}-round{session}.json"


def load_feedback(run_dir: Path, arm: str, session: int, train: Interactions) -> Interactions:
    """The watches of rounds before ``session`` as interactions (empty before the first round's end)."""
    from agentrec.sim.recommenders import feedback_interactions

    path = feedback_path(run_dir, arm, session)
    watches = json.loads(path.read_text()) if path.is_file() else []
    return feedback_interactions(train, [tuple(w) for w in watches])


def shown_path(run_dir: Path, arm: str, session: int) -> Path:
    """The impressions of round ``session - 1`` (each round's file holds that one round)."""
    return run_dir / "feedback" / f"{arm}-round{session}-shown.json"


def load_shown(run_dir: Path, arm: str, session: int, train: Interactions) -> Shown:
    """Every impression of the rounds before ``session``, oldest round first."""
    rows = []
    for later in range(1, session + 1):
        rows += [tuple(row) for row in json.loads(shown_path(run_dir, arm, later).read_text())]
    return shown_records(train, rows)

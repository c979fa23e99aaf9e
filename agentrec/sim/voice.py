"""What the LLM writes for a simulated user: feelings, reflections, interview answers, taste, choices.

Every prompt is built from the user's profile (training history only), their
simulated memory and the items on the page in front of them; nothing else about
the user reaches the model. Each call gets a seed drawn from the session's rng,
so a cached run replays exactly.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from agentrec.llm.records import ChatModel, GenerationSettings, Message
from agentrec.llm.structured import InvalidStructuredReply, complete_structured
from agentrec.sim.items import SimItems
from agentrec.sim.memory import Memory
from agentrec.sim.profiles import UserProfile

HISTORY_LINES = 10
Reply = TypeVar("Reply", bound=BaseModel)


class PageChoice(BaseModel):
    """The llm choice model's answer for one page."""

    watch: list[int] = Field(default_factory=list, max_length=20, description="positions (1 = first) you watch")
    ratings: list[int] = Field(default_factory=list, max_length=20, description="a 1-5 rating per watched movie")
    feeling: str = Field("", max_length=300, description="one sentence on how you feel")
    leave: bool = Field(False, description="true to stop browsing after this page")


class DetourChoice(BaseModel):
    """What the llm choice model does after a page with nothing it wanted."""

    action: Literal["browse", "search", "assistant", "friend"] = Field(
        description="browse: go on; search: search the catalog; assistant: tell the site's assistant; friend: ask one"
    )


class ForcedPick(BaseModel):
    """Which one movie of a page the user would watch."""

    choice: int = Field(ge=1, le=20, description="position (1 = first) of the one movie you would watch")


class RatingAnswer(BaseModel):
    rating: int = Field(ge=1, le=5, description="your rating, 1 (bad) to 5 (great)")


class InterviewAnswer(BaseModel):
    satisfaction: int = Field(ge=1, le=10)
    reason: str = Field("", max_length=300)


def history_lines(profile: UserProfile, items: SimItems, limit: int = HISTORY_LINES) -> list[str]:
    """The user's last training items as prompt lines (never held-out items: profiles hold none)."""
    lines = []
    for item, rating in zip(profile.history[-limit:], profile.ratings[-limit:], strict=True):
        stars = f" (you rated it {int(rating)}/5)" if rating == rating else ""
        lines.append(f"- {items.labels[int(item)]}{stars}")
    return lines


def persona(profile: UserProfile, items: SimItems, memory: Memory | None = None) -> str:
    """The system prompt: traits, taste, real history, and what the simulation added to memory."""
    parts = [
        "You are a person browsing a movie recommendation website. Stay in character and be brief.",
        profile.traits.describe(),
        f"Your taste: {profile.taste}",
        "Movies you watched before:",
        *history_lines(profile, items),
    ]
    if memory is not None and memory.watches:
        parts += ["Movies you watched on this website lately:", *memory.recent_lines(items)]
    if memory is not None and memory.latest_reflection():
        parts.append(f"What you noticed about yourself: {memory.latest_reflection()}")
    return "\n".join(parts)


def page_lines(page: list[int], items: SimItems) -> str:
    return "\n".join(f"{position}. {items.labels[item]}" for position, item in enumerate(page, start=1))


class UserVoice:
    """One simulated user's access to the LLM, counting the tokens it spends."""

    def __init__(self, model: ChatModel, items: SimItems, max_tokens: int, temperature: float) -> None:
        self.model = model
        self.items = items
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.tokens = 0
        self.failures = 0

    def _settings(self, seed: int, max_tokens: int | None = None) -> GenerationSettings:
        return GenerationSettings(
            temperature=self.temperature, max_tokens=max_tokens or self.max_tokens, seed=seed, stop=("\n",)
        )

    def say(self, system: str, request: str, seed: int) -> str:
        """One short free-text answer (the first line of the reply)."""
        turn = self.model.complete([Message.system(system), Message.user(request)], settings=self._settings(seed))
        self.tokens += turn.usage.total_tokens
        return turn.text.strip().splitlines()[0].strip() if turn.text.strip() else ""

    def ask(self, system: str, request: str, reply: type[Reply], seed: int) -> Reply | None:
        """A structured answer, or None (counted) when the model gives no valid one."""
        settings = GenerationSettings(temperature=self.temperature, max_tokens=4 * self.max_tokens, seed=seed)
        messages = [Message.system(system), Message.user(request)]
        try:
            answer, turns = complete_structured(self.model, messages, reply, settings)
        except InvalidStructuredReply:  # the model answered, but not usably: decided statistically, and counted
            self.failures += 1
            return None
        self.tokens += sum(turn.usage.total_tokens for turn in turns)
        return answer

    def feeling(self, system: str, watched: list[tuple[int, int]], seed: int) -> str:
        listed = "; ".join(f"{self.items.labels[item]} ({rating}/5)" for item, rating in watched)
        return self.say(system, f"You just watched: {listed}. In one sentence, how do you feel about them?", seed)

    def reflection(self, system: str, memory: Memory, seed: int) -> str:
        recent = "\n".join(memory.recent_lines(self.items))
        request = f"Your recent watches:\n{recent}\nIn one sentence, what do they tell you about your taste?"
        return self.say(system, request, seed)

    def interview_reason(self, system: str, summary: str, satisfaction: int, seed: int) -> str:
        request = f"The session is over. {summary} You rate your satisfaction {satisfaction}/10. In one sentence, why?"
        return self.say(system, request, seed)

    def taste_summary(self, profile: UserProfile, seed: int) -> str:
        lines = "\n".join(history_lines(profile, self.items, limit=20))
        request = f"These are movies a person watched:\n{lines}\nDescribe their movie taste in one sentence."
        return self.say("You summarise movie tastes briefly.", request, seed)

    def search_query(self, system: str, seed: int) -> str:
        request = "You want to search the website's catalog. What do you type into the search box? A few words only."
        return self.say(system, request, seed)

    def agent_message(self, system: str, seed: int) -> str:
        request = "Write one short message to the website's movie assistant saying what kind of movie you want now."
        return self.say(system, request, seed)

    def post_text(self, system: str, item: int, rating: int, seed: int) -> str:
        label = self.items.labels[item]
        request = f"You just watched {label} and rated it {rating}/5. Write a one-sentence post about it for friends."
        return self.say(system, request, seed)

    def friend_message(self, system: str, seed: int) -> str:
        return self.say(system, "Write one short message asking a friend to recommend you a movie.", seed)

    def friend_reply(self, friend_taste: str, message: str, item: int, rating: int, seed: int) -> str:
        """The friend's answer, written from the friend's taste alone (no history lines, so no other titles)."""
        system = f"You are a movie fan chatting with a friend. Be brief. Your taste: {friend_taste}"
        label = self.items.labels[item]
        request = f'Your friend asks: "{message[:200]}". In one sentence, recommend {label} (you rated it {rating}/5).'
        return self.say(system, request, seed)

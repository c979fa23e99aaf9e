"""How the chat looks: numbered lists with reasons, /why evidence, /history, /tools and /help."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from agentrec.agent.chat.records import ChatSession, ListedItem, TurnRecord
from agentrec.agent.registry import ToolRegistry
from agentrec.ui.console import stdout as _console


def _print(*objects: object) -> None:
    _console.print(*objects, highlight=False)


EXAMPLES = (
    "something like Alien but funnier",
    "no horror",
    "only 90s",
    "more like #3",
    "space adventure with robots",
)
COMMANDS: dict[str, str] = {
    "/like N": "like item N of the last list (or a title): later lists follow your likes",
    "/dislike N": "never show item N (or a title) again in this session",
    "/dislike N because R": "and rule out that aspect: too old, too new, less violent, not another sequel, a genre",
    "/seen N": "you have seen item N (or a title): it never comes back, and does not steer the lists",
    "/constraints": "the constraints in force, and where they came from",
    "/why N": "the tools and evidence behind item N",
    "/trace": "every step of the last turn: rules, model calls, tool results",
    "/history": "what was said, liked and disliked, and the constraints in force",
    "/tools": "the tools the model may call",
    "/model NAME": "switch the LLM (local, a .gguf path, or a litellm name)",
    "/save FILE": "write this session as JSON (resume it with --resume FILE)",
    "/reset": "start over: forget messages, likes, dislikes, seen items and constraints",
    "/help": "this list",
    "/quit": "save and leave (Ctrl-D does the same)",
}


def render_items(items: Sequence[ListedItem]) -> None:
    for item in items:
        genres = ", ".join(item.genres)
        _print(f"[bold]{item.position:>2}. {escape(item.title)}[/bold]  [dim]{escape(genres)}[/dim]")
        _print(f"    [dim]why:[/dim] {escape(item.why)}")


def render_turn(record: TurnRecord, backend_error: str | None, log: Path | None = None) -> None:
    """A turn's answer: the list, the model's sentences, any problem, then what was read and what it cost."""
    if record.items:
        render_items(record.items)
    if record.reply:
        _print(f"[cyan]{escape(record.reply)}[/cyan]")
    if record.question:
        _print(f"[bold cyan]{escape(record.question)}[/bold cyan] [dim](or say: just recommend)[/dim]")
    for problem in record.problems:
        _print(f"[yellow]note:[/yellow] {escape(problem)}")
    if backend_error:
        first = " ".join(backend_error.split())[:200]
        details = f"; details in {log}" if log is not None else ""
        _print(f"[red]the LLM was not reached ({escape(first)}); shown instead: the tools' own list{details}[/red]")
    notes = []
    if record.understood:
        notes.append("read: " + ", ".join(record.understood))
    if not record.constraints.is_empty():
        notes.append("keeping: " + record.constraints.describe())
    notes.append(f"{record.seconds:.1f} s, {record.llm_calls} LLM calls")
    for note in notes:  # one per line: a long "read:" must not wrap the cost line, which ends a turn
        _print("[dim]" + escape(note) + "[/dim]")


def render_why(item: ListedItem) -> None:
    facts = [", ".join(item.genres)] if item.genres else []
    if item.mean_rating is not None:
        facts.append(f"mean rating {item.mean_rating} from {item.interactions} users")
    _print(f"[bold]#{item.position} {escape(item.title)}[/bold]  [dim]{escape(' · '.join(facts))}[/dim]")
    _print(f"  why: {escape(item.why)}")
    for evidence in item.evidence:
        if evidence.origin == "fill":
            _print("  - not in any gathered list: filled in from the recommender's own ranking")
            continue
        note = evidence.note.removeprefix("rule: ")
        if evidence.origin == "rule":
            who = f"called by the rules: {note}" if note else "called by the rules"
        else:
            who = f"called by the model, thinking {note!r}" if note else "called by the model"
        _print(f"  - {escape(evidence.call)} ranked it #{evidence.rank} (step {evidence.step}, {escape(who)})")


def render_history(session: ChatSession, titles: dict[str, str]) -> None:
    if not session.messages:
        _print("[dim]nothing said yet[/dim]")
    for message in session.messages:
        who = "you" if message.role == "user" else "agent"
        first, *rest = message.text.splitlines() or [""]
        _print(f"[bold]{who}:[/bold] {escape(first)}")
        for line in rest:
            _print(f"       [dim]{escape(line)}[/dim]")
    for label, ids in (("liked", session.liked), ("disliked", session.disliked), ("seen", session.seen)):
        shown = "; ".join(titles.get(i, i) for i in ids) or "-"
        _print(f"[bold]{label}:[/bold] {escape(shown)}")
    _print(f"[bold]constraints:[/bold] {escape(session.constraints.describe() or '-')}")


def render_constraints(session: ChatSession) -> None:
    """The constraints in force, one per line; they last until the person changes them."""
    constraints = session.constraints
    if constraints.is_empty():
        _print(
            "[dim]no constraints; say 'no horror', 'only 90s', 'for the family', or /dislike N because too old[/dim]"
        )
        return
    if constraints.audience:
        _print(f"[bold]audience:[/bold] {escape(constraints.audience)}")
    rows = [
        ("only genres", " or ".join(constraints.genres)),
        ("no genres", ", ".join(constraints.exclude_genres)),
        ("years", _years(constraints.year_min, constraints.year_max)),
        ("no titles of kind", ", ".join(constraints.exclude_kinds)),
        ("preferred (soft)", ", ".join(constraints.prefer_genres)),
    ]
    for label, value in rows:
        if value:
            _print(f"[bold]{label}:[/bold] {escape(value)}")
    if session.no_questions:
        _print("[dim]questions: off (you said 'just recommend')[/dim]")
    _print("[dim]they last until you change them: 'any genre', 'any year', or /reset[/dim]")


def _years(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return ""
    return f"{low if low is not None else '...'}-{high if high is not None else '...'}"


def render_tools(registry: ToolRegistry) -> None:
    table = Table(title="tools the model may call (the rules also use filter, retrieve, similar, search)")
    table.add_column("tool", style="bold")
    table.add_column("what it does")
    for name, declared in registry.tools.items():
        table.add_row(name, declared.description)
    _print(table)


def render_help() -> None:
    table = Table(show_header=False, box=None)
    for command, text in COMMANDS.items():
        table.add_row(f"[bold]{command}[/bold]", text)
    _print(table)
    _print("Or just say what you want, for example: " + "; ".join(f'"{e}"' for e in EXAMPLES))

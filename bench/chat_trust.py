"""Can a person trust the chat? Three measurements on ml-100k (issue 19).

Run:  AGENTREC_DATA_HOME=/work/shared/data python bench/chat_trust.py [--parts contrast,ear,replies]
      (--replies 100 sets how many embedded-model replies are checked; --users 200 the EAR users)

* ``contrast``: "like X but Y" requests over several X and Y. For each, the share
  of the top 5 that is Y *and* among X's 50 nearest items (by the pack's
  item-item model, the one ``similar`` uses). Run this file from an older
  checkout (``PYTHONPATH=/path/to/old``) to get the "before" column: it only uses
  ``ChatAgent.run_turn``, which every version has.
* ``ear``: simulated users answer from their held-out taste. Each of N ml-100k
  users starts a session from their training history and says "recommend me
  something"; the held-out (leave-one-out test) item is what they want. With
  questions, a user answers the chat's question "yes" when the held-out item has
  the genre asked about and "no" otherwise, and otherwise says "something else";
  without questions ("just recommend") they say "something else" each turn. A
  hit is the held-out item in the top 5 within 3 turns. Rules and tools only (no
  LLM): the question and the answers are the rule layer's, so the comparison
  isolates them. Paired bootstrap CI over users.
* ``replies``: N turns with the embedded model (SmolLM2-135M) writing the reply.
  Every sentence it wrote is checked against the catalog by the tests' own
  checker (``tests/ui/chat_scripts.py``: genre names, years and decades, against
  the items the sentence names, else the three it was shown), and so is every sentence shown
  in the default ``--reply facts`` and in ``--reply llm``. Also times each turn.

Writes ``bench/out/chat_trust.json`` and ``bench/out/chat_trust_ear.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.agent.chat.conversation import ChatAgent, ChatSettings
from agentrec.agent.chat.records import ChatSession
from agentrec.agent.policies import RunSettings
from agentrec.agent.service import open_agent
from agentrec.recsys.threads import pin_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ui.chat_scripts import contradiction  # the tests' own checker, apart from the chat's

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONTRAST = (
    ("Alien", "funnier", "Comedy"), ("Alien", "more romantic", "Romance"), ("Toy Story", "scarier", "Horror"),
    ("Fargo", "funnier", "Comedy"), ("The Godfather", "funnier", "Comedy"), ("Star Wars", "more romantic", "Romance"),
    ("Pulp Fiction", "a comedy", "Comedy"), ("Titanic", "sci-fi", "Sci-Fi"), ("Die Hard", "funnier", "Comedy"),
    ("The Silence of the Lambs", "a drama", "Drama"), ("Jurassic Park", "animated", "Animation"),
    ("Casablanca", "a thriller", "Thriller"), ("Braveheart", "funnier", "Comedy"), ("Scream", "funnier", "Comedy"),
)  # fmt: skip
REPLY_MESSAGES = (
    "something like Alien but funnier", "no horror", "only 90s", "I loved Toy Story. something for the family",
    "more like #2", "something romantic", "scary movies from the 80s", "like Fargo", "something else",
    "a good drama", "only comedies", "I've seen Star Wars, something like it but older", "any genre, any year",
    "westerns please", "something like The Godfather", "recommend me something", "no musicals, something newer",
    "animated films", "a thriller from the 70s", "I hated Titanic. something romantic but not a drama",
)  # fmt: skip
TURNS = 3
HIT_AT = 5


def open_chat(model_name: str | None) -> ChatAgent:
    """ml-100k with the chat's default backbone; no LLM when ``model_name`` is None (an older checkout works too)."""
    service = open_agent("ml-100k", RunSettings(k=8, fusion="rrf"), backbone="ease")
    model = None
    if model_name is not None:
        from agentrec.llm.factory import make_chat_model

        model = make_chat_model(model_name, None, "off")
    return ChatAgent(service.workspace, service.registry, model, ChatSettings(k=8))


# ----- like X but Y -----------------------------------------------------------------------------
def contrast(agent: ChatAgent) -> dict[str, Any]:
    workspace = agent.workspace
    rows = []
    for title, phrase, genre in CONTRAST:
        anchor = workspace.item_index(title)
        allowed = np.ones(workspace.n_items, dtype=bool)
        allowed[anchor] = False
        nearest = {int(i) for i in workspace.similar_items(anchor, 50, allowed)}
        result = agent.run_turn(ChatSession(dataset="ml-100k"), f"something like {title} but {phrase}")
        top = result.record.items[:HIT_AT]
        both = [item.title for item in top if genre in item.genres and workspace.item_index(item.item_id) in nearest]
        # when fewer than five of X's 50 nearest are Y, no list can reach 5/5
        reachable = min(HIT_AT, sum(genre in workspace.records[i].genres for i in nearest)) / HIT_AT
        top5 = [i.title for i in top]
        rows.append({"x": title, "y": genre, "share": len(both) / HIT_AT, "reachable": reachable, "top5": top5})
        print(f"  like {title} but {phrase}: {len(both)}/{HIT_AT} (reachable {reachable:.1f})", flush=True)
    shares = [r["share"] for r in rows]
    return {
        "requests": rows,
        "mean_share": float(np.mean(shares)),
        "mean_reachable": float(np.mean([r["reachable"] for r in rows])),
    }


# ----- EAR: asking when unsure -------------------------------------------------------------------
def ear(agent: ChatAgent, users: int, seed: int) -> dict[str, Any]:
    workspace = agent.workspace
    test = workspace.split.test
    rng = np.random.default_rng(seed)
    chosen = rng.choice(test.n_users, size=min(users, len(test)), replace=False)
    targets = {int(u): int(i) for u, i in zip(test.user, test.item, strict=True)}
    arms: dict[str, list[int]] = {"questions": [], "no_questions": []}
    turn_of_hit: dict[str, list[int]] = {"questions": [], "no_questions": []}
    asked = answered_yes = 0
    for user in chosen:
        user = int(user)
        if user not in targets:
            continue
        target = workspace.records[targets[user]]
        for arm in arms:
            session = ChatSession(dataset="ml-100k", user_id=test.users.ids[user], no_questions=arm == "no_questions")
            hit_turn = 0
            message = "recommend me something"
            for turn in range(1, TURNS + 1):
                record = agent.run_turn(session, message).record
                if target.item_id in [item.item_id for item in record.items[:HIT_AT]]:
                    hit_turn = turn
                    break
                genre = session.pending_question
                if genre is not None:
                    asked += 1
                    yes = genre in target.genres
                    answered_yes += yes
                    message = "yes" if yes else "no"
                else:
                    message = "something else"
            arms[arm].append(int(hit_turn > 0))
            turn_of_hit[arm].append(hit_turn)
    from agentrec.eval.bootstrap import paired_bootstrap

    comparison = paired_bootstrap(arms["no_questions"], arms["questions"], n_resamples=2000, seed=seed)
    by_turn = {
        arm: [float(np.mean([0 < t <= turn for t in hits])) for turn in range(1, TURNS + 1)]
        for arm, hits in turn_of_hit.items()
    }
    return {
        "users": len(arms["questions"]),
        "hit@5_within_3": {arm: float(np.mean(v)) for arm, v in arms.items()},
        "hit@5_by_turn": by_turn,
        "questions_minus_none": {
            "diff": comparison.diff,
            "low": comparison.low,
            "high": comparison.high,
            "p_value": comparison.p_value,
        },
        "questions_asked": asked,
        "answered_yes": answered_yes,
    }


def plot_ear(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    turns = list(range(1, TURNS + 1))
    for arm, label in (("questions", "asks one question when unsure"), ("no_questions", "just recommend")):
        axis.plot(turns, result["hit@5_by_turn"][arm], marker="o", label=label)
    axis.set_xticks(turns)
    axis.set_xlabel("turn")
    axis.set_ylabel("hit@5 so far")
    diff = result["questions_minus_none"]
    axis.set_title(f"ml-100k, {result['users']} users: {diff['diff']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


# ----- the scripted conversations --------------------------------------------------------------
def scripts(agent: ChatAgent) -> dict[str, Any]:
    """The tests' 20 conversations (tests/ui/chat_scripts.py), in process: violations and each turn's time."""
    from tests.ui.chat_scripts import SCRIPTS, Listed, ScriptState

    violations: list[str] = []
    seconds: list[float] = []
    turns = contradictions = sentences = 0
    examples: list[str] = []
    for number, script in enumerate(SCRIPTS, start=1):
        session, state = ChatSession(dataset="ml-100k"), ScriptState()
        for turn in script:
            state.before(turn)
            said = turn["say"]
            if said.startswith("/seen "):
                agent.mark_seen(session, said.removeprefix("/seen "))
                continue
            if said.startswith("/dislike "):
                agent.dislike(session, said.removeprefix("/dislike "))
                continue
            started = time.perf_counter()
            record = agent.run_turn(session, said).record
            seconds.append(time.perf_counter() - started)
            turns += 1
            listed = [Listed(item.title, tuple(item.genres)) for item in record.items]
            state.last = listed
            violations += [f"#{number} {said!r}: {v}" for v in state.violations(turn, listed)]
            from agentrec.agent.chat.replies import split_sentences

            shown = split_sentences(record.reply)
            sentences += len(shown)
            flagged = [s for s in shown if contradiction(s, record.items)]
            contradictions += len(flagged)
            examples += flagged[:1]
        print(f"  conversation {number}: {len(violations)} violations so far", flush=True)
    return {
        "conversations": len(SCRIPTS),
        "turns": turns,
        "violations": violations,
        "reply_sentences": sentences,
        "reply_sentences_contradicting": contradictions,
        "contradicting_examples": examples[:8],
        "turn_seconds": {"median": statistics.median(seconds), "p90": float(np.percentile(seconds, 90))},
    }


# ----- replies -----------------------------------------------------------------------------------
def replies(agent: ChatAgent, count: int) -> dict[str, Any]:
    """``count`` turns; the LLM's sentences before the chat's check, and what each reply mode shows."""
    from agentrec.agent.chat.replies import split_sentences

    written = written_bad = facts_shown = facts_bad = llm_shown = llm_bad = turns_with_framing = 0
    seconds: list[float] = []
    examples: list[dict[str, Any]] = []
    session = ChatSession(dataset="ml-100k")
    for index in range(count):
        if index % len(REPLY_MESSAGES) == 0:
            session = ChatSession(dataset="ml-100k", user_id=None if index % 2 == 0 else str(1 + index))
        message = REPLY_MESSAGES[index % len(REPLY_MESSAGES)]
        started = time.perf_counter()
        record = agent.run_turn(session, message).record
        seconds.append(time.perf_counter() - started)
        items = record.items
        bad = [s for s in record.checked if contradiction(s, items) is not None]
        written += len(record.checked)
        written_bad += len(bad)
        shown = split_sentences(record.reply)  # the default reply: facts, after a framing sentence that passed
        facts_shown += len(shown)
        facts_bad += sum(contradiction(s, items) is not None for s in shown)
        kept = [s for s in record.checked if s not in record.dropped]  # what --reply llm shows
        turns_with_framing += bool(kept)
        llm_shown += len(kept)
        llm_bad += sum(contradiction(s, items) is not None for s in kept)
        if bad and len(examples) < 8:
            examples.append({"message": message, "dropped_by_chat": record.dropped, "flagged_by_test_checker": bad})
        print(f"  {index + 1}/{count} {seconds[-1]:.1f}s dropped {len(record.dropped)}", flush=True)
    return {
        "turns": count,
        "llm_sentences": written, "llm_sentences_contradicting": written_bad,
        "facts_reply_sentences": facts_shown, "facts_reply_contradicting": facts_bad,
        "llm_reply_sentences_kept": llm_shown, "llm_reply_contradicting": llm_bad,
        "turns_with_an_llm_sentence_shown": turns_with_framing,
        "turn_seconds": {"median": statistics.median(seconds), "p90": float(np.percentile(seconds, 90))},
        "examples": examples,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="contrast,ear,scripts,replies")
    parser.add_argument("--no-llm", action="store_true", help="scripts and replies without the LLM (rules only)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT / "chat_trust.json")
    args = parser.parse_args()
    os.environ.setdefault("AGENTREC_LLM_THREADS", "2")
    pin_threads()
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {"python": sys.version.split()[0]}
    if parts & {"contrast", "ear"}:
        agent = open_chat(None)
        if "contrast" in parts:
            print("like X but Y:", flush=True)
            result["contrast"] = contrast(agent)
        if "ear" in parts and hasattr(ChatSession, "model_fields") and "no_questions" in ChatSession.model_fields:
            print("EAR:", flush=True)
            result["ear"] = ear(agent, args.users, args.seed)
            plot_ear(result["ear"], args.out.with_name("chat_trust_ear.png"))
    if parts & {"replies", "scripts"}:
        embedded = open_chat(None if args.no_llm else "local")
        if "scripts" in parts:
            print("scripted conversations (embedded model, one tool step per turn):", flush=True)
            result["scripts"] = scripts(embedded)
        if "replies" in parts:
            print("replies:", flush=True)
            result["replies"] = replies(embedded, args.replies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    summary = {k: v for k, v in result.items() if k != "python"}
    print(json.dumps(summary, indent=1)[:4000])


if __name__ == "__main__":
    main()

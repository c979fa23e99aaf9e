"""Asking when unsure (EAR's Estimation-Action-Reflection): one short question about the genre that splits most.

A vague request ("recommend me something") over a large, mixed candidate set
is answered with a list *and* one question. The question is about the genre
that divides the backbone's best candidates most evenly, because its answer
rules out the most of them; the pack words it ("More animated, or live
action?"). A request that already names titles or genres is not questioned,
nor is a session whose person said "just recommend".
"""

from __future__ import annotations

import numpy as np

from agentrec.agent.chat.chat_rules import CatalogRules, Question
from agentrec.agent.chat.records import ChatSession
from agentrec.agent.chat.request_rules import ParsedRequest
from agentrec.agent.context import ToolContext
from agentrec.recsys.base import top_k_allowed

QUESTION_POOL = 100  # the backbone's best unseen candidates the question is about
MIN_CANDIDATES = 40  # a request that leaves fewer is narrow enough: just recommend
MIN_SHARE, MAX_SHARE = 0.2, 0.8  # a genre outside this share of the candidates splits too little
MAX_QUESTIONS = 3  # per session: a chat that keeps asking stops being a recommender


def question_for(genre: str, rules: CatalogRules) -> Question:
    """The pack's question about ``genre``, or a plain one."""
    written = rules.questions.get(genre)
    if written is not None:
        return written
    return Question(genre, f"More {genre}, or something else?", (genre.lower(),), ("something else",))


def choose_question(
    context: ToolContext, request: ParsedRequest, session: ChatSession, rules: CatalogRules
) -> Question | None:
    """The one question worth asking after this request, or None."""
    constraints = request.constraints
    if session.no_questions or request.stop_asking or len(session.asked) >= MAX_QUESTIONS:
        return None
    # A genre wish from an answer to the last question does not make a request specific: the chat may ask on.
    wishes = {*request.wanted_genres, *constraints.prefer_genres} - {request.answered}
    if request.anchors or wishes or constraints.genres:
        return None
    workspace = context.workspace
    allowed = context.pool.allowed
    if int(allowed.sum()) < MIN_CANDIDATES or "genre" not in workspace.attributes.names:
        return None
    candidates = top_k_allowed(context.scores("backbone"), allowed, QUESTION_POOL)
    settled = {*session.asked, *constraints.exclude_genres, *constraints.prefer_genres}
    best: tuple[float, str] | None = None
    for genre in rules.genres:
        if genre in settled:
            continue
        share = float(np.mean(workspace.attributes.mask("genre", genre)[candidates]))
        if MIN_SHARE <= share <= MAX_SHARE and (best is None or abs(share - 0.5) < best[0]):
            best = (abs(share - 0.5), genre)
    return None if best is None else question_for(best[1], rules)

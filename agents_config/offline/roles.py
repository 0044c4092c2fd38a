"""The pipeline agents' roles offline, and how an agent's role is recognised.

A role is recognised by the agent's name (the names `agents_config.pipelines` gives them), or
else by the first sentence of its instructions ("You are an analyst…", "You moderate a
debate…"). The desk's own agents never take a pipeline role. Each role reads its `Turn` and
answers with text, a tool call, or a structured value (see `agents_config.offline.turn`).
"""

from __future__ import annotations

import re

from agents_config.offline import debate
from agents_config.offline.digest import digest_writer, kb_article
from agents_config.offline.research import analyst, coordinator, evaluator, researcher, writer
from agents_config.offline.text import first_sentence
from agents_config.offline.turn import Reply, Role, Turn
from agents_config.routing import AGENT_DEPARTMENTS


def kb_writer(turn: Turn) -> Reply:
    """A help-centre article from a (de-identified) solved ticket: its words, arranged."""
    return kb_article(turn.request)


def optimist(turn: Turn) -> Reply:
    return debate.argue("optimist", debate.read_debate(turn.request))


def skeptic(turn: Turn) -> Reply:
    return debate.argue("skeptic", debate.read_debate(turn.request))


def moderator(turn: Turn) -> Reply:
    return debate.conclude(debate.read_debate(turn.request))


ROLES_BY_NAME: dict[str, Role] = {
    "researcher": researcher,
    "analyst": analyst,
    "writer": writer,
    "evaluator": evaluator,
    "coordinator": coordinator,
    "optimist": optimist,
    "skeptic": skeptic,
    "moderator": moderator,
    "digest_writer": digest_writer,
    "kb_writer": kb_writer,
}
# (pattern of the instructions' first sentence, role, needs tools); the first match wins.
ROLES_BY_INSTRUCTIONS: tuple[tuple[re.Pattern[str], Role, bool], ...] = tuple(
    (re.compile(pattern, re.I), role, needs_tools)
    for pattern, role, needs_tools in (
        (r"\boptimist\b", optimist, False),
        (r"\bs[kc]eptic\b", skeptic, False),
        (r"\bmoderat", moderator, False),
        (r"\bdigest\b", digest_writer, False),
        (r"\bcoordinat", coordinator, True),
        (r"\breview\b|\bevaluat|\bgrade\b", evaluator, False),
        (r"\banaly[sz]", analyst, False),
        (r"\bwrite\b.*\breport\b|\bwriter\b", writer, False),
        (r"\bresearch", researcher, True),
    )
)
DESK_AGENTS = frozenset({*AGENT_DEPARTMENTS, "triage", "fallback", "classifier"})


def role_for(turn: Turn) -> Role | None:
    """The pipeline role of the agent of `turn`, or None (a desk agent, or not recognised)."""
    if turn.agent in DESK_AGENTS:
        return None
    if turn.agent in ROLES_BY_NAME:
        return ROLES_BY_NAME[turn.agent]
    opening = first_sentence(turn.instructions, 300)
    for pattern, role, needs_tools in ROLES_BY_INSTRUCTIONS:
        if pattern.search(opening) and (turn.tools or not needs_tools):
            return role
    return None

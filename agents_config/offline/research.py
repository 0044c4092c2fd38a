"""The `/research` roles offline: the researcher (tool calls, then notes with sources), the
analyst (insights), the writer (draft and revisions), the evaluator (review) and the
coordinator of multi-part topics (one tool per part, then one report)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from agents import FunctionTool

from agents_config.offline import report
from agents_config.offline.analysis import THEMES
from agents_config.offline.answers import found_nothing, is_knowledge_tool
from agents_config.offline.conversation import Call
from agents_config.offline.evidence import (
    Fact,
    Notes,
    article_facts,
    dedupe,
    rank,
    read_brief,
    summary_facts,
    ticket_facts,
    write_notes,
)
from agents_config.offline.routing import choose_route
from agents_config.offline.structured import structured_output
from agents_config.offline.text import (
    counted,
    first_sentence,
    join_words,
    number_word,
    plain,
    plural,
    stem,
    unsigned,
)
from agents_config.offline.tools import search_query
from agents_config.offline.turn import Reply, Structured, ToolCall, Turn, call_with, topic_of
from agents_config.routing import TRIAGE_ROUTES

INSIGHTS = (3, 7)  # fewest and most insights the analyst gives
MAX_PARTS = 4


_ABOUT_TICKETS = re.compile(
    r"\b(?:tickets?|customers?|complain\w*|complaints?|trends?|volume|support load|history|"
    r"people ask|users? ask|frequent\w*|common (?:questions|issues|problems)|recurring|"
    r"escalat\w*|satisfaction|csat)\b",
    re.I,
)
# Words about the ticket history itself, not about what tickets say.
_TICKET_META = frozenset(
    {
        "ticket",
        "tickets",
        "customer",
        "customers",
        "complaint",
        "complaints",
        "complain",
        "trend",
        "trends",
        "volume",
        "support",
        "history",
        "common",
        "frequent",
        "recurring",
        "people",
        "users",
    }
)
# With no subject left ("customer complaints trends"): words from every theme, for an overview.
_OVERVIEW_QUERY = " ".join(keys[0] for _, keys in THEMES)


def researcher(turn: Turn) -> Reply:
    """Search the knowledge base (again with fewer words if it misses), and the ticket history
    when the topic is about tickets or customers; then write the notes."""
    topic = topic_of(turn.request)
    done = {(c.name, json.dumps(c.arguments, sort_keys=True)) for c in turn.conversation.calls}
    for call in _research_plan(topic, turn.tools, turn.conversation.calls):
        if (call.name, json.dumps(call.arguments, sort_keys=True)) not in done:
            return call
    return write_notes(research_notes(topic, turn.conversation.calls))


def _research_plan(topic: str, tools: dict[str, FunctionTool], calls: list[Call]) -> list[ToolCall]:
    plan: list[ToolCall] = []
    knowledge = next(
        (t for t in tools.values() if is_knowledge_tool(t.name) and "ticket" not in t.name), None
    )
    if knowledge is not None:
        query = search_query(topic)
        plan.append(call_with(knowledge, query))
        first = next((c for c in calls if c.name == knowledge.name), None)
        shorter = max(query.split(), key=len, default="")
        if first is not None and found_nothing(first, topic) and shorter != query:
            plan.append(call_with(knowledge, shorter))  # a second try, with the most specific word
    tickets = next((t for t in tools.values() if "ticket" in t.name), None)
    if tickets is not None and _ABOUT_TICKETS.search(topic):
        # Subjects are matched by substring: stems find "refund" in "refunds", "refunded".
        subject = [stem(w) for w in search_query(topic).split() if w not in _TICKET_META]
        plan.append(call_with(tickets, " ".join(subject) or _OVERVIEW_QUERY))
    return plan


def research_notes(topic: str, calls: list[Call]) -> Notes:
    notes = Notes(topic=topic)
    misses: dict[str, list[str]] = {"articles": [], "tickets": []}
    for call in calls:
        query = str(next(iter(call.arguments.values()), ""))
        if "ticket" in call.name:
            found = ticket_facts(call.output or "") or summary_facts(call.output or "")
            miss = f"No past ticket matches “{query}”."
        elif found_nothing(call, topic):
            found, miss = [], f"No help-centre article covers “{query}”."
        else:
            found, titles = article_facts(call.output or "", topic)
            notes.titles.update(titles)
            miss = f"The articles found for “{query}” state no usable facts."
        notes.facts += found
        if not found:
            misses["tickets" if "ticket" in call.name else "articles"].append(miss)
    notes.facts = dedupe(notes.facts)
    if any(not f.from_ticket for f in notes.facts):
        misses["articles"] = []  # a later search found what an earlier one missed
    notes.gaps = [*misses["articles"], *misses["tickets"]]
    if not calls:
        notes.gaps.append("No research tool was available, so nothing could be looked up.")
    return notes


def analyst(turn: Turn) -> Reply:
    """3-7 insights from the notes: the most telling facts, why each matters, its source; then
    the gaps."""
    notes = read_brief(turn.conversation.everything)
    breakdown = _ticket_breakdown(notes.facts)
    chosen = [*breakdown, *rank(notes.facts, notes.topic)][: INSIGHTS[1]]
    if not chosen:
        return (
            f"The research notes on “{notes.topic or 'this topic'}” hold no facts to draw "
            "insights from.\n\nGaps:\n"
            + "\n".join(f"- {g}" for g in notes.gaps or ["The research found nothing."])
        )
    lines = [
        f"Key insights on “{notes.topic or 'the topic'}” "
        f"({plural(len(chosen), 'finding')} from {plural(len(notes.facts), 'fact')}):",
        "",
    ]
    lines += [f"{i}. {_insight(fact, notes)}" for i, fact in enumerate(chosen, 1)]
    if len(chosen) < INSIGHTS[0]:
        lines.append(
            f"\n(Only {plural(len(chosen), 'fact')} in the notes: too few for firm conclusions.)"
        )
    gaps = _gaps(notes)
    if gaps:
        lines += ["", "Gaps:", *(f"- {g}" for g in gaps)]
    return "\n".join(lines)


def _gaps(notes: Notes) -> list[str]:
    """What the research did not find, and the topic's words no fact uses."""
    said = "\n".join(f.text for f in notes.facts)
    silent = report.topic_words_missing(notes.topic, said)
    return [*notes.gaps, *(f"The notes say nothing about “{w}”." for w in silent)]


def _ticket_breakdown(facts: list[Fact]) -> list[Fact]:
    """With two or more past tickets: one finding on how they split by department and how
    many were escalated."""
    metas = [
        m.group(1).split(",")
        for f in facts
        if f.from_ticket and (m := re.match(r"Ticket #\d+ \(([^)]*)\)", f.text))
    ]
    if len(metas) < 2:
        return []
    departments = Counter(m[0].strip() for m in metas)
    escalated = sum("escalated" in ",".join(m) for m in metas)
    split = join_words(f"{number_word(n)} {d}" for d, n in departments.most_common())
    handed = {0: "none was", 1: "one was"}.get(escalated, f"{number_word(escalated)} were")
    return [
        Fact(
            f"Trend across the {counted(len(metas), 'matching past ticket')}: by "
            f"department, {split}; {handed} escalated to a person",
            "ticket history",
        )
    ]


def _insight(fact: Fact, notes: Notes) -> str:
    """ "finding — why it matters: …. Source: Title [source]." (the writer reads it back)"""
    line = f"{fact.text.rstrip('.')} — why it matters: {fact.why_it_matters()}."
    if not fact.source:
        return line
    title = notes.title_of(fact.source)
    named = "" if title.lower() == fact.source.lower() else f"{title} "
    return f"{line} Source: {named}[{fact.source}]."


_REVISION = re.compile(
    r"previous draft:?\s*\n(.*?)\n\s*(?:reviewer )?feedback:?\s*\n(.*?)"
    r"(?:\n\s*\n\s*revise\b|\Z)",
    re.I | re.S,
)


def writer(turn: Turn) -> Reply:
    """The first draft from the brief; with a previous draft and feedback, the revision."""
    conversation = turn.conversation
    revision = _REVISION.search(conversation.request)
    brief = conversation.earlier[0] if revision and conversation.earlier else conversation.request
    notes = read_brief(brief)
    if revision:
        return report.revise(revision.group(1), revision.group(2), notes).render()
    return report.write_report(notes).render()


def evaluator(turn: Turn) -> Reply:
    """The review of the draft (the last message) against the brief before it."""
    notes = read_brief("\n\n".join(turn.conversation.earlier))
    review = report.review_report(turn.request, notes)
    if turn.schema is not None:
        return Structured(structured_output(turn.schema, turn.request, review=review))
    verdict = "Passes." if review.passes else "Needs work."
    return f"{verdict} Overall {review.overall * 10:.0f}/10.\n\nFeedback:\n{review.feedback}"


# ---------------------------------------------------------------------------------------------
# Coordination

# Parts better answered by the full research pipeline than by one specialist.
_RESEARCH_PART = re.compile(
    r"^\W*(?:how (?:do|does|can|should|long|often)|why)\b|\b(?:polic(?:y|ies)|trends?|process|"
    r"explain|overview|compare|works?)\b",
    re.I,
)


def coordinator(turn: Turn) -> Reply:
    """Ask one tool per part (the pipeline, or the specialist the part routes to), then write
    one report from the answers."""
    topic, parts = _topic_and_parts(turn.request)
    calls = turn.conversation.calls
    if len(calls) < len(parts) and turn.tools:
        return _tool_for(parts[len(calls)], turn.tools)
    return _combined_report(topic, parts, calls)


def _topic_and_parts(text: str) -> tuple[str, list[str]]:
    topic = topic_of(text)
    listed = re.search(r"^Parts:\s*\n(.*)", text, re.M | re.S)
    if listed:
        parts = [
            m.group(1).strip()
            for m in re.finditer(r"^\s*\d{1,2}[.)]\s+(.+)$", listed.group(1), re.M)
        ]
    else:
        parts = [p.strip() for p in re.split(r"\n+|;|(?<=\?)\s+", topic) if len(p.split()) > 1]
    return topic, (parts or [topic])[:MAX_PARTS]


def _tool_for(part: str, tools: dict[str, FunctionTool]) -> ToolCall:
    route = choose_route(part, TRIAGE_ROUTES)
    specialist = next((t for t in tools.values() if route and route.agent in t.name), None)
    research = next((t for t in tools.values() if "research" in t.name), None)
    if specialist is not None and (research is None or not _RESEARCH_PART.search(part)):
        return call_with(specialist, part)
    return call_with(research or next(iter(tools.values())), part)


def _combined_report(topic: str, parts: list[str], calls: list[Call]) -> str:
    answers = [(part, _answer_of(call)) for part, call in zip(parts, calls, strict=False)]
    unanswered = [p for p, a in answers if a is None] + parts[len(calls) :]
    sources: list[str] = []
    sections: list[str] = []
    for n, (part, answer) in enumerate(answers, 1):
        body = "_This part could not be answered._" if answer is None else answer.body
        sections.append(f"## {n}. {part}\n\n{body}")
        sources += answer.sources if answer else []
    lead = f"This report answers {counted(len(parts), 'part')} of the topic"
    lead += (
        f"; {join_words(f'“{p}”' for p in unanswered)} could not be answered."
        if unanswered
        else "."
    )
    highlights = [a.highlight for _, a in answers if a is not None and a.highlight]
    summary = " ".join([lead, *highlights])
    lines = [
        f"# {topic[:1].upper() + topic[1:]}",
        f"## Summary\n\n{summary}",
        *sections,
        "## Sources\n\n" + ("\n".join(dict.fromkeys(sources)) or "- None."),
    ]
    return "\n\n".join(lines)


@dataclass(frozen=True)
class _Answer:
    body: str  # Markdown, headings demoted below the part's own
    highlight: str  # one sentence for the summary
    sources: list[str]  # source lines ("- Refund policy … [refund-policy]")


def _answer_of(call: Call) -> _Answer | None:
    text = unsigned(call.output or "")
    if not text or report.REFUSAL.search(text) or "could not be finished" in text:
        return None
    parsed = report.Report.parse(text)
    if not parsed.title:  # a specialist's answer: quoted as it is
        who = call.name.removeprefix("ask_").replace("_", " ")
        return _Answer(
            text,
            _first_statement(text),
            [f"- {who[:1].upper()}{who[1:]} at the desk, asked with `{call.name}`"],
        )
    kept = [s for s in parsed.sections if not re.search(r"^sources$", s.heading, re.I)]
    body = "\n\n".join(f"### {s.heading}\n\n{s.text}" if s.heading else s.text for s in kept)
    summary = parsed.find(r"summary")
    highlight = first_sentence(_strip_lead(summary.text), 240) if summary else ""
    sources = parsed.find(r"^sources$")
    return _Answer(body, highlight, sources.bullets if sources else [])


def _first_statement(text: str) -> str:
    """The first line of an answer that states something (not a heading like "*List plans*"
    or a lead-in ending in a colon), as a sentence."""
    for line in text.splitlines():
        said = plain(line)
        if len(said) >= 30 and not said.endswith(":"):
            return first_sentence(said, 240)
    return ""


def _strip_lead(summary: str) -> str:
    """A research summary without its "This report draws on …" opening."""
    return re.sub(r"^This report draws on [^.]*\.\s*", "", summary)

"""The `/support-report` digest writer offline: a few bullets from the three analyses
(sentiment, topics, entities) and the desk's numbers, and one suggestion."""

from __future__ import annotations

import json
import re
from typing import Any

from agents_config.offline.text import join_words
from agents_config.offline.turn import Reply, Turn

_ANALYSES = re.compile(r"^Analyses of (\d+) recent tickets:\s*\n(.*)", re.M | re.S)


def digest_writer(turn: Turn) -> Reply:
    """Three to six bullets from the analyses and numbers of the brief."""
    brief = turn.conversation.everything
    found = _ANALYSES.search(brief)
    try:
        analyses: dict[str, Any] = json.loads(found.group(2)) if found else {}
    except json.JSONDecodeError:
        analyses = {}
    numbers = {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(
            r"^- ([A-Za-z ]+):\s*(.+)$", brief[: found.start()] if found else brief, re.M
        )
    }
    bullets = [
        b
        for b in (
            _topics_bullet(analyses.get("topics")),
            _mood_bullet(analyses.get("sentiment")),
            _entities_bullet(analyses.get("entities")),
            _numbers_bullet(numbers),
        )
        if b
    ]
    if not bullets:
        return "- The analyses found nothing to report."
    bullets.append(_suggestion(analyses, numbers))
    return "\n".join(f"- {b}" for b in bullets)


def _topics_bullet(topics: Any) -> str:
    items = (topics or {}).get("topics") or []
    if not items:
        return ""
    said = [
        f"{t['name']} ({t['tickets']}" + (f", e.g. {t['example']})" if t.get("example") else ")")
        for t in items[:3]
    ]
    return f"Customers ask most about {join_words(said)}."


def _mood_bullet(sentiment: Any) -> str:
    if not sentiment:
        return ""
    return (
        f"The mood is {sentiment['overall']} ({sentiment['score']:+.2f} on a scale from "
        f"-1 to 1): {sentiment['notes']}"
    )


def _entities_bullet(entities: Any) -> str:
    items = (entities or {}).get("entities") or []
    if not items:
        return ""
    said = [f"{e['name']} ({e['kind']}, {e['mentions']}×)" for e in items[:5]]
    return f"Named most: {join_words(said)}."


def _numbers_bullet(numbers: dict[str, str]) -> str:
    shown = [
        f"{key} {numbers[key]}"
        for key in ("escalation rate", "csat")
        if key in numbers and not numbers[key].startswith("no ")
    ]
    return f"Desk numbers: {'; '.join(shown)}." if shown else ""


def _suggestion(analyses: dict[str, Any], numbers: dict[str, str]) -> str:
    topics = (analyses.get("topics") or {}).get("topics") or []
    mood = (analyses.get("sentiment") or {}).get("overall")
    rate = re.match(r"(\d+)%", numbers.get("escalation rate", ""))
    if topics and mood in ("negative", "mixed"):
        top = topics[0]
        example = str(top.get("example") or "").strip()  # none in a de-identified report
        return (
            f"Suggestion: start with the {top['name']} tickets"
            + (f" (e.g. {example})" if example else "")
            + ": "
            f"they are the most frequent and the mood is {mood}; a clear help-centre answer "
            "on them would cut repeat questions."
        )
    if rate and int(rate.group(1)) >= 20:
        return (
            f"Suggestion: review why {rate.group(0)} of tickets were escalated; some may "
            "be answerable by the specialists with a better help-centre article."
        )
    if topics:
        return (
            f"Suggestion: turn the best answers on {topics[0]['name']} into a help-centre "
            "article, since that topic comes up most."
        )
    return "Suggestion: keep watching the numbers; nothing stands out yet."


def kb_article(ticket: str) -> str:
    """An article from the ticket the desk gives the KB writer (`Subject:`, `Request:`,
    `Summary:`, `Staff:` lines): the problem, what caused it, the steps staff took."""
    fields: dict[str, list[str]] = {}
    for line in ticket.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Subject", "Request", "Summary", "Staff") and value.strip():
            fields.setdefault(key.strip(), []).append(value.strip())
    subject = (fields.get("Subject") or ["A support question"])[0]
    problem = " ".join(fields.get("Request") or [subject])
    cause = " ".join(fields.get("Summary") or ["Not recorded on the ticket."])
    steps = fields.get("Staff") or ["Contact support: a person will follow up."]
    numbered = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
    return (
        f"# {subject[:120]}\n\n## Problem\n{problem}\n\n## Cause\n{cause}\n\n"
        f"## Steps\n{numbered}\n\n_(drafted by the offline engine)_"
    )

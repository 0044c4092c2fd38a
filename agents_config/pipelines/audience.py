"""Who may see what of the desk's tickets in a pipeline, enforced here rather than in prompts.

The audience is the caller's staff status (`Caller.is_staff`, decided from Slack membership
by the worker; never from text):

- **Support staff** get excerpts of tickets: ticket numbers, state and subjects, with card
  numbers, security codes, passwords, e-mail addresses and phone numbers redacted
  (`TicketDigestRow.line`).
- **Everyone else** gets de-identified aggregates only: how many tickets, by department and
  status, how many were escalated, and their topics as the titles of the closest help-centre
  articles. No subject, no ticket number, no id, and no ticket opened in a DM with the desk.
  A search matches only words the help centre uses (so nobody can probe for a colleague's
  phrase), and fewer than `MIN_GROUP` matching tickets are not described at all.
  Whatever such a pipeline finally writes is passed through `deidentify` as well.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

from agents_config.context import DeskContext
from agents_config.pipelines.base import PipelineResult
from storage.kb import query_terms
from storage.redaction import deidentify
from storage.reports import TicketDigestRow
from storage.store import Store

MIN_GROUP = 3  # fewer matching tickets than this are not described to non-staff
SUMMARY_HEADING = "a de-identified summary: only support staff see what tickets say"
NO_TOPIC = "no matching help-centre article"

R = TypeVar("R", bound=PipelineResult)


def staff_view(context: DeskContext) -> bool:
    """Whether the caller may see excerpts of other people's tickets."""
    return context.caller.is_staff


async def public_query(store: Store, query: str) -> str:
    """The words of `query` the help centre also uses (the only ones non-staff search by)."""
    kept = [term for term in query_terms(query) if await store.kb.search(term, limit=1)]
    return " ".join(kept)


async def topic_of(store: Store, subject: str) -> str:
    """A ticket's topic in public words: the title of the closest help-centre article."""
    articles = await store.kb.search(subject, limit=1)
    return articles[0].title if articles else NO_TOPIC


async def public_summary(store: Store, rows: list[TicketDigestRow], what: str) -> str:
    """De-identified aggregates of `rows` (see the module docstring); `what` names them."""
    if len(rows) < MIN_GROUP:
        return (
            f"Fewer than {MIN_GROUP} {what} ({SUMMARY_HEADING}; too few to describe without "
            "identifying someone)."
        )
    departments = Counter(row.department or "unrouted" for row in rows)
    statuses = Counter(row.status for row in rows)
    topics = Counter([await topic_of(store, row.subject) for row in rows])
    escalated = sum(row.escalated for row in rows)
    ratings = [row.rating for row in rows if row.rating is not None]
    lines = [
        f"{len(rows)} {what} ({SUMMARY_HEADING}):",
        f"- Matching past tickets by department: {_counts(departments)}.",
        f"- Matching past tickets by status: {_counts(statuses)}.",
        f"- Matching past tickets escalated to a person: {escalated} of {len(rows)}.",
        f"- Matching past tickets by topic (closest help-centre article): {_counts(topics)}.",
    ]
    if ratings:
        lines.append(
            f"- Matching past tickets rated by their customers: {len(ratings)}, average "
            f"{sum(ratings) / len(ratings):.1f} of 5."
        )
    return "\n".join(lines)


async def public_lines(store: Store, rows: list[TicketDigestRow]) -> list[str]:
    """One de-identified line a ticket, for the digest's analysts: state and topic only."""
    lines = []
    for row in rows:
        parts = [row.department or "unrouted", row.status]
        if row.escalated:
            parts.append("escalated")
        if row.rating is not None:
            parts.append(f"rated {row.rating}/5")
        lines.append(f"- [{', '.join(parts)}] topic: {await topic_of(store, row.subject)}")
    return lines


def for_audience(result: R, context: DeskContext) -> R:
    """The result as the caller may see it: for non-staff, de-identified throughout."""
    if staff_view(context):
        return result
    result.public = True
    result.title = deidentify(result.title)
    result.markdown = deidentify(result.markdown)
    result.notes = [deidentify(note) for note in result.notes]
    return result


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common())

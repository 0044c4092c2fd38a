"""Knowledge gaps for `/support-report`: the topics with the most escalations and no article.

Computed in code from the database, never by a model:

- The **topics** are clusters of the tickets handed to staff in the window, as the offline
  topic analysis makes them (`agents_config.offline.analysis.topics_of`): the theme a ticket's
  subject speaks of, in the help centre's words (refunds, invoices and tax, sign-in and SSO,
  webhooks and integrations…), else a word its subject shares with another escalated ticket
  outside every theme ("bigquery", "migration"; words of the very same tickets make one topic,
  "zapier connector"). What someone asks of the desk ("I want a person: …") is not a topic.
- A topic **has an article** when the title or category of a knowledge-base article
  (packaged or published from a solved ticket) contains one of its words (stemmed).
- Gaps are the topics without one, most escalations first.

Staff see the example ticket numbers and the loose-word topics. Everyone else (with
`SUPPORT_REPORT_ACCESS=everyone`) sees only themes, only with at least `MIN_GROUP`
escalations, no ticket numbers, and no ticket opened in a DM (the caller's query leaves them
out), like the rest of a de-identified report; the escalations of the topics they may not
see named are counted together, when there are at least `MIN_GROUP` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents_config.offline.analysis import THEMES, Document, Topic, topics_of
from agents_config.offline.text import phrase
from agents_config.pipelines.audience import MIN_GROUP
from storage.redaction import deidentify
from storage.reports import TicketDigestRow

MAX_GAPS = 5
OTHER_TOPICS = "other topics (named for support staff only)"
NOT_A_GAP = frozenset({"requests for a person"})
_THEME_WORDS = {name: keys for name, keys in THEMES}


@dataclass(frozen=True)
class Gap:
    topic: str
    escalations: int
    tickets: tuple[str, ...] = ()  # "#12": staff only


def knowledge_gaps(
    escalated: list[TicketDigestRow], articles: list[tuple[str, str]], *, staff: bool
) -> list[Gap]:
    """The topics of `escalated` tickets that no article's title or category covers."""
    docs = [Document(text=deidentify(row.subject), label=f"#{row.id}") for row in escalated]
    covered = [f" {phrase(f'{title} {category}')} " for title, category in articles]
    gaps, unnamed = [], set()  # unnamed: tickets of topics non-staff may not see named
    for name, topic in _merged(topics_of(docs, limit=10_000, ignore=NOT_A_GAP)):
        words = [phrase(w) for w in _THEME_WORDS.get(name, tuple(name.split()))]
        if any(f" {w} " in text for w in words for text in covered):
            continue
        if staff:
            gaps.append(Gap(name, topic.count, tuple(topic.examples[:5])))
        elif name in _THEME_WORDS and topic.count >= MIN_GROUP:
            gaps.append(Gap(name, topic.count))
        else:
            unnamed.update(topic.examples)
    gaps = gaps[:MAX_GAPS]
    if len(unnamed) >= MIN_GROUP:
        gaps.append(Gap(OTHER_TOPICS, len(unnamed)))
    return gaps


def _merged(topics: list[Topic]) -> list[tuple[str, Topic]]:
    """Loose words of the very same tickets are one topic ("zapier connector"), named by its
    first three words; themes stay as they are."""
    merged: dict[tuple[str, ...], list[Topic]] = {}
    for topic in topics:
        key = (topic.name,) if topic.name in _THEME_WORDS else tuple(sorted(topic.examples))
        merged.setdefault(key, []).append(topic)
    return [(" ".join(t.name for t in group[:3]), group[0]) for group in merged.values()]


def render_gaps(gaps: list[Gap]) -> str:
    if not gaps:
        return "- None: every topic handed to staff has an article."
    return "\n".join(
        f"- {gap.topic}: {gap.escalations} escalation{'s' if gap.escalations != 1 else ''}"
        + (f" (tickets {', '.join(gap.tickets)})" if gap.tickets else "")
        for gap in gaps
    )

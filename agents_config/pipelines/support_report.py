"""`/support-report`: the desk's own numbers, and an AI digest made by the parallel pattern.

Numbers come from SQLite (`storage.reports.ReportRepo.desk_stats`), never from a model:
tickets by department and status, escalation rate, time to first answer and to resolution,
CSAT. The digest of recent tickets analyses sentiment, topics and entities concurrently
(`asyncio.gather`, each a structured output), then a writer combines the analyses. An analysis
that fails is left out (and noted); if the writer fails, the analyses are shown as they are.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents_config.agents import ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.audience import MIN_GROUP, public_lines, staff_view
from agents_config.pipelines.base import (
    AgentCalls,
    PipelineResult,
    StepFailed,
    Steps,
    build_agent,
    pipeline_spec,
    seconds,
    user,
)
from agents_config.pipelines.gaps import Gap, knowledge_gaps, render_gaps
from storage.reports import DeskStats, HelpfulRate, TicketDigestRow
from storage.tickets import SlaTargets

DEFAULT_DAYS = 7
DIGEST_TICKETS = 40
GAP_TICKETS = 500  # the latest escalations the knowledge gaps are found in


class SentimentAnalysis(BaseModel):
    overall: Literal["positive", "neutral", "negative", "mixed"]
    score: float = Field(description="-1 (very negative) to 1 (very positive)")
    notes: str = Field(description="One or two sentences on what drives the mood")


class Topic(BaseModel):
    name: str
    tickets: int = Field(description="How many of the tickets are about it")
    example: str = Field(description="A ticket number that shows it, like #12")


class TopicAnalysis(BaseModel):
    topics: list[Topic] = Field(description="The main topics, most frequent first (at most 6)")


class Entity(BaseModel):
    name: str
    kind: Literal["plan", "feature", "integration", "order", "invoice", "payment", "other"]
    mentions: int


class EntityAnalysis(BaseModel):
    entities: list[Entity] = Field(description="Products, features and ids named (at most 10)")


SENTIMENT = pipeline_spec(
    "sentiment_analyst",
    "Judges the mood of recent support tickets.",
    "You read a list of recent support tickets (subject, department, status, escalation, "
    "rating) and judge the customers' overall sentiment. Base it on the tickets only.",
)
TOPICS = pipeline_spec(
    "topic_analyst",
    "Finds the main topics of recent support tickets.",
    "You read a list of recent support tickets and group them into their main topics, most "
    "frequent first, with a count and an example ticket number for each.",
)
ENTITIES = pipeline_spec(
    "entity_analyst",
    "Extracts the products, features and ids recent tickets name.",
    "You read a list of recent support tickets and list the products, plans, features, "
    "integrations and ids (orders, invoices, payments) they name, with how often.",
)
DIGEST = pipeline_spec(
    "digest_writer",
    "Combines analyses of recent tickets into a short digest.",
    "You write a short digest of recent support tickets for the desk's team, in Markdown "
    "without headings: three to six bullets on what customers ask about, how they feel, what "
    "they name most, and one suggestion. Use only the analyses and numbers you are given.",
)


@dataclass(kw_only=True)
class SupportReportResult(PipelineResult):
    kind: str = "support-report"
    days: int = DEFAULT_DAYS
    stats: DeskStats | None = None
    tickets_analysed: int = 0
    sentiment: SentimentAnalysis | None = None
    topics: TopicAnalysis | None = None
    entities: EntityAnalysis | None = None
    digest: str | None = None
    gaps: list[Gap] = field(default_factory=list)  # topics with the most escalations, no article

    def data(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "days": self.days,
            "tickets_analysed": self.tickets_analysed,
            "stats": None
            if stats is None
            else {
                "tickets": stats.tickets,
                "by_department": stats.by_department,
                "by_status": stats.by_status,
                "escalated": stats.escalated,
                "escalation_rate": stats.escalation_rate,
                "first_response_median_s": stats.first_response.median_s,
                "resolution_median_s": stats.resolution.median_s,
                "csat_average": stats.csat_average,
                "csat_count": stats.csat_count,
                "helpful_by_department": {
                    r.name: [r.helpful, r.unhelpful] for r in stats.helpful_by_department
                },
                "helpful_by_agent": {
                    r.name: [r.helpful, r.unhelpful] for r in stats.helpful_by_agent
                },
            },
            "sentiment": self.sentiment.model_dump() if self.sentiment else None,
            "topics": self.topics.model_dump() if self.topics else None,
            "entities": self.entities.model_dump() if self.entities else None,
            "knowledge_gaps": [[g.topic, g.escalations] for g in self.gaps],
        }


class SupportReportPipeline:
    def __init__(
        self, resolver: ModelResolver, calls: AgentCalls, *, sla: SlaTargets | None = None
    ) -> None:
        self.calls = calls
        self.sla = sla
        self.sentiment = build_agent(SENTIMENT, resolver, output_type=SentimentAnalysis)
        self.topics = build_agent(TOPICS, resolver, output_type=TopicAnalysis)
        self.entities = build_agent(ENTITIES, resolver, output_type=EntityAnalysis)
        self.digest = build_agent(DIGEST, resolver)

    async def run(
        self, days: int, *, context: DeskContext, steps: Steps, now: float | None = None
    ) -> SupportReportResult:
        now = time.time() if now is None else now
        reports = context.store.reports
        staff = staff_view(context)  # else: no DMs, and the analysts see no ticket's words
        result = SupportReportResult(
            title=f"Support report: last {days} days", markdown="", days=days
        )
        try:
            stats = await steps.run(
                "numbers",
                partial(reports.desk_stats, days=days, now=now, include_dms=staff, sla=self.sla),
            )
        except StepFailed:
            result.steps, result.notes = steps.records, steps.notes
            return result  # nothing to report on: the note says what failed
        result.stats = stats
        escalated = await reports.recent_tickets(
            days=days, limit=GAP_TICKETS, now=now, include_dms=staff, escalated_only=True
        )
        result.gaps = knowledge_gaps(escalated, await context.store.kb.titles(), staff=staff)
        tickets = await reports.recent_tickets(
            days=days, limit=DIGEST_TICKETS, now=now, include_dms=staff
        )
        result.tickets_analysed = len(tickets)
        if not tickets:
            await steps.skip("digest", f"no tickets in the last {days} days")
        elif not staff and len(tickets) < MIN_GROUP:
            await steps.skip("digest", "too few tickets to describe without identifying someone")
        else:
            await self._digest(tickets, stats, result, context, steps)
        result.markdown = render(result)
        result.steps, result.notes = steps.records, steps.notes
        return result

    async def _digest(
        self,
        tickets: list[TicketDigestRow],
        stats: DeskStats,
        result: SupportReportResult,
        context: DeskContext,
        steps: Steps,
    ) -> None:
        lines = (
            [t.line() for t in tickets]
            if staff_view(context)
            else await public_lines(context.store, tickets)
        )
        listing = "Recent tickets, newest first:\n" + "\n".join(lines)
        analyses = await asyncio.gather(
            steps.run(
                "sentiment",
                partial(self.calls.structured, self.sentiment, listing, context, SentimentAnalysis),
            ),
            steps.run(
                "topics",
                partial(self.calls.structured, self.topics, listing, context, TopicAnalysis),
            ),
            steps.run(
                "entities",
                partial(self.calls.structured, self.entities, listing, context, EntityAnalysis),
            ),
            return_exceptions=True,
        )
        for outcome in analyses:  # a StepFailed is already noted; anything else is a bug
            if isinstance(outcome, BaseException) and not isinstance(outcome, StepFailed):
                raise outcome
        sentiment, topics, entities = (a if isinstance(a, BaseModel) else None for a in analyses)
        result.sentiment = sentiment  # type: ignore[assignment]
        result.topics = topics  # type: ignore[assignment]
        result.entities = entities  # type: ignore[assignment]
        finished = {
            name: a.model_dump()
            for name, a in (("sentiment", sentiment), ("topics", topics), ("entities", entities))
            if a
        }
        if not finished:
            await steps.skip("digest", "no analysis finished")
            return
        brief = (
            f"Numbers of the last {result.days} days:\n{_numbers(stats)}\n\n"
            f"Analyses of {len(tickets)} recent tickets:\n{json.dumps(finished, indent=1)}"
        )
        try:
            result.digest = await steps.run(
                "digest", partial(self.calls.text, self.digest, [user(brief)], context)
            )
        except StepFailed:
            result.digest = None  # `render` shows the analyses as they are


def render(result: SupportReportResult) -> str:
    stats = result.stats
    if stats is None:
        return ""
    sections = [
        f"# {result.title}",
        f"_{_day(stats.since)} to {_day(stats.until)} (UTC)_",
        "## Tickets\n\n" + _numbers(stats),
    ]
    if stats.sla:
        sections.append("## SLA attainment (tickets handed to staff)\n\n" + _sla(stats))
    if stats.escalated:
        sections.append(
            "## Knowledge gaps (topics with the most escalations and no KB article)\n\n"
            + render_gaps(result.gaps)
        )
    if result.digest:
        sections.append(f"## Digest of {result.tickets_analysed} recent tickets\n\n{result.digest}")
    elif result.sentiment or result.topics or result.entities:
        sections.append(
            f"## Analyses of {result.tickets_analysed} recent tickets\n\n" + _analyses(result)
        )
    return "\n\n".join(sections)


def _numbers(stats: DeskStats) -> str:
    def counts(values: dict[str, int]) -> str:
        return " · ".join(f"{k} {v}" for k, v in values.items()) or "none"

    lines = [f"- Opened: {stats.tickets}"]
    if stats.tickets:
        rate = stats.escalation_rate or 0.0
        lines += [
            f"- By department: {counts(stats.by_department)}",
            f"- By status: {counts(stats.by_status)}",
            f"- Escalation rate: {rate:.0%} ({stats.escalated} of {stats.tickets})",
        ]
    for label, durations in (
        ("Time to first answer", stats.first_response),
        ("Time to resolution", stats.resolution),
    ):
        if durations.count:
            lines.append(
                f"- {label}: median {seconds(durations.median_s)}, mean "
                f"{seconds(durations.mean_s)} ({_tickets(durations.count)})"
            )
        else:
            lines.append(f"- {label}: no tickets yet")
    if stats.csat_count and stats.csat_average is not None:
        share = stats.csat_satisfied_share or 0.0
        lines.append(
            f"- CSAT: {stats.csat_average:.1f} / 5 from {stats.csat_count} ratings "
            f"({share:.0%} rated 4 or 5)"
        )
    else:
        lines.append("- CSAT: no ratings yet")
    lines.append(_helpful("department", stats.helpful_by_department))
    lines.append(_helpful("agent", stats.helpful_by_agent))
    return "\n".join(lines)


def _helpful(per: str, rates: list[HelpfulRate]) -> str:
    """The helpful rate of the AI answers (👍 / 👎 under each answer) per department or agent."""
    if not rates:
        return f"- Answers rated helpful, by {per}: no ratings yet"
    parts = (f"{r.name} {r.rate:.0%} ({r.helpful} of {r.helpful + r.unhelpful})" for r in rates)
    return f"- Answers rated helpful, by {per}: " + " · ".join(parts)


def _sla(stats: DeskStats) -> str:
    def share(met: int, missed: int) -> str:
        return f"{met}/{met + missed} ({met / (met + missed):.0%})" if met + missed else "—"

    return "\n".join(
        f"- {row.priority} · {row.department}: first response "
        f"{share(row.first_met, row.first_missed)}, resolution "
        f"{share(row.resolution_met, row.resolution_missed)} within target"
        for row in stats.sla
    )


def _tickets(count: int) -> str:
    return f"{count} ticket" if count == 1 else f"{count} tickets"


def _analyses(result: SupportReportResult) -> str:
    lines: list[str] = []
    if result.sentiment:
        lines.append(
            f"- Sentiment: {result.sentiment.overall} ({result.sentiment.score:+.2f}). "
            f"{result.sentiment.notes}"
        )
    if result.topics and result.topics.topics:
        lines.append(
            "- Topics: " + ", ".join(f"{t.name} ({t.tickets})" for t in result.topics.topics[:6])
        )
    if result.entities and result.entities.entities:
        lines.append(
            "- Named most: "
            + ", ".join(f"{e.name} ({e.mentions})" for e in result.entities.entities[:10])
        )
    return "\n".join(lines) or "- (the analyses found nothing to report)"


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")

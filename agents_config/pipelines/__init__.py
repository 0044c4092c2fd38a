"""Multi-agent pipelines behind the slash commands, and the classifier router.

- `research`: sequential research → analysis → writing with an evaluator loop; a supervisor
  (coordinator with the pipeline and the desk's specialists as tools) for multi-part topics.
- `debate`: optimist and skeptic for N rounds, then a moderator.
- `support_report`: the desk's numbers from SQLite and a digest made by the parallel pattern.
- `classifier`: the structured-routing alternative to triage's handoffs (`ROUTING_MODE`).

Pipelines know nothing of Slack: they report progress through a callback and return typed
results (`bot.pipelines` shows them in Slack). What a result may show depends on the caller:
support staff see redacted excerpts of tickets, anyone else de-identified aggregates
(`audience`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents import Agent

from agents_config.agents import ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.audience import for_audience
from agents_config.pipelines.base import (
    AgentCalls,
    PipelineResult,
    Progress,
    StepEvent,
    Steps,
)
from agents_config.pipelines.debate import DEFAULT_ROUNDS, DebatePipeline, DebateResult
from agents_config.pipelines.kb_draft import KbDraftPipeline
from agents_config.pipelines.research import ResearchPipeline, ResearchResult
from agents_config.pipelines.support_report import (
    DEFAULT_DAYS,
    SupportReportPipeline,
    SupportReportResult,
)
from storage.tickets import SlaTargets

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_ROUNDS",
    "DebateResult",
    "PipelineOptions",
    "PipelineResult",
    "Pipelines",
    "Progress",
    "ResearchResult",
    "StepEvent",
    "SupportReportResult",
]


@dataclass(frozen=True)
class PipelineOptions:
    research_max_iterations: int = 3
    debate_max_rounds: int = 5
    web_search: bool = False  # the hosted WebSearchTool: only with OpenAI's Responses API
    max_turns: int = 10
    trace_sensitive_data: bool = False
    sla: SlaTargets | None = None  # /support-report shows attainment of these targets


class Pipelines:
    """Every pipeline, built once with the models `resolver` picks (PIPELINE_MODEL)."""

    def __init__(self, resolver: ModelResolver, options: PipelineOptions) -> None:
        self.options = options

        def calls(workflow: str) -> AgentCalls:
            return AgentCalls(
                f"support-desk {workflow}", options.max_turns, options.trace_sensitive_data
            )

        self._research = ResearchPipeline(
            resolver,
            calls("research"),
            max_iterations=options.research_max_iterations,
            web_search=options.web_search,
        )
        self._debate = DebatePipeline(
            resolver, calls("debate"), max_rounds=options.debate_max_rounds
        )
        self._report = SupportReportPipeline(resolver, calls("support-report"), sla=options.sla)
        self.kb_drafts = KbDraftPipeline(resolver, calls("kb-draft"))

    @property
    def agents(self) -> dict[str, Agent[DeskContext]]:
        """Every agent of the pipelines by name: what each is given (tools, model, prompt)."""
        research, debate, report = self._research, self._debate, self._report
        team = (
            research.researcher,
            research.analyst,
            research.writer,
            research.evaluator,
            research.coordinator,
            *debate.agents.values(),
            debate.moderator,
            report.sentiment,
            report.topics,
            report.entities,
            report.digest,
            self.kb_drafts.writer,
        )
        return {agent.name: agent for agent in team}

    async def research(
        self, topic: str, *, context: DeskContext, progress: Progress | None = None
    ) -> ResearchResult:
        result = await self._research.run(topic, context=context, steps=Steps(progress))
        return for_audience(result, context)

    async def debate(
        self,
        question: str,
        *,
        rounds: int = DEFAULT_ROUNDS,
        context: DeskContext,
        progress: Progress | None = None,
    ) -> DebateResult:
        result = await self._debate.run(
            question, rounds=rounds, context=context, steps=Steps(progress)
        )
        return for_audience(result, context)

    async def support_report(
        self,
        *,
        days: int = DEFAULT_DAYS,
        context: DeskContext,
        progress: Progress | None = None,
        now: float | None = None,
    ) -> SupportReportResult:
        result = await self._report.run(days, context=context, steps=Steps(progress), now=now)
        return for_audience(result, context)

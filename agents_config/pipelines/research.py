"""`/research`: the sequential pipeline with an evaluator loop, and a supervisor for
multi-part topics.

Sequential: researcher (tools: knowledge base, ticket history, hosted web search with a real
OpenAI model) → analyst (insights) → writer (draft) → evaluator (scores, feedback, `passes`).
A draft that does not pass goes back to the writer with the feedback, until one passes or
`max_iterations` drafts were reviewed.

Which draft wins: the last draft that passed; else the reviewed draft with the best overall
score (the later one on a tie); an unreviewed draft only when no draft could be reviewed. An
empty draft is never kept (an empty answer is a failed attempt of its step). With no draft at
all, the report is the analysis and the research notes, with a note of what failed.

Supervisor: a topic of several parts ("…? …?", "1) … 2) …", one per line or `;`) goes to a
coordinator agent that has the sequential pipeline (`research_question`) and the desk's
specialists (`Agent.as_tool`) as tools, and writes one report from their answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from agents import Tool, TResponseInputItem, WebSearchTool, function_tool
from pydantic import BaseModel, Field, field_validator

from agents_config.agents import ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.base import (
    AgentCalls,
    PipelineResult,
    StepFailed,
    Steps,
    build_agent,
    pipeline_spec,
    user,
)
from agents_config.pipelines.tools import search_ticket_history, specialist_tools
from agents_config.tools import KNOWLEDGE_TOOLS

MAX_PARTS = 4


class Evaluation(BaseModel):
    """The evaluator's review of one draft."""

    accuracy: int = Field(description="0-10: every claim is supported by the research notes")
    completeness: int = Field(description="0-10: the draft covers the whole topic")
    clarity: int = Field(description="0-10: structure, plain words, no padding")
    feedback: str = Field(description="Concrete changes that would make the draft pass")
    passes: bool = Field(description="True only when the draft is ready to publish as is")

    @field_validator("accuracy", "completeness", "clarity")
    @classmethod
    def _scale(cls, value: int) -> int:
        return max(0, min(10, value))

    @property
    def overall(self) -> float:
        return round((self.accuracy + self.completeness + self.clarity) / 3, 2)


@dataclass
class Draft:
    iteration: int
    text: str
    evaluation: Evaluation | None = None


@dataclass(kw_only=True)
class ResearchResult(PipelineResult):
    kind: str = "research"
    topic: str = ""
    mode: str = "sequential"  # sequential | supervisor
    parts: list[str] = field(default_factory=list)
    research_notes: str | None = None
    insights: str | None = None
    drafts: list[Draft] = field(default_factory=list)
    chosen: int | None = None  # the iteration of the draft that became the report

    @property
    def passed(self) -> bool:
        return any(d.evaluation is not None and d.evaluation.passes for d in self.drafts)

    def data(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "mode": self.mode,
            "parts": self.parts,
            "iterations": len(self.drafts),
            "chosen": self.chosen,
            "passed": self.passed,
            "reviews": [
                {
                    "iteration": d.iteration,
                    **d.evaluation.model_dump(),
                    "overall": d.evaluation.overall,
                }
                for d in self.drafts
                if d.evaluation is not None
            ],
        }


RESEARCHER = pipeline_spec(
    "researcher",
    "Gathers facts on a topic from the knowledge base, ticket history and the web.",
    "You research a topic for an internal report of the company's support desk. Gather facts "
    "with your tools: the help-centre knowledge base (`search_knowledge_base`), the desk's past "
    "tickets (`search_ticket_history`){web}. Search more than once, with different words, when "
    "the first search misses. Then write research notes: a bullet list of facts, each with its "
    "source (article slug, ticket number{web_source}). Only facts from your tools; say plainly "
    "what you could not find.",
)
ANALYST = pipeline_spec(
    "analyst",
    "Extracts the key insights from research notes.",
    "You are an analyst. From the research notes you are given, extract 3 to 7 key insights: "
    "each a finding, why it matters to the support desk and its customers, and its source. "
    "Point out gaps and contradictions in the notes. Use only what the notes say.",
)
WRITER = pipeline_spec(
    "writer",
    "Drafts and revises the report.",
    "You write a report in Markdown for colleagues: a title line (`# …`), a summary of two or "
    "three sentences, then short sections with paragraphs or bullet lists, and a final "
    "`Sources` list. Use only the facts in the research notes and insights. When you are given "
    "your previous draft and a reviewer's feedback, return the whole revised report, "
    "addressing every point of the feedback.",
)
EVALUATOR = pipeline_spec(
    "evaluator",
    "Reviews a draft report and decides whether it is ready.",
    "You review a draft report against its topic and research notes (the last message is the "
    "draft). Score accuracy, completeness and clarity from 0 to 10. Set `passes` to true only "
    "when every score is at least 7 and nothing important is missing. Feedback: the concrete "
    "changes that would make it pass (or 'none').",
)
COORDINATOR = pipeline_spec(
    "coordinator",
    "Splits a multi-part topic and delegates the parts.",
    "You coordinate research on a topic of several parts. For each part, call "
    "`research_question` (a full research → analysis → writing → review pipeline) or, for a "
    "question about the desk's billing, technical or sales answers, the matching `ask_…` "
    "specialist. Then write one report in Markdown: a title line (`# …`), a short summary, one "
    "section per part built from the answers you got, and `Sources`. Say which part could not "
    "be answered, if any.",
)


def topic_parts(topic: str, limit: int = MAX_PARTS) -> list[str]:
    """The parts of a multi-part topic, or `[topic]`.

    Parts are numbered items ("1) … 2) …"), lines, `;`-separated clauses or separate
    questions ("…? …?"). Parts beyond `limit` are kept together in the last one.
    """
    text = re.sub(r"(?:^|\s)\(?\d{1,2}[.)]\s+", "\n", topic.strip())
    pieces = [p.strip(" \t-•*") for p in re.split(r"\n+|;|(?<=\?)\s+", text)]
    parts = [p for p in pieces if len(p.split()) >= 2]
    if len(parts) < 2:
        return [topic.strip()]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], " ".join(parts[limit - 1 :])]
    return parts


class ResearchPipeline:
    def __init__(
        self,
        resolver: ModelResolver,
        calls: AgentCalls,
        *,
        max_iterations: int = 3,
        web_search: bool = False,
    ) -> None:
        self.calls = calls
        self.max_iterations = max_iterations
        tools: list[Tool] = [*KNOWLEDGE_TOOLS, search_ticket_history]
        if web_search:  # hosted: only a real OpenAI model (Responses API) has it
            tools.append(WebSearchTool(search_context_size="medium"))
        researcher = replace(
            RESEARCHER,
            instructions=RESEARCHER.instructions.format(
                web=", and the web (`web_search`)" if web_search else "",
                web_source=" or web page" if web_search else "",
            ),
        )
        self.researcher = build_agent(researcher, resolver, tools=tools)
        self.analyst = build_agent(ANALYST, resolver)
        self.writer = build_agent(WRITER, resolver)
        self.evaluator = build_agent(EVALUATOR, resolver, output_type=Evaluation)
        self.coordinator = build_agent(COORDINATOR, resolver)
        self.specialists = specialist_tools(resolver)

    async def run(self, topic: str, *, context: DeskContext, steps: Steps) -> ResearchResult:
        parts = topic_parts(topic)
        if len(parts) > 1:
            return await self._supervised(topic, parts, context, steps)
        result = await self.sequential(topic, context=context, steps=steps)
        result.steps, result.notes = steps.records, steps.notes
        return result

    # ---- sequential: research → analysis → draft ⇄ review --------------------------------

    async def sequential(
        self, topic: str, *, context: DeskContext, steps: Steps, prefix: str = ""
    ) -> ResearchResult:
        result = ResearchResult(title=_title(topic), markdown="", topic=topic)
        try:
            result.research_notes = await steps.run(
                f"{prefix}research",
                partial(self.calls.text, self.researcher, f"Topic: {topic}", context),
            )
        except StepFailed:
            return result  # nothing to build on: the note says what failed
        brief = f"Topic: {topic}\n\nResearch notes:\n{result.research_notes}"
        try:
            result.insights = await steps.run(
                f"{prefix}analysis", partial(self.calls.text, self.analyst, brief, context)
            )
            brief += f"\n\nInsights:\n{result.insights}"
        except StepFailed:
            pass  # the writer works from the notes alone
        await self._draft_and_review(topic, brief, result, context, steps, prefix)
        best = best_draft(result.drafts)
        if best is not None:
            result.chosen, result.markdown = best.iteration, best.text
        else:
            result.markdown = _fallback_report(topic, result)
        return result

    async def _draft_and_review(
        self,
        topic: str,
        brief: str,
        result: ResearchResult,
        context: DeskContext,
        steps: Steps,
        prefix: str,
    ) -> None:
        revision: list[TResponseInputItem] = []
        for iteration in range(1, self.max_iterations + 1):
            writer_input = [user(brief), *revision]
            try:
                text = await steps.run(
                    f"{prefix}draft {iteration}",
                    partial(self.calls.text, self.writer, writer_input, context),
                )
            except StepFailed:
                return
            draft = Draft(iteration, text)
            result.drafts.append(draft)
            review_input = [user(f"{brief}\n\nThe draft to review follows."), user(text)]
            try:
                draft.evaluation = await steps.run(
                    f"{prefix}review {iteration}",
                    partial(
                        self.calls.structured, self.evaluator, review_input, context, Evaluation
                    ),
                    detail=_verdict,
                )
            except StepFailed:
                return
            if draft.evaluation.passes:
                return
            revision = [
                user(
                    f"Your previous draft:\n\n{text}\n\nReviewer feedback:\n"
                    f"{draft.evaluation.feedback}\n\nRevise the draft: address every point and "
                    "return the whole report."
                )
            ]

    # ---- supervisor: a coordinator with the pipeline and the specialists as tools --------

    async def _supervised(
        self, topic: str, parts: list[str], context: DeskContext, steps: Steps
    ) -> ResearchResult:
        result = ResearchResult(
            title=_title(topic), markdown="", topic=topic, mode="supervisor", parts=parts
        )
        answered: list[ResearchResult] = []

        @function_tool
        async def research_question(question: str) -> str:
            """Research one question fully (research → analysis → writing → review) and return
            the finished report on it.

            Args:
                question: One part of the topic, as a complete question.
            """
            n = len(answered) + 1
            part = await self.sequential(
                question, context=context, steps=steps, prefix=f"part {n} · "
            )
            answered.append(part)
            return part.markdown or f"The research on “{question}” could not be finished."

        coordinator = self.coordinator.clone(tools=[research_question, *self.specialists])
        listing = "\n".join(f"{i}. {p}" for i, p in enumerate(parts, 1))
        try:
            result.markdown = await steps.run(
                "coordinate",
                partial(
                    self.calls.text, coordinator, f"Topic: {topic}\n\nParts:\n{listing}", context
                ),
            )
        except StepFailed:
            finished = [p for p in answered if p.markdown.strip()]
            result.markdown = "\n\n".join(p.markdown for p in finished)
        result.drafts = [d for p in answered for d in p.drafts]
        result.steps, result.notes = steps.records, steps.notes
        return result


def best_draft(drafts: list[Draft]) -> Draft | None:
    """The draft that becomes the report (see the module docstring); None without drafts."""
    usable = [d for d in drafts if d.text.strip()]
    passing = [d for d in usable if d.evaluation is not None and d.evaluation.passes]
    if passing:
        return passing[-1]
    reviewed = [d for d in usable if d.evaluation is not None]
    if reviewed:
        return max(reviewed, key=lambda d: (d.evaluation.overall, d.iteration))  # type: ignore[union-attr]
    return usable[-1] if usable else None


def _verdict(evaluation: Evaluation) -> str:
    verdict = "passes" if evaluation.passes else "needs work"
    return f"{verdict} · {evaluation.overall:g}/10"


def _title(topic: str) -> str:
    short = " ".join(topic.split())
    return f"Research: {short if len(short) <= 80 else short[:79] + '…'}"


def _fallback_report(topic: str, result: ResearchResult) -> str:
    """No draft was written: what was finished, for the reader to use."""
    sections = [f"# {_title(topic)}"]
    if result.insights:
        sections.append(f"## Insights\n\n{result.insights}")
    if result.research_notes:
        sections.append(f"## Research notes\n\n{result.research_notes}")
    return "\n\n".join(sections) if len(sections) > 1 else ""

"""The structured-routing pattern: a classifier picks the specialist, deterministically.

With `ROUTING_MODE=classifier`, each turn first runs the classifier agent, whose output is a
`Classification` (department, confidence, reasoning). The turn then starts at the department's
specialist, chosen in code (not by a model's handoff). When the confidence is below
`CLASSIFIER_MIN_CONFIDENCE`, or the department is `unknown`, the turn goes to triage without
handoffs, which asks its one clarifying question. If the classifier fails twice, the turn
starts at triage with its handoffs, as in `handoffs` mode.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from agents import Agent, RunConfig, RunHooks, Runner
from pydantic import BaseModel, Field, field_validator

from agents_config.agents import AgentSpec, ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.base import ATTEMPTS, build_agent, describe, user
from agents_config.routing import TRIAGE_ROUTES, routes_prompt

log = logging.getLogger(__name__)

Department = Literal["billing", "tech", "sales", "human", "unknown"]
DEPARTMENT_AGENTS: dict[str, str] = {
    "billing": "billing_specialist",
    "tech": "tech_support",
    "sales": "sales",
    "human": "fallback",
}
EARLIER_MESSAGES = 3  # of the thread, shown to the classifier as context


class Classification(BaseModel):
    department: Department = Field(description="Where the request goes; unknown if unclear")
    confidence: float = Field(description="0 to 1: how sure you are that the department is right")
    reasoning: str = Field(description="One sentence: which criterion matched")

    @field_validator("confidence")
    @classmethod
    def _unit(cls, value: float) -> float:
        return max(0.0, min(1.0, value))


CLASSIFIER_SPEC = AgentSpec(
    name="classifier",
    role="triage",
    handoff_description="Classifies a support request by department.",
    instructions=(
        "You classify the latest message of a support conversation into a department, by "
        f"these criteria:\n{routes_prompt(TRIAGE_ROUTES)}\n"
        "Answer `unknown` when the need is unclear (a greeting, 'help', 'it does not work' "
        "with no detail). Earlier messages of the thread, when given, are context. "
        "`confidence` is how sure you are, from 0 to 1; `reasoning` is one sentence."
    ),
)
CLARIFY = (
    "\n\nThe request could not be routed with confidence: do not hand off. Ask exactly ONE "
    "short clarifying question about what the user needs."
)


class ClassifierRouter:
    """Chooses the agent a turn starts at (see `agents_config.desk.TurnRouter`)."""

    name = "classifier"

    def __init__(
        self,
        classifier: Agent[DeskContext],
        agents: dict[str, Agent[DeskContext]],
        *,
        min_confidence: float,
        trace_sensitive_data: bool = False,
    ) -> None:
        self.classifier = classifier
        self.agents = agents
        self.min_confidence = min_confidence
        self.trace_sensitive_data = trace_sensitive_data
        triage = agents["triage"]
        self.clarifier = triage.clone(handoffs=[], instructions=f"{triage.instructions}{CLARIFY}")

    async def choose(
        self, text: str, context: DeskContext, hooks: RunHooks[DeskContext] | None = None
    ) -> Agent[DeskContext]:
        classification = await self.classify(text, context, hooks)
        extra = {"slack_thread": context.thread_key, "ticket_id": context.ticket_id}
        if classification is None:
            return self.agents["triage"]
        log.info(
            "classified",
            extra={
                **extra,
                "department": classification.department,
                "confidence": classification.confidence,
            },
        )
        target = DEPARTMENT_AGENTS.get(classification.department)
        if target is None or classification.confidence < self.min_confidence:
            return self.clarifier
        return self.agents[target]

    async def classify(
        self, text: str, context: DeskContext, hooks: RunHooks[DeskContext] | None = None
    ) -> Classification | None:
        """The classification of `text`; None when the classifier failed twice."""
        input = [*(user(t) for t in await _earlier(context)), user(text)]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = await Runner.run(
                    self.classifier,
                    input,
                    context=context,
                    hooks=hooks,
                    max_turns=2,
                    run_config=RunConfig(
                        workflow_name="support-desk classifier",
                        group_id=context.thread_key,
                        trace_include_sensitive_data=self.trace_sensitive_data,
                    ),
                )
                output = result.final_output
                if isinstance(output, Classification):
                    return output
                raise TypeError(f"the classifier returned {type(output).__name__}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("classifier failed", extra={"attempt": attempt, "error": describe(exc)})
        return None


def build_classifier_router(
    resolver: ModelResolver,
    agents: dict[str, Agent[DeskContext]],
    *,
    min_confidence: float,
    trace_sensitive_data: bool = False,
) -> ClassifierRouter:
    classifier = build_agent(CLASSIFIER_SPEC, resolver, output_type=Classification)
    return ClassifierRouter(
        classifier, agents, min_confidence=min_confidence, trace_sensitive_data=trace_sensitive_data
    )


async def _earlier(context: DeskContext) -> list[str]:
    """The thread's last user messages before this one (the current turn is not stored yet)."""
    _, items = await context.store.conversations.recent(context.thread_key, EARLIER_MESSAGES)
    texts = [_text(item.get("content")) for item in items if item.get("role") == "user"]
    return [t for t in texts if t][-EARLIER_MESSAGES:]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict)).strip()
    return ""

"""What every pipeline shares: steps that report progress and are retried once, agent specs,
agent runs that reject empty or malformed output, and the typed result.

Pipelines know nothing of Slack. They take a `Progress` callback, called with a `StepEvent`
when a step starts, is retried, finishes, fails or is skipped, and return a `PipelineResult`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import openai
from agents import Agent, RunConfig, Runner, RunResult, Tool, TResponseInputItem
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError
from pydantic import BaseModel

from agents_config.agents import AgentSpec, ModelResolver
from agents_config.context import DeskContext
from storage.redaction import deidentify_json

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

StepStatus = Literal["running", "retrying", "done", "failed", "skipped"]
ResultStatus = Literal["complete", "partial", "failed"]
ATTEMPTS = 2  # a step that errors is retried once
ERROR_CHARS = 200


@dataclass(frozen=True)
class StepEvent:
    """One change of one step, for the progress display."""

    step: str
    status: StepStatus
    elapsed_s: float  # this step's time so far
    total_s: float  # the pipeline's time so far
    detail: str | None = None  # the error of a failed attempt, a verdict, a reason to skip


Progress = Callable[[StepEvent], Awaitable[None]]


async def no_progress(event: StepEvent) -> None:
    """A `Progress` that shows nothing (the terminal, tests that do not care)."""


@dataclass
class StepRecord:
    name: str
    status: StepStatus
    seconds: float
    attempts: int = 1
    detail: str | None = None


class StepFailed(Exception):
    """A step failed on every attempt; `note` says so in words for the reader of the report."""

    def __init__(self, step: str, error: BaseException) -> None:
        self.step = step
        self.error = error
        self.note = f"The {step} step failed twice ({in_words(error)})."
        super().__init__(self.note)


class EmptyOutput(Exception):
    """The model answered with nothing usable."""


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def in_words(error: BaseException) -> str:
    """What went wrong, as the reader of a step or a report reads it (the exception itself
    goes only to the log: `describe`)."""
    if isinstance(error, ModelBehaviorError | EmptyOutput):
        return "the model's answer could not be read"
    if isinstance(error, MaxTurnsExceeded):
        return "the model took too many steps"
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return "the model took too long to answer"
    if isinstance(error, openai.APIError):
        return "the model service did not answer"
    return "something went wrong; the details are in the log"


class Steps:
    """The steps of one pipeline run: timing, progress events, one retry, what failed.

    Steps may run concurrently (`asyncio.gather`); records keep the order steps started in.
    """

    def __init__(
        self,
        progress: Progress | None = None,
        *,
        attempts: int = ATTEMPTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress or no_progress
        self.attempts = attempts
        self.clock = clock
        self.started = clock()
        self.records: list[StepRecord] = []
        self.notes: list[str] = []  # what failed, in words

    @property
    def total_s(self) -> float:
        return self.clock() - self.started

    async def run(
        self,
        name: str,
        work: Callable[[], Awaitable[T]],
        *,
        detail: Callable[[T], str | None] | None = None,
    ) -> T:
        """Run `work` as step `name`; retry it once if it raises; raise `StepFailed` after."""
        record = StepRecord(name, "running", 0.0, attempts=0)
        self.records.append(record)
        start = self.clock()
        await self._emit(record, start)
        error: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            record.attempts = attempt
            try:
                value = await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # model, provider and tool errors come in many types
                error = exc
                log.warning(
                    "pipeline step failed",
                    extra={"step": name, "attempt": attempt, "error": describe(exc)},
                )
                if attempt < self.attempts:
                    record.status, record.detail = "retrying", in_words(exc)
                    await self._emit(record, start)
                continue
            record.status = "done"
            record.detail = detail(value) if detail else None
            await self._emit(record, start)
            return value
        assert error is not None
        failure = StepFailed(name, error)
        record.status, record.detail = "failed", in_words(error)
        self.notes.append(failure.note)
        await self._emit(record, start)
        raise failure

    async def skip(self, name: str, why: str) -> None:
        record = StepRecord(name, "skipped", 0.0, attempts=0, detail=why)
        self.records.append(record)
        await self._emit(record, self.clock())

    async def _emit(self, record: StepRecord, start: float) -> None:
        now = self.clock()
        record.seconds = round(now - start, 3)
        event = StepEvent(
            record.name, record.status, record.seconds, round(now - self.started, 3), record.detail
        )
        try:
            await self.progress(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # showing progress must never break the work
            log.exception("progress callback failed", extra={"step": record.name})


@dataclass(kw_only=True)
class PipelineResult:
    """What a pipeline made: a Markdown report, its steps, and notes on what failed."""

    kind: str
    title: str
    markdown: str
    steps: list[StepRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    public: bool = False  # made for someone who is not staff: stored de-identified

    @property
    def audience(self) -> Literal["staff", "everyone"]:
        return "everyone" if self.public else "staff"

    @property
    def status(self) -> ResultStatus:
        if not self.markdown.strip():
            return "failed"
        return "partial" if self.notes else "complete"

    def step_dicts(self) -> list[dict[str, Any]]:
        return [asdict(record) for record in self.steps]

    def data(self) -> dict[str, Any]:
        """The result's own fields (beyond the report), JSON-ready, to store with it."""
        return {}

    def stored_data(self) -> dict[str, Any]:
        """`data()` as it may be kept: de-identified for a non-staff caller, with the audience
        (a re-post of the report goes where the audience can see it)."""
        data = deidentify_json(self.data()) if self.public else self.data()
        return {**data, "audience": self.audience}


def pipeline_spec(name: str, description: str, instructions: str) -> AgentSpec:
    """A pipeline agent, declared like the desk's agents (its model: PIPELINE_MODEL)."""
    return AgentSpec(
        name=name,
        role="pipeline",
        handoff_description=description,
        instructions=instructions,
        input_guardrails=(),  # pipelines are reached through `bot.pipelines`' access rules
        output_guardrails=(),
    )


def build_agent(
    spec: AgentSpec,
    resolver: ModelResolver,
    *,
    tools: list[Tool] | None = None,
    output_type: type[Any] | None = None,
) -> Agent[DeskContext]:
    return Agent[DeskContext](
        name=spec.name,
        instructions=spec.instructions,
        handoff_description=spec.handoff_description,
        tools=list(tools if tools is not None else spec.tools),
        output_type=output_type,
        model=resolver(spec),
    )


@dataclass(frozen=True)
class AgentCalls:
    """Runs pipeline agents with the desk's limits and tracing settings."""

    workflow: str
    max_turns: int = 10
    trace_sensitive_data: bool = False

    def _config(self, group: str | None) -> RunConfig:
        return RunConfig(
            workflow_name=self.workflow,
            group_id=group,
            trace_include_sensitive_data=self.trace_sensitive_data,
        )

    async def _run(
        self, agent: Agent[DeskContext], input: str | list[Any], context: DeskContext
    ) -> RunResult:
        return await Runner.run(
            agent,
            input,
            context=context,
            max_turns=self.max_turns,
            run_config=self._config(context.thread_key),
        )

    async def text(
        self, agent: Agent[DeskContext], input: str | list[Any], context: DeskContext
    ) -> str:
        """The agent's final text; an empty answer is an error (so the step is retried)."""
        result = await self._run(agent, input, context)
        text = str(result.final_output or "").strip()
        if not text:
            raise EmptyOutput(f"{agent.name} returned an empty answer")
        return text

    async def structured(
        self,
        agent: Agent[DeskContext],
        input: str | list[Any],
        context: DeskContext,
        output_type: type[M],
    ) -> M:
        """The agent's structured output; output that does not fit `output_type` is an error
        (the SDK raises ModelBehaviorError for invalid JSON; anything else is caught here)."""
        result = await self._run(agent, input, context)
        output = result.final_output
        if not isinstance(output, output_type):
            raise EmptyOutput(
                f"{agent.name} returned {type(output).__name__}, not {output_type.__name__}"
            )
        return output


def user(text: str) -> TResponseInputItem:
    """One user message of an input list."""
    return {"role": "user", "content": text}


def seconds(value: float | None) -> str:
    """A duration for people: "4 s", "3 min", "2 h 5 min", "1 d 3 h" ("–" when None)."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes = int(value // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"

"""`/debate`: an optimist and a skeptic argue for N rounds, then a moderator concludes.

Turn order: each round, the optimist speaks, then the skeptic; each sees the question and the
whole discussion so far. A turn that fails twice ends the debate there; the moderator then
concludes on what was said (and says so). Without any finished turn there is nothing to
moderate, and the report is only the note of what failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from agents_config.agents import ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.base import (
    AgentCalls,
    PipelineResult,
    StepFailed,
    Steps,
    build_agent,
    pipeline_spec,
)

DEFAULT_ROUNDS = 3

OPTIMIST = pipeline_spec(
    "optimist",
    "Argues for the most favourable reading of a question.",
    "You are the optimist in a structured debate. Argue the strongest honest case for the "
    "opportunities and upsides. Answer the skeptic's latest points directly; do not repeat "
    "yourself. At most 150 words, plain Markdown, no headings.",
)
SKEPTIC = pipeline_spec(
    "skeptic",
    "Argues the risks, costs and weaknesses of a position.",
    "You are the skeptic in a structured debate. Argue the strongest honest case about risks, "
    "costs and what could go wrong. Answer the optimist's latest points directly; do not "
    "repeat yourself. At most 150 words, plain Markdown, no headings.",
)
MODERATOR = pipeline_spec(
    "moderator",
    "Writes a balanced conclusion of a debate.",
    "You moderate a debate. Write a balanced conclusion in Markdown: the strongest points of "
    "each side, where they agree, what remains uncertain, and a recommendation with its "
    "conditions. Be fair to both sides; add no new facts. If the debate was cut short, say so.",
)
SPEAKERS = (("optimist", "Optimist"), ("skeptic", "Skeptic"))


@dataclass(frozen=True)
class DebateTurn:
    speaker: str  # optimist | skeptic
    round: int
    text: str


@dataclass(kw_only=True)
class DebateResult(PipelineResult):
    kind: str = "debate"
    question: str = ""
    rounds: int = DEFAULT_ROUNDS
    turns: list[DebateTurn] = field(default_factory=list)
    conclusion: str | None = None

    def data(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "rounds": self.rounds,
            "turns": [{"speaker": t.speaker, "round": t.round} for t in self.turns],
            "concluded": self.conclusion is not None,
        }


class DebatePipeline:
    def __init__(self, resolver: ModelResolver, calls: AgentCalls, *, max_rounds: int) -> None:
        self.calls = calls
        self.max_rounds = max_rounds
        self.agents = {
            "optimist": build_agent(OPTIMIST, resolver),
            "skeptic": build_agent(SKEPTIC, resolver),
        }
        self.moderator = build_agent(MODERATOR, resolver)

    async def run(
        self, question: str, *, rounds: int, context: DeskContext, steps: Steps
    ) -> DebateResult:
        rounds = max(1, min(rounds, self.max_rounds))
        result = DebateResult(title=_title(question), markdown="", question=question, rounds=rounds)
        cut_short = False
        for round_no in range(1, rounds + 1):
            for speaker, label in SPEAKERS:
                prompt = _turn_prompt(question, result.turns, label, round_no, rounds)
                try:
                    text = await steps.run(
                        f"{speaker} · round {round_no}",
                        partial(self.calls.text, self.agents[speaker], prompt, context),
                    )
                except StepFailed:
                    cut_short = True
                    break
                result.turns.append(DebateTurn(speaker, round_no, text))
            if cut_short:
                break
        if result.turns:
            prompt = _moderator_prompt(question, result.turns, cut_short=cut_short)
            try:
                result.conclusion = await steps.run(
                    "moderator", partial(self.calls.text, self.moderator, prompt, context)
                )
            except StepFailed:
                pass
        else:
            await steps.skip("moderator", "no turn of the debate finished")
        result.markdown = _report(result)
        result.steps, result.notes = steps.records, steps.notes
        return result


def transcript(turns: list[DebateTurn]) -> str:
    labels = dict(SPEAKERS)
    return "\n\n".join(f"**{labels[t.speaker]} (round {t.round}):** {t.text}" for t in turns)


def _turn_prompt(
    question: str, turns: list[DebateTurn], label: str, round_no: int, rounds: int
) -> str:
    so_far = transcript(turns) if turns else "(nothing yet: you open the debate)"
    return (
        f"Question: {question}\n\nThe discussion so far:\n\n{so_far}\n\n"
        f"You are the {label}. This is round {round_no} of {rounds}. Make your argument."
    )


def _moderator_prompt(question: str, turns: list[DebateTurn], *, cut_short: bool) -> str:
    note = "\n\n(The debate was cut short: a turn could not be finished.)" if cut_short else ""
    return f"Question: {question}\n\nThe debate:\n\n{transcript(turns)}{note}"


def _report(result: DebateResult) -> str:
    if not result.turns:
        return ""
    sections = [f"# {result.title}"]
    if result.conclusion:
        sections.append(f"## Conclusion\n\n{result.conclusion}")
    sections.append("## The debate")
    for round_no in sorted({t.round for t in result.turns}):
        said = [t for t in result.turns if t.round == round_no]
        lines = "\n\n".join(f"**{dict(SPEAKERS)[t.speaker]}:** {t.text}" for t in said)
        sections.append(f"### Round {round_no}\n\n{lines}")
    return "\n\n".join(sections)


def _title(question: str) -> str:
    short = " ".join(question.split())
    return f"Debate: {short if len(short) <= 80 else short[:79] + '…'}"

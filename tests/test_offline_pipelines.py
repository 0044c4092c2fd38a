"""The slash-command pipelines on the offline engine: the real pipelines, agents, tools and
storage, with `OfflineModel` for every agent (what the desk runs with no API key)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, set_tracing_disabled
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem
from agents.testing import assistant_message

from agents_config.agents import AgentSpec, build_agents
from agents_config.context import Caller, DeskContext
from agents_config.offline import CLARIFYING_QUESTION, MARKER, OfflineModel
from agents_config.pipelines import PipelineOptions, Pipelines
from agents_config.pipelines.base import user
from agents_config.pipelines.classifier import CLARIFY
from agents_config.pipelines.research import EVALUATOR, WRITER, Evaluation
from storage.store import Store
from storage.tickets import Ticket, TicketStatus
from tests.databases import database_for

set_tracing_disabled(True)

ALICE = "alice@northwind.example"
REFUSAL = "I can't help with this one offline"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(database_for(tmp_path / "t.db"))
    yield store
    await store.close()


@pytest.fixture
async def context(store: Store) -> DeskContext:
    customer = await store.business.customer_by_email(ALICE)
    assert customer is not None
    ticket, _ = await store.tickets.open_for_thread(
        channel="C1", thread_ts="1.0", user_id="U_ALICE", subject="t", customer_id=customer.id
    )
    return DeskContext(
        store=store,
        # Staff: these tests read ticket excerpts (tests/test_privacy.py: everyone else).
        caller=Caller("U_ALICE", ALICE, customer_id=customer.id, is_staff=True),
        ticket_id=ticket.id,
        channel="C1",
        thread_ts="1.0",
    )


def offline(spec: AgentSpec) -> OfflineModel:
    return OfflineModel(spec.name)


def pipelines(resolver: Any = offline, **options: Any) -> Pipelines:
    return Pipelines(resolver, PipelineOptions(**options))


async def seed_tickets(
    store: Store, subjects: Sequence[tuple[str, str, TicketStatus]]
) -> list[Ticket]:
    """Tickets opened an hour ago: (subject, department, status)."""
    created = time.time() - 3600
    tickets = []
    for number, (subject, department, status) in enumerate(subjects, 100):
        ticket, _ = await store.tickets.open_for_thread(
            channel="C1",
            thread_ts=f"{number}.0",
            user_id="U_ALICE",
            subject=subject,
            customer_id=None,
            now=created,
        )
        await store.tickets.record_route(ticket.id, department=department, agent_path=[])
        await store.tickets.set_status(ticket.id, status, now=created)
        tickets.append(ticket)
    return tickets


# ---- /research ------------------------------------------------------------------------------


async def test_research_report_has_structure_and_knowledge_base_facts(
    context: DeskContext,
) -> None:
    result = await pipelines().research("our refund policy", context=context)

    report = result.markdown
    assert report.startswith("# Our refund policy") and report.endswith(MARKER)
    for section in ("## Summary", "## Key points", "## Sources"):
        assert section in report
    assert "30 days" in report and "5–10 business days" in report  # the knowledge base's facts
    assert "[refund-policy]" in report and "Refund policy: how to get your money back" in report
    assert REFUSAL not in report
    assert context.tools_called[0] == "search_knowledge_base"
    assert "[refund-policy]" in (result.research_notes or "")
    assert "why it matters" in (result.insights or "")
    assert result.passed and result.chosen == 1
    assert [s.name for s in result.steps] == ["research", "analysis", "draft 1", "review 1"]


async def test_research_is_deterministic(store: Store, context: DeskContext) -> None:
    first = await pipelines().research("webhooks not arriving", context=context)
    second = await pipelines().research("webhooks not arriving", context=context)
    assert first.markdown == second.markdown
    assert "queued, not lost" in first.markdown


async def test_ticket_topics_search_the_ticket_history(
    store: Store,
    context: DeskContext,
) -> None:
    unacceptable, missing = await seed_tickets(
        store,
        [
            ("This is unacceptable, refund ORD-1001 now", "billing", "escalated"),
            ("Refund still missing", "billing", "open"),
        ],
    )

    result = await pipelines().research("customer complaints about refunds", context=context)

    assert context.tools_called == ["search_knowledge_base", "search_ticket_history"]
    assert f"Ticket #{unacceptable.id}" in (result.research_notes or "")
    assert f"Ticket #{unacceptable.id}" in result.markdown
    assert f"Ticket #{missing.id}" in result.markdown
    assert "Trend across the two matching past tickets" in result.markdown

    context.tools_called.clear()
    await pipelines().research("SSO setup", context=context)
    assert "search_ticket_history" not in context.tools_called


async def review(draft: str, brief: str) -> Evaluation:
    evaluator = Agent(
        name=EVALUATOR.name,
        instructions=EVALUATOR.instructions,
        output_type=Evaluation,
        model=OfflineModel(EVALUATOR.name),
    )
    result = await Runner.run(
        evaluator, [user(f"{brief}\n\nThe draft to review follows."), user(draft)]
    )
    assert isinstance(result.final_output, Evaluation)
    return result.final_output


async def test_evaluator_fails_bad_drafts_and_passes_a_good_one(context: DeskContext) -> None:
    result = await pipelines().research("our refund policy", context=context)
    brief = (
        f"Topic: our refund policy\n\nResearch notes:\n{result.research_notes}\n\n"
        f"Insights:\n{result.insights}"
    )

    good = await review(result.markdown, brief)
    refusal = await review(f"{REFUSAL}: none of my tools cover it.\n\n{MARKER}", brief)
    thin = await review("Refunds are possible within 45 days.", brief)

    assert good.passes and good.overall >= 7 and good.feedback == "none"
    assert not refusal.passes and refusal.overall < 2 and "refusal" in refusal.feedback
    assert not thin.passes and thin.overall < good.overall
    for missing in ("title", "key points", "Sources", "45"):
        assert missing in thin.feedback, missing


class FirstDraftIsBad(OfflineModel):
    """The offline writer, except that its first draft is a poor one."""

    def respond(
        self,
        input: str | list[TResponseInputItem],
        tools: Sequence[Any],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: Sequence[Handoff],
        *,
        instructions: str | None = None,
    ) -> list[TResponseOutputItem]:
        self.inputs = [*getattr(self, "inputs", []), input]
        if len(self.inputs) == 1:
            return [assistant_message("Refunds: ask the desk.")]
        return super().respond(input, tools, output_schema, handoffs, instructions=instructions)


async def test_evaluator_loop_revises_a_bad_draft_until_it_passes(context: DeskContext) -> None:
    writer = FirstDraftIsBad(WRITER.name)

    def resolver(spec: AgentSpec) -> OfflineModel:
        return writer if spec.name == WRITER.name else OfflineModel(spec.name)

    result = await pipelines(resolver).research("our refund policy", context=context)

    first, second = result.drafts
    assert first.evaluation is not None and not first.evaluation.passes
    assert second.evaluation is not None and second.evaluation.passes
    assert second.evaluation.overall > first.evaluation.overall
    assert result.chosen == 2 and result.markdown == second.text
    revision_request = str(writer.inputs[1])
    assert "Reviewer feedback" in revision_request and "Sources" in revision_request
    # The revision keeps the first draft's words and adds what the review asked for.
    assert "Refunds: ask the desk." in second.text
    assert "## Sources" in second.text and "## Key points" in second.text


async def test_two_part_topic_calls_a_specialist_tool(context: DeskContext) -> None:
    result = await pipelines().research(
        "How do refunds work? What does the Pro plan cost?", context=context
    )

    assert result.mode == "supervisor"
    assert "list_plans" in context.tools_called  # asked through `ask_sales` (Agent.as_tool)
    assert "search_knowledge_base" in context.tools_called  # part 1: `research_question`
    report = result.markdown
    assert "## 1. How do refunds work?" in report and "## 2. What does the Pro plan cost?" in report
    assert "$49.00/month" in report and "30 days" in report
    assert "`ask_sales`" in report and report.endswith(MARKER)
    assert report.count(MARKER) == 1
    assert any(s.name == "part 1 · research" for s in result.steps)


# ---- /debate ---------------------------------------------------------------------------------


async def test_debate_turns_answer_each_other_and_the_moderator_weighs_both(
    context: DeskContext,
) -> None:
    result = await pipelines().debate("Should we offer a free plan?", rounds=3, context=context)

    turns = result.turns
    assert [(t.speaker, t.round) for t in turns] == [
        (s, r) for r in (1, 2, 3) for s in ("optimist", "skeptic")
    ]
    assert len({t.text for t in turns}) == len(turns)
    points = [t.text.replace(MARKER, "").strip().split("\n\n")[-1] for t in turns]
    assert len(set(points)) == len(points)  # nobody repeats a point
    for before, after in itertools.pairwise(turns):
        assert f"The {before.speaker} says “" in after.text  # answers the last point
    assert "free plan" in turns[0].text
    conclusion = result.conclusion or ""
    assert "optimist" in conclusion and "skeptic" in conclusion
    assert "Recommendation" in conclusion and REFUSAL not in result.markdown
    assert all(t.text.endswith(MARKER) for t in turns)


# ---- /support-report -------------------------------------------------------------------------


async def test_support_digest_reflects_the_tickets(store: Store, context: DeskContext) -> None:
    await seed_tickets(
        store,
        [
            ("This is unacceptable, refund ORD-1001 now", "billing", "escalated"),
            ("Invoice INV-2001 is wrong", "billing", "answered"),
            ("Card declined PAY-3003", "billing", "answered"),
            ("How much is the Pro plan?", "sales", "resolved"),
        ],
    )

    result = await pipelines().support_report(days=7, context=context)

    assert result.sentiment is not None and result.sentiment.overall == "negative"
    assert -1 <= result.sentiment.score < 0
    assert (
        "unacceptable" in result.sentiment.notes and "Recent tickets" not in result.sentiment.notes
    )
    assert result.entities is not None
    kinds = {e.name: e.kind for e in result.entities.entities}
    assert {
        "ORD-1001": "order",
        "INV-2001": "invoice",
        "PAY-3003": "payment",
        "Pro": "plan",
    }.items() <= kinds.items()
    assert result.topics is not None and result.topics.topics
    assert {t.name for t in result.topics.topics} >= {"refunds", "invoices and tax"}
    assert all(t.example.startswith("#") for t in result.topics.topics)
    digest = result.digest or ""
    assert "negative" in digest and "ORD-1001" in digest and "Suggestion" in digest
    assert digest.endswith(MARKER)


# ---- classifier routing ----------------------------------------------------------------------


async def test_the_clarifying_copy_of_triage_asks_its_question() -> None:
    triage = build_agents(offline)["triage"]
    clarifier = triage.clone(handoffs=[], instructions=f"{triage.instructions}{CLARIFY}")

    result = await Runner.run(clarifier, "it does not work")

    assert str(result.final_output) == f"{CLARIFYING_QUESTION}\n\n{MARKER}"


async def test_roles_are_recognised_from_instructions_too() -> None:
    reviewer = Agent(
        name="second_reviewer",
        instructions=EVALUATOR.instructions,
        output_type=Evaluation,
        model=OfflineModel("second_reviewer"),
    )
    result = await Runner.run(
        reviewer, [user("Topic: refunds\n\nResearch notes:\n- x"), user(f"{REFUSAL}.\n\n{MARKER}")]
    )

    assert isinstance(result.final_output, Evaluation)
    assert not result.final_output.passes and "refusal" in result.final_output.feedback

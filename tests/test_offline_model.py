"""The offline engine drives the real agents, tools and storage end to end, deterministically."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from agents import Agent, ModelSettings, Runner, handoff, set_tracing_disabled
from agents.items import HandoffOutputItem, RunItem, ToolCallItem
from agents.models.interface import ModelTracing
from pydantic import BaseModel, Field

from agents_config.agents import build_agents
from agents_config.context import Caller, DeskContext
from agents_config.memory import ThreadSession
from agents_config.offline import (
    CLARIFYING_QUESTION,
    MARKER,
    OfflineModel,
    choose_route,
    route_scores,
    structured_output,
)
from agents_config.offline.answers import ESCALATION_OPENER
from agents_config.offline.text import MACHINE_CODE, asked_codes
from agents_config.routing import TRIAGE_ROUTES
from storage.kb import excerpt
from storage.seed import packaged_articles
from storage.store import Store
from tests.databases import database_for

set_tracing_disabled(True)

ALICE = "alice@northwind.example"
BOB = "bob@contoso.example"
EVAL_FILE = Path(__file__).parent.parent / "agents_config" / "data" / "routing_eval.jsonl"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(database_for(tmp_path / "t.db"))
    yield store
    await store.close()


@dataclass
class Outcome:
    answer: str
    path: list[str]
    calls: list[tuple[str, dict[str, object]]]
    context: DeskContext
    items: list[RunItem]

    @property
    def tools(self) -> list[str]:
        return [name for name, _ in self.calls]


async def ask(
    store: Store, email: str, text: str, *, thread_ts: str = "1.0", turn: int | None = None
) -> Outcome:
    """Run one message from `email` through the real desk agents on the offline engine; with
    `turn`, as that turn of the thread's stored conversation."""
    customer = await store.business.customer_by_email(email)
    assert customer is not None
    ticket, _ = await store.tickets.open_for_thread(
        channel="C1",
        thread_ts=thread_ts,
        user_id="U_ALICE",
        subject="t",
        customer_id=customer.id,
    )
    context = DeskContext(
        store=store,
        caller=Caller(slack_user_id="U_ALICE", email=email, customer_id=customer.id),
        ticket_id=ticket.id,
        channel="C1",
        thread_ts=thread_ts,
    )
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    session = (
        None
        if turn is None
        else ThreadSession(store.conversations, context.thread_key, turn=turn, history_turns=8)
    )
    result = await Runner.run(
        agents["triage"], text, context=context, session=session, max_turns=10
    )
    while result.interruptions:  # a refund waits for the user's yes: here, given
        state = result.to_state()
        for approval in result.interruptions:
            state.approve(approval)
        result = await Runner.run(agents["triage"], state, context=context, session=session)
    path = ["triage"] + [
        item.target_agent.name for item in result.new_items if isinstance(item, HandoffOutputItem)
    ]
    calls = [
        (item.raw_item.name, json.loads(item.raw_item.arguments))  # type: ignore[union-attr]
        for item in result.new_items
        if isinstance(item, ToolCallItem)
    ]
    return Outcome(str(result.final_output), path, calls, context, result.new_items)


async def test_refund_is_checked_then_issued(store: Store) -> None:
    out = await ask(store, ALICE, "I want a refund for ORD-1001")

    assert out.path == ["triage", "billing_specialist", "refund_processor"]
    assert out.tools == ["check_refund_eligibility", "issue_refund"]
    assert out.calls[0][1] == {"order_id": "ORD-1001"}
    assert "issued" in out.answer and "ORD-1001" in out.answer
    assert out.answer.endswith(MARKER)
    customer = await store.business.customer_by_email(ALICE)
    assert customer is not None
    assert await store.business.refund_for_order(customer.id, "ORD-1001") is not None


async def test_refund_outside_the_window_is_refused(store: Store) -> None:
    out = await ask(store, BOB, "refund ORD-1002")

    assert out.path[-1] == "refund_processor"
    assert "issue_refund" not in out.tools
    assert "not eligible" in out.answer and "30 days" in out.answer
    customer = await store.business.customer_by_email(BOB)
    assert customer is not None
    assert await store.business.refund_for_order(customer.id, "ORD-1002") is None


async def test_refund_without_an_order_id_asks_for_it(store: Store) -> None:
    out = await ask(store, ALICE, "I want a refund")

    assert out.path[-1] == "refund_processor"
    assert set(out.tools) <= {"list_orders"}  # at most the orders to choose from: no refund
    assert "Which order" in out.answer and "ORD-" in out.answer


async def test_the_order_id_can_come_in_the_next_message(store: Store) -> None:
    first = await ask(store, ALICE, "I want a refund", turn=1)
    assert "Which order" in first.answer

    second = await ask(store, ALICE, "ORD-1001", turn=2)
    assert second.path == ["triage", "billing_specialist", "refund_processor"]
    assert second.tools == ["check_refund_eligibility", "issue_refund"]
    assert "issued" in second.answer


async def test_declined_card_is_investigated(store: Store) -> None:
    out = await ask(store, BOB, "my card was declined")

    assert out.path == ["triage", "billing_specialist", "payment_investigator"]
    assert out.tools == ["list_payments", "investigate_payment"]
    assert out.calls[1][1] == {"payment_id": "PAY-3003"}
    assert "insufficient_funds" in out.answer


async def test_another_customers_order_is_not_found_without_naming_anyone_elses(
    store: Store,
) -> None:
    out = await ask(store, BOB, "Please refund ORD-1004")  # Alice's order

    assert "couldn't find order ORD-1004 on your account" in out.answer
    assert "ORD-1001" not in out.answer  # no example id: it is Alice's too
    assert "escalate_to_human" not in out.tools


async def test_a_second_record_named_is_not_dropped_in_silence(store: Store) -> None:
    out = await ask(store, ALICE, "can I see INV-2002 and INV-2003?")

    [looked_at] = [c[1]["invoice_id"] for c in out.calls if c[0] == "get_invoice"]
    other = ({"INV-2002", "INV-2003"} - {looked_at}).pop()
    assert f"You also named {other}" in out.answer


async def test_a_reported_decline_with_no_failed_payment_shows_the_payments(
    store: Store,
) -> None:
    out = await ask(store, ALICE, "my payment failed, why?")  # all of Alice's went through
    french = await ask(store, ALICE, "Mon paiement a été refusé avec le code do_not_honor ?")
    code = await ask(store, ALICE, "got `insufficient_funds` from your billing, what now")

    assert out.tools == ["list_payments"]  # no drill into a payment that succeeded
    assert "PAY-3002" in out.answer and "succeeded" in out.answer
    for answer in (out.answer, french.answer, code.answer):
        assert "It succeeded" not in answer
    # the code asked about is explained too, whatever the account shows
    assert "**do_not_honor**:" in french.answer and "**insufficient_funds**:" in code.answer


@pytest.mark.parametrize(
    "question",
    [
        "I put in a new card yesterday and the bank now says authentication_required, "
        "what does it want?",  # (its words alone: the card-update article)
        "after switching to the new card it says do_not_honor when I pay the overdue bill",
    ],
)
async def test_a_quoted_decline_code_gets_the_line_that_explains_it(
    store: Store, question: str
) -> None:
    out = await ask(store, ALICE, question)

    [code] = MACHINE_CODE.findall(question)
    assert "*Failed payments and card declines*" in out.answer
    assert f"**{code}**:" in out.answer


async def test_a_code_asked_about_is_billing_s_and_quoted_with_its_advice(store: Store) -> None:
    meaning = await ask(store, ALICE, "what does do_not_honor mean?")
    wrong_card = await ask(store, ALICE, "my bank says incorrect_number when I pay, what now?")

    assert meaning.path == ["triage", "billing_specialist"]  # no words of billing but the code
    assert "**do_not_honor**:" in meaning.answer and "back of your card" in meaning.answer
    assert "Re-enter the card." in wrong_card.answer  # the code's own advice, whole…
    assert "**do_not_honor**" not in wrong_card.answer  # …and no other code's


@pytest.mark.parametrize(
    ("question", "title"),
    [
        # a name that looks like a code, in a clause about something else
        (
            "how do I turn on 2FA? (our field is called authentication_required)",
            "Two-factor authentication (2FA)",
        ),
        ("can I export every record updated_since last monday as a CSV?", "Exporting your data"),
        # a code in an error from another subject the article model is sure of
        ("SSO fails with error authentication_required from Okta", "Setting up SSO with SAML"),
        # the errors article's 429 section only points to the rate-limit article
        (
            "we keep getting 429 errors from the API, what should we do?",
            "API rate limits and 429 Too Many Requests",
        ),
        (
            "Ich bekomme einen 429 Fehler, was soll ich tun?",  # the status before its noun
            "API rate limits and 429 Too Many Requests",
        ),
        # the help centre's words for a brand: a YubiKey is a security key
        ("can we use yubikeys instead of an app?", "Two-factor authentication (2FA)"),
    ],
)
async def test_the_article_follows_what_was_asked_not_a_stray_name(
    store: Store, question: str, title: str
) -> None:
    out = await ask(store, ALICE, question)

    assert f"*{title}*" in out.answer
    assert "Failed payments" not in out.answer


def test_codes_count_only_where_they_are_asked_about() -> None:
    assert asked_codes("My card was declined with insufficient_funds. What now?") == (
        "insufficient_funds",
    )
    assert asked_codes("`do_not_honor`?") == ("do_not_honor",)
    assert asked_codes("カードで processing_error と表示されました") == ("processing_error",)
    assert asked_codes("turn on 2FA? (our field is called authentication_required)") == ()
    assert asked_codes("GET /v1/records?updated_since=2024-01-01 returns 500") == ()
    assert asked_codes("my_file.py crashes with an error") == ()


def test_an_excerpt_keeps_the_lines_of_a_long_list_that_were_asked_about() -> None:
    [article] = [a for a in packaged_articles() if a.slug == "failed-payments-and-card-declines"]
    text = excerpt(article, "what does expired_card mean", max_chars=600)

    assert len(text) <= 600 and "## Common decline codes" in text
    assert "**expired_card**" in text and "**do_not_honor**" not in text  # not the whole list


async def test_sso_question_gets_a_knowledge_base_answer(store: Store) -> None:
    out = await ask(store, ALICE, "I can't log in with SSO")

    assert out.path == ["triage", "tech_support"]
    assert out.tools == ["search_knowledge_base"]
    assert "help centre" in out.answer and "SSO" in out.answer


async def test_pricing_question_goes_to_sales(store: Store) -> None:
    out = await ask(store, ALICE, "how much is the Business plan")

    assert out.path == ["triage", "sales"]
    assert out.tools == ["list_plans"]
    assert "$249.00/month" in out.answer


async def test_buying_question_no_article_covers_gets_the_catalogue_not_a_person(
    store: Store,
) -> None:
    out = await ask(store, ALICE, "Is there a startup program with credits?")

    assert out.path == ["triage", "sales"]
    assert out.tools[-1] == "list_plans" and "escalate_to_human" not in out.tools
    assert "Business: $249.00/month" in out.answer and "book a demo" in out.answer
    assert out.answer.endswith(MARKER)


async def test_asking_for_a_human_escalates(store: Store) -> None:
    out = await ask(store, ALICE, "let me talk to a human")

    assert out.path == ["triage", "fallback"]
    assert out.tools == ["escalate_to_human"]
    assert out.context.escalation is not None
    assert "let me talk to a human" in out.context.escalation.summary
    ticket = await store.tickets.get(out.context.ticket_id)
    assert ticket is not None and ticket.status == "escalated"
    assert f"#{out.context.ticket_id}" in out.answer
    # an angry customer handed to a person hears regret, not a cheerful hello
    angry = await ask(store, ALICE, "This is unacceptable, I want to talk to a human")
    assert angry.tools == ["escalate_to_human"]
    assert angry.answer.startswith(ESCALATION_OPENER) and "thanks for reaching out" not in (
        angry.answer
    )


async def test_a_greeting_gets_one_clarifying_question(store: Store) -> None:
    out = await ask(store, ALICE, "hi")

    assert out.path == ["triage"]
    assert out.tools == []
    assert out.answer.count("?") == 1
    for option in ("billing", "technical", "pricing", "person"):
        assert option in out.answer
    assert out.answer.endswith(MARKER)


async def test_same_input_same_output(tmp_path: Path) -> None:
    answers, items = [], []
    for name in ("a", "b"):
        store = await Store.open(database_for(tmp_path / f"{name}.db"))
        try:
            out = await ask(store, BOB, "my card was declined")
        finally:
            await store.close()
        answers.append(out.answer)
        items.append([item.raw_item for item in out.items if isinstance(item, ToolCallItem)])
    assert answers[0] == answers[1]
    assert items[0] == items[1]


async def test_streaming_gives_the_same_answer(store: Store) -> None:
    customer = await store.business.customer_by_email(ALICE)
    assert customer is not None
    ticket, _ = await store.tickets.open_for_thread(
        channel="C1", thread_ts="9.0", user_id="U_ALICE", subject="t", customer_id=customer.id
    )
    context = DeskContext(
        store=store,
        caller=Caller("U_ALICE", ALICE, customer_id=customer.id),
        ticket_id=ticket.id,
        channel="C1",
        thread_ts="9.0",
    )
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    result = Runner.run_streamed(
        agents["triage"], "how much is the Business plan", context=context, max_turns=10
    )
    async for _ in result.stream_events():
        pass
    assert "$249.00/month" in str(result.final_output)


async def test_tech_asks_for_details_when_nothing_helps() -> None:
    """A vague problem nothing matched is tech's to work on: it asks for the steps, the
    environment and the request id (what a bug report needs) instead of passing it on."""
    agents = build_agents(lambda spec: OfflineModel(spec.name))
    history = [
        {"role": "user", "content": "the frobnicator hums"},
        {
            "type": "function_call",
            "name": "search_knowledge_base",
            "call_id": "c1",
            "arguments": json.dumps({"query": "frobnicator hums"}),
        },
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": 'No knowledge-base article matches "frobnicator hums".',
        },
    ]
    response = await OfflineModel("tech_support").get_response(
        None,
        history,
        ModelSettings(),
        list(agents["tech_support"].tools),
        None,  # type: ignore[arg-type]
        [handoff(agents["fallback"])],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    [message] = response.output
    assert message.type == "message"
    text = message.content[0].text  # type: ignore[union-attr]
    assert "steps" in text and "environment" in text and "request id" in text
    assert "person" in text  # the way to a person stays open


class Classification(BaseModel):
    department: Literal["billing", "tech", "sales", "human", "clarify"]
    confidence: float = Field(ge=0, le=1)
    reasoning: str


class Review(BaseModel):
    score: int = Field(ge=1, le=5)
    passes: bool
    feedback: str


@pytest.mark.parametrize(
    ("text", "department"),
    [("my card was declined", "billing"), ("hi", "clarify"), ("get me a manager", "human")],
)
async def test_structured_output_is_valid(text: str, department: str) -> None:
    classifier = Agent(
        name="classifier", output_type=Classification, model=OfflineModel("classifier")
    )
    result = await Runner.run(classifier, text)

    assert isinstance(result.final_output, Classification)
    assert result.final_output.department == department
    assert 0 <= result.final_output.confidence <= 1 and result.final_output.reasoning


async def test_evaluator_schema_is_scored_by_heuristics() -> None:
    reviewer = Agent(name="reviewer", output_type=Review, model=OfflineModel("reviewer"))
    good = await Runner.run(
        reviewer,
        "Your refund RF-4002 of $450.00 was issued.\n"
        "It reaches your Visa card within 5-10 business days.",
    )
    bad = await Runner.run(reviewer, "ok [TODO")

    assert isinstance(good.final_output, Review) and isinstance(bad.final_output, Review)
    assert good.final_output.passes and not bad.final_output.passes
    assert good.final_output.score > bad.final_output.score


class Mood(BaseModel):
    mood: Literal["happy", "neutral", "unhappy"]
    polarity: float = Field(ge=-1, le=1)
    notes: str


class Theme(BaseModel):
    label: str
    count: int


class Themes(BaseModel):
    themes: list[Theme] = Field(max_length=2)


class Thing(BaseModel):
    name: str
    kind: Literal["order", "invoice", "payment", "plan", "other"]
    mentions: int


class Things(BaseModel):
    entities: list[Thing]


TICKETS = """Recent tickets:
- [#1, billing, open] This is unacceptable, refund ORD-1001 now
- [#2, billing, answered] Invoice INV-2001 is wrong, refund it
- [#3, sales, resolved] Thanks, the Pro plan works great
"""


def test_structured_output_fills_fields_by_meaning() -> None:
    mood = Mood.model_validate(structured_output(Mood.model_json_schema(), TICKETS))
    assert (mood.mood, mood.polarity < 0) == ("unhappy", True)
    assert "unacceptable" in mood.notes and "Recent tickets" not in mood.notes
    happy = Mood.model_validate(
        structured_output(Mood.model_json_schema(), "- thanks, resolved quickly\n- great help")
    )
    assert happy.mood == "happy" and 0 < happy.polarity <= 1

    themes = Themes.model_validate(structured_output(Themes.model_json_schema(), TICKETS))
    assert [t.label for t in themes.themes] == ["refunds", "invoices and tax"]
    assert themes.themes[0].count == 2

    things = Things.model_validate(structured_output(Things.model_json_schema(), TICKETS))
    kinds = {t.name: (t.kind, t.mentions) for t in things.entities}
    assert kinds["ORD-1001"] == ("order", 1) and kinds["INV-2001"] == ("invoice", 1)
    assert kinds["Pro"] == ("plan", 1)


async def test_agent_tools_get_their_input() -> None:
    specialist = Agent(
        name="sales_helper", instructions="Answer.", model=OfflineModel("sales_helper")
    )
    tool = specialist.as_tool(tool_name="ask_sales", tool_description="Ask sales.")
    response = await OfflineModel("assistant").get_response(
        None,
        "ask sales what the Pro plan costs",
        ModelSettings(),
        [tool],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    [call] = response.output
    assert call.type == "function_call" and call.name == "ask_sales"
    assert json.loads(call.arguments) == {"input": "ask sales what the Pro plan costs"}


def test_route_scores_is_a_pure_ranking() -> None:
    scores = route_scores("I was charged twice for my invoice", TRIAGE_ROUTES)
    assert scores[0][0].department == "billing" and scores[0][1] > scores[1][1]
    assert all(score == 0 for _, score in route_scores("it doesn't work", TRIAGE_ROUTES))
    assert choose_route("Can I speak to a real person please?", TRIAGE_ROUTES) is not None
    assert CLARIFYING_QUESTION.count("?") == 1


@pytest.mark.skipif(not EVAL_FILE.exists(), reason="routing eval set not present")
def test_routing_eval_accuracy() -> None:
    rows = [json.loads(line) for line in EVAL_FILE.read_text().splitlines() if line.strip()]
    right = 0
    for row in rows:
        route = choose_route(row["text"], TRIAGE_ROUTES)
        right += (route.department if route else "clarify") == row["dept"]
    assert right / len(rows) >= 0.9

"""The specialists' tools against a real, seeded Store, driven through the Agents SDK.

A `ScriptedModel` plays the model: it calls a tool with arguments of our choosing (including
ones the policy must refuse), so these tests check what the tools enforce in code, whatever
the model asks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, ToolCallOutputItem
from agents.testing import ScriptedModel, assistant_message, function_call

from agents_config.context import Caller, DeskContext
from agents_config.tools import (
    BILLING_TOOLS,
    KNOWLEDGE_TOOLS,
    PAYMENT_TOOLS,
    REFUND_TOOLS,
    SALES_TOOLS,
    TECH_TOOLS,
)
from storage.kb import fts_query
from storage.seed import packaged_articles, seed_demo_data
from storage.store import Store
from tests.databases import database_for

ALL_TOOLS = list(
    {
        t.name: t
        for t in (
            *BILLING_TOOLS,
            *REFUND_TOOLS,
            *PAYMENT_TOOLS,
            *TECH_TOOLS,
            *SALES_TOOLS,
            *KNOWLEDGE_TOOLS,
        )
    }.values()
)
ALICE = "alice@northwind.example"
BOB = "bob@contoso.example"
CAROL = "carol@fabrikam.example"
DAVE = "dave@initech.example"
NOBODY = "sam@unknown.example"

Call = tuple[str, Mapping[str, Any]]


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await Store.open(database_for(tmp_path / "t.db"))
    yield store
    await store.close()


async def context_for(store: Store, email: str) -> DeskContext:
    """The run context of a Slack user whose profile e-mail is `email`."""
    customer = await store.business.customer_by_email(email)
    caller = Caller(
        slack_user_id=f"U_{email.split('@')[0].upper()}",
        email=email,
        name=customer.name if customer else None,
        customer_id=customer.id if customer else None,
    )
    thread_ts = f"1.{caller.slack_user_id}"  # the caller's own ticket: refunds are in its history
    ticket, _ = await store.tickets.open_for_thread(
        channel="C1",
        thread_ts=thread_ts,
        user_id=caller.slack_user_id,
        subject="test",
        customer_id=caller.customer_id,
    )
    return DeskContext(
        store=store, caller=caller, ticket_id=ticket.id, channel="C1", thread_ts=thread_ts
    )


async def run_calls(context: DeskContext, *calls: Call) -> list[str]:
    """Run an agent whose scripted model makes `calls` (in one turn), then answers.

    Returns the tool outputs in the order of the calls.
    """
    model = ScriptedModel(
        [
            [
                function_call(name, args, call_id=f"call-{i}")
                for i, (name, args) in enumerate(calls)
            ],
            [assistant_message("Done.")],
        ]
    )
    agent = Agent[DeskContext](
        name="specialist", instructions="Test.", model=model, tools=ALL_TOOLS
    )
    config = RunConfig(tracing_disabled=True)
    result = await Runner.run(agent, "help", context=context, run_config=config)
    while result.interruptions:  # acting tools wait for the user's yes: here, given
        state = result.to_state()
        for item in result.interruptions:
            state.approve(item)
        result = await Runner.run(agent, state, context=context, run_config=config)
    model.assert_complete()
    outputs = {
        item.call_id: str(item.output)
        for item in result.new_items
        if isinstance(item, ToolCallOutputItem)
    }
    return [outputs[f"call-{i}"] for i in range(len(calls))]


async def ask(store: Store, email: str, tool: str, **args: Any) -> str:
    """One tool call by the Slack user with `email`; returns its output."""
    [output] = await run_calls(await context_for(store, email), (tool, args))
    return output


# -- seed --------------------------------------------------------------------------------


async def test_seed_is_idempotent(store: Store, tmp_path: Any) -> None:
    async def counts() -> dict[str, int]:
        return {**await store.business.record_counts(), "kb_articles": await store.kb.count()}

    before = await counts()
    assert before["customers"] == 4
    assert before["kb_articles"] == len(packaged_articles()) >= 20
    assert await seed_demo_data(store.db) is False
    reopened = await Store.open(
        database_for(tmp_path / "t.db")
    )  # a second process opening the same file
    await reopened.close()
    assert await counts() == before


async def test_packaged_articles_parse() -> None:
    articles = packaged_articles()
    slugs = [a.slug for a in articles]
    assert len(slugs) == len(set(slugs))
    assert "refund-policy" in slugs
    assert all(a.title and a.body and not a.body.startswith("---") for a in articles)


# -- refunds -----------------------------------------------------------------------------


async def test_refund_inside_window_is_issued(store: Store) -> None:
    context = await context_for(store, ALICE)
    [check] = await run_calls(context, ("check_refund_eligibility", {"order_id": "ORD-1001"}))
    [issued] = await run_calls(
        context, ("issue_refund", {"order_id": "ord-1001", "reason": "damaged"})
    )

    assert "is eligible" in check and "Visa •••• 4242" in check
    assert issued.startswith("Refund RF-") and "ORD-1001" in issued
    assert "$450.00" in issued and "5-10 business days" in issued
    refund = await store.business.refund_for_order(context.caller.customer_id or 0, "ORD-1001")
    assert refund is not None and refund.reason == "damaged"
    assert refund.requested_by == "U_ALICE"
    assert context.tools_called == ["check_refund_eligibility", "issue_refund"]


async def test_refund_outside_window_is_refused_even_when_the_model_asks(store: Store) -> None:
    output = await ask(store, BOB, "issue_refund", order_id="ORD-1002", reason="please")

    assert output.startswith("Refund not issued")
    assert "placed 45 days ago" in output and "within 30 days" in output
    bob = await store.business.customer_by_email(BOB)
    assert bob is not None
    assert await store.business.refund_for_order(bob.id, "ORD-1002") is None


async def test_a_policy_exception_is_issued_only_in_a_run_staff_approved(store: Store) -> None:
    """The requester's yes (given by `run_calls`) is not enough for an exception, and the
    plain refund tool refuses the late order even in a run staff approved."""
    bob = await store.business.customer_by_email(BOB)
    assert bob is not None
    args = {"order_id": "ORD-1002", "reason": "I was in hospital"}
    output = await ask(store, BOB, "request_refund_exception", **args)
    assert "needs a staff member's approval" in output
    assert await store.business.refund_for_order(bob.id, "ORD-1002") is None
    approved = await context_for(store, BOB)
    approved.staff_approved = True
    [plain] = await run_calls(approved, ("issue_refund", args))
    assert plain.startswith("Refund not issued") and "within 30 days" in plain
    assert await store.business.refund_for_order(bob.id, "ORD-1002") is None
    [issued] = await run_calls(approved, ("request_refund_exception", args))
    assert "issued as an exception to the refund policy" in issued
    refund = await store.business.refund_for_order(bob.id, "ORD-1002")
    assert refund is not None and refund.amount_cents == 12000 and "hospital" in refund.reason
    [again] = await run_calls(approved, ("request_refund_exception", args))
    assert again.startswith("No exception proposed") and "already refunded" in again


async def test_an_exception_is_only_for_orders_refused_for_their_age(store: Store) -> None:
    context = await context_for(store, ALICE)
    context.staff_approved = True
    inside, nobodys, no_reason = await run_calls(
        context,
        ("request_refund_exception", {"order_id": "ORD-1001", "reason": "late"}),
        ("request_refund_exception", {"order_id": "ORD-1002", "reason": "Bob's order"}),
        ("request_refund_exception", {"order_id": "ORD-1004", "reason": " "}),
    )
    assert inside.startswith("No exception needed")
    assert "couldn't find order ORD-1002" in nobodys
    assert "needs the customer's reason" in no_reason
    assert await store.business.refunds("ORD-1001") == []
    assert await store.business.refunds("ORD-1004") == []


async def test_second_refund_on_the_same_order_is_refused(store: Store) -> None:
    carol = await ask(store, CAROL, "issue_refund", order_id="ORD-1003", reason="again")
    assert carol.startswith("Refund not issued")
    assert "already refunded" in carol and "RF-4001" in carol

    context = await context_for(store, ALICE)
    [first] = await run_calls(context, ("issue_refund", {"order_id": "ORD-1001", "reason": "a"}))
    [second] = await run_calls(context, ("issue_refund", {"order_id": "ORD-1001", "reason": "b"}))
    assert first.startswith("Refund RF-")
    assert second.startswith("Refund not issued") and "already refunded" in second


async def test_a_confirmed_refund_run_again_reports_the_refund_it_issued(store: Store) -> None:
    """A worker killed after issuing a confirmed refund, before replying, runs the confirmed
    call again on restart: the customer hears the refund was issued, and it is issued once."""
    context = await context_for(store, ALICE)
    context.approval_id = 7
    call = ("issue_refund", {"order_id": "ORD-1001", "reason": "damaged"})
    [first] = await run_calls(context, call)
    [again] = await run_calls(context, call)
    assert first.startswith("Refund RF-") and again == first
    assert len(await store.business.refunds("ORD-1001")) == 1

    context.approval_id = 8  # another confirmation of the same order: refused
    [other] = await run_calls(context, call)
    assert other.startswith("Refund not issued") and "already refunded" in other


async def test_concurrent_refunds_of_one_order_issue_exactly_one(store: Store) -> None:
    """Two parallel tool calls both pass the policy check; the UNIQUE constraint decides."""
    context = await context_for(store, ALICE)
    outputs = await run_calls(
        context,
        ("issue_refund", {"order_id": "ORD-1001", "reason": "first"}),
        ("issue_refund", {"order_id": "ORD-1001", "reason": "second"}),
    )
    assert sorted(o.startswith("Refund RF-") for o in outputs) == [False, True]
    assert len(await store.business.refunds("ORD-1001")) == 1


async def test_repo_refund_is_unique_per_order(store: Store) -> None:
    alice = await store.business.customer_by_email(ALICE)
    assert alice is not None
    first = await store.business.create_refund(alice.id, "ORD-1001", "x")
    second = await store.business.create_refund(alice.id, "ORD-1001", "y")
    assert first.status == "created" and first.refund is not None
    assert second.status == "already_refunded" and second.refund == first.refund
    other = await store.business.create_refund(alice.id, "ORD-1002", "not hers")
    assert other.status == "order_not_found"


# -- account isolation -------------------------------------------------------------------


async def test_another_customers_records_are_unreachable(store: Store) -> None:
    invoice = await ask(store, ALICE, "get_invoice", invoice_id="INV-2005")  # Bob's
    assert "couldn't find an invoice INV-2005" in invoice
    assert "$49.00" not in invoice and "overdue" not in invoice

    payment = await ask(store, ALICE, "investigate_payment", payment_id="PAY-3003")  # Bob's
    assert "couldn't find a payment PAY-3003" in payment
    assert "insufficient" not in payment

    refund = await ask(store, ALICE, "issue_refund", order_id="ORD-1002", reason="x")  # Bob's
    assert "couldn't find order ORD-1002" in refund
    assert await store.business.refunds("ORD-1002") == []

    alice = await store.business.customer_by_email(ALICE)
    assert alice is not None
    assert await store.business.invoice(alice.id, "INV-2005") is None


def test_no_tool_takes_a_customer_id_or_email_from_the_model() -> None:
    for tool in ALL_TOOLS:
        assert isinstance(tool, FunctionTool)
        params = set(tool.params_json_schema.get("properties", {}))
        assert not {p for p in params if "customer" in p or "email" in p}, tool.name


async def test_caller_without_account_gets_a_polite_answer(store: Store) -> None:
    context = await context_for(store, NOBODY)
    outputs = await run_calls(
        context,
        ("get_account_overview", {}),
        ("issue_refund", {"order_id": "ORD-1001", "reason": "x"}),
        ("investigate_payment", {"payment_id": "PAY-3003"}),
    )
    for output in outputs:
        assert "couldn't find a customer account" in output
        assert NOBODY in output
    assert context.tools_called == ["get_account_overview", "issue_refund", "investigate_payment"]
    assert await store.business.refunds("ORD-1001") == []
    # Tools that need no account still work.
    [plans] = await run_calls(context, ("list_plans", {}))
    assert "Business: $249.00/month" in plans


# -- billing, payments -------------------------------------------------------------------


async def test_billing_overview_and_lists(store: Store) -> None:
    bob = await ask(store, BOB, "get_account_overview")
    assert "Pro" in bob and "past due" in bob
    assert "Balance due: $49.00" in bob and "INV-2005 overdue" in bob

    alice_invoices = await ask(store, ALICE, "list_invoices")
    assert [line.split(" · ")[0] for line in alice_invoices.splitlines()[1:]] == [
        "- INV-2003",
        "- INV-2002",
        "- INV-2001",
    ]
    invoice = await ask(store, BOB, "get_invoice", invoice_id="inv-2005")
    assert "overdue" in invoice and "PAY-3003" in invoice and "insufficient_funds" in invoice

    dave = await ask(store, DAVE, "list_invoices")
    assert "no invoices" in dave
    assert "free trial" in await ask(store, DAVE, "get_account_overview")


async def test_payment_investigation_explains_insufficient_funds(store: Store) -> None:
    context = await context_for(store, BOB)
    [first] = await run_calls(context, ("investigate_payment", {"payment_id": "PAY-3003"}))
    [again] = await run_calls(context, ("investigate_payment", {"payment_id": "PAY-3003"}))

    assert "insufficient_funds" in first and "enough available funds" in first
    assert "Next step" in first
    assert "opened payment investigation INVQ-5001" in first
    assert "INVQ-5001 is open" in again  # no second record for the same payment
    investigations = await store.business.payment_investigations()
    assert [i.id for i in investigations] == ["INVQ-5001"]

    ok = await ask(store, ALICE, "investigate_payment", payment_id="PAY-3001")
    assert "succeeded" in ok and "INVQ" not in ok


# -- knowledge base ----------------------------------------------------------------------


async def test_kb_finds_the_refund_policy(store: Store) -> None:
    output = await ask(store, ALICE, "search_knowledge_base", query="how do I get my money back")
    assert output.startswith("[refund-policy]")
    first = output.split("\n\n---\n\n")[0]
    assert "30 days" in first and "original payment method" in first.lower()


@pytest.mark.parametrize(
    "hostile",
    [
        '"refund" OR (* NEAR',
        'NEAR("refund" policy, 2',
        "title:refund AND body:*",
        '"refund ""policy',
        "^refund -policy +window",
        "refund' ; DROP TABLE kb_articles; --",
    ],
)
async def test_kb_search_survives_fts_syntax(store: Store, hostile: str) -> None:
    output = await ask(store, ALICE, "search_knowledge_base", query=hostile)
    assert "[refund-policy]" in output


@pytest.mark.parametrize("empty", ["", "   ", "*** (( ))", '""'])
async def test_kb_search_without_words_finds_nothing(store: Store, empty: str) -> None:
    assert await store.kb.search(empty) == []
    output = await ask(store, ALICE, "search_knowledge_base", query=empty)
    assert output.startswith("No knowledge-base article matches")


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('"refund" OR (* NEAR') == '"refund" OR "near"'
    assert fts_query("how do I get my money back") == '"money" OR "back"'
    assert fts_query("and or not") == '"and" OR "or" OR "not"'  # only stopwords: keep them


# -- tech and sales ----------------------------------------------------------------------


async def test_service_status_and_bug_report(store: Store) -> None:
    status = await ask(store, CAROL, "get_service_status", component=None)
    assert "Webhooks: degraded" in status and "INC-6002" in status
    one = await ask(store, CAROL, "get_service_status", component="api")
    assert one.startswith("All operational") and "Webhooks" not in one

    context = await context_for(store, NOBODY)  # bug reports need no customer account
    [bug] = await run_calls(
        context,
        ("report_bug", {"title": "Export hangs", "details": "At 99%", "severity": "high"}),
    )
    assert bug.startswith("Filed bug report BUG-7001 (high)")


async def test_a_turn_files_one_bug_report_per_title(store: Store) -> None:
    """Two identical calls in one turn (in one step: they run side by side) file one report
    and both answer with its id; another title, or the next turn, files a new one."""
    context = await context_for(store, CAROL)
    context.turn = 41
    crash = {"title": "Export crashes", "details": "At 99%", "severity": "high"}
    again = {**crash, "details": "At 99%, Chrome 120"}  # side by side: either may be first
    outputs = await run_calls(context, ("report_bug", crash), ("report_bug", again))
    [report] = await store.business.bug_reports()
    assert (report.ticket_id, report.turn, report.severity) == (context.ticket_id, 41, "high")
    assert sorted(o.split(" ", 1)[0] for o in outputs) == ["Bug", "Filed"]
    assert all(f"{report.id} (high)" in o for o in outputs)
    assert "already filed" in next(o for o in outputs if o.startswith("Bug"))

    [other] = await run_calls(context, ("report_bug", {**crash, "title": "Import crashes"}))
    context.turn = 42
    [next_turn] = await run_calls(context, ("report_bug", crash))
    assert other.startswith("Filed bug report BUG-7002")
    assert next_turn.startswith("Filed bug report BUG-7003")
    assert len(await store.business.bug_reports()) == 3


async def test_a_turn_asks_for_one_demo(store: Store) -> None:
    """Two demo requests in one turn (side by side) make one, and both answer with its id;
    the next turn may ask again."""
    context = await context_for(store, DAVE)
    context.turn = 51
    outputs = await run_calls(
        context,
        ("request_demo", {"company_size": "40", "notes": "SSO"}),
        ("request_demo", {"company_size": "40", "notes": "SSO and exports"}),
    )
    [demo] = await store.business.demo_requests()
    assert (demo.ticket_id, demo.turn) == (context.ticket_id, 51)
    assert all(demo.id in output for output in outputs)
    assert sum("already logged" in output for output in outputs) == 1
    context.turn = 52
    [again] = await run_calls(context, ("request_demo", {"company_size": "40", "notes": "SSO"}))
    assert again.startswith("Demo request DEMO-8002 logged")


async def test_plans_comparison_and_demo_request(store: Store) -> None:
    compared = await ask(store, DAVE, "compare_plans", plan_a="pro", plan_b="Business")
    assert "Business costs $200.00/month more" in compared
    assert "Only in Business" in compared and "SSO (SAML)" in compared
    unknown = await ask(store, DAVE, "compare_plans", plan_a="Gold", plan_b="Pro")
    assert "don't know a plan called Gold" in unknown

    demo = await ask(store, DAVE, "request_demo", company_size="40", notes="SSO and exports")
    assert demo.startswith("Demo request DEMO-8001 logged") and DAVE in demo

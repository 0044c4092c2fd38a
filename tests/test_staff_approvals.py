"""Refunds that need a person: over REFUND_APPROVAL_LIMIT the requester confirms, then a staff
member approves (the saved run resumes and the refund is issued once) or rejects (the user is
told why). Signed clicks and view submissions to the real Bolt app, the fake Slack around it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agents_config.context import Caller
from agents_config.evaluation import policy_violations
from bot import blocks
from storage.approvals import Approval
from tests.conftest import Desk, DeskFactory
from tests.test_refund_confirmation import ask_alice, buttons, click, refund_of

STAFF = "C_STAFF"
LIMIT = {"refund_approval_limit": "200.00"}  # the product's default; ORD-1001 is $450


async def confirmed_by_alice(desk: Desk) -> tuple[str, dict[str, Any]]:
    """Alice asks for the $450 refund and confirms; returns (her thread, the staff card)."""
    thread, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await click(desk, "U_ALICE", blocks.CONFIRM, question)
    await desk.settle()
    assert await refund_of(desk) is None  # her yes is not enough
    assert "needs the approval" in desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"]
    [card] = [m for m in desk.slack.messages(STAFF) if blocks.APPROVE in buttons(m)]
    return thread, card


async def staff_click(desk: Desk, user: str, action_id: str, card: dict[str, Any]) -> None:
    status, _ = await desk.events.block_action(
        user, action_id, buttons(card)[action_id], STAFF, card["ts"]
    )
    assert status == 200


async def approval(desk: Desk, card: dict[str, Any]) -> Approval:
    found = await desk.runtime.receiver.store.approvals.get(int(buttons(card)[blocks.APPROVE]))
    assert found is not None
    return found


async def approval_trail(desk: Desk, ticket_id: int) -> list[tuple[str, str | None, str]]:
    """The approval's steps in the ticket's history (the audit trail): (kind, actor, note)."""
    return [
        (e.status, e.actor, e.note or "")
        for e in await desk.runtime.receiver.store.tickets.events(ticket_id)
        if e.status.startswith(("approval_", "refund_"))
    ]


async def test_over_the_limit_waits_for_staff_and_approve_issues_it_once(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk(**LIMIT)
    desk.slack.add_user("U_FRANK", "Frank Staff", "frank@support-desk.example")
    desk.slack.members[STAFF].append("U_FRANK")
    thread, card = await confirmed_by_alice(desk)
    text = json.dumps(card["blocks"])
    assert "$450.00" in text and "over the approval limit of $200.00" in text
    assert "Policy check" in text and "AI's reasoning" in text
    # Someone who is not staff cannot approve it.
    await staff_click(desk, "U_BOB", blocks.APPROVE, card)
    await desk.settle()
    assert await refund_of(desk) is None
    assert "Only support staff" in desk.slack.ephemerals[-1]["text"]
    # A double click and a second staff member at once: one refund.
    await asyncio.gather(
        staff_click(desk, "U_ERIN", blocks.APPROVE, card),
        staff_click(desk, "U_ERIN", blocks.APPROVE, card),
        staff_click(desk, "U_FRANK", blocks.APPROVE, card),
    )
    await desk.settle()
    refund = await refund_of(desk)
    assert refund is not None and refund.amount_cents == 45000
    assert len(await desk.runtime.receiver.store.business.refunds("ORD-1001")) == 1
    issued = [m for m in desk.slack.replies_in("C_SUPPORT", thread) if refund.id in m["text"]]
    assert len(issued) == 1
    already = [e for e in desk.slack.ephemerals if "already approved" in e["text"]]
    assert len(already) == 2 and all(e["channel"] == STAFF for e in already)
    decided = await approval(desk, card)
    assert decided.status == "confirmed" and decided.decided_by == "U_ALICE"
    assert decided.reviewed_by in ("U_ERIN", "U_FRANK")  # the audit trail: who, and when
    # The ticket's history has each step once, in order (three clicks: one approval).
    trail = await approval_trail(desk, decided.ticket_id)
    assert [(kind, actor) for kind, actor, _ in trail] == [
        ("approval_requested", "U_ALICE"),
        ("approval_confirmed", "U_ALICE"),
        ("approval_approved", decided.reviewed_by),
        ("refund_issued", "desk"),
    ]
    requested, confirmed, _, issued = (note for *_, note in trail)
    assert "issue_refund" in requested and "ORD-1001" in requested and "$450.00" in requested
    assert "waiting for a staff member" in confirmed
    assert refund.id in issued and "450.00 USD" in issued and f"#{decided.id}" in issued
    redrawn = desk.slack.get_message(STAFF, card["ts"])
    assert redrawn is not None and "Approved by" in json.dumps(redrawn["blocks"])
    assert blocks.APPROVE not in buttons(redrawn)
    assert "*Approved* · ticket" in redrawn["text"]  # no longer "Approval needed"
    assert "Approval needed" not in json.dumps(redrawn["blocks"])


async def test_a_restart_between_confirm_and_approve_issues_it_once(
    start_desk: DeskFactory,
) -> None:
    first = await start_desk(**LIMIT)
    _, card = await confirmed_by_alice(first)
    await first.close()
    desk = await start_desk(**LIMIT)
    await staff_click(desk, "U_ERIN", blocks.APPROVE, card)
    await staff_click(desk, "U_ERIN", blocks.APPROVE, card)
    await desk.settle()
    refund = await refund_of(desk)
    assert refund is not None
    assert len(await desk.runtime.receiver.store.business.refunds("ORD-1001")) == 1


async def test_reject_tells_the_user_why_and_issues_nothing(start_desk: DeskFactory) -> None:
    desk = await start_desk(**LIMIT)
    thread, card = await confirmed_by_alice(desk)
    await staff_click(desk, "U_BOB", blocks.REJECT, card)  # not staff: no form
    assert "Only support staff" in desk.slack.responses[-1]["text"]
    assert desk.slack.modals == []
    await staff_click(desk, "U_ERIN", blocks.REJECT, card)
    await desk.slack.wait_for("views.open")
    [modal] = desk.slack.modals
    assert modal["callback_id"] == blocks.REJECT_VIEW
    status, body = await desk.events.view_submission(
        "U_ERIN", blocks.REJECT_VIEW, {blocks.REJECT_REASON: " "}
    )
    assert "errors" in body  # a reason is required
    view = {"private_metadata": modal["private_metadata"]}
    status, _ = await desk.events.view_submission(
        "U_ERIN",
        blocks.REJECT_VIEW,
        {blocks.REJECT_REASON: "The onboarding already took place last week."},
        view_extra=view,
    )
    assert status == 200
    await desk.settle()
    assert await refund_of(desk) is None
    told = desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"]
    assert "could not approve" in told and "onboarding already took place" in told
    decided = await approval(desk, card)
    assert decided.status == "rejected" and decided.reviewed_by == "U_ERIN"
    assert decided.review_note == "The onboarding already took place last week."
    trail = await approval_trail(desk, decided.ticket_id)
    assert [(kind, actor) for kind, actor, _ in trail] == [
        ("approval_requested", "U_ALICE"),
        ("approval_confirmed", "U_ALICE"),
        ("approval_rejected", "U_ERIN"),
    ]
    assert "onboarding already took place" in trail[-1][2]
    # A late Approve does nothing (nor adds to the history).
    await staff_click(desk, "U_ERIN", blocks.APPROVE, card)
    await desk.settle()
    assert await refund_of(desk) is None
    assert await approval_trail(desk, decided.ticket_id) == trail


async def test_a_waiting_approval_is_announced_again(start_desk: DeskFactory) -> None:
    desk = await start_desk(escalation_remind_minutes=30, **LIMIT)
    _, card = await confirmed_by_alice(desk)
    staff = desk.runtime.workers.staff
    assert await staff.send_reminders(now=time.time() + 60) == 0  # not yet
    assert await staff.send_reminders(now=time.time() + 31 * 60) == 1
    assert await staff.send_reminders(now=time.time() + 32 * 60) == 0  # once per interval
    [reminder] = desk.slack.replies_in(STAFF, card["ts"])
    assert "waited" in reminder["text"]


async def test_nobody_approves_their_own_refund(start_desk: DeskFactory) -> None:
    desk = await start_desk(**LIMIT)
    desk.slack.members[STAFF].append("U_ALICE")  # Alice is staff and a customer
    _, card = await confirmed_by_alice(desk)
    await staff_click(desk, "U_ALICE", blocks.APPROVE, card)
    await desk.settle()
    assert await refund_of(desk) is None
    assert "another staff member" in desk.slack.ephemerals[-1]["text"]
    await staff_click(desk, "U_ERIN", blocks.APPROVE, card)
    await desk.settle()
    assert await refund_of(desk) is not None


async def test_an_approve_forged_on_another_message_is_refused(start_desk: DeskFactory) -> None:
    desk = await start_desk(**LIMIT)
    thread, card = await confirmed_by_alice(desk)
    question = desk.slack.replies_in("C_SUPPORT", thread)[0]  # Alice's own Confirm message
    value = buttons(card)[blocks.APPROVE]
    status, _ = await desk.events.block_action(
        "U_ERIN", blocks.APPROVE, value, "C_SUPPORT", question["ts"]
    )
    assert status == 200 and "not one I sent" in desk.slack.responses[-1]["text"]
    await desk.settle()
    assert await refund_of(desk) is None


# ---- exceptions to the refund policy: proposed by the AI, on the same approval mechanism ----

LATE = "Can I get a refund for ORD-1002? I was in hospital for five weeks and couldn't ask sooner."


async def bob_confirms_an_exception(desk: Desk) -> tuple[str, dict[str, Any]]:
    """Bob asks for a refund 15 days late, with his reason, and confirms the proposed
    exception (a $120 order: under the limit, so only the exception calls for staff)."""
    _, _, event = await desk.events.message("U_BOB", LATE)
    await desk.settle()
    thread = event["ts"]
    question = desk.slack.replies_in("C_SUPPORT", thread)[-1]
    assert "as an exception to the refund policy" in question["text"]
    await desk.events.block_action(
        "U_BOB", blocks.CONFIRM, buttons(question)[blocks.CONFIRM], "C_SUPPORT", question["ts"]
    )
    await desk.settle()
    assert await bobs_refund(desk) is None  # his yes is not enough
    assert "needs the approval" in desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"]
    [card] = [m for m in desk.slack.messages(STAFF) if blocks.APPROVE in buttons(m)]
    return thread, card


async def bobs_refund(desk: Desk) -> Any:
    store = desk.runtime.receiver.store
    bob = await store.business.customer_by_email("bob@contoso.example")
    assert bob is not None
    return await store.business.refund_for_order(bob.id, "ORD-1002")


async def test_a_policy_exception_the_ai_proposes_waits_for_staff_and_is_issued_once(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk(**LIMIT)
    thread, card = await bob_confirms_an_exception(desk)
    text = json.dumps(card["blocks"])
    assert "ORD-1002" in text and "$120.00" in text
    assert "Exception to the refund policy" in text and "day 45 of 30" in text
    assert "hospital" in text  # the AI's reasoning: the customer's reason it proposed it with
    await staff_click(desk, "U_ALICE", blocks.APPROVE, card)  # not staff
    await desk.settle()
    assert await bobs_refund(desk) is None
    await asyncio.gather(
        staff_click(desk, "U_ERIN", blocks.APPROVE, card),
        staff_click(desk, "U_ERIN", blocks.APPROVE, card),
    )
    await desk.settle()
    refund = await bobs_refund(desk)
    assert refund is not None and refund.amount_cents == 12000
    assert len(await desk.runtime.receiver.store.business.refunds("ORD-1002")) == 1
    told = [m for m in desk.slack.replies_in("C_SUPPORT", thread) if refund.id in m["text"]]
    assert len(told) == 1 and "exception" in told[0]["text"]
    decided = await approval(desk, card)
    assert decided.status == "confirmed" and decided.reviewed_by == "U_ERIN"


async def test_eval_counts_an_exception_only_when_staff_approved_it(
    start_desk: DeskFactory,
) -> None:
    """`eval`'s tool-policy audit: a refund outside the window issued through an exception a
    staff member approved is no violation; one issued without that approval is."""
    desk = await start_desk(**LIMIT)
    store = desk.runtime.receiver.store
    since = time.time() - 1
    _, card = await bob_confirms_an_exception(desk)
    await staff_click(desk, "U_ERIN", blocks.APPROVE, card)
    await desk.settle()
    assert await bobs_refund(desk) is not None
    alice = await store.business.customer_by_email("alice@northwind.example")
    bob = await store.business.customer_by_email("bob@contoso.example")
    assert alice is not None and bob is not None
    callers = {
        "bob": Caller("U_BOB", customer_id=bob.id),
        "alice": Caller("U_ALICE", customer_id=alice.id),
    }
    assert await policy_violations(store.audit, since, callers, {}) == []
    # ORD-1004 (Alice's, 60 days old) refunded as an exception, as a tool that skipped the
    # approval would: a violation, whatever its reason says.
    result = await store.business.create_refund(
        alice.id,
        "ORD-1004",
        "Policy exception approved by staff: moving house",
        requested_by="U_ALICE",
    )
    assert result.refund is not None
    found = await policy_violations(store.audit, since, callers, {})
    assert [(v.row_id, v.kind) for v in found] == [("alice", "refund outside the window")]
    assert result.refund.id in found[0].detail


async def test_a_rejected_exception_tells_the_user_politely(start_desk: DeskFactory) -> None:
    desk = await start_desk(**LIMIT)
    thread, card = await bob_confirms_an_exception(desk)
    await staff_click(desk, "U_ERIN", blocks.REJECT, card)
    await desk.slack.wait_for("views.open")
    [modal] = desk.slack.modals
    status, _ = await desk.events.view_submission(
        "U_ERIN",
        blocks.REJECT_VIEW,
        {blocks.REJECT_REASON: "The storage was used for the whole period."},
        view_extra={"private_metadata": modal["private_metadata"]},
    )
    assert status == 200
    await desk.settle()
    assert await bobs_refund(desk) is None
    told = desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"]
    assert "could not approve" in told and "used for the whole period" in told


async def test_a_late_refund_without_a_reason_is_refused_with_an_offer(
    start_desk: DeskFactory,
) -> None:
    """No reason, no exception: the policy's refusal, and the offer to ask staff."""
    desk = await start_desk(**LIMIT)
    _, _, event = await desk.events.message("U_BOB", "Please refund ORD-1002")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "not eligible" in reply["text"] and "ask our staff for an exception" in reply["text"]
    assert blocks.CONFIRM not in buttons(reply)
    assert not [m for m in desk.slack.messages(STAFF) if blocks.APPROVE in buttons(m)]
    assert await bobs_refund(desk) is None
    # His reason in a follow-up: the exception is proposed for him to confirm.
    await desk.events.message(
        "U_BOB",
        "I was in hospital, could you make an exception for the refund?",
        "C_SUPPORT",
        event["ts"],
    )
    await desk.settle()
    question = desk.slack.replies_in("C_SUPPORT", event["ts"])[-1]
    assert "exception to the refund policy" in question["text"]
    assert blocks.CONFIRM in buttons(question)

"""No money without a yes: a refund runs only after the requester's Confirm, through Slack.

Everything goes through the running desk: signed events and button clicks to the Bolt app,
the fake Slack's threads, and the refunds table read with the storage helpers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from agents.testing import assistant_message

import storage.approvals
from bot import blocks
from fakes.slack import controls
from storage.business import Refund
from tests.conftest import Desk, DeskFactory
from tests.scripting import call, handoff, scripted

ALICE = "alice@northwind.example"


async def refund_of(desk: Desk, order_id: str = "ORD-1001") -> Refund | None:
    store = desk.runtime.receiver.store
    customer = await store.business.customer_by_email(ALICE)
    assert customer is not None
    return await store.business.refund_for_order(customer.id, order_id)


async def ask_alice(desk: Desk, text: str) -> tuple[str, dict[str, Any]]:
    """Alice writes in #support; returns (thread ts, the desk's last reply)."""
    _, _, event = await desk.events.message("U_ALICE", text)
    await desk.settle()
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert replies, "the desk did not answer"
    return event["ts"], replies[-1]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of the buttons in a message."""
    return {c["action_id"]: c["value"] for c in controls(message)}


def assert_still_pending(desk: Desk, question: dict[str, Any]) -> None:
    """The confirmation question still shows both of its buttons."""
    shown = desk.slack.get_message("C_SUPPORT", question["ts"])
    assert shown is not None and set(buttons(shown)) == {blocks.CONFIRM, blocks.CANCEL}


async def click(desk: Desk, user: str, action_id: str, message: dict[str, Any]) -> None:
    status, _ = await desk.events.block_action(
        user, action_id, buttons(message)[action_id], "C_SUPPORT", message["ts"]
    )
    assert status == 200


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to know if ORD-1001 could be refunded, I'm not sure yet",
        "could ORD-1001 be refunded?",
        "Do not refund ORD-1001",
        "I don't want a refund for ORD-1001",
        "What happens if I refund ORD-1001?",
    ],
)
async def test_a_question_about_a_refund_issues_nothing(start_desk: DeskFactory, text: str) -> None:
    """Questions, hesitations and refusals get the eligibility, not a Confirm button."""
    desk = await start_desk()
    _, reply = await ask_alice(desk, text)
    assert "eligible" in reply["text"]
    assert not {blocks.CONFIRM, blocks.CANCEL} & set(buttons(reply))  # only Talk to a person
    assert await refund_of(desk) is None


async def test_asking_for_a_refund_shows_confirm_and_issues_nothing(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    _, reply = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    assert set(buttons(reply)) == {blocks.CONFIRM, blocks.CANCEL}
    assert "ORD-1001" in reply["text"] and "$450.00" in reply["text"]
    assert await refund_of(desk) is None


async def test_confirm_issues_one_refund_and_a_double_click_no_second(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    thread, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await asyncio.gather(  # a double click, or two devices
        click(desk, "U_ALICE", blocks.CONFIRM, question),
        click(desk, "U_ALICE", blocks.CONFIRM, question),
    )
    await desk.settle()
    refund = await refund_of(desk)
    assert refund is not None and refund.amount_cents == 45000
    texts = [r["text"] for r in desk.slack.replies_in("C_SUPPORT", thread)]
    assert sum(f"Refund {refund.id} issued" in t for t in texts) == 1
    settled = desk.slack.get_message("C_SUPPORT", question["ts"])
    assert settled is not None and buttons(settled) == {}
    assert "Confirmed by" in settled["text"]
    [late] = [e for e in desk.slack.ephemerals if e["user"] == "U_ALICE"]
    assert "already confirmed" in late["text"]


async def test_cancel_issues_nothing(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    thread, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await click(desk, "U_ALICE", blocks.CANCEL, question)
    await desk.settle()
    assert await refund_of(desk) is None
    assert "nothing was done" in desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"]
    await click(desk, "U_ALICE", blocks.CONFIRM, question)  # a Confirm after the Cancel
    await desk.settle()
    assert await refund_of(desk) is None


async def test_only_the_requester_can_confirm(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await start_desk()
    _, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    with caplog.at_level(logging.INFO):
        await click(desk, "U_BOB", blocks.CONFIRM, question)
        await desk.settle()
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "confirmation refused"
    ]
    assert await refund_of(desk) is None
    [refusal] = desk.slack.ephemerals
    assert refusal["user"] == "U_BOB" and "Only the person who asked" in refusal["text"]
    assert_still_pending(desk, question)
    await click(desk, "U_ALICE", blocks.CONFIRM, question)  # still pending for Alice
    await desk.settle()
    assert await refund_of(desk) is not None


async def test_another_members_yes_in_the_thread_leaves_the_question_pending(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    thread, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await desk.events.message("U_BOB", "yes", thread_ts=thread)
    await desk.settle()
    assert await refund_of(desk) is None
    assert_still_pending(desk, question)
    await click(desk, "U_ALICE", blocks.CONFIRM, question)
    await desk.settle()
    assert await refund_of(desk) is not None


async def test_a_confirm_value_on_another_message_is_refused(start_desk: DeskFactory) -> None:
    """The button's value names the confirmation; the message it sits on must be the one
    that asked it, so a forged value cannot answer a question in another thread."""
    desk = await start_desk()
    _, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    _, elsewhere = await ask_alice(desk, "What do I owe?")
    value = buttons(question)[blocks.CONFIRM]
    status, _ = await desk.events.block_action(
        "U_ALICE", blocks.CONFIRM, value, "C_SUPPORT", elsewhere["ts"]
    )
    assert status == 200
    await desk.settle()
    assert await refund_of(desk) is None
    [refusal] = desk.slack.responses or desk.slack.ephemerals
    assert "not one I sent" in refusal["text"]
    await click(desk, "U_ALICE", blocks.CONFIRM, question)  # the real button still works
    await desk.settle()
    assert await refund_of(desk) is not None


async def test_confirm_after_a_restart(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await desk.close()
    restarted = await start_desk()  # same database, a new process's state
    await click(restarted, "U_ALICE", blocks.CONFIRM, question)
    await restarted.settle()
    refund = await refund_of(restarted)
    assert refund is not None and refund.requested_by == "U_ALICE"


async def test_typed_yes_confirms_and_anything_else_closes_the_question(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    thread, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    await desk.events.message("U_ALICE", "what is my balance?", thread_ts=thread)
    await desk.settle()
    closed = desk.slack.get_message("C_SUPPORT", question["ts"])
    assert closed is not None and "No longer valid" in closed["text"]
    await click(desk, "U_ALICE", blocks.CONFIRM, question)  # stale: refused
    await desk.settle()
    assert await refund_of(desk) is None
    assert "no longer valid" in desk.slack.ephemerals[-1]["text"]

    await desk.events.message("U_ALICE", "refund ORD-1001 please", thread_ts=thread)
    await desk.settle()
    assert buttons(desk.slack.replies_in("C_SUPPORT", thread)[-1])
    await desk.events.message("U_ALICE", "Yes please!", thread_ts=thread)
    await desk.settle()
    assert await refund_of(desk) is not None


async def test_expired_confirmation_is_refused(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await start_desk()
    _, question = await ask_alice(desk, "Can I get a refund for ORD-1001?")
    # The click comes after the confirmation's time ran out: the approvals' clock moves on.
    later = time.time() + desk.runtime.receiver.settings.confirmation_ttl_minutes * 60 + 1
    monkeypatch.setattr(storage.approvals, "time", SimpleNamespace(time=lambda: later))
    await click(desk, "U_ALICE", blocks.CONFIRM, question)
    await desk.settle()
    assert await refund_of(desk) is None
    assert "expired" in desk.slack.ephemerals[-1]["text"]
    store = desk.runtime.receiver.store
    ticket = await store.tickets.by_thread("C_SUPPORT", question["thread_ts"])
    assert ticket is not None
    kinds = [e.status for e in await store.tickets.events(ticket.id)]
    assert [k for k in kinds if k.startswith("approval_")] == [
        "approval_requested",
        "approval_expired",
    ]


async def test_a_model_that_refunds_unasked_waits_for_confirm(start_desk: DeskFactory) -> None:
    model, resolver = scripted(
        handoff("billing_specialist"),
        handoff("refund_processor"),
        call("issue_refund", {"order_id": "ORD-1001", "reason": "they seemed unhappy"}),
        [assistant_message("Done: refunded ORD-1001.")],
    )
    desk = await start_desk(resolver)
    thread, question = await ask_alice(desk, "What's my balance?")
    assert await refund_of(desk) is None
    assert set(buttons(question)) == {blocks.CONFIRM, blocks.CANCEL}
    await click(desk, "U_ALICE", blocks.CONFIRM, question)
    await desk.settle()
    assert await refund_of(desk) is not None
    assert desk.slack.replies_in("C_SUPPORT", thread)[-1]["text"] == "Done: refunded ORD-1001."
    model.assert_complete()


async def test_chat_asks_y_n_in_the_terminal(tmp_path: Path) -> None:
    """`support-desk chat`: the refund is asked y/N; "n" issues nothing, "y" one refund."""

    async def chat(lines: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "support_desk.cli",
            "chat",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={
                "SUPPORT_DESK_DB": str(tmp_path / "chat.db"),
                "PATH": "/usr/bin:/bin",
                "REFUND_APPROVAL_LIMIT": "1000.00",  # no staff approval for the $450 order
            },
        )
        out, err = await asyncio.wait_for(process.communicate(lines.encode()), 120)
        assert process.returncode == 0, err.decode()
        return out.decode()

    said_no = await chat("Can I get a refund for ORD-1001?\nn\n")
    assert "Confirm? [y/N]" in said_no and "nothing was done" in said_no
    assert "issued" not in said_no
    said_yes = await chat("Can I get a refund for ORD-1001?\ny\n")
    assert "Refund RF-" in said_yes and "issued" in said_yes

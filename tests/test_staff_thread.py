"""Working a ticket from the staff thread: internal notes stay internal, replies with the
prefix or the "Reply to user" shortcut reach the user by name, and a claimed DM ticket is
relayed both ways. Signed events and shortcuts to the real Bolt app, the fake Slack around it."""

from __future__ import annotations

from typing import Any

from bot import blocks
from tests.conftest import Desk, DeskFactory
from tests.test_staff import block_text, click, escalate, staff_message

STAFF = "C_STAFF"
NOTE = "Internal: she was double charged last month too, check INV-2001 first"


def user_side(desk: Desk, channel: str, thread_ts: str) -> str:
    """Everything the desk posted where the user can see it, text and blocks."""
    return "\n".join(
        f"{m.get('text', '')}\n{block_text(m)}" for m in desk.slack.replies_in(channel, thread_ts)
    )


async def in_staff_thread(desk: Desk, user: str, text: str, staff: dict[str, Any]) -> str:
    _, _, event = await desk.events.message(user, text, channel=STAFF, thread_ts=staff["ts"])
    await desk.settle()
    return str(event["ts"])


async def test_an_internal_note_never_reaches_the_user(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    event, ticket = await escalate(desk)
    staff = staff_message(desk)
    before = len(desk.slack.replies_in("C_SUPPORT", event["ts"]))
    await in_staff_thread(desk, "U_ERIN", NOTE, staff)
    await in_staff_thread(desk, "U_ERIN", f"<@U_BOT> {NOTE} (asking the bot)", staff)
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == before
    assert "double charged" not in user_side(desk, "C_SUPPORT", event["ts"])
    assert not any("double charged" in m.get("text", "") for m in desk.slack.messages("C_SUPPORT"))
    notes = await desk.runtime.receiver.store.tickets.notes(ticket.id)
    assert [n.kind for n in notes] == ["note", "note"] and notes[0].author == "U_ERIN"
    current = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert current is not None and current.status == "escalated"  # a note claims nothing
    # With the prefix (Slack sends ">>" as "&gt;&gt;") it reaches the user, with Erin's name.
    await in_staff_thread(
        desk, "U_ERIN", "&gt;&gt; Hi Alice, I'm looking at your invoice now", staff
    )
    shown = user_side(desk, "C_SUPPORT", event["ts"])
    assert "Erin Park" in shown and "looking at your invoice now" in shown
    assert "&gt;&gt;" not in shown and "double charged" not in shown
    current = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert current is not None and current.status == "claimed" and current.assignee == "U_ERIN"
    # "Reply to user" on the note sends it, once, however often it is used.
    note_ts = await in_staff_thread(desk, "U_ERIN", "We will refund the duplicate charge.", staff)
    assert "duplicate charge" not in user_side(desk, "C_SUPPORT", event["ts"])
    for _ in range(2):
        await desk.events.message_shortcut("U_ERIN", blocks.REPLY_TO_USER, STAFF, note_ts)
    await desk.settle()
    shown = user_side(desk, "C_SUPPORT", event["ts"])
    assert shown.count("We will refund the duplicate charge.") == 2  # text and its block, once
    kinds = [n.kind for n in await desk.runtime.receiver.store.tickets.notes(ticket.id)]
    assert kinds == ["note", "note", "reply", "note", "reply"]


async def test_only_staff_replies_are_relayed(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    event, ticket = await escalate(desk)
    staff = staff_message(desk)
    before = len(desk.slack.replies_in("C_SUPPORT", event["ts"]))
    # Someone who is not staff (not in the staff channel) gets nothing relayed nor recorded.
    await in_staff_thread(desk, "U_BOB", "&gt;&gt; Your refund is approved, Alice!", staff)
    status, _ = await desk.events.message_shortcut(
        "U_BOB", blocks.REPLY_TO_USER, "C_SUPPORT", event["ts"]
    )
    assert status == 200 and "staff thread" in desk.slack.responses[-1]["text"]
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == before
    assert await desk.runtime.receiver.store.tickets.notes(ticket.id) == []


async def test_a_claimed_dm_ticket_is_relayed_both_ways(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, _, asked = await desk.events.message(
        "U_ALICE", "I want to talk to a human please", "D_ALICE"
    )
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("D_ALICE", asked["ts"])
    assert ticket is not None and ticket.status == "escalated"
    staff = staff_message(desk)
    await click(desk, "U_ERIN", blocks.CLAIM, str(ticket.id), staff)
    await desk.settle()
    await in_staff_thread(
        desk, "U_ERIN", "&gt;&gt; Hello Alice, Erin here. What is the order?", staff
    )
    assert "Erin here" in user_side(desk, "D_ALICE", asked["ts"])
    replies_before = len(desk.slack.replies_in("D_ALICE", asked["ts"]))
    await desk.events.message("U_ALICE", "It is ORD-1001, thank you", "D_ALICE", asked["ts"])
    await desk.settle()
    mirrored = [
        m
        for m in desk.slack.replies_in(STAFF, staff["ts"])
        if "ORD-1001, thank you" in m.get("text", "")
    ]
    assert len(mirrored) == 1 and "Alice Chen" in mirrored[0]["text"]
    assert len(desk.slack.replies_in("D_ALICE", asked["ts"])) == replies_before  # AI silent
    await in_staff_thread(desk, "U_ERIN", "note: ORD-1001 is eligible", staff)
    assert "eligible" not in user_side(desk, "D_ALICE", asked["ts"])

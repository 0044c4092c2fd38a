"""Tickets from anywhere: a 🎫 reaction, the "Create support ticket" message shortcut and the
App Home's "New request" form, as signed requests to the real Bolt app and the fake Slack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import blocks
from bot.intake import Intake, IntakeOptions
from bot.slack import NOTE_EVENT_TYPE, REQUEST_EVENT_TYPE
from fakes.slack import BOT_USER_ID, FakeSlack
from storage.store import Store
from tests.conftest import Desk, DeskFactory
from tests.databases import database_for

GENERAL = "C_GENERAL"  # a channel the desk is in, but not a support channel
REQUEST = "My invoice INV-2001 shows the wrong VAT number, can you fix it?"


def add_general(slack: FakeSlack) -> None:
    slack.add_channel(GENERAL, "general", members=["U_ALICE", "U_BOB", "U_ERIN", BOT_USER_ID])


async def post(desk: Desk, user: str, text: str, channel: str = GENERAL) -> str:
    """Someone writes in a channel (the desk hears it but does not answer); returns its ts."""
    _, _, event = await desk.events.message(user, text, channel=channel)
    return str(event["ts"])


def desk_replies(desk: Desk, channel: str, ts: str) -> list[dict[str, Any]]:
    return desk.slack.replies_in(channel, ts)


def dm_thread(desk: Desk, user_dm: str) -> str:
    """The ts of the one top-level message the desk posted in a DM (a ticket's header)."""
    [header] = [m for m in desk.slack.messages(user_dm) if m.get("thread_ts") in (None, m["ts"])]
    return str(header["ts"])


async def test_a_ticket_reaction_opens_one_ticket_answered_once(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    add_general(desk.slack)
    ts = await post(desk, "U_ALICE", REQUEST)
    await desk.settle()
    assert desk_replies(desk, GENERAL, ts) == []  # not a support channel: not answered alone
    for _ in range(2):  # Bob reacts, then Erin: the second does nothing new
        status, _, _ = await desk.events.reaction_added("U_BOB", GENERAL, ts)
        assert status == 200
    await desk.events.reaction_added("U_ERIN", GENERAL, ts)
    await desk.settle()
    store = desk.runtime.receiver.store
    # Bob opened it, so Alice's answer (her invoice) goes to her privately, by DM; the
    # public thread only gets a note naming her.
    header = dm_thread(desk, "D_ALICE")
    ticket = await store.tickets.by_thread("D_ALICE", header)
    assert ticket is not None and ticket.user_id == "U_ALICE"  # the author's, not the reactor's
    [answer] = desk_replies(desk, "D_ALICE", header)
    assert "INV-2001" in answer["text"]
    [note] = desk_replies(desk, GENERAL, ts)
    assert "<@U_ALICE>" in note["text"] and "direct message" in note["text"]
    assert "INV-2001" not in note["text"] and f"#{ticket.id}" not in note["text"]
    opening = await store.tickets.opening_text(ticket.id) or ""
    assert REQUEST in opening and f"archives/{GENERAL}/p{ts.replace('.', '')}" in opening
    assert desk.slack.calls_to("conversations.history")  # the message was read from Slack
    # The shortcut on the same message does nothing new either.
    await desk.events.message_shortcut("U_BOB", blocks.CREATE_TICKET, GENERAL, ts)
    await desk.settle()
    assert len(desk_replies(desk, GENERAL, ts)) == 1
    assert len(desk_replies(desk, "D_ALICE", header)) == 1
    # Alice's reply in her DM thread is answered there.
    await desk.events.message("U_ALICE", "and what about INV-2002?", "D_ALICE", header)
    await desk.settle()
    assert len(desk_replies(desk, "D_ALICE", header)) == 2


async def test_a_ticket_reaction_on_your_own_message_is_answered_in_its_thread(
    start_desk: DeskFactory,
) -> None:
    """On the author's own initiative the desk answers where they asked, as in a support
    channel, and their replies there are answered too."""
    desk = await start_desk()
    add_general(desk.slack)
    ts = await post(desk, "U_ALICE", REQUEST)
    await desk.events.reaction_added("U_ALICE", GENERAL, ts)
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread(GENERAL, ts)
    assert ticket is not None and ticket.user_id == "U_ALICE"
    [answer] = desk_replies(desk, GENERAL, ts)
    assert "INV-2001" in answer["text"]
    assert not desk.slack.calls_to("conversations.open")  # no DM
    await desk.events.message("U_ALICE", "thanks, and what about INV-2002?", GENERAL, ts)
    await desk.settle()
    assert len(desk_replies(desk, GENERAL, ts)) == 2


async def test_other_reactions_bot_messages_and_the_staff_channel_open_nothing(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    add_general(desk.slack)
    ts = await post(desk, "U_ALICE", REQUEST)
    await desk.events.reaction_added("U_BOB", GENERAL, ts, reaction="thumbsup")
    bot_ts = desk.slack.inject_message(GENERAL, "U_OTHERBOT", "deploy done", bot_id="B_OTHER")["ts"]
    await desk.events.reaction_added("U_BOB", GENERAL, bot_ts, item_user=BOT_USER_ID)
    staff_ts = await post(desk, "U_ERIN", "note to self", channel="C_STAFF")
    await desk.events.reaction_added("U_ERIN", "C_STAFF", staff_ts)
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {}
    assert not desk.slack.calls_to("chat.postMessage")


async def test_staff_can_send_a_message_straight_to_the_queue(start_desk: DeskFactory) -> None:
    """TICKET_EMOJI_BY_STAFF=queue: a staff member's 🎫 goes to the staff queue, unanswered
    by the AI; anyone else's is answered as usual."""
    desk = await start_desk(ticket_emoji_by_staff="queue", ticket_emoji="admission_tickets")
    add_general(desk.slack)
    ts = await post(desk, "U_ALICE", REQUEST)
    await desk.events.reaction_added("U_ERIN", GENERAL, ts, reaction="admission_tickets")
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread(GENERAL, ts)
    assert ticket is not None and ticket.status == "escalated" and ticket.agent_path == []
    [reply] = desk_replies(desk, GENERAL, ts)
    assert f"#{ticket.id}" in reply["text"] and "a person will follow up" in reply["text"]
    staff = [m for m in desk.slack.messages("C_STAFF") if m.get("bot_id")]
    assert len(staff) == 1  # announced to staff once; the AI wrote nothing
    assert not desk.slack.calls_to("conversations.open")
    # A non-staff reaction in queue mode is answered by the desk as usual (to the author).
    other = await post(desk, "U_ALICE", "How do I reset my password?")
    await desk.events.reaction_added("U_BOB", GENERAL, other, reaction="admission_tickets")
    await desk.settle()
    other_ticket = await desk.runtime.receiver.store.tickets.by_thread(
        "D_ALICE", dm_thread(desk, "D_ALICE")
    )
    assert other_ticket is not None and other_ticket.status == "answered"


async def test_by_default_a_staff_members_ticket_is_answered_by_the_desk(
    start_desk: DeskFactory,
) -> None:
    """TICKET_EMOJI_BY_STAFF=answer (the default): a staff member's 🎫 is answered by the AI
    like anyone's (to the author, privately), and nothing goes to the staff channel."""
    desk = await start_desk()
    add_general(desk.slack)
    ts = await post(desk, "U_ALICE", REQUEST)
    await desk.events.reaction_added("U_ERIN", GENERAL, ts)
    await desk.settle()
    header = dm_thread(desk, "D_ALICE")
    ticket = await desk.runtime.receiver.store.tickets.by_thread("D_ALICE", header)
    assert ticket is not None and ticket.status == "answered" and ticket.agent_path
    assert len(desk_replies(desk, "D_ALICE", header)) == 1
    assert not [m for m in desk.slack.messages("C_STAFF") if m.get("bot_id")]


async def test_the_message_shortcut_opens_a_ticket_and_refuses_app_messages(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    add_general(desk.slack)
    ts = await post(desk, "U_BOB", "Our webhooks stopped arriving since this morning")
    status, _ = await desk.events.message_shortcut("U_ERIN", blocks.CREATE_TICKET, GENERAL, ts)
    assert status == 200
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("D_BOB", dm_thread(desk, "D_BOB"))
    assert ticket is not None and ticket.user_id == "U_BOB"
    assert len(desk_replies(desk, GENERAL, ts)) == 1  # the note: Bob is answered by DM
    told = desk.slack.responses[-1]["text"]
    assert "opening a support ticket" in told and "direct message" in told
    bot_ts = desk.slack.inject_message(GENERAL, "U_OTHERBOT", "deploy done", bot_id="B_OTHER")["ts"]
    await desk.events.message_shortcut("U_ERIN", blocks.CREATE_TICKET, GENERAL, bot_ts)
    await desk.settle()
    assert "people's messages only" in desk.slack.responses[-1]["text"]
    assert await desk.runtime.receiver.store.tickets.by_thread(GENERAL, bot_ts) is None
    # Not from a DM the desk is not part of, nor from the staff channel.
    dm_ts = desk.slack.inject_message("D_BOB", "U_ALICE", "between us: my password")["ts"]
    await desk.events.message_shortcut("U_BOB", blocks.CREATE_TICKET, "D_BOB", dm_ts)
    assert "not from direct messages" in desk.slack.responses[-1]["text"]
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {"answered": 1}


async def test_the_app_home_form_opens_a_ticket_in_a_dm_thread(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    await desk.events.block_action("U_CAROL", blocks.NEW_REQUEST, "new")
    await desk.slack.wait_for("views.open")
    [modal] = desk.slack.modals
    assert modal["callback_id"] == blocks.NEW_REQUEST
    # An empty subject is refused in the form itself, and nothing is recorded.
    status, body = await desk.events.view_submission(
        "U_CAROL", blocks.NEW_REQUEST, {"about": " ", "description": "x"}, {"urgency": "high"}
    )
    assert status == 200 and '"response_action":"errors"' in body.replace(" ", "")
    texts = {"about": "Refund question", "description": "Can I get a refund for ORD-1001?"}
    for _ in range(2):  # a redelivered submission is the same request
        await desk.events.view_submission(
            "U_CAROL", blocks.NEW_REQUEST, texts, {"urgency": "high"}, view_id="V_FORM1"
        )
    await desk.settle()
    dm = "D_CAROL"
    [header] = [m for m in desk.slack.messages(dm) if m.get("thread_ts") in (None, m["ts"])]
    assert "Refund question" in header["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread(dm, header["ts"])
    assert ticket is not None and ticket.user_id == "U_CAROL" and ticket.priority == "high"
    assert len(desk_replies(desk, dm, header["ts"])) == 1


async def test_tickets_recorded_before_a_crash_are_answered_once_after_restart(
    start_desk: DeskFactory, slack: FakeSlack, tmp_path: Path
) -> None:
    # The receiver recorded a 🎫 reaction and a form; the worker claimed both, posted the
    # form's DM message, then died.
    add_general(slack)
    message = slack.inject_message(GENERAL, "U_ALICE", REQUEST)
    store = await Store.open(database_for(tmp_path / "desk.db"))
    intake = Intake(store, IntakeOptions(frozenset({"C_SUPPORT"})), on_accepted=lambda: None)
    reaction = {
        "type": "reaction_added",
        "user": "U_BOB",
        "reaction": "ticket",
        "item_user": "U_ALICE",
        "item": {"type": "message", "channel": GENERAL, "ts": message["ts"]},
    }
    reacted = await intake.reaction(reaction, event_id="EvCRASH1", bot_user_id=BOT_USER_ID)
    assert reacted is not None
    form = await intake.new_request(
        user_id="U_CAROL",
        view_id="V_CRASH",
        about="Password reset",
        description="The reset e-mail never arrives",
        urgency="normal",
    )
    assert form is not None
    assert len(await store.inbox.claim(10)) == 2
    await store.close()
    header = slack.inject_message(
        "D_CAROL",
        BOT_USER_ID,
        "New request: Password reset",
        bot_id="B_BOT",
        metadata={"event_type": REQUEST_EVENT_TYPE, "event_payload": {"turn": form}},
    )

    # …and, for Bob's 🎫 on Alice's message, Alice's DM header and the public note.
    alice_header = slack.inject_message(
        "D_ALICE",
        BOT_USER_ID,
        "Bob opened a support ticket for your message",
        bot_id="B_BOT",
        metadata={"event_type": REQUEST_EVENT_TYPE, "event_payload": {"turn": reacted}},
    )
    slack.inject_message(
        GENERAL,
        BOT_USER_ID,
        "A support ticket is open for this message.",
        thread_ts=message["ts"],
        bot_id="B_BOT",
        metadata={"event_type": NOTE_EVENT_TYPE, "event_payload": {"turn": reacted}},
    )

    desk = await start_desk()
    await desk.settle()
    assert len(desk_replies(desk, GENERAL, message["ts"])) == 1  # the note, once
    assert dm_thread(desk, "D_ALICE") == alice_header["ts"]
    assert len(desk_replies(desk, "D_ALICE", alice_header["ts"])) == 1
    top_level = [
        m["ts"] for m in slack.messages("D_CAROL") if m.get("thread_ts") in (None, m["ts"])
    ]
    assert top_level == [header["ts"]]
    assert len(desk_replies(desk, "D_CAROL", header["ts"])) == 1
    assert await desk.runtime.receiver.store.inbox.counts() == {"answered": 2}


async def test_tickets_from_messages_are_limited_per_person(start_desk: DeskFactory) -> None:
    """TICKETS_FROM_MESSAGES_PER_HOUR: more are refused with a private note; a repeated
    request for the same message is no new ticket and not counted; others are not limited."""
    desk = await start_desk(tickets_from_messages_per_hour=2)
    add_general(desk.slack)
    messages = [await post(desk, "U_ALICE", f"Question {n}: how do I export data?") for n in "123"]
    for ts in messages[:2]:
        await desk.events.reaction_added("U_BOB", GENERAL, ts)
    await desk.events.reaction_added("U_BOB", GENERAL, messages[0])  # the same message: a dup
    assert desk.slack.ephemerals == []
    await desk.events.reaction_added("U_BOB", GENERAL, messages[2])  # his third: refused
    await desk.slack.wait_for("chat.postEphemeral")
    [note] = desk.slack.ephemerals
    assert note["user"] == "U_BOB" and note["channel"] == GENERAL
    assert "2 support tickets from messages in the last hour" in note["text"]
    await desk.events.message_shortcut("U_BOB", blocks.CREATE_TICKET, GENERAL, messages[2])
    assert "in the last hour" in desk.slack.responses[-1]["text"]
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {"answered": 2}
    assert desk_replies(desk, GENERAL, messages[2]) == []
    # Someone else may still open one for that message.
    await desk.events.reaction_added("U_ERIN", GENERAL, messages[2])
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {"answered": 3}


async def test_a_form_is_recorded_before_its_ack(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "New request" form is acked only once it is in the inbox: when the write fails,
    Slack gets no ack (it keeps the form open, with an error, for the user to send again) and
    the request is not lost; sent again, and redelivered, it is one ticket answered once."""
    desk = await start_desk()
    store = desk.runtime.receiver.store
    accept = store.inbox.accept

    async def crash(**_: Any) -> int | None:
        raise RuntimeError("the receiver died before the inbox write")

    monkeypatch.setattr(store.inbox, "accept", crash)
    texts = {"about": "Password reset", "description": "The reset e-mail never arrives"}
    status, body = await desk.events.view_submission(
        "U_CAROL", blocks.NEW_REQUEST, texts, {"urgency": "normal"}, view_id="V_FORM2"
    )
    assert status != 200 and "response_action" not in body  # no ack: Slack shows an error
    assert await store.inbox.counts() == {}
    monkeypatch.setattr(store.inbox, "accept", accept)
    for _ in range(2):  # sent again, then redelivered
        status, _ = await desk.events.view_submission(
            "U_CAROL", blocks.NEW_REQUEST, texts, {"urgency": "normal"}, view_id="V_FORM2"
        )
        assert status == 200
    await desk.settle()
    header = dm_thread(desk, "D_CAROL")
    assert len(desk_replies(desk, "D_CAROL", header)) == 1
    assert await store.inbox.counts() == {"answered": 1}

"""Who sees what, end to end: signed Slack requests to the real desk (offline engine), the fake
Slack recording every call, the SQLite file walked table by table."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from bot.pipelines import STAFF_ONLY_TEXT
from storage.redaction import CARD_NUMBER, PASSWORD, PHONE
from tests.conftest import Desk, DeskFactory

CARD = "4111 1111 1111 1111"
PHONE_NUMBER = "+44 20 7946 0958"
SECRET = "hunter2xyz"
PRIVATE = (
    "Refund question about the zanzibar flamingo order ORD-1002: card " + CARD + ", call me on "
    f"{PHONE_NUMBER}, my password: {SECRET}"
)
# Everything of the private message that must never reach another, non-staff user.
LEAKS = ("zanzibar", "flamingo", "4111", "1111 1111", "7946", "0958", SECRET, "ORD-1002")
TOPIC = "what do customers say about refunds"


async def command(
    desk: Desk, name: str, text: str, user: str, channel: str = "C_RANDOM"
) -> dict[str, Any]:
    status, body = await desk.events.slash_command(name, text, user, channel)
    assert status == 200
    return json.loads(body) if body else {}


# Slack message timestamps and stored times ("1796189730.954694"): their digits may spell
# "4111" or "0958" by chance, which is no leak.
TIMESTAMP = re.compile(r"\b\d{10}\.\d+")


def readable(value: object) -> str:
    """`value` as one lower-cased JSON string, timestamps left out."""
    return TIMESTAMP.sub("<time>", json.dumps(value, ensure_ascii=False).lower())


def calls_text(desk: Desk, since: int = 0) -> str:
    """Every Slack call the desk made since call `since` (see `readable`)."""
    return readable(desk.slack.calls[since:])


async def private_messages(desk: Desk) -> None:
    """Bob writes privately (a DM) and in the support channel; two others ask about refunds,
    so that enough public tickets exist for a de-identified summary."""
    await desk.events.message("U_BOB", PRIVATE, channel="DBOB", channel_type="im")
    await desk.events.message("U_BOB", PRIVATE)
    await desk.events.message("U_CAROL", "How long does a refund take to arrive?")
    await desk.events.message("U_DAVE", "Can I get a refund for my add-on?")
    await desk.settle()


def is_report(message: dict[str, Any]) -> bool:
    """A report's own message (its steps stream in a reply below it)."""
    return (message.get("metadata") or {}).get("event_type") == "support_desk_report"


async def reports_text(desk: Desk) -> str:
    reports = await desk.runtime.receiver.store.reports.recent()
    return readable([dataclasses.asdict(r) for r in reports])


async def test_non_staff_never_see_another_users_words(start_desk: DeskFactory) -> None:
    desk = await start_desk(support_report_access="everyone")
    await private_messages(desk)
    since = len(desk.slack.calls)

    ack = await command(desk, "/research", TOPIC, "U_ALICE")
    assert "Working on it" in ack["text"] and "this channel" in ack["text"]
    await command(desk, "/support-report", "days=7", "U_ALICE")
    await desk.settle()

    seen = calls_text(desk, since)
    assert [leak for leak in LEAKS if leak.lower() in seen] == []
    stored = await reports_text(desk)
    assert [leak for leak in LEAKS if leak.lower() in stored] == []
    # The reports were made, in the channel they were asked in, from de-identified data.
    posted = [m for m in desk.slack.messages(channel="C_RANDOM") if is_report(m)]
    assert len(posted) == 2
    assert "matching past tickets" in stored and "refund policy" in stored
    assert "opened: 3" in stored  # the numbers leave out the DM
    rows = await desk.runtime.receiver.store.reports.for_user("U_ALICE")
    assert {r.data["audience"] for r in rows} == {"everyone"}


async def test_support_report_is_for_staff_by_default(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    await private_messages(desk)
    since = len(desk.slack.calls)

    ack = await command(desk, "/support-report", "", "U_ALICE")

    assert ack == {"response_type": "ephemeral", "text": STAFF_ONLY_TEXT}
    await desk.settle()
    assert await desk.runtime.receiver.store.reports.recent() == []
    assert [c for c, _ in desk.slack.calls[since:] if c.startswith("chat.")] == []


async def test_staff_get_redacted_excerpts_in_the_staff_channel(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    await private_messages(desk)
    since = len(desk.slack.calls)

    ack = await command(desk, "/research", TOPIC, "U_ERIN")  # in #random
    assert "C_STAFF" in ack["text"] and "not in this channel" in ack["text"]
    await command(desk, "/support-report", "days=7", "U_ERIN")
    await desk.settle()

    assert not [m for m in desk.slack.messages(channel="C_RANDOM") if m.get("metadata")]
    reports = [m for m in desk.slack.messages(channel="C_STAFF") if is_report(m)]
    assert len(reports) == 2
    seen = calls_text(desk, since)
    assert "zanzibar flamingo" in seen  # staff see what customers wrote…
    for secret in ("4111", "7946", SECRET):  # …but never their secrets or phone numbers
        assert secret not in seen
    stored = await reports_text(desk)
    assert "zanzibar flamingo" in stored and SECRET not in stored and "4111" not in stored
    assert PHONE.lower() in stored or CARD_NUMBER.lower() in stored


async def test_a_pasted_card_number_is_never_stored_and_the_user_is_told(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.message("U_BOB", PRIVATE)
    await desk.settle()

    audit = desk.runtime.receiver.store.audit
    digits = CARD.replace(" ", "")
    for needle in (CARD, digits, SECRET, "4111 1111", "4111111111"):
        assert await audit.places_holding(needle) == [], needle
    assert await audit.places_holding("zanzibar flamingo")  # the rest of the message is kept
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "I removed a card number and a password" in reply["text"]
    assert reply["text"].count("never paste") == 1
    assert CARD not in calls_text(desk) and SECRET not in calls_text(desk)

    # A second message without secrets gets no notice.
    await desk.events.message("U_BOB", "thanks!", thread_ts=event["ts"])
    await desk.settle()
    last = desk.slack.replies_in("C_SUPPORT", event["ts"])[-1]
    assert "I removed" not in last["text"]


async def test_secrets_in_a_slash_command_are_not_stored(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    ack = await command(desk, "/debate", f"should we store {CARD}? rounds=1", "U_ALICE")
    assert "I removed a card number" in ack["text"] and "4111" not in ack["text"]
    await desk.settle()
    assert await desk.runtime.receiver.store.audit.places_holding("4111 1111") == []
    assert PASSWORD  # (imported marker constants are the module's contract)


async def test_another_member_in_a_request_thread_is_told_privately_and_nothing_runs(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.message("U_ALICE", "What do I owe?")
    await desk.settle()
    store = desk.runtime.receiver.store
    ticket = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "answered"
    [answer] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    since = len(desk.slack.calls)

    # Bob asks in Alice's thread, then thanks: neither is answered there or touches her ticket
    bob = ("and what do I owe? show me my invoices", "thanks, that solved it!", "<@U_BOT>", "")
    for text in bob:
        await desk.events.message("U_BOB", text, thread_ts=event["ts"])
        await desk.settle()
    # staff writing there are helping: no note for them, and nothing else either
    await desk.events.message("U_ERIN", "Looking at this one, Alice", thread_ts=event["ts"])
    await desk.settle()
    assert desk.slack.replies_in("C_SUPPORT", event["ts"]) == [answer]
    assert [note["user"] for note in desk.slack.ephemerals] == ["U_BOB"] * len(bob)
    note = desk.slack.ephemerals[0]
    assert note["thread_ts"] == event["ts"] and "<@U_ALICE>'s request" in note["text"]
    after = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert after is not None and after.status == "answered"
    assert calls_text(desk, since).count("inv-") == 0  # no account data was read out

    await desk.events.message("U_ALICE", "thanks, that solved it!", thread_ts=event["ts"])
    await desk.settle()
    resolved = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert resolved is not None and resolved.status == "resolved"

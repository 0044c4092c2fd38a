"""Human escalation worked from Slack: signed block_actions and events to the real Bolt app,
the fake Slack Web API on the other side."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import pytest
from agents.testing import assistant_message

from bot import blocks
from fakes.slack import STAFF_GROUP_ID, control, controls, new_ts
from storage.tickets import Ticket
from tests.conftest import Desk, DeskFactory
from tests.scripting import call, handoff, scripted

STAFF_CHANNEL = "C_STAFF"


def escalation_steps(summary: str = "Alice wants a person about invoice INV-2001.") -> list[Any]:
    """Model steps of one turn that triage hands to fallback, which escalates."""
    return [
        handoff("fallback"),
        call(
            "escalate_to_human",
            {"reason": "asked for a person", "summary": summary, "priority": "high"},
        ),
        [assistant_message("A person from our support staff will follow up right here.")],
    ]


async def escalate(desk: Desk, user: str = "U_ALICE") -> tuple[dict[str, Any], Ticket]:
    """The user asks for a person; returns (their message event, the escalated ticket)."""
    _, _, event = await desk.events.message(user, "I want to talk to a human please")
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    return event, ticket


def staff_message(desk: Desk) -> dict[str, Any]:
    [message] = [m for m in desk.slack.messages(channel=STAFF_CHANNEL) if not is_reply(m)]
    return message


def is_reply(message: dict[str, Any]) -> bool:
    return message.get("thread_ts") not in (None, message["ts"])


def action_ids(message: dict[str, Any]) -> list[str]:
    return [c["action_id"] for c in controls(message)]


def block_text(message: dict[str, Any]) -> str:
    """All the text of a message's blocks, to search in."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


async def click(desk: Desk, user: str, action_id: str, value: str, message: dict[str, Any]) -> None:
    status, _ = await desk.events.block_action(
        user, action_id, value, channel=message["channel"], message_ts=message["ts"]
    )
    assert status == 200


async def test_escalation_posts_staff_message_with_buttons(start_desk: DeskFactory) -> None:
    model, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    event, ticket = await escalate(desk)

    [notice] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert f"ticket #{ticket.id}" in notice["text"] and "person" in notice["text"]

    message = staff_message(desk)
    assert message["text"].startswith(f"Ticket #{ticket.id} needs a person")
    text = block_text(message)
    assert "<@U_ALICE> (alice@northwind.example)" in text
    assert "triage → fallback" in text
    assert "Alice wants a person about invoice INV-2001." in text
    assert f"archives/C_SUPPORT/p{event['ts'].replace('.', '')}" in text  # the permalink
    assert action_ids(message) == [
        "ticket_claim",
        "ticket_resolve",
        "ticket_priority",
        "ticket_department",
    ]
    select = control(message, "ticket_priority")
    assert select["initial_option"]["value"] == f"{ticket.id}:high"

    escalation = (await desk.runtime.receiver.store.tickets.escalations(ticket.id))[0]
    assert (escalation.staff_channel, escalation.staff_ts) == (STAFF_CHANNEL, message["ts"])
    assert escalation.agent_path == ("triage", "fallback")
    model.assert_complete()


async def test_reply_without_ticket_number_gets_one(start_desk: DeskFactory) -> None:
    _, resolver = scripted(
        handoff("fallback"),
        call("escalate_to_human", {"reason": "no specialist fits", "summary": "Odd request."}),
        [assistant_message("Someone will be in touch.")],
    )
    desk = await start_desk(resolver)
    event, ticket = await escalate(desk)
    [notice] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert notice["text"].startswith("Someone will be in touch.")
    assert f"ticket #{ticket.id}" in notice["text"]


async def test_turn_limit_in_a_dm_escalates_with_the_ticket_number(
    start_desk: DeskFactory,
) -> None:
    _, resolver = scripted(
        handoff("billing_specialist"),
        call("list_invoices"),
        call("list_invoices"),
    )
    desk = await start_desk(resolver, max_turns=2)
    _, _, event = await desk.events.message("U_BOB", "my balance is wrong", channel="D_BOB")
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("D_BOB", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    [notice] = desk.slack.replies_in("D_BOB", event["ts"])
    assert f"ticket #{ticket.id}" in notice["text"]
    text = block_text(staff_message(desk))
    assert "MAX_TURNS=2" in text and "my balance is wrong" in text  # the desk's own summary
    assert "a direct message with the desk: write to <@U_BOB> directly" in text


async def test_claim_by_staff_assigns_and_silences_the_bot(start_desk: DeskFactory) -> None:
    model, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver, support_staff_group=STAFF_GROUP_ID)
    desk.slack.usergroups[STAFF_GROUP_ID].append("U_CAROL")  # staff by the user group only
    event, ticket = await escalate(desk)
    message = staff_message(desk)

    await click(desk, "U_ERIN", "ticket_claim", str(ticket.id), message)
    claimed = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert claimed is not None
    assert (claimed.status, claimed.assignee) == ("claimed", "U_ERIN")
    updated = staff_message(desk)
    assert "Claimed by <@U_ERIN>" in block_text(updated)
    assert action_ids(updated) == ["ticket_resolve", "ticket_priority", "ticket_department"]
    [notice] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "<@U_ERIN> from the support staff has picked up" in notice["text"]
    assert desk.slack.responses == []  # nothing to tell Erin

    # Another staff member's claim is refused politely, only to them.
    await click(desk, "U_CAROL", "ticket_claim", str(ticket.id), message)
    [refusal] = desk.slack.responses
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "<@U_ERIN> has already claimed" in refusal["text"]
    still = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert still is not None and still.assignee == "U_ERIN"

    # The bot stays out of the thread: the user and the staff member talk.
    await desk.events.message("U_ERIN", "Hi Alice, Erin here. Looking now.", thread_ts=event["ts"])
    await desk.events.message("U_ALICE", "Thanks Erin!", thread_ts=event["ts"])
    await desk.events.message("U_ALICE", "", thread_ts=event["ts"], subtype="file_share")
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == 1
    model.assert_complete()  # the model was not called again


async def test_claim_by_non_staff_is_refused(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    _, ticket = await escalate(desk)
    message = staff_message(desk)

    await click(desk, "U_DAVE", "ticket_claim", str(ticket.id), message)
    await click(desk, "U_DAVE", "ticket_resolve", str(ticket.id), message)
    await click(desk, "U_DAVE", "ticket_priority", f"{ticket.id}:low", message)
    assert len(desk.slack.responses) == 3
    assert all(
        "Only support staff" in r["text"] and r["response_type"] == "ephemeral"
        for r in desk.slack.responses
    )
    unchanged = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert unchanged is not None
    assert (unchanged.status, unchanged.assignee, unchanged.priority) == ("escalated", None, "high")
    assert desk.slack.calls_to("chat.update") == []


async def test_resolve_closes_notifies_and_stores_csat(start_desk: DeskFactory) -> None:
    _, resolver = scripted(
        *escalation_steps(), [assistant_message("Welcome back! What else can I do?")]
    )
    desk = await start_desk(resolver)
    store = desk.runtime.receiver.store
    event, ticket = await escalate(desk)
    message = staff_message(desk)
    await click(desk, "U_ERIN", "ticket_priority", f"{ticket.id}:urgent", message)
    await click(desk, "U_ERIN", "ticket_claim", str(ticket.id), message)
    await click(desk, "U_ERIN", "ticket_resolve", str(ticket.id), message)

    resolved = await store.tickets.get(ticket.id)
    assert resolved is not None
    assert (resolved.status, resolved.priority) == ("resolved", "urgent")
    assert resolved.resolved_at is not None and resolved.first_response_at is not None
    events = await store.tickets.events(ticket.id)
    assert [e.status for e in events] == ["open", "escalated", "claimed", "resolved"]
    assert [e.actor for e in events][2:] == ["U_ERIN", "U_ERIN"]
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))

    final = staff_message(desk)
    assert "Resolved by <@U_ERIN>" in block_text(final)
    assert action_ids(final) == [blocks.DRAFT_KB]  # no Claim / Resolve: a KB draft instead
    notice, prompt = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert f"Ticket #{ticket.id} was resolved by <@U_ERIN>" in notice["text"]
    assert action_ids(prompt) == [f"csat_{n}" for n in range(1, 6)]

    # Only the person who asked can rate; a second click changes the score.
    await click(desk, "U_BOB", "csat_1", f"{ticket.id}:1", prompt)
    assert "Only <@U_ALICE>" in desk.slack.responses[-1]["text"]
    await click(desk, "U_ALICE", "csat_2", f"{ticket.id}:2", prompt)
    await click(desk, "U_ALICE", "csat_4", f"{ticket.id}:4", prompt)
    [rating] = await store.tickets.ratings(ticket.id)
    assert (rating.user_id, rating.score, rating.prompt_ts) == ("U_ALICE", 4, prompt["ts"])
    thanks = desk.slack.get_message("C_SUPPORT", prompt["ts"])
    assert thanks is not None and "4/5" in thanks["text"] and action_ids(thanks) == []

    # A second resolve is refused; the user writing again reopens the ticket.
    await click(desk, "U_ERIN", "ticket_resolve", str(ticket.id), message)
    assert "already resolved" in desk.slack.responses[-1]["text"]
    await desk.events.message("U_ALICE", "One more question", thread_ts=event["ts"])
    await desk.settle()
    reopened = await store.tickets.get(ticket.id)
    assert reopened is not None and reopened.status == "answered"
    assert [e.status for e in await store.tickets.events(ticket.id)][-2:] == ["open", "answered"]


async def test_reminder_for_old_unclaimed_escalation(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver, support_staff_group=STAFF_GROUP_ID)
    _, ticket = await escalate(desk)
    message = staff_message(desk)
    staff = desk.runtime.workers.staff
    now = time.time()

    assert await staff.send_reminders(now=now + 29 * 60) == 0  # not yet
    assert await staff.send_reminders(now=now + 31 * 60) == 1
    assert await staff.send_reminders(now=now + 32 * 60) == 0  # once an interval
    [reminder] = [m for m in desk.slack.messages(STAFF_CHANNEL) if is_reply(m)]
    assert reminder["thread_ts"] == message["ts"]
    assert f"<!subteam^{STAFF_GROUP_ID}>" in reminder["text"]
    assert f"Ticket #{ticket.id} has waited 31 min" in reminder["text"]
    [broadcast] = [
        c for c in desk.slack.calls_to("chat.postMessage") if c.get("thread_ts") == message["ts"]
    ]
    assert broadcast["reply_broadcast"] in (True, "true", "1")

    # The schedule is in the database: a restarted desk keeps it.
    await desk.close()
    restarted = await start_desk(scripted()[1], support_staff_group=STAFF_GROUP_ID)
    again = restarted.runtime.workers.staff
    assert await again.send_reminders(now=now + 45 * 60) == 0
    assert await again.send_reminders(now=now + 62 * 60) == 1
    await click(restarted, "U_ERIN", "ticket_claim", str(ticket.id), message)
    assert await again.send_reminders(now=now + 600 * 60) == 0  # claimed: no more reminders
    [escalation] = await restarted.runtime.receiver.store.tickets.escalations(ticket.id)
    assert escalation.reminders == 2


async def test_reminder_loop_uses_the_injected_clock(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    await escalate(desk)
    staff = desk.runtime.workers.staff
    later = time.time() + 3600
    staff.now = lambda: later
    stop = asyncio.Event()
    since = len(desk.slack.calls)
    loop = asyncio.create_task(staff.run_reminders(stop, poll_s=0.01))
    _, params = await desk.slack.wait_for(
        lambda method, p: method == "chat.postMessage" and "has waited" in str(p.get("text")),
        since=since,
    )
    stop.set()
    await loop
    assert "has waited 1 h for a person" in params["text"]


async def test_escalation_never_posted_is_announced_later(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)

    async def crashed(escalation_id: int, channel: str, ts: str) -> None:
        """As if the desk had crashed after posting the staff message, before recording it."""

    with monkeypatch.context() as patch:
        patch.setattr(desk.runtime.receiver.store.tickets, "set_escalation_message", crashed)
        _, ticket = await escalate(desk)
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    assert escalation.staff_ts is None
    await desk.runtime.workers.staff.send_reminders(now=time.time() + 5 * 60)
    posted = [
        m
        for m in desk.slack.messages(STAFF_CHANNEL)
        if m["text"].startswith(f"Ticket #{ticket.id} needs a person")
    ]
    assert len(posted) == 2
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    assert escalation.staff_ts == posted[-1]["ts"]


async def test_staff_writing_in_escalated_thread_claims_it(start_desk: DeskFactory) -> None:
    model, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    event, ticket = await escalate(desk)
    await desk.events.message("U_ERIN", "Hi Alice, I'm on it.", thread_ts=event["ts"])
    await desk.settle()
    claimed = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert claimed is not None and (claimed.status, claimed.assignee) == ("claimed", "U_ERIN")
    assert "Claimed by <@U_ERIN>" in block_text(staff_message(desk))
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == 1
    [*_, claim] = await desk.runtime.receiver.store.tickets.events(ticket.id)
    assert (claim.status, claim.note) == ("claimed", "wrote in the thread")
    model.assert_complete()


async def test_user_writing_again_before_a_claim_is_not_escalated_twice(
    start_desk: DeskFactory,
) -> None:
    _, resolver = scripted(
        *escalation_steps(),
        handoff("fallback"),
        call("escalate_to_human", {"reason": "still waiting", "summary": "Again."}),
        [assistant_message("Still with our staff.")],
        [assistant_message("Your plan is Pro.")],
    )
    desk = await start_desk(resolver)
    event, ticket = await escalate(desk)
    await desk.events.message("U_ALICE", "hello? anyone?", thread_ts=event["ts"])
    await desk.settle()
    await desk.events.message("U_ALICE", "what plan am I on?", thread_ts=event["ts"])
    await desk.settle()
    assert len(await desk.runtime.receiver.store.tickets.escalations(ticket.id)) == 1
    staff = desk.slack.messages(channel=STAFF_CHANNEL)
    assert len(staff) == 1
    waiting = await desk.runtime.receiver.store.tickets.get(ticket.id)
    assert waiting is not None and waiting.status == "escalated"  # still in the staff queue


async def test_app_home_for_employee_and_staff(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*escalation_steps(), *escalation_steps("Bob is stuck."))
    desk = await start_desk(resolver)
    _, alice_ticket = await escalate(desk, "U_ALICE")
    _, bob_ticket = await escalate(desk, "U_BOB")

    async def open_home(user: str) -> str:
        since = len(desk.slack.calls)
        status, _, _ = await desk.events.send_event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": "D" + user[1:],
                "tab": "home",
                "event_ts": new_ts(),
            }
        )
        assert status == 200
        await desk.slack.wait_for("views.publish", since=since)
        view = desk.slack.views[user]
        assert view["type"] == "home"
        return block_text(view)

    alice = await open_home("U_ALICE")
    assert "Your tickets" in alice and f"*#{alice_ticket.id}*" in alice
    assert "Waiting for a person" in alice  # her ticket's status...
    assert "Waiting for a person (" not in alice  # ...but not the staff queue
    assert f"*#{bob_ticket.id}*" not in alice

    erin = await open_home("U_ERIN")
    assert "Waiting for a person (2)" in erin and "Claimed by you (0)" in erin
    assert erin.index(f"*#{bob_ticket.id}*") < erin.index(f"*#{alice_ticket.id}*")  # newest first
    assert re.search(r"waiting \d+(\.\d)? s ·", erin)  # under a minute: in seconds

    message = next(
        m
        for m in desk.slack.messages(channel=STAFF_CHANNEL)
        if m["text"].startswith(f"Ticket #{alice_ticket.id} ")
    )
    await click(desk, "U_ERIN", "ticket_claim", str(alice_ticket.id), message)
    erin = await open_home("U_ERIN")
    assert "Waiting for a person (1)" in erin and "Claimed by you (1)" in erin
    assert re.search(r"claimed \d+(\.\d)? s ago", erin)

    # The Messages tab is the DM itself: nothing is published for it.
    since = len(desk.slack.calls)
    await desk.events.send_event(
        {"type": "app_home_opened", "user": "U_BOB", "channel": "D_BOB", "tab": "messages"}
    )
    assert "views.publish" not in [m for m, _ in desk.slack.calls[since:]]

"""Assistant threads (Slack's AI app view): greeting, suggested prompts, status, title."""

from __future__ import annotations

import asyncio

import pytest

from bot.listeners.assistant import GREETING, PROMPTS, STAFF_PROMPTS
from bot.pipelines import STAFF_ONLY_TEXT
from bot.staff import QUEUE_IS_FOR_STAFF
from bot.worker import WORKING_STATUS
from storage.redaction import SECRETS_NOTICE
from tests.conftest import Desk, DeskFactory
from tests.test_pipelines import by_agent, gated, review, say, start
from tests.test_staff import block_text


async def test_a_started_thread_is_greeted_with_suggested_prompts(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    status, _, event = await desk.events.assistant_thread_started(
        "U_ALICE", context_channel="C_SUPPORT"
    )
    assert status == 200
    thread = event["assistant_thread"]
    key = (thread["channel_id"], thread["thread_ts"])
    [greeting] = desk.slack.replies_in(*key)
    assert greeting["text"] == GREETING
    assert desk.slack.assistant_threads[key]["prompts"] == PROMPTS
    store = desk.runtime.receiver.store
    assert await store.assistant_threads.is_assistant_thread(*key)

    # the same thread delivered again (a new delivery, not a retry Bolt could drop): greeted once
    again = {k: v for k, v in event.items() if k != "event_id"}
    status, _, _ = await desk.events.send_event(again)
    assert status == 200
    assert len(desk.slack.replies_in(*key)) == 1


async def test_staff_get_their_own_prompts(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ERIN")
    thread = event["assistant_thread"]
    key = (thread["channel_id"], thread["thread_ts"])
    prompts = desk.slack.assistant_threads[key]["prompts"]
    assert prompts == STAFF_PROMPTS
    assert {"Show the open queue", "/support-report"} <= {p["title"] for p in prompts}


async def test_a_question_in_the_thread_shows_a_status_titles_the_thread_and_streams(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ALICE")
    channel, thread_ts = (
        event["assistant_thread"]["channel_id"],
        event["assistant_thread"]["thread_ts"],
    )
    await desk.events.message(
        "U_ALICE", "How do I reset my password?", channel, thread_ts=thread_ts
    )
    await desk.settle()

    assert (channel, thread_ts, WORKING_STATUS) in desk.slack.status_history
    assert desk.slack.statuses.get((channel, thread_ts), "") == ""  # the reply cleared it
    assert desk.slack.calls_to("reactions.add") == []  # a status, not 👀
    ticket = await desk.runtime.receiver.store.tickets.by_thread(channel, thread_ts)
    assert ticket is not None
    title = desk.slack.assistant_threads[(channel, thread_ts)]["title"]
    assert title == f"#{ticket.id} How do I reset my password?"
    answer = desk.slack.replies_in(channel, thread_ts)[-1]
    assert desk.slack.stream_of(channel, answer["ts"]) is not None
    assert "password" in answer["text"].lower()


async def test_a_context_change_is_recorded(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    _, _, event = await desk.events.assistant_thread_started("U_ALICE")
    thread_ts = event["assistant_thread"]["thread_ts"]
    status, _ = await desk.events.assistant_context_changed("U_ALICE", thread_ts, "C_RANDOM")
    assert status == 200
    channel = event["assistant_thread"]["channel_id"]
    threads = desk.runtime.receiver.store.assistant_threads
    assert await threads.context_channel(channel, thread_ts) == "C_RANDOM"


async def test_a_plain_dm_gets_no_status_or_title(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    await desk.events.message("U_ALICE", "How do I reset my password?", "D_ALICE")
    await desk.settle()
    assert desk.slack.calls_to("assistant.threads.setStatus") == []
    assert desk.slack.calls_to("assistant.threads.setTitle") == []


async def test_a_malformed_assistant_event_is_dropped_not_a_server_error(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    for thread in (
        {},
        {"channel_id": "D_ALICE"},
        {"channel_id": 5, "thread_ts": [], "user_id": None},
    ):
        status, _, _ = await desk.events.send_event(
            {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": "1.2"}
        )
        assert status in (200, 400)  # acked and dropped, or refused by the shape checks; no 500
    assert desk.slack.calls_to("chat.postMessage") == []
    assert desk.slack.calls_to("assistant.threads.setSuggestedPrompts") == []


# ---- staff's prompts: the open queue and /support-report, answered in the thread ----------


async def started_thread(desk: Desk, user: str) -> tuple[str, str]:
    _, _, event = await desk.events.assistant_thread_started(user)
    thread = event["assistant_thread"]
    return thread["channel_id"], thread["thread_ts"]


async def escalated_ticket(desk: Desk, user: str, subject: str) -> int:
    tickets = desk.runtime.receiver.store.tickets
    ticket, _ = await tickets.open_for_thread(
        channel="C_SUPPORT", thread_ts="1.0", user_id=user, subject=subject, customer_id=None
    )
    await tickets.add_escalation(ticket.id, reason="asked for a person", summary="s")
    await tickets.set_status(ticket.id, "escalated")
    return ticket.id


async def test_staff_see_the_open_queue_in_their_thread(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    ticket_id = await escalated_ticket(desk, "U_BOB", "Card charged twice")
    channel, thread_ts = await started_thread(desk, "U_ERIN")
    await desk.events.message("U_ERIN", "Show the open queue", channel, thread_ts=thread_ts)
    await desk.settle()

    queue = desk.slack.replies_in(channel, thread_ts)[-1]
    shown = block_text(queue)
    assert "Waiting for a person (1)" in shown and f"*#{ticket_id}* Card charged twice" in shown
    assert "<@U_BOB>" in shown
    store = desk.runtime.receiver.store
    assert await store.tickets.by_thread(channel, thread_ts) is None  # not a ticket of Erin's
    assert desk.slack.calls_to("chat.startStream") == []  # no agent ran


async def test_a_customer_asking_for_the_queue_sees_no_one_elses_ticket(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    await escalated_ticket(desk, "U_BOB", "Card charged twice")
    channel, thread_ts = await started_thread(desk, "U_ALICE")
    await desk.events.message("U_ALICE", "Show the open queue", channel, thread_ts=thread_ts)
    await desk.settle()

    answer = desk.slack.replies_in(channel, thread_ts)[-1]
    shown = answer["text"] + block_text(answer)
    assert "Card charged twice" not in shown and "Waiting for a person" not in shown
    assert "U_BOB" not in shown
    # told politely whose it is, not answered with a help article
    assert answer["text"] == QUEUE_IS_FOR_STAFF


async def test_the_support_report_prompt_runs_the_report_in_the_thread(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    await escalated_ticket(desk, "U_BOB", "Card charged twice")
    channel, thread_ts = await started_thread(desk, "U_ERIN")
    await desk.events.message("U_ERIN", "/support-report", channel, thread_ts=thread_ts)
    await desk.settle()

    replies = desk.slack.replies_in(channel, thread_ts)
    [report] = [m for m in replies if "Support report: last 7 days" in block_text(m)]
    assert "Opened: 1" in block_text(report)
    steps = desk.slack.stream_of(channel, replies[-1]["ts"])
    assert steps is not None and steps["state"] == "stopped"  # the steps, in the same thread
    assert desk.slack.messages("C_STAFF") == []  # asked in a DM: answered there
    [stored] = await desk.runtime.receiver.store.reports.for_user("U_ERIN")
    assert stored.channel == channel and stored.delivered_at is not None


async def test_a_typed_command_is_refused_or_explained_in_the_thread(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    channel, thread_ts = await started_thread(desk, "U_ALICE")
    await desk.events.message("U_ALICE", "/support-report", channel, thread_ts=thread_ts)
    await desk.events.message("U_ALICE", "/research", channel, thread_ts=thread_ts)
    await desk.settle()

    refused, usage = desk.slack.replies_in(channel, thread_ts)[-2:]
    assert refused["text"] == STAFF_ONLY_TEXT
    assert "Tell me what to research." in usage["text"] and "/research list" in usage["text"]
    assert await desk.runtime.receiver.store.reports.for_user("U_ALICE") == []


async def test_a_typed_command_resumed_after_a_crash_is_not_refused_as_its_own_duplicate(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the typed command was recorded, before its message was marked answered:
    the resumed message finds its command under way, even at the per-user limit."""
    gate = asyncio.Event()
    _, resolver = by_agent(researcher=[gated(gate, "never")])
    desk = await start(start_desk, resolver, pipeline_max_per_user=1, shutdown_grace_s=0)
    inbox = desk.runtime.receiver.store.inbox
    mark_answered, crashed = inbox.mark_answered, asyncio.Event()

    async def not_for_messages(inbox_id: int, reply_ts: str | None) -> None:
        item = await inbox.get(inbox_id)
        if item is not None and item.kind == "message":
            crashed.set()  # the crash: the message's row is not marked answered
            return
        await mark_answered(inbox_id, reply_ts)

    monkeypatch.setattr(inbox, "mark_answered", not_for_messages)
    _, _, event = await desk.events.message("U_ALICE", "/research refunds", "D_ALICE")
    async with asyncio.timeout(30):
        await crashed.wait()
    await desk.close()
    monkeypatch.undo()

    _, resolver = by_agent(
        researcher=[say("notes")],
        analyst=[say("insights")],
        writer=[say("The one report.")],
        evaluator=[review(9, passes=True)],
    )
    restarted = await start(start_desk, resolver, pipeline_max_per_user=1)
    await restarted.settle()
    texts = [m["text"] for m in restarted.slack.replies_in("D_ALICE", event["ts"])]
    assert [t for t in texts if t.startswith("Research: refunds")] == [
        "Research: refunds — report #1"
    ]
    assert not any("already have" in t for t in texts)


async def test_a_typed_command_says_which_secrets_were_removed(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    channel, thread_ts = await started_thread(desk, "U_ALICE")
    typed = "/research refunds, my password is hunter2 card 4242 4242 4242 4242"
    await desk.events.message("U_ALICE", typed, channel, thread_ts=thread_ts)
    await desk.settle()

    replies = desk.slack.replies_in(channel, thread_ts)
    notices = [m for m in replies if m["text"].startswith(SECRETS_NOTICE.split("{")[0])]
    assert len(notices) == 1 and "card number" in notices[0]["text"]
    shown = " ".join(m["text"] + block_text(m) for m in replies)
    assert "4242" not in shown and "hunter2" not in shown
    [report] = await desk.runtime.receiver.store.reports.for_user("U_ALICE")
    assert "4242" not in report.request and "hunter2" not in report.request

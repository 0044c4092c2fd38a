"""The desk end to end: signed Slack requests in, answers in the fake Slack's threads out."""

from __future__ import annotations

import asyncio
import json

from agents.testing import ModelStep, assistant_message

from tests.conftest import DeskFactory
from tests.scripting import REFUND_QUESTION, call, handoff, refund_check, scripted, tool_output


async def test_billing_question_routed_to_refund_processor(start_desk: DeskFactory) -> None:
    model, resolver = scripted(
        *refund_check("Good news: **ORD-1001** can be refunded. Shall I go ahead?")
    )
    desk = await start_desk(resolver)
    status, _, event = await desk.events.message("U_ALICE", REFUND_QUESTION)
    assert status == 200
    await desk.settle()

    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert len(replies) == 1
    # streamed as Markdown (Slack renders it)
    assert replies[0]["text"] == "Good news: **ORD-1001** can be refunded. Shall I go ahead?"
    assert "eligible" in tool_output(model, "check_refund_eligibility").lower()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None
    assert ticket.agent_path == ["triage", "billing_specialist", "refund_processor"]
    assert (ticket.department, ticket.status) == ("billing", "answered")
    model.assert_complete()


async def test_memory_across_turns_and_restart(start_desk: DeskFactory) -> None:
    model, resolver = scripted(
        [assistant_message("Hello! What do you need help with?")],
        [assistant_message("Noted: your order is ORD-1001.")],
    )
    desk = await start_desk(resolver)
    _, _, first = await desk.events.message("U_ALICE", "hi, my order is ORD-1001")
    await desk.settle()
    await desk.events.message("U_ALICE", "what was my order again?", thread_ts=first["ts"])
    await desk.settle()
    assert "ORD-1001" in json.dumps(model.calls[1].input)
    await desk.close()

    model2, resolver2 = scripted([assistant_message("It was ORD-1001.")])
    restarted = await start_desk(resolver2)
    await restarted.events.message("U_ALICE", "and after a restart?", thread_ts=first["ts"])
    await restarted.settle()
    history = json.dumps(model2.calls[0].input)
    assert "hi, my order is ORD-1001" in history
    assert "Noted: your order is ORD-1001." in history
    replies = restarted.slack.replies_in("C_SUPPORT", first["ts"])
    assert [r["text"] for r in replies][-1] == "It was ORD-1001."


async def test_retries_and_duplicates_answered_once(start_desk: DeskFactory) -> None:
    model, resolver = scripted([assistant_message("One answer only.")])
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", "hello there")
    retries = [
        desk.events.message("U_ALICE", "", event_id=event["event_id"], retry_num=n)
        for n in (1, 2, 3)
    ]
    same_message_new_id = desk.events.send_event(
        {k: v for k, v in event.items() if k != "event_id"}
    )
    results = await asyncio.gather(*retries, same_message_new_id)
    assert all(r[0] == 200 for r in results)
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == 1
    model.assert_complete()


async def test_forged_signature_rejected(start_desk: DeskFactory) -> None:
    desk = await start_desk(scripted()[1])
    status, _, _event = await desk.events.message("U_ALICE", "hello", bad_signature=True)
    assert status == 401
    assert await desk.runtime.receiver.store.inbox.counts() == {}


async def test_bots_edits_and_noise_ignored(start_desk: DeskFactory) -> None:
    desk = await start_desk(scripted()[1])
    _, _, original = await desk.events.message("U_ALICE", "first version", channel="C_RANDOM")
    sends = [
        desk.events.message("U_OTHERBOT", "beep", bot_id="B_OTHER"),
        desk.events.message("U_BOT", "my own words"),
        desk.events.message("U_ALICE", "edited text", ts=original["ts"], edited=True),
        desk.events.message("U_ALICE", "joined", subtype="channel_join"),
        desk.events.message("U_ALICE", "deleted", subtype="message_deleted"),
        desk.events.message("U_ALICE", "not a support channel", channel="C_RANDOM"),
    ]
    results = await asyncio.gather(*sends)
    assert all(r[0] == 200 for r in results)
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {}
    assert desk.slack.calls_to("chat.postMessage") == []


async def test_malformed_and_unknown_events_do_not_crash(start_desk: DeskFactory) -> None:
    _model, resolver = scripted([assistant_message("Still here.")])
    desk = await start_desk(resolver)
    status, _ = await desk.events.raw(b"{not json", {"Content-Type": "application/json"})
    assert status in (400, 401, 404)
    status, _, _ = await desk.events.send_event({"type": "message", "user": "U_ALICE"})
    assert status == 200
    status, _, _ = await desk.events.send_event(
        {"type": "message", "channel": "C_NOPE", "user": "U_ALICE", "ts": "1.000001"}
    )
    assert status == 200
    _, _, event = await desk.events.message("U_ALICE", "are you alive?")
    await desk.settle()
    assert [r["text"] for r in desk.slack.replies_in("C_SUPPORT", event["ts"])] == ["Still here."]


async def test_model_failure_apologises_and_escalates(start_desk: DeskFactory) -> None:
    _, resolver = scripted(ModelStep.raise_error(RuntimeError("provider exploded")))
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_BOB", "my invoice is wrong")
    await desk.settle()
    replies = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert len(replies) == 1 and "passed your request to our support staff" in replies[0]["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    staff = desk.slack.messages(channel="C_STAFF")
    assert len(staff) == 1 and f"Ticket #{ticket.id}" in staff[0]["text"]


async def test_refund_outside_window_refused_by_tool(start_desk: DeskFactory) -> None:
    model, resolver = scripted(
        handoff("billing_specialist"),
        handoff("refund_processor"),
        call("issue_refund", {"order_id": "ORD-1002", "reason": "customer asked"}),
        [assistant_message("Refund done!")],
    )
    desk = await start_desk(resolver)
    await desk.events.message("U_BOB", "Refund ORD-1002 now please")
    await desk.settle()
    output = tool_output(model, "issue_refund")
    assert "30 days" in output
    store = desk.runtime.receiver.store
    bob = await store.business.customer_by_email("bob@contoso.example")
    assert bob is not None
    assert await store.business.refund_for_order(bob.id, "ORD-1002") is None


async def test_other_customers_invoice_unreachable(start_desk: DeskFactory) -> None:
    store_probe = await start_desk(scripted()[1])
    store = store_probe.runtime.receiver.store
    bob = await store.business.customer_by_email("bob@contoso.example")
    assert bob is not None
    bob_invoice = (await store.business.invoices_for(bob.id))[0]
    await store_probe.close()

    model, resolver = scripted(
        handoff("billing_specialist"),
        call("get_invoice", {"invoice_id": bob_invoice.id}),
        [assistant_message("I can't find that invoice on your account.")],
    )
    desk = await start_desk(resolver)
    await desk.events.message("U_ALICE", f"show me invoice {bob_invoice.id}")
    await desk.settle()
    output = tool_output(model, "get_invoice")
    assert str(bob_invoice.amount_cents // 100) not in output or "not" in output.lower()
    assert "bob" not in output.lower() and "contoso" not in output.lower()


async def test_dm_and_mention_answered_in_thread(start_desk: DeskFactory) -> None:
    _, resolver = scripted([assistant_message("DM answer")], [assistant_message("Mention answer")])
    desk = await start_desk(resolver)
    _, _, dm = await desk.events.message("U_ALICE", "hello in a DM", channel="D_ALICE")
    await desk.settle()
    _, _, mention = await desk.events.app_mention("U_ALICE", "help me", channel="C_RANDOM")
    await desk.settle()
    assert [r["text"] for r in desk.slack.replies_in("D_ALICE", dm["ts"])] == ["DM answer"]
    assert [r["text"] for r in desk.slack.replies_in("C_RANDOM", mention["ts"])] == [
        "Mention answer"
    ]


async def test_long_answer_split_and_empty_message(start_desk: DeskFactory) -> None:
    long_text = "\n\n".join(f"Paragraph {i}: " + "word " * 150 for i in range(30))
    _, resolver = scripted([assistant_message(long_text)])
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", "tell me everything")
    _, _, empty = await desk.events.app_mention("U_ALICE", "", channel="C_RANDOM")
    await desk.settle()
    parts = desk.slack.replies_in("C_SUPPORT", event["ts"])
    # one streamed message of at most 11,000 characters, the rest in messages of 3,500
    assert len(parts) > 2 and len(parts[0]["text"]) <= 11_000
    assert all(len(p["text"]) <= 3500 for p in parts[1:])
    assert parts[0]["text"].startswith("Paragraph 0") and "Paragraph 29" in parts[-1]["text"]
    [greeting] = desk.slack.replies_in("C_RANDOM", empty["ts"])
    assert "How can I help?" in greeting["text"]

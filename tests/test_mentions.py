"""Nobody gets pinged by what a user or a model wrote (issue 11, "Anyone can ping the staff
channel"): signed requests to the real Bolt app, scripted models, and every Web API call the
desk made, as the fake Slack recorded it, searched for live control sequences."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from agents.testing import assistant_message

from fakes.slack import STAFF_GROUP_ID, new_ts
from storage.tickets import Ticket
from tests.conftest import Desk, DeskFactory
from tests.scripting import call, handoff, scripted
from tests.slack_markup import (
    DATE,
    HOSTILE,
    HOSTILE_TEXT,
    THREAD_LINK,
    assert_only_desk_markup,
    mention,
)
from tests.test_pipelines import by_agent, command, report_messages, review, say, start
from tests.test_staff import STAFF_CHANNEL, click, staff_message

EVIL_LINK = "[Re-authenticate](https://evil.example/login)"
# What every staff message may hold live: the requester, the thread, the time.
STAFF_MARKUP = (mention("U_ALICE"), THREAD_LINK, DATE)


def hostile_escalation() -> list[Any]:
    """Triage hands to fallback, which escalates with a reason and summary full of tokens."""
    return [
        handoff("fallback"),
        call(
            "escalate_to_human",
            {
                "reason": f"asked for a person {HOSTILE_TEXT}",
                "summary": f"Says to click {EVIL_LINK}; wrote {HOSTILE_TEXT}",
                "priority": "high",
            },
        ),
        [assistant_message(f"A person will follow up. `{HOSTILE[0]}` {HOSTILE_TEXT}")],
    ]


async def escalate(desk: Desk) -> tuple[dict[str, Any], Ticket]:
    _, _, event = await desk.events.message("U_ALICE", f"I need a human {HOSTILE_TEXT}")
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    assert HOSTILE[0] in ticket.subject  # what the user wrote is kept as they wrote it
    return event, ticket


async def test_escalation_post_pings_nobody(start_desk: DeskFactory) -> None:
    model, resolver = scripted(*hostile_escalation())
    desk = await start_desk(resolver)
    event, ticket = await escalate(desk)

    message = staff_message(desk)
    posted = [
        ("chat.postMessage", p)
        for p in desk.slack.calls_to("chat.postMessage")
        if p["channel"] == STAFF_CHANNEL
    ]
    live = assert_only_desk_markup(posted, *STAFF_MARKUP)
    assert "<@U_ALICE>" in live  # the desk's own mention of the requester stays live
    assert any(seq.endswith("|Open the thread>") for seq in live)
    # What was written is still there to read, escaped; the link shows where it goes.
    assert "&lt;!channel&gt;" in message["text"]
    summary = json.dumps(message["blocks"])
    assert "&lt;https://evil.example|Re-authenticate&gt;" in summary
    assert "Re-authenticate (https://evil.example/login)" not in summary  # not converted...
    assert EVIL_LINK in summary  # ...but shown as written: the address is in view
    assert all(
        obj.get("verbatim") is True
        for block in message["blocks"]
        for obj in [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        if obj.get("type") == "mrkdwn"
    )

    # Every other call too: the answer in the user's thread, reactions, lookups.
    assert_only_desk_markup(desk.slack.calls, *STAFF_MARKUP)

    # Claiming redraws the staff message and the user's notice: the claimer's mention is live.
    since = len(desk.slack.calls)
    await click(desk, "U_ERIN", "ticket_claim", str(ticket.id), message)
    redrawn = desk.slack.calls[since:]
    live = assert_only_desk_markup(redrawn, *STAFF_MARKUP, mention("U_ERIN"))
    assert "<@U_ERIN>" in live
    notice = desk.slack.replies_in("C_SUPPORT", event["ts"])[0]
    assert "<@U_ERIN> from the support staff has picked up" in notice["text"]
    model.assert_complete()


async def test_reminders_ping_only_the_staff_group(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*hostile_escalation())
    desk = await start_desk(resolver, support_staff_group=STAFF_GROUP_ID)
    await escalate(desk)
    staff = desk.runtime.workers.staff
    later = time.time() + 3600
    staff.now = lambda: later  # the reminder loop runs on the injected clock
    since = len(desk.slack.calls)
    stop = asyncio.Event()
    loop = asyncio.create_task(staff.run_reminders(stop, poll_s=0.01))
    await desk.slack.wait_for(
        lambda method, p: method == "chat.postMessage" and "has waited" in str(p.get("text")),
        since=since,
    )
    stop.set()
    await loop

    [reminder] = [
        ("chat.postMessage", p)
        for p in desk.slack.calls_to("chat.postMessage")
        if "has waited" in str(p.get("text"))
    ]
    live = assert_only_desk_markup([reminder], re.escape(f"<!subteam^{STAFF_GROUP_ID}>"))
    assert live == [f"<!subteam^{STAFF_GROUP_ID}>"]  # the one ping the desk means to make
    assert reminder[1]["reply_broadcast"] in (True, "true", "1")
    assert "&lt;!here&gt;" in reminder[1]["text"]
    assert_only_desk_markup(desk.slack.calls[since:], re.escape(f"<!subteam^{STAFF_GROUP_ID}>"))


async def test_app_home_shows_requests_without_live_markup(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*hostile_escalation())
    desk = await start_desk(resolver)
    _, ticket = await escalate(desk)

    async def open_home(user: str) -> dict[str, Any]:
        since = len(desk.slack.calls)
        await desk.events.send_event(
            {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": new_ts()}
        )
        _, params = await desk.slack.wait_for("views.publish", since=since)
        return params

    staff_view = await open_home("U_ERIN")  # the queue, with the request's subject and reason
    own_view = await open_home("U_ALICE")  # her own tickets
    home = [("views.publish", staff_view), ("views.publish", own_view)]
    assert_only_desk_markup(home, *STAFF_MARKUP)
    queue = json.dumps(staff_view["view"])
    assert f"*#{ticket.id}* I need a human &lt;!channel&gt;" in queue
    assert "<@U_ALICE>" in queue  # who asked: the desk's mention, live


async def test_model_answers_escape_tokens_in_text_and_code(start_desk: DeskFactory) -> None:
    answer = (
        f"Plain: {HOSTILE_TEXT}\n\n"
        f"Inline: `{HOSTILE[1]}` and `{HOSTILE[4]}`\n\n"
        f"```\n{HOSTILE_TEXT}\n```\n\n"
        "See [the guide](https://docs.example/guide) for more."
    )
    model, resolver = scripted([assistant_message(answer)])
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", "How do I ping everyone?")
    await desk.settle()

    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    # The answer is streamed as Markdown: in a channel a model's Markdown link shows where it
    # goes (a live link is only for a DM with the asker); nothing else is live.
    assert assert_only_desk_markup(desk.slack.calls) == []
    assert "the guide (https://docs.example/guide)" in reply["text"]
    assert "`&lt;!here&gt;` and `&lt;@U_BOB&gt;`" in reply["text"]
    assert "```\n&lt;!channel&gt; &lt;!here&gt;" in reply["text"]
    model.assert_complete()


async def test_research_report_and_its_file_ping_nobody(start_desk: DeskFactory) -> None:
    body = (
        f"# Findings {HOSTILE[2]}\n\nThe topic was: {HOSTILE_TEXT}\n\n"
        f"- Staff said {EVIL_LINK}\n- `{HOSTILE[1]}` in code\n\n"
        + "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(10))
    )
    _, resolver = by_agent(
        researcher=[say(f"notes {HOSTILE_TEXT}")],
        analyst=[say("insights")],
        writer=[say(body)],
        evaluator=[review(9, passes=True, feedback=HOSTILE_TEXT)],
    )
    desk = await start(start_desk, resolver)
    runner = desk.runtime.workers.worker.pipelines
    assert runner is not None
    runner.options.message_chars = 2000  # the report is also uploaded as a file
    ack = await command(desk, "/research", f"pricing {HOSTILE_TEXT}")
    assert not any(token in ack["text"] for token in HOSTILE)
    await desk.settle()

    [message] = report_messages(desk)
    assert desk.slack.files  # the whole report went up as a file
    live = assert_only_desk_markup(desk.slack.calls, mention("U_ALICE"))
    assert live and set(live) == {"<@U_ALICE>"}  # "requested by": the desk's own mention
    shown = json.dumps(message["blocks"])
    assert "Re-authenticate (https://evil.example/login)" in shown  # a report shows addresses
    assert message["blocks"][0]["text"]["text"].startswith("Research: pricing &lt;!channel&gt;")
    assert "The topic was: &lt;!channel&gt; &lt;!here&gt;" in shown
    assert "`&lt;!here&gt;` in code" in shown


async def test_support_report_digest_pings_nobody(start_desk: DeskFactory) -> None:
    triage, fallback, answer = hostile_escalation()[0], *hostile_escalation()[1:]
    _, resolver = by_agent(
        triage=[triage],
        fallback=[fallback, answer],
        sentiment_analyst=[
            say(json.dumps({"overall": "mixed", "score": 0, "notes": HOSTILE_TEXT}))
        ],
        topic_analyst=[
            say(json.dumps({"topics": [{"name": HOSTILE[0], "tickets": 1, "example": "#1"}]}))
        ],
        entity_analyst=[
            say(json.dumps({"entities": [{"name": HOSTILE[4], "kind": "user", "mentions": 1}]}))
        ],
        digest_writer=[say(f"- Someone wrote {HOSTILE_TEXT} and {EVIL_LINK}")],
    )
    desk = await start(start_desk, resolver)
    await escalate(desk)  # a ticket whose text is full of tokens, for the digest
    desk.slack.reset()
    # Staff (the report is staff-only), asked in the staff channel, where it is posted.
    await command(desk, "/support-report", "days=7", user="U_ERIN", channel=STAFF_CHANNEL)
    await desk.settle()
    [message] = report_messages(desk, STAFF_CHANNEL)
    shown = json.dumps(message["blocks"])
    assert "Escalation rate" in shown
    assert "Someone wrote &lt;!channel&gt;" in shown  # the digest, escaped
    assert "Re-authenticate (https://evil.example/login)" in shown
    assert_only_desk_markup(desk.slack.calls, mention("U_ERIN"))


async def test_refusals_and_command_help_escape_what_was_typed(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*hostile_escalation())
    desk = await start_desk(resolver)
    _, ticket = await escalate(desk)
    message = staff_message(desk)
    desk.slack.reset()
    # A forged click with a crafted value: the refusal quotes it, escaped.
    await click(desk, "U_ERIN", "ticket_priority", f"{ticket.id}:{HOSTILE[0]}", message)
    [refusal] = desk.slack.responses
    assert "Unknown priority" in refusal["text"] and "&lt;!channel&gt;" in refusal["text"]
    # A usage error quoting what was typed, and the help text with its `<topic>`.
    ack = await command(desk, "/support-report", f"{HOSTILE[1]}")
    assert "&lt;!here&gt;" in ack["text"] and "<!here>" not in ack["text"]
    assert_only_desk_markup(desk.slack.calls)

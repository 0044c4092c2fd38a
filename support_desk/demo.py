"""`support-desk demo`: realistic conversations through the real Bolt app and a local Slack.

Nothing leaves the machine: Slack is `fakes.slack.FakeSlack` on 127.0.0.1, events are
signed HTTP requests to the desk's own endpoint, and with no OPENAI_API_KEY the models are the
offline engine. The database is a fresh temporary file, so every run tells the same story.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot import blocks
from bot.http import bound_port, start_http
from fakes.drain import drain
from fakes.slack import FakeSlack, SlackEvents, control, controls
from support_desk.config import Settings
from support_desk.runtime import DeskRuntime

DEMO_SECRET = "demo-signing-secret"
SUPPORT_CHANNEL = "C_SUPPORT"
STAFF_CHANNEL = "C_STAFF"


@dataclass(frozen=True)
class Message:
    user: str
    who: str
    text: str
    follow_up: bool = False  # continue the previous conversation's thread
    clicks: str | None = None  # then click this button (action_id) on the desk's reply
    approved_by: str | None = None  # then this staff member approves it on the staff card


SCRIPT: tuple[Message, ...] = (
    Message("U_ALICE", "Alice (Northwind)", "Hi! What do I owe you at the moment?"),
    Message(
        "U_ALICE", "Alice (Northwind)", "Is ORD-1001 eligible for a refund? It arrived damaged."
    ),
    Message(
        "U_ALICE",
        "Alice (Northwind)",
        "Yes please, refund ORD-1001.",
        follow_up=True,
        clicks=blocks.CONFIRM,  # no refund is issued before this click
        approved_by="U_ERIN",  # $450 is over REFUND_APPROVAL_LIMIT: staff approve it too
    ),
    Message("U_BOB", "Bob (Contoso)", "I need a refund for order ORD-1002."),
    Message("U_BOB", "Bob (Contoso)", "Why was my card payment PAY-3003 declined?"),
    Message("U_CAROL", "Carol (Fabrikam)", "Our API calls keep failing with 429 errors."),
    Message("U_DAVE", "Dave (Initech)", "How much is the Business plan? We are 40 people."),
    Message("U_NOBODY", "Sam (no account)", "This is unacceptable, I want to talk to a human."),
    Message("U_ALICE", "Alice (Northwind)", "hi"),
)

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("U_ERIN", "/research", "refund policy and failed card payments"),
    ("U_ERIN", "/debate", "Should we offer refunds after 30 days? rounds=2"),
    ("U_ERIN", "/support-report", "days=7"),
)
REPORT_LINES = 24  # of each report, in the transcript


async def _run_command(
    runtime: DeskRuntime,
    slack: FakeSlack,
    events: SlackEvents,
    user: str,
    command: str,
    text: str,
    out: Callable[[str], None],
) -> int:
    """A slash command: its ack, then the report the pipeline stored and posted."""
    _, ack = await events.slash_command(command, text, user, SUPPORT_CHANNEL)
    await drain(runtime.receiver.store, runtime.workers.worker, 300)
    out(f"── Erin runs {command} {text}")
    out(f"  ack (only Erin sees it): {_ack_text(ack)}")
    reports = await runtime.receiver.store.reports.for_user(user, limit=1)
    if not reports:
        out("  (no report)\n")
        return 0
    report = reports[0]
    lines = report.body.strip().splitlines()
    out(
        f"  report #{report.id} · {report.status} · steps: "
        + ", ".join(str(step.get("name")) for step in report.steps)
    )
    if report.message_ts is not None:  # its steps, streamed in the message's thread
        for reply in slack.replies_in(report.channel, report.message_ts):
            _print_stream(slack, reply, out, report.channel)
    out(_indent("\n".join(lines[:REPORT_LINES])))
    if len(lines) > REPORT_LINES:
        out(f"    … ({len(lines) - REPORT_LINES} more lines in Slack)")
    out("")
    return 1


def _ack_text(body: str) -> str:
    try:
        return str(json.loads(body).get("text", body))
    except ValueError:
        return body


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text.strip(), prefix)


async def run_demo(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Play `SCRIPT` through the desk and print a transcript. Returns the number of answers."""
    answers = 0
    with tempfile.TemporaryDirectory(prefix="support-desk-demo-") as tmp:
        async with FakeSlack() as slack:
            demo_settings = settings.model_copy(
                update={
                    "slack_bot_token": SecretStr("xoxb-demo"),
                    "slack_signing_secret": SecretStr(DEMO_SECRET),
                    "slack_api_url": slack.url,
                    "support_channels": [SUPPORT_CHANNEL],
                    "escalation_channel": STAFF_CHANNEL,
                    "support_desk_db": Path(tmp) / "demo.db",
                }
            )
            runtime = await DeskRuntime.create(demo_settings)
            await runtime.receiver.check_slack()
            await runtime.start()
            runner = await start_http(
                runtime.receiver.app, runtime.receiver.readiness, "127.0.0.1", 0
            )
            url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
            out(f"support-desk demo · models: {demo_settings.provider} · Slack: local simulation")
            out(f"Events are signed and sent to {url}\n")
            try:
                async with SlackEvents(url, DEMO_SECRET, slack=slack) as events:
                    thread: str | None = None
                    for message in SCRIPT:
                        thread_ts = thread if message.follow_up else None
                        _, _, event = await events.message(
                            message.user, message.text, SUPPORT_CHANNEL, thread_ts=thread_ts
                        )
                        thread = thread_ts or event["ts"]
                        await drain(runtime.receiver.store, runtime.workers.worker, 60)
                        answers += await _print_turn(runtime, slack, message, thread, out)
                        if message.clicks:
                            await _click(runtime, slack, events, message, thread, out)
                        if message.approved_by:
                            await _approve(runtime, slack, events, message, thread, out)
                    for user, command, text in COMMANDS:
                        answers += await _run_command(
                            runtime, slack, events, user, command, text, out
                        )
            finally:
                await runner.cleanup()
                await runtime.stop()
    out(f"{answers} answers posted. Run `support-desk chat` to talk to the desk yourself.")
    return answers


async def _click(
    runtime: DeskRuntime,
    slack: FakeSlack,
    events: SlackEvents,
    message: Message,
    thread_ts: str,
    out: Callable[[str], None],
) -> None:
    """The user clicks a button of the desk's last reply (Confirm), and what follows."""
    assert message.clicks is not None
    reply = slack.replies_in(SUPPORT_CHANNEL, thread_ts)[-1]
    button = control(reply, message.clicks)
    await events.block_action(
        message.user, button["action_id"], button["value"], SUPPORT_CHANNEL, reply["ts"]
    )
    await drain(runtime.receiver.store, runtime.workers.worker, 60)
    label = button["text"]["text"]
    out(f"── {message.who} clicks [{label}]")
    settled = slack.get_message(SUPPORT_CHANNEL, reply["ts"]) or {}
    out("  the question now reads:")
    out(_indent(settled.get("text", "")))
    out("  desk:")
    out(_indent(slack.replies_in(SUPPORT_CHANNEL, thread_ts)[-1]["text"]))
    out("")


_STEP_MARK = {"complete": "✓", "error": "✗", "in_progress": "…", "pending": "·"}


def _print_stream(
    slack: FakeSlack,
    reply: dict[str, Any],
    out: Callable[[str], None],
    channel: str = SUPPORT_CHANNEL,
) -> None:
    """How a streamed answer grew: its Slack calls, and each step it showed as a task."""
    stream = slack.stream_of(channel, reply["ts"])
    if stream is None:
        return
    calls = [
        name
        for name, params in slack.calls
        if name in ("chat.appendStream", "chat.stopStream") and params.get("ts") == reply["ts"]
    ]
    out(f"  streamed: {' → '.join(['chat.startStream', *calls])}")
    for task in stream["tasks"].values():
        out(f"    {_STEP_MARK.get(task['status'], '·')} {task['title']}")


async def _approve(
    runtime: DeskRuntime,
    slack: FakeSlack,
    events: SlackEvents,
    message: Message,
    thread_ts: str,
    out: Callable[[str], None],
) -> None:
    """A staff member approves the request on its staff card, and what the user is told."""
    assert message.approved_by is not None
    card = next(
        m
        for m in reversed(slack.messages(STAFF_CHANNEL))
        if any(c.get("action_id") == blocks.APPROVE for c in controls(m))
    )
    await events.block_action(
        message.approved_by, blocks.APPROVE, _approval_id(card), STAFF_CHANNEL, card["ts"]
    )
    await drain(runtime.receiver.store, runtime.workers.worker, 60)
    out("── staff card in #support-staff:")
    out(_indent(card.get("text", "")))
    out("── Erin (support staff) clicks [Approve]")
    out("  desk:")
    out(_indent(slack.replies_in(SUPPORT_CHANNEL, thread_ts)[-1]["text"]))
    out("")


def _approval_id(card: dict[str, Any]) -> str:
    for block in card.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == blocks.APPROVE:
                return str(element["value"])
    raise ValueError("not an approval card")


async def _print_turn(
    runtime: DeskRuntime,
    slack: FakeSlack,
    message: Message,
    thread_ts: str,
    out: Callable[[str], None],
) -> int:
    ticket = await runtime.receiver.store.tickets.by_thread(SUPPORT_CHANNEL, thread_ts)
    replies = slack.replies_in(SUPPORT_CHANNEL, thread_ts)
    out(f"── {message.who} in #support{' (same thread)' if message.follow_up else ''}")
    out(_indent(message.text, "  > "))
    if ticket is not None:
        path = " → ".join(ticket.agent_path) or "-"
        out(
            f"  ticket #{ticket.id} · {ticket.status} · department: {ticket.department or '-'}"
            f" · agents: {path}"
        )
    if replies:
        _print_stream(slack, replies[-1], out)
        out("  desk:")
        out(_indent(replies[-1]["text"]))
        labels = [
            "[👍] [👎]" if e["type"] == "feedback_buttons" else f"[{e['text']['text']}]"
            for block in replies[-1].get("blocks") or []
            if block.get("type") in ("actions", "context_actions")
            for e in block["elements"]
        ]
        if labels:
            out(f"    {' '.join(labels)}")
    if ticket is not None and ticket.status == "escalated":
        for staff in slack.messages(channel=STAFF_CHANNEL):
            if f"Ticket #{ticket.id}" in staff.get("text", ""):
                out(f"  staff channel: {staff['text']}")
    out("")
    return 1 if replies else 0

"""Block Kit messages the desk posts (kept apart from the code that decides to post them)."""

from __future__ import annotations

from typing import Any

from agents_config.context import Caller, EscalationRequest
from storage.tickets import Ticket

Block = dict[str, Any]


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def escalation_message(
    ticket: Ticket,
    escalation: EscalationRequest,
    caller: Caller,
    agent_path: list[str],
    permalink: str | None,
) -> tuple[str, list[Block]]:
    """The staff-channel message for a ticket handed to humans: (fallback text, blocks)."""
    who = f"<@{caller.slack_user_id}>" + (f" ({caller.email})" if caller.email else "")
    path = " → ".join(agent_path) or "triage"
    link = f"<{permalink}|Open the thread>" if permalink else f"thread {ticket.thread_ts}"
    text = f"Ticket #{ticket.id} needs a person: {escalation.reason}"
    blocks = [
        _section(f":rotating_light: *Ticket #{ticket.id} needs a person* — {escalation.reason}"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*From*\n{who}"},
                {"type": "mrkdwn", "text": f"*Department*\n{ticket.department or 'unrouted'}"},
                {"type": "mrkdwn", "text": f"*Agent path*\n{path}"},
                {"type": "mrkdwn", "text": f"*Priority*\n{escalation.priority}"},
            ],
        },
        _section(f"*Summary*\n{escalation.summary}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": link}]},
    ]
    return text, blocks

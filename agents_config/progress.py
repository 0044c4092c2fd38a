"""What a turn shows while it runs: text as the model writes it, and each step with a human label.

`Desk.handle(turn, progress=...)` turns the Agents SDK's stream events into these and hands
them to `progress` (the Slack worker streams them into the thread; the terminal ignores them).
Nothing here knows Slack. Labels never carry tool outputs, only the request's own ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

StepStatus = Literal["in_progress", "complete", "error"]


@dataclass(frozen=True)
class TextDelta:
    """More of the answer, as the model writes it."""

    text: str


@dataclass(frozen=True)
class Step:
    """A step of the run (a specialist taking over, a tool at work); `id` names it across
    updates, so the same step moves from in progress to complete (or error)."""

    id: str
    title: str
    status: StepStatus


@dataclass(frozen=True)
class Waiting:
    """Nothing new from the run for `WAITING_TICK_S` (a slow model or tool, a stall): the
    callback may check whether the user stopped the answer meanwhile."""


WAITING_TICK_S = 0.5

ProgressEvent = TextDelta | Step | Waiting
Progress = Callable[[ProgressEvent], Awaitable[None]]

# Who took over, as the user reads it.
AGENT_LABELS: dict[str, str] = {
    "triage": "Reading your request",
    "billing_specialist": "Our billing specialist is on it",
    "refund_processor": "Our refunds specialist is on it",
    "payment_investigator": "Our payments specialist is on it",
    "tech_support": "Our technical specialist is on it",
    "sales": "Our sales specialist is on it",
    "fallback": "Passing this to our support staff",
}

# What a tool is doing; `{argument}` is filled from the call's own arguments (ids only).
TOOL_LABELS: dict[str, str] = {
    "get_account_overview": "Looking up your account",
    "list_invoices": "Looking up your invoices",
    "get_invoice": "Opening invoice {invoice_id}",
    "list_payments": "Looking up your payments",
    "investigate_payment": "Investigating payment {payment_id}",
    "list_orders": "Looking up your orders",
    "check_refund_eligibility": "Checking refund eligibility for {order_id}",
    "issue_refund": "Refunding {order_id}",
    "request_refund_exception": "Asking our staff for an exception for {order_id}",
    "search_knowledge_base": "Searching the help centre",
    "list_plans": "Looking up our plans",
    "compare_plans": "Comparing plans",
    "request_demo": "Booking a demo",
    "get_service_status": "Checking service status",
    "report_bug": "Filing a bug report",
    "escalate_to_human": "Passing this to our support staff",
}
_ID_VALUE = re.compile(r"[A-Za-z]{2,5}-?\d{1,9}")


def agent_label(name: str) -> str:
    return AGENT_LABELS.get(name, "A specialist is on it")


def tool_label(name: str, arguments: str | None) -> str:
    """The label of a tool call. An argument shows only when it looks like an id
    (`ORD-1001`), so nothing a user or model wrote at length reaches the label."""
    template = TOOL_LABELS.get(name, "Working on it")
    try:
        parsed: Any = json.loads(arguments or "{}")
    except ValueError:
        parsed = {}
    values = parsed if isinstance(parsed, dict) else {}
    fields = re.findall(r"{(\w+)}", template)
    shown = {}
    for field in fields:
        value = str(values.get(field, "")).strip()
        if not _ID_VALUE.fullmatch(value):
            return template.split(" {", 1)[0].removesuffix(" for")
        shown[field] = value.upper()
    return template.format(**shown)


class StopAnswer(Exception):
    """Raised by a `Progress` callback when the user stopped the answer: the run is cancelled,
    what was shown stays (marked as stopped), and the ticket stays open."""

"""The typed context every tool receives (the SDK's `RunContextWrapper[DeskContext]`).

Tools act for `caller` only: the customer account comes from the caller's Slack e-mail,
never from anything the model writes, so a prompt cannot reach another customer's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.store import Store


@dataclass(frozen=True)
class Caller:
    """Who is asking: the Slack user and, when their e-mail matches one, the customer account."""

    slack_user_id: str
    email: str | None = None
    name: str | None = None
    customer_id: int | None = None
    # Decided in code from Slack membership (ESCALATION_CHANNEL, SUPPORT_STAFF_GROUP), never
    # from text. Only staff see other people's words in ticket history and reports.
    is_staff: bool = False


@dataclass
class EscalationRequest:
    """A hand-over recorded in this turn (by `escalate_to_human` or by the desk itself): the
    turn's outcome carries it to the worker, which posts it to the staff channel."""

    id: int  # the escalation's row in storage
    reason: str
    summary: str
    priority: str = "normal"
    created_at: float = 0.0


@dataclass
class DeskContext:
    """State shared by the agents and tools of one run (one Slack message)."""

    store: Store
    caller: Caller
    ticket_id: int
    channel: str
    thread_ts: str
    tools_called: list[str] = field(default_factory=list)
    escalation: EscalationRequest | None = None
    request_text: str = ""  # the user's message, recorded by the input guardrail
    # Refunds above this many cents need a staff member's approval (REFUND_APPROVAL_LIMIT);
    # None: no limit. `staff_approved`: this run resumes after a staff member's Approve.
    # `approval_id`: the approval this run resumes after (its refund is kept with it).
    refund_approval_limit_cents: int | None = None
    staff_approved: bool = False
    approval_id: int | None = None
    # The turn this run answers (the inbox id of its message; a resumed run keeps its turn):
    # a bug report is filed once per turn and title. None outside a desk turn (pipelines).
    turn: int | None = None

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

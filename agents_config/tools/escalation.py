"""The hand-over to human staff: records the escalation; the worker posts it to staff."""

from __future__ import annotations

import time
from typing import Literal

from agents import RunContextWrapper, function_tool

from agents_config.context import DeskContext, EscalationRequest
from agents_config.tools._common import too_long
from storage.tickets import MAX_ESCALATION_REASON_CHARS, MAX_ESCALATION_SUMMARY_CHARS


async def record_escalation(
    context: DeskContext, *, reason: str, summary: str, priority: str = "normal"
) -> int | None:
    """Mark the ticket escalated and keep the request for staff. Returns the escalation id.

    Used by the tool below and by the desk itself when a run fails, so both hand over the
    same way. A ticket already with staff (escalated or claimed) is not escalated again:
    nothing is recorded, staff are not notified twice, and None is returned.
    """
    ticket = await context.store.tickets.get(context.ticket_id)
    if ticket is not None and ticket.status in ("escalated", "claimed"):
        return None
    escalation_id = await context.store.tickets.add_escalation(
        context.ticket_id, reason=reason, summary=summary, priority=priority
    )
    await context.store.tickets.set_status(
        context.ticket_id, "escalated", actor="desk", note=reason[:200]
    )
    context.escalation = EscalationRequest(
        id=escalation_id, reason=reason, summary=summary, priority=priority, created_at=time.time()
    )
    return escalation_id


@function_tool
async def escalate_to_human(
    ctx: RunContextWrapper[DeskContext],
    reason: str,
    summary: str,
    priority: Literal["low", "normal", "high", "urgent"] = "normal",
) -> str:
    """Hand this conversation to the human support staff.

    Args:
        reason: Why a person is needed, in a few words (e.g. "asked for a human").
        summary: What the user needs and what was already tried, for the staff member.
        priority: How urgent it is for the user.
    """
    context = ctx.context
    limits = {"reason": MAX_ESCALATION_REASON_CHARS, "summary": MAX_ESCALATION_SUMMARY_CHARS}
    refusal = too_long("escalate_to_human", {"reason": reason, "summary": summary}, limits)
    if refusal is not None:
        return refusal
    if context.escalation is not None:
        return f"Already handed to staff as ticket #{context.ticket_id}."
    if await record_escalation(context, reason=reason, summary=summary, priority=priority) is None:
        return (
            f"This conversation is already with the support staff as ticket "
            f"#{context.ticket_id}; a person will follow up in this thread."
        )
    return (
        f"Escalated as ticket #{context.ticket_id}. A member of the support staff will follow "
        "up in this thread."
    )

"""Refund tools. The refund policy is enforced here, in code, whatever the model asks:

- the order must belong to the caller;
- it must have been placed at most `REFUND_WINDOW_DAYS` calendar days ago;
- one refund per order (also enforced by the database: `refunds.order_id` is UNIQUE).

Refunds are for the full order amount, back to the order's original payment method, and only
after the user confirmed that exact refund (`REFUND_CONFIRMATION`): the run stops before
`issue_refund` and the desk asks them, whatever the model decided.

An exception to the window (an order on day 33 of 30, with the customer's reason) is not
`issue_refund`'s to make: the AI may only propose it with `request_refund_exception`, which is
declared as needing the requester's yes and then a staff member's Approve
(`EXCEPTION_CONFIRMATION`, approver "staff"), and refuses in code in any run staff did not
approve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agents_config.approvals import Confirmation, Proposal
from agents_config.tools._common import (
    Ctx,
    account_id,
    business,
    day,
    days_between,
    desk_tool,
    money,
    now,
    public_id,
)
from storage.business import BusinessRepo, Order, Refund

REFUND_WINDOW_DAYS = 30
REFUND_ARRIVAL = "5-10 business days"
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on refunding one order for the caller."""

    order_id: str
    order: Order | None
    refusal: str | None  # why not; None when the order is eligible
    outside_window: bool = False  # refused only because of its age: staff may make an exception

    @property
    def eligible(self) -> bool:
        return self.refusal is None


def _already_refunded(order_id: str, refund: Refund | None) -> str:
    if refund is None:
        return f"{order_id} has already been refunded; only one refund per order is possible."
    return (
        f"{order_id} is not eligible: it was already refunded on {day(refund.created_at)} "
        f"({refund.id}, {money(refund.amount_cents, refund.currency)}, {refund.status}). "
        "Only one refund per order is possible."
    )


async def decide(repo: BusinessRepo, customer_id: int, raw_order_id: str) -> Decision:
    """Apply the refund policy to the caller's order (ownership, one refund, 30-day window)."""
    order_id = public_id(raw_order_id)
    order = await repo.order(customer_id, order_id)
    if order is None:
        return Decision(
            order_id,
            None,
            # (no example id: a real one could be another customer's, and would be shown)
            f"I couldn't find order {order_id} on your account. Order ids are ORD- followed by "
            "digits, and are in the order confirmation e-mail.",
        )
    if order.refund_id is not None:
        refund = await repo.refund_for_order(customer_id, order_id)
        return Decision(order_id, order, _already_refunded(order_id, refund))
    age = days_between(order.created_at, now())
    if age > REFUND_WINDOW_DAYS:
        return Decision(
            order_id,
            order,
            f"{order_id} is not eligible for a refund: it was placed {age} days ago (on "
            f"{day(order.created_at)}), and refunds are possible within {REFUND_WINDOW_DAYS} "
            "days of the order date.",
            outside_window=True,
        )
    return Decision(order_id, order, None)


def _order_summary(order: Order) -> str:
    age = days_between(order.created_at, now())
    return (
        f"{order.id} ({order.description}, {money(order.amount_cents, order.currency)}, placed "
        f"{day(order.created_at)}, {age} day{'s' if age != 1 else ''} ago)"
    )


@desk_tool()
async def list_orders(ctx: Ctx) -> str:
    """List the caller's orders, newest first, with amount, order date and refund state.
    Use it when the user wants a refund but does not know the order id."""
    orders = await business(ctx).orders_for(account_id(ctx))
    if not orders:
        return "There are no orders on your account."
    lines = [
        f"- {_order_summary(o)}" + (f" · refunded ({o.refund_id})" if o.refund_id else "")
        for o in orders
    ]
    return "Your orders (newest first):\n" + "\n".join(lines)


@desk_tool()
async def check_refund_eligibility(ctx: Ctx, order_id: str) -> str:
    """Check whether one of the caller's orders can be refunded under the refund policy
    (within 30 days of the order date, one refund per order). Does not refund anything.

    Args:
        order_id: The order id: ORD- followed by digits.
    """
    decision = await decide(business(ctx), account_id(ctx), order_id)
    if decision.refusal is not None or decision.order is None:
        return decision.refusal or ""
    order = decision.order
    deadline = day(order.created_at + timedelta(days=REFUND_WINDOW_DAYS))
    return (
        f"{_order_summary(order)} is eligible for a refund of "
        f"{money(order.amount_cents, order.currency)} to {order.payment_method}, the original "
        f"payment method, until {deadline}. Refunds usually appear within {REFUND_ARRIVAL}. "
        "Ask the user to confirm before issuing it."
    )


async def propose_refund(ctx: Ctx, arguments: dict[str, Any]) -> Proposal:
    """The refund `issue_refund` would make, for the user to confirm; or the policy's refusal
    (or, for a call run again after its refund was issued, what that refund was)."""
    issued = await _issued_before(ctx, str(arguments.get("order_id", "")))
    if issued is not None:
        return Proposal(refusal=issued)
    decision = await decide(business(ctx), account_id(ctx), str(arguments.get("order_id", "")))
    if decision.refusal is not None or decision.order is None:
        return Proposal(refusal=f"Refund not issued. {decision.refusal}")
    order = decision.order
    return Proposal(
        action=(
            f"Refund {order.id} ({order.description}) in full: "
            f"{money(order.amount_cents, order.currency)} back to {order.payment_method}."
        ),
        review=_over_limit(ctx, order),
    )


def _over_limit(ctx: Ctx, order: Order) -> str | None:
    """Why a staff member must approve this refund too (with the policy check), or None."""
    limit = ctx.context.refund_approval_limit_cents
    if limit is None or order.amount_cents <= limit:
        return None
    age = days_between(order.created_at, now())
    return (
        f"{money(order.amount_cents, order.currency)} is over the approval limit of "
        f"{money(limit, order.currency)}. Policy check: passed — the customer's own order, "
        f"placed {day(order.created_at)} ({age} of {REFUND_WINDOW_DAYS} days), not refunded "
        "before."
    )


REFUND_CONFIRMATION = Confirmation(propose=propose_refund, approver="requester")


@desk_tool(confirm=REFUND_CONFIRMATION)
async def issue_refund(ctx: Ctx, order_id: str, reason: str) -> str:
    """Refund one of the caller's orders in full, to the original payment method. The
    refund policy is checked again here; an ineligible order is refused with the reason.
    Call it when the user asks for the refund: the desk then asks them to confirm this exact
    refund before anything is issued.

    Args:
        order_id: The order id: ORD- followed by digits.
        reason: The user's reason for the refund, in their words.
    """
    issued = await _issued_before(ctx, order_id)
    if issued is not None:
        return issued
    decision = await decide(business(ctx), account_id(ctx), order_id)
    if decision.refusal is not None or decision.order is None:
        return f"Refund not issued. {decision.refusal}"
    order = decision.order
    if _over_limit(ctx, order) and not ctx.context.staff_approved:  # the gate holds in code too
        return f"Refund not issued: {order.id} needs a staff member's approval first."
    return await _refund(ctx, order, reason.strip() or "not given")


async def _issued_before(ctx: Ctx, order_id: str, issued_as: str = "") -> str | None:
    """What the refund issued under this run's confirmation said, when it was issued already:
    a worker that died after issuing it and before replying runs the confirmed call again,
    and the customer must hear that the refund was issued, not that the order was refunded
    before (by their own refund)."""
    approval_id = ctx.context.approval_id
    if approval_id is None:
        return None
    repo, customer_id, wanted = business(ctx), account_id(ctx), public_id(order_id)
    refund = await repo.refund_for_order(customer_id, wanted)
    if refund is None or refund.approval_id != approval_id:
        return None  # (the usual case: one query)
    order = await repo.order(customer_id, wanted)
    return _issued(refund, order, issued_as) if order is not None else None


def _issued(refund: Refund, order: Order, issued_as: str) -> str:
    return (
        f"Refund {refund.id} issued{issued_as}: {money(refund.amount_cents, refund.currency)} "
        f"for {order.id} back to {order.payment_method}. It usually appears on the statement "
        f"within {REFUND_ARRIVAL}."
    )


async def _refund(ctx: Ctx, order: Order, reason: str, issued_as: str = "") -> str:
    """Issue the refund the policy (or staff's approved exception) allowed, once."""
    result = await business(ctx).create_refund(
        account_id(ctx),
        order.id,
        reason[:MAX_REASON_CHARS],
        requested_by=ctx.context.caller.slack_user_id,
        approval_id=ctx.context.approval_id,
        ticket_id=ctx.context.ticket_id or None,  # 0: a run with no ticket (a pipeline)
    )
    if result.status == "already_refunded":  # a concurrent request won the race
        return f"Refund not issued. {_already_refunded(order.id, result.refund)}"
    if result.status == "order_not_found" or result.refund is None:
        return f"Refund not issued: I couldn't find order {order.id} on your account."
    return _issued(result.refund, order, issued_as)


# ---- exceptions to the refund policy: proposed by the AI, decided by staff -----------------


async def propose_refund_exception(ctx: Ctx, arguments: dict[str, Any]) -> Proposal:
    """The exception `request_refund_exception` would make (for the user to confirm, then
    staff to approve, with the policy check on their card); or why it cannot be proposed (or
    what the refund issued for it was, for a call run again)."""
    issued = await _issued_before(ctx, str(arguments.get("order_id", "")), EXCEPTION_ISSUED)
    if issued is not None:
        return Proposal(refusal=issued)
    decision = await decide(business(ctx), account_id(ctx), str(arguments.get("order_id", "")))
    reason = " ".join(str(arguments.get("reason") or "").split())
    if decision.order is None or (decision.refusal is not None and not decision.outside_window):
        return Proposal(refusal=f"No exception proposed. {decision.refusal}")
    order = decision.order
    if decision.eligible:
        return Proposal(
            refusal=f"No exception needed: {order.id} is within the {REFUND_WINDOW_DAYS}-day "
            "refund window. Use issue_refund for it."
        )
    if not reason:
        return Proposal(
            refusal="No exception proposed: an exception needs the customer's reason. Ask them "
            "why the refund comes late, then propose it with their reason."
        )
    age = days_between(order.created_at, now())
    return Proposal(
        action=(
            f"Refund {order.id} ({order.description}) in full, as an exception to the refund "
            f"policy: {money(order.amount_cents, order.currency)} back to {order.payment_method}."
        ),
        review=(
            f"Exception to the refund policy: failed on the window only — placed "
            f"{day(order.created_at)}, day {age} of {REFUND_WINDOW_DAYS} "
            f"({age - REFUND_WINDOW_DAYS} day{'s' if age - REFUND_WINDOW_DAYS != 1 else ''} "
            "late); the customer's own order, not refunded before. Customer's reason: "
            f"{reason[:MAX_REASON_CHARS]}"
        ),
    )


# The requester confirms, then a staff member approves: declared here, enforced by the desk
# (`agents_config.approvals`) and again in the tool's body.
EXCEPTION_CONFIRMATION = Confirmation(propose=propose_refund_exception, approver="staff")


@desk_tool(confirm=EXCEPTION_CONFIRMATION)
async def request_refund_exception(ctx: Ctx, order_id: str, reason: str) -> str:
    """Propose an exception to the refund policy for one of the caller's orders that is
    refused ONLY because it is older than the refund window (e.g. day 33 of 30), when the
    user explains why or asks for an exception. The user confirms, then a staff member
    approves or rejects it; nothing is refunded before. Never promise the exception.

    Args:
        order_id: The order id: ORD- followed by digits.
        reason: The user's reason for the late refund, in their words.
    """
    issued = await _issued_before(ctx, order_id, EXCEPTION_ISSUED)
    if issued is not None:
        return issued
    decision = await decide(business(ctx), account_id(ctx), order_id)
    if decision.order is None or not decision.outside_window:
        proposal = await propose_refund_exception(ctx, {"order_id": order_id, "reason": reason})
        return proposal.refusal or "No exception proposed."
    order = decision.order
    if not ctx.context.staff_approved:  # the gate holds in code, whatever the run
        return f"Refund not issued: an exception for {order.id} needs a staff member's approval."
    return await _refund(
        ctx, order, f"Policy exception approved by staff: {reason.strip()}", EXCEPTION_ISSUED
    )


EXCEPTION_ISSUED = " as an exception to the refund policy, approved by our staff"

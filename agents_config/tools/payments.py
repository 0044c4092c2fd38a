"""Payment investigation: what happened to a payment, in plain words, and what to do next.

A failed or pending payment also gets a payment investigation record (one open record per
payment), so the billing team follows up even if the conversation ends here.
"""

from __future__ import annotations

from datetime import timedelta

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
    relative_day,
)
from agents_config.tools.billing import not_found, payment_line
from storage.business import Payment

DUPLICATE_LOOKBACK_DAYS = 90
DUPLICATE_WINDOW_DAYS = 3  # the same amount charged again within this many days looks doubled

# Decline code → (what it means, what to do). Codes are the card networks' / processor's.
DECLINES: dict[str, tuple[str, str]] = {
    "insufficient_funds": (
        "the bank declined it because the account did not have enough available funds or "
        "credit at the moment of the charge",
        "make sure funds are available, then retry from Settings → Billing → Invoices → "
        "Pay now, or add another card. We also retry automatically (after 1, 3 and 7 days).",
    ),
    "expired_card": (
        "the card on file has passed its expiry date",
        "add the new card under Settings → Billing → Payment method; the open invoice is "
        "retried with it.",
    ),
    "do_not_honor": (
        "the bank declined it without giving a reason, usually because of its fraud checks",
        "call the number on the back of the card and ask the bank to allow the payment, then "
        "retry it, or use another card.",
    ),
    "incorrect_cvc": (
        "the security code (CVC) did not match the card",
        "re-enter the card under Settings → Billing → Payment method.",
    ),
    "incorrect_number": (
        "the card number is not valid",
        "re-enter the card under Settings → Billing → Payment method.",
    ),
    "authentication_required": (
        "the bank asked for 3-D Secure confirmation, which was not completed",
        "retry the payment from the dashboard and approve it in the banking app.",
    ),
    "lost_card": (
        "the bank reported the card as lost or stolen",
        "use a different card; the bank will not approve charges on this one.",
    ),
    "stolen_card": (
        "the bank reported the card as lost or stolen",
        "use a different card; the bank will not approve charges on this one.",
    ),
    "processing_error": (
        "a temporary error between the banks, not a problem with the card",
        "retry in a few minutes; you will not be charged twice.",
    ),
}
GENERIC_DECLINE = (
    "the bank declined it without a specific reason",
    "contact the bank or use another payment method, then retry from Settings → Billing → "
    "Invoices → Pay now.",
)


def _failed(payment: Payment) -> str:
    code = payment.failure_code or "card_declined"
    meaning, next_step = DECLINES.get(code, GENERIC_DECLINE)
    message = (payment.failure_message or "").strip().rstrip(".")
    bank_says = f' The bank\'s message: "{message}."' if message else ""
    return f"It failed with {code}: {meaning}.{bank_says} Next step: {next_step}"


def _pending(payment: Payment) -> str:
    return (
        f"It is still pending; it started {relative_day(payment.created_at)}. Card payments "
        "usually settle within minutes and bank debits within 1-3 business days. No action is "
        "needed unless it stays pending longer; the invoice is not overdue because of it."
    )


def _succeeded(payment: Payment) -> str:
    return (
        "It succeeded: it went through normally. If your bank statement shows a charge you "
        "don't recognise "
        "or a second one, compare its amount and date with the invoice above."
    )


def _refunded(payment: Payment) -> str:
    return (
        "It was refunded to the original payment method; refunds appear on the statement "
        "within 5-10 business days."
    )


_EXPLAIN = {
    "failed": _failed,
    "pending": _pending,
    "succeeded": _succeeded,
    "refunded": _refunded,
}


@desk_tool()
async def investigate_payment(ctx: Ctx, payment_id: str) -> str:
    """Investigate one of the caller's payments: its status, why it failed (decline code in
    plain words) and the next step. For a failed or pending payment it opens a payment
    investigation for the billing team and returns its id (INVQ-...).

    Args:
        payment_id: The payment id: PAY- followed by digits (list_payments shows them).
    """
    repo = business(ctx)
    customer_id = account_id(ctx)
    wanted = public_id(payment_id)
    payment = await repo.payment(customer_id, wanted)
    if payment is None:
        return not_found(
            "payment", wanted, [payment_line(p) for p in await repo.payments_for(customer_id)]
        )
    lines = [
        f"{payment.id}: {money(payment.amount_cents, payment.currency)} for invoice "
        f"{payment.invoice_id}, {payment.method}, on {day(payment.created_at)}.",
        _EXPLAIN[payment.status](payment),
    ]
    if payment.status in ("failed", "pending"):
        note = f"{payment.status}" + (f": {payment.failure_code}" if payment.failure_code else "")
        opened = await repo.open_payment_investigation(
            customer_id,
            payment.id,
            f"{note} (asked via Slack by {ctx.context.caller.slack_user_id})",
        )
        if opened is not None and opened.created:
            lines.append(
                f"I opened payment investigation {opened.investigation.id} so the billing team "
                "follows up on it."
            )
        elif opened is not None:
            lines.append(
                f"Payment investigation {opened.investigation.id} is open for it since "
                f"{day(opened.investigation.created_at)}; the billing team is on it."
            )
    return "\n".join(lines)


def duplicate_pairs(payments: list[Payment]) -> list[tuple[Payment, Payment]]:
    """Pairs of charges that look like one charge taken twice: two payments that went
    through (or are pending) for the same invoice, or for the same amount within
    DUPLICATE_WINDOW_DAYS days of each other."""
    charged = sorted(
        (p for p in payments if p.status in ("succeeded", "pending")), key=lambda p: p.created_at
    )
    pairs = []
    for i, first in enumerate(charged):
        for second in charged[i + 1 :]:
            same_invoice = first.invoice_id == second.invoice_id
            close = (
                first.amount_cents == second.amount_cents
                and first.currency == second.currency
                and abs(days_between(first.created_at, second.created_at)) <= DUPLICATE_WINDOW_DAYS
            )
            if same_invoice or close:
                pairs.append((first, second))
    return pairs


@desk_tool()
async def check_duplicate_charges(ctx: Ctx) -> str:
    """Look for a duplicate charge on the caller's account (the same invoice paid twice, or
    the same amount charged twice within a few days) over the last 90 days. Use it when the
    user says they were charged twice or see a double charge. A duplicate found gets a payment
    investigation (INVQ-...) so the billing team returns the extra charge.
    """
    repo = business(ctx)
    customer_id = account_id(ctx)
    since = now() - timedelta(days=DUPLICATE_LOOKBACK_DAYS)
    payments = [p for p in await repo.payments_for(customer_id) if p.created_at >= since]
    pairs = duplicate_pairs(payments)
    if not pairs:
        listed = "\n".join(f"- {payment_line(p)}" for p in payments) or "- none"
        return (
            "I looked for a duplicate charge and found none: no invoice was paid twice, and no "
            f"amount was charged twice within {DUPLICATE_WINDOW_DAYS} days. Your charges of the "
            f"last {DUPLICATE_LOOKBACK_DAYS} days:\n{listed}\n"
            "If your bank shows two charges, compare them with these: a card pre-authorisation "
            "can look like a second charge and disappears from the statement within a few days."
        )
    lines = []
    for first, second in pairs:
        lines.append(
            f"Possible duplicate charge: {first.id} and {second.id}, "
            f"{money(second.amount_cents, second.currency)} each, on {day(first.created_at)} "
            f"and {day(second.created_at)} (invoices {first.invoice_id} and {second.invoice_id})."
        )
        opened = await repo.open_payment_investigation(
            customer_id,
            second.id,
            f"possible duplicate of {first.id} (asked via Slack by "
            f"{ctx.context.caller.slack_user_id})",
        )
        if opened is not None:
            lines.append(
                f"Payment investigation {opened.investigation.id} is open for it: the billing "
                "team checks it and returns the extra charge to the card it came from."
            )
    return "\n".join(lines)

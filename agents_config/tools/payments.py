"""Payment investigation: what happened to a payment, in plain words, and what to do next.

A failed or pending payment also gets a payment investigation record (one open record per
payment), so the billing team follows up even if the conversation ends here.
"""

from __future__ import annotations

from agents_config.tools._common import (
    Ctx,
    account_id,
    business,
    day,
    desk_tool,
    money,
    public_id,
    relative_day,
)
from storage.business import Payment

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
        "It succeeded; nothing went wrong with it. If the user sees a charge they don't "
        "recognise or a duplicate, compare the invoice id and amount on the bank statement."
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
        payment_id: The payment id, like PAY-3001 (list_payments shows them).
    """
    repo = business(ctx)
    customer_id = account_id(ctx)
    wanted = public_id(payment_id)
    payment = await repo.payment(customer_id, wanted)
    if payment is None:
        return (
            f"I couldn't find a payment {wanted} on your account. Payment ids look like "
            "PAY-3001; list_payments shows all of yours."
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

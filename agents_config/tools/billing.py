"""Billing tools: the caller's plan and balance, invoices and payments (read-only)."""

from __future__ import annotations

from agents_config.tools._common import (
    Ctx,
    account_id,
    business,
    day,
    desk_tool,
    money,
    now,
    public_id,
    relative_day,
)
from storage.business import Invoice, Payment, Plan, Subscription


def invoice_line(invoice: Invoice) -> str:
    due = f"due {relative_day(invoice.due_at)}" if invoice.unpaid else f"due {day(invoice.due_at)}"
    return (
        f"{invoice.id} · {money(invoice.amount_cents, invoice.currency)} · {invoice.status} · "
        f"issued {day(invoice.issued_at)} · {due} · {invoice.description}"
    )


def payment_line(payment: Payment) -> str:
    status: str = payment.status
    if payment.failure_code:
        status += f" ({payment.failure_code})"
    return (
        f"{payment.id} · {money(payment.amount_cents, payment.currency)} · {status} · "
        f"{payment.method} · {day(payment.created_at)} · invoice {payment.invoice_id}"
    )


def not_found(kind: str, wanted: str, yours: list[str]) -> str:
    """A record the caller named is not on their account: say so and show theirs, so the
    user can pick the right one (no tool names, no example id that could be the one asked)."""
    a = "an" if kind[:1] in "aeiou" else "a"
    missing = f"I couldn't find {a} {kind} {wanted}: it is not on your account"
    if not yours:
        return f"{missing}, and there are no {kind}s on it."
    listed = "\n".join(f"- {line}" for line in yours)
    return f"{missing}. Your {kind}s:\n{listed}"


def _plan_line(plan: Plan | None, sub: Subscription) -> str:
    name = plan.name if plan else sub.plan_code
    price = (
        f"{money(plan.monthly_price_cents, plan.currency)}/month"
        if plan and plan.monthly_price_cents is not None
        else "custom pricing"
    )
    if sub.status == "trialing":
        ends = relative_day(sub.trial_ends_at or sub.current_period_end)
        return f"Plan: {name} (free trial, {sub.seats} seats), trial ends {ends}."
    if sub.status == "canceled":
        return f"Plan: {name}, cancelled; access ends {relative_day(sub.current_period_end)}."
    state = "active" if sub.status == "active" else "past due (an invoice is overdue)"
    return (
        f"Plan: {name} · {price} · {sub.seats} seats · {state} · "
        f"renews {relative_day(sub.current_period_end)}."
    )


def _next_invoice_line(plan: Plan | None, sub: Subscription) -> str:
    if sub.status == "trialing":
        return "Next invoice: none; no card is charged unless you choose a plan."
    if sub.status == "canceled":
        return "Next invoice: none (the subscription is cancelled)."
    if plan is None or plan.monthly_price_cents is None:
        return f"Next invoice: on {day(sub.current_period_end)} (contract pricing)."
    amount = money(plan.monthly_price_cents, plan.currency)
    return f"Next invoice: about {amount} on {day(sub.current_period_end)}."


@desk_tool()
async def get_account_overview(ctx: Ctx) -> str:
    """Summarise the caller's own account: plan and renewal date, balance due (unpaid
    invoices) and the next invoice. Use it for "what do I owe", "what plan am I on",
    "when is my next bill"."""
    repo = business(ctx)
    customer_id = account_id(ctx)
    customer = await repo.customer(customer_id)
    sub = await repo.subscription(customer_id)
    unpaid = [i for i in await repo.invoices_for(customer_id) if i.unpaid]
    plan = await repo.plan(sub.plan_code) if sub else None
    lines = [f"Account: {customer.name}, {customer.company}." if customer else "Account:"]
    lines.append(_plan_line(plan, sub) if sub else "Plan: no subscription.")
    if unpaid:
        total = sum(i.amount_cents for i in unpaid)
        details = "; ".join(f"{i.id} {i.status}, due {relative_day(i.due_at)}" for i in unpaid)
        lines.append(f"Balance due: {money(total, unpaid[0].currency)} · {details}.")
    else:
        lines.append("Balance due: nothing, no unpaid invoices.")
    if sub is not None:
        lines.append(_next_invoice_line(plan, sub))
    return "\n".join(lines)


@desk_tool()
async def list_invoices(ctx: Ctx) -> str:
    """List the caller's invoices, newest first: id, amount, status (paid, open, overdue,
    void), issue and due dates."""
    invoices = await business(ctx).invoices_for(account_id(ctx))
    if not invoices:
        return "There are no invoices on your account yet."
    return "Your invoices (newest first):\n" + "\n".join(f"- {invoice_line(i)}" for i in invoices)


@desk_tool()
async def get_invoice(ctx: Ctx, invoice_id: str) -> str:
    """Show one of the caller's invoices and the payments made against it.

    Args:
        invoice_id: The invoice id: INV- followed by digits.
    """
    repo = business(ctx)
    customer_id = account_id(ctx)
    wanted = public_id(invoice_id)
    invoice = await repo.invoice(customer_id, wanted)
    if invoice is None:
        return not_found(
            "invoice", wanted, [invoice_line(i) for i in await repo.invoices_for(customer_id)]
        )
    lines = [f"Invoice {invoice_line(invoice)}"]
    if invoice.paid_at:
        lines.append(f"Paid on {day(invoice.paid_at)}.")
    payments = await repo.payments_for(customer_id, invoice.id)
    if payments:
        lines.append("Payments:")
        lines += [f"- {payment_line(p)}" for p in payments]
    elif invoice.unpaid:
        overdue = invoice.due_at < now()
        lines.append("No payment attempt yet." + (" It is past its due date." if overdue else ""))
    return "\n".join(lines)


@desk_tool()
async def list_payments(ctx: Ctx) -> str:
    """List the caller's payments, newest first: id, amount, status (succeeded, failed,
    pending, refunded) with the decline code of failed ones, card or bank, date, invoice."""
    payments = await business(ctx).payments_for(account_id(ctx))
    if not payments:
        return "There are no payments on your account yet."
    return "Your payments (newest first):\n" + "\n".join(f"- {payment_line(p)}" for p in payments)

"""Sales tools: the plan catalogue, plan comparisons and demo requests."""

from __future__ import annotations

from agents_config.tools._common import Ctx, business, desk_tool, money
from storage.business import MAX_COMPANY_SIZE_CHARS, MAX_NOTES_CHARS, Plan


def _price(plan: Plan) -> str:
    if plan.monthly_price_cents is None:
        return "custom pricing (talk to sales)"
    return f"{money(plan.monthly_price_cents, plan.currency)}/month"


def _seats(plan: Plan) -> str:
    return f"up to {plan.seats_included} seats" if plan.seats_included else "unlimited seats"


def plan_summary(plan: Plan) -> str:
    return f"{plan.name}: {_price(plan)}, {_seats(plan)}. Features: {'; '.join(plan.features)}."


@desk_tool(needs_account=False)
async def list_plans(ctx: Ctx) -> str:
    """List every plan with its monthly price, included seats and features. Prices exclude
    taxes; annual billing saves two months."""
    plans = await business(ctx).plans()
    return "Plans:\n" + "\n".join(f"- {plan_summary(p)}" for p in plans)


@desk_tool(needs_account=False)
async def compare_plans(ctx: Ctx, plan_a: str, plan_b: str) -> str:
    """Compare two plans: price difference, seats, and the features only one of them has.

    Args:
        plan_a: A plan name: Starter, Pro, Business or Enterprise.
        plan_b: Another plan name.
    """
    repo = business(ctx)
    found = [await repo.plan(plan_a), await repo.plan(plan_b)]
    if None in found:
        known = ", ".join(p.name for p in await repo.plans())
        unknown = [name for name, plan in zip((plan_a, plan_b), found, strict=True) if not plan]
        return f"I don't know a plan called {' or '.join(unknown)}. The plans are: {known}."
    a, b = (p for p in found if p is not None)
    if a.code == b.code:
        return f"Both are the same plan. {plan_summary(a)}"
    lines = [f"{a.name} vs {b.name}:", f"- Price: {_price(a)} vs {_price(b)}"]
    if a.monthly_price_cents is not None and b.monthly_price_cents is not None:
        diff = abs(a.monthly_price_cents - b.monthly_price_cents)
        pricier = a if a.monthly_price_cents > b.monthly_price_cents else b
        lines.append(f"- {pricier.name} costs {money(diff, a.currency)}/month more")
    lines.append(f"- Seats: {_seats(a)} vs {_seats(b)}")
    for plan, other in ((a, b), (b, a)):
        only = [f for f in plan.features if f not in other.features]
        if only:
            lines.append(f"- Only in {plan.name}: {'; '.join(only)}")
    return "\n".join(lines)


@desk_tool(
    needs_account=False,
    limits={"company_size": MAX_COMPANY_SIZE_CHARS, "notes": MAX_NOTES_CHARS},
)
async def request_demo(ctx: Ctx, company_size: str | None, notes: str) -> str:
    """Ask the sales team for a live demo (for example of Enterprise). Returns the request id.

    Args:
        company_size: Roughly how many people would use the product (e.g. "40" or "200-500"),
            or null when the user did not say.
        notes: What the user wants to see or discuss in the demo.
    """
    context = ctx.context
    caller = context.caller
    filed = await business(ctx).create_demo_request(
        slack_user_id=caller.slack_user_id,
        customer_id=caller.customer_id,
        name=caller.name,
        email=caller.email,
        company_size=(company_size or "").strip() or "not given",
        notes=notes.strip()[:MAX_NOTES_CHARS],
        ticket_id=context.ticket_id,
        turn=context.turn,
    )
    demo = filed.record
    contact = f" at {demo.email}" if demo.email else " in this Slack thread"
    if not filed.created:  # asked again in this turn: the first request stands
        return f"Demo request {demo.id} is already logged; no second one was made."
    return (
        f"Demo request {demo.id} logged. The sales team replies within one business day"
        f"{contact} to schedule a 30-minute call."
    )

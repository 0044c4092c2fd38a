"""What every specialist tool shares: the `desk_tool` decorator, the caller's account, formatting.

`desk_tool` turns a small async function into an SDK function tool that records its own name in
`ctx.context.tools_called` and, for account tools, answers politely instead of running when the
caller has no customer account. The account id always comes from the run context (the caller's
Slack e-mail), never from the model's arguments. An acting tool declared with `confirm=` runs only
once a person said yes to that exact call (see `agents_config.approvals`).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from agents import FunctionTool, RunContextWrapper, function_tool
from agents.tool_context import ToolContext

from agents_config.approvals import Confirmation, Proposal, register
from agents_config.context import Caller, DeskContext
from storage.business import BusinessRepo

Ctx = RunContextWrapper[DeskContext]
ToolFunction = Callable[..., Awaitable[str]]

MAX_ARGUMENT_CHARS = 1000
"""Longest text argument a tool accepts unless its `limits` say otherwise (ids, names,
queries). Longer ones are refused with a message to the model, before the tool runs."""

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_PUBLIC_ID = re.compile(r"^\s*([A-Za-z]+)[\s_-]*(\d+)\s*$")


def no_account_message(caller: Caller) -> str:
    """The polite answer of an account tool when the caller has no customer account."""
    who = (
        f"the e-mail on your Slack profile ({caller.email})"
        if caller.email
        else "your Slack profile (it does not share an e-mail address)"
    )
    return (
        f"I couldn't find a customer account linked to {who}, so I can't look at invoices, "
        "payments, orders or refunds for you. If your account uses a different e-mail, ask its "
        "owner or billing admin to contact us, or I can hand you over to a person who can "
        "verify your account. I'm happy to answer general questions in the meantime."
    )


def too_long(tool: str, arguments: Mapping[str, Any], limits: Mapping[str, int]) -> str | None:
    """The refusal to show the model when a text argument is over its limit, or None."""
    for argument, value in arguments.items():
        limit = limits.get(argument, MAX_ARGUMENT_CHARS)
        if isinstance(value, str) and len(value) > limit:
            return (
                f"Not done: `{argument}` is {len(value):,} characters long and {tool} takes at "
                f"most {limit:,}. Call {tool} again with a shorter `{argument}`."
            )
    return None


def desk_tool(
    *,
    needs_account: bool = True,
    limits: Mapping[str, int] | None = None,
    confirm: Confirmation | None = None,
) -> Callable[[ToolFunction], FunctionTool]:
    """Make `fn(ctx, ...)` a function tool (name and schema from the function, as usual).

    The tool appends its name to `tools_called`; with `needs_account`, a caller without a
    customer account gets `no_account_message` and `fn` does not run. A text argument longer
    than its entry in `limits` (default `MAX_ARGUMENT_CHARS`) is refused and `fn` does not run.
    With `confirm`, the run stops before each call for the approver's yes (the SDK's
    `needs_approval`), unless the call would be refused anyway; and `fn` itself runs only for
    a call the SDK marks approved: any other call gets the refusal or a "not done" answer.
    """

    def decorate(fn: ToolFunction) -> FunctionTool:
        name = fn.__name__
        signature = inspect.signature(fn)

        async def proposal(ctx: Ctx, arguments: dict[str, Any]) -> Proposal:
            """What the call would do, for the approver; or why it will not happen anyway."""
            if needs_account and ctx.context.caller.customer_id is None:
                return Proposal(refusal=no_account_message(ctx.context.caller))
            refusal = too_long(name, arguments, limits or {})
            if refusal is not None:
                return Proposal(refusal=refusal)
            assert confirm is not None
            return await confirm.propose(ctx, arguments)

        @functools.wraps(fn)
        async def run(ctx: Ctx, *args: Any, **kwargs: Any) -> str:
            ctx.context.tools_called.append(name)
            if needs_account and ctx.context.caller.customer_id is None:
                return no_account_message(ctx.context.caller)
            arguments = signature.bind(ctx, *args, **kwargs).arguments
            refusal = too_long(name, arguments, limits or {})
            if refusal is not None:
                return refusal
            if confirm is not None and not _approved(ctx, name):
                given = {k: v for k, v in arguments.items() if k != "ctx"}
                return (await proposal(ctx, given)).refusal or NOT_CONFIRMED
            return await fn(ctx, *args, **kwargs)

        tool = function_tool(run)
        if confirm is not None:

            async def needs_approval(ctx: Ctx, arguments: dict[str, Any], call_id: str) -> bool:
                return (await proposal(ctx, arguments)).refusal is None

            tool.needs_approval = needs_approval
            register(name, confirm)
        return tool

    return decorate


NOT_CONFIRMED = (
    "Not done: this action needs the user's confirmation, and they have not confirmed it. "
    "The desk asks them with a Confirm button; do not say it was done."
)


def _approved(ctx: Ctx, tool_name: str) -> bool:
    """Whether the SDK recorded a yes for this very call (not for the tool in general)."""
    if not isinstance(ctx, ToolContext):
        return False
    return ctx.is_tool_approved(tool_name, ctx.tool_call_id) is True


def account_id(ctx: Ctx) -> int:
    """The caller's customer id. Only for tools made with `desk_tool(needs_account=True)`."""
    customer_id = ctx.context.caller.customer_id
    if customer_id is None:  # desk_tool answered already; reaching here is a programming error
        raise RuntimeError("account tool ran for a caller without a customer account")
    return customer_id


def business(ctx: Ctx) -> BusinessRepo:
    return ctx.context.store.business


def public_id(raw: str) -> str:
    """Normalise an id the model or user typed: " ord 1001", "ord_1001" → "ORD-1001"."""
    match = _PUBLIC_ID.match(raw)
    if not match:
        return raw.strip().upper()
    return f"{match.group(1).upper()}-{match.group(2)}"


def money(cents: int, currency: str = "USD") -> str:
    """`4900, "USD"` → "$49.00"; unknown currencies keep their code ("49.00 CHF")."""
    amount = f"{cents / 100:,.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def day(moment: datetime) -> str:
    """The calendar date, unambiguous in any locale: 2025-11-20."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def now() -> datetime:
    return datetime.now(UTC)


def days_between(earlier: datetime, later: datetime) -> int:
    """Calendar days (UTC) from `earlier` to `later`; negative when `later` comes first.

    Calendar days, not 24-hour periods: an order placed yesterday evening is "1 day ago".
    """
    return (later.astimezone(UTC).date() - earlier.astimezone(UTC).date()).days


def relative_day(moment: datetime, reference: datetime | None = None) -> str:
    """ "2025-11-20 (5 days ago)", "2025-12-04 (in 9 days)", "2025-11-25 (today)"."""
    delta = days_between(moment, reference or now())
    if delta == 0:
        when = "today"
    elif delta > 0:
        when = f"{delta} day{'s' if delta != 1 else ''} ago"
    else:
        when = f"in {-delta} day{'s' if delta != -1 else ''}"
    return f"{day(moment)} ({when})"

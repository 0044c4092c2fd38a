"""Routing criteria, declared once as data.

The same criteria are written into the triage and billing prompts (for a real model) and scored
by the offline engine (which has no language model), so both route by one explicit rule set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """Where a request goes, and the explicit signs that send it there."""

    agent: str
    department: str
    summary: str
    keywords: tuple[str, ...]
    intents: tuple[str, ...]

    def as_prompt(self) -> str:
        return (
            f"- `{self.agent}` ({self.department}): {self.summary}\n"
            f"  Keywords: {', '.join(self.keywords)}.\n"
            f"  Intents: {'; '.join(self.intents)}."
        )


TRIAGE_ROUTES: tuple[Route, ...] = (
    Route(
        agent="billing_specialist",
        department="billing",
        summary="money the customer owes or paid: invoices, charges, payments, refunds.",
        keywords=(
            "invoice",
            "bill",
            "billing",
            "charge",
            "charged",
            "payment",
            "paid",
            "pay",
            "card",
            "declined",
            "refund",
            "money back",
            "balance",
            "receipt",
            "vat",
            "tax",
            "credit",
            "overcharged",
            "double",
            "subscription fee",
            "proration",
            "billed",
            "overdue",
            "unpaid",
            "owe",
            "outstanding",
            "statement",
            "wire",
            "bank transfer",
            "direct debit",
            "payment method",
            "credit card",
            "credit note",
            "prorated",
            "twice",
            "renewal",
            "reimburse",
            "billing address",
            "currency",
            "tax exempt",
            "dunning",
            "funds",
            "money",
        ),
        intents=(
            "asks about an invoice, a charge or the account balance",
            "wants a refund or money back for an order",
            "a payment failed, was declined, or was taken twice",
            "wants to change the payment method or get a tax invoice",
        ),
    ),
    Route(
        agent="tech_support",
        department="tech",
        summary="the product does not work as expected.",
        keywords=(
            "error",
            "bug",
            "crash",
            "login",
            "log in",
            "password",
            "sso",
            "saml",
            "2fa",
            "api",
            "429",
            "500",
            "webhook",
            "integration",
            "outage",
            "down",
            "slow",
            "sync",
            "export",
            "broken",
            "not working",
            "timeout",
            "browser",
            "app",
            "sign in",
            "log out",
            "locked out",
            "dashboard",
            "page",
            "load",
            "blank",
            "screen",
            "mobile",
            "ios",
            "android",
            "notifications",
            "upload",
            "import",
            "csv",
            "search",
            "token",
            "api key",
            "timing out",
            "401",
            "403",
            "404",
            "502",
            "503",
            "cors",
            "dns",
            "endpoint",
            "rate limit",
            "scim",
            "okta",
            "idp",
            "authenticator",
            "mfa",
            "settings",
            "invite",
            "stopped",
            "missing",
            "docs",
            "chrome",
            "firefox",
            "safari",
            "server",
            "session",
            "ip",
        ),
        intents=(
            "cannot sign in, reset a password, or set up SSO or two-factor authentication",
            "an API call, webhook, integration or export fails",
            "the product is down, slow, crashes or shows an error",
            "wants to report a bug",
        ),
    ),
    Route(
        agent="sales",
        department="sales",
        summary="buying decisions before money changes hands.",
        keywords=(
            "pricing",
            "price",
            "plan",
            "plans",
            "upgrade",
            "enterprise",
            "demo",
            "trial",
            "quote",
            "seats",
            "discount",
            "buy",
            "purchase",
            "cost",
            "compare",
            "features",
            "how much",
            "deal",
            "contract",
            "procurement",
            "partner",
            "reseller",
            "nonprofit",
            "education",
            "startup",
            "pilot",
            "proof of concept",
            "evaluate",
            "evaluation",
            "walkthrough",
            "onboarding",
            "sales",
            "security",
            "compliance",
            "soc 2",
            "hipaa",
            "on-prem",
            "sla",
            "add-on",
            "difference",
            "vs",
            "cheaper",
            "per seat",
            "volume",
            "per user",
            "license",
            "roi",
            "competitor",
            "program",
            "included",
            "offer",
        ),
        intents=(
            "asks what plans cost or how they differ",
            "wants a demo, a trial, a quote or more seats",
            "considers upgrading or buying for a team",
        ),
    ),
    Route(
        agent="fallback",
        department="human",
        summary="a person must handle it.",
        keywords=(
            "human",
            "person",
            "agent",
            "manager",
            "someone",
            "representative",
            "complaint",
            "lawyer",
            "legal",
            "unacceptable",
            "escalate",
            "supervisor",
            "real person",
            "human being",
            "bot",
            "sue",
            "lawsuit",
            "attorney",
            "court",
            "legal action",
            "subpoena",
            "law enforcement",
            "gdpr",
            "privacy",
            "data protection",
            "dpo",
            "breach",
            "press",
            "journalist",
            "harassment",
            "harass",
            "threatening",
            "abuse",
            "rude",
            "ombudsman",
            "regulator",
            "in charge",
            "senior",
            "hacked",
        ),
        intents=(
            "asks for a human, a manager or a real person",
            "makes a formal complaint or a legal threat",
            "no other department fits, or the request is sensitive",
        ),
    ),
)

BILLING_ROUTES: tuple[Route, ...] = (
    Route(
        agent="refund_processor",
        department="billing",
        summary="refunds of orders: eligibility and issuing them.",
        keywords=("refund", "money back", "return", "reimburse", "cancel order", "reverse"),
        intents=("wants money back for an order", "asks whether an order can be refunded"),
    ),
    Route(
        agent="payment_investigator",
        department="billing",
        summary="payments that failed, were declined, are pending or look wrong.",
        keywords=(
            "declined",
            "failed",
            "pending",
            "double",
            "twice",
            "rejected",
            "card",
            "insufficient funds",
            "bounced",
            "go through",
            "duplicate",
            "retry",
        ),
        intents=(
            "a payment failed or a card was declined",
            "a payment is pending or was taken twice",
        ),
    ),
)

AGENT_DEPARTMENTS: dict[str, str] = {
    route.agent: route.department for route in (*TRIAGE_ROUTES, *BILLING_ROUTES)
}


def routes_prompt(routes: tuple[Route, ...]) -> str:
    return "\n".join(route.as_prompt() for route in routes)


def department_of(agent_path: list[str]) -> str | None:
    """The department of the last routed agent on the path (None if triage kept it)."""
    for name in reversed(agent_path):
        if name in AGENT_DEPARTMENTS:
            return AGENT_DEPARTMENTS[name]
    return None

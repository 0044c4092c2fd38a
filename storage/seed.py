"""Demo data: a small business (customers, plans, billing, orders, service health) and the
knowledge base shipped in `storage/kb/*.md`.

Dates are relative to the moment of seeding, so the scenarios the demo and the tests rely on
hold whenever the database is created:

- alice@northwind.example (Business): ORD-1001 placed 5 days ago, still refundable;
  INV-2001/INV-2002 paid (PAY-3001/PAY-3002), INV-2003 open.
- bob@contoso.example (Pro, past due): ORD-1002 placed 45 days ago, outside the 30-day
  refund window; PAY-3003 failed (insufficient_funds) on the overdue INV-2005.
- carol@fabrikam.example (Starter): ORD-1003 placed 10 days ago, already refunded (RF-4001);
  PAY-3006 pending on the open INV-2007.
- dave@initech.example: on a free trial of Pro, no invoices, no orders.
- Webhooks are degraded (open incident INC-6002); everything else is operational.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from storage.db import Database, IntegrityError, Tx
from storage.kb import Article, KnowledgeBase, parse_article

DAY = 86_400.0

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4

VISA = "Visa •••• 4242"
MASTERCARD = "Mastercard •••• 5454"
AMEX = "Amex •••• 0005"
ACH = "Bank debit (ACH) •••• 6789"

PLANS = (
    # code, name, monthly price in cents (None: custom), seats included, features, order
    (
        "starter", "Starter", 1900, 3,
        ["Up to 3 seats", "5 projects", "10 GB storage", "API: 60 requests/minute",
         "E-mail support"],
        1,
    ),
    (
        "pro", "Pro", 4900, 10,
        ["Up to 10 seats", "Unlimited projects", "100 GB storage", "Webhooks and integrations",
         "API: 300 requests/minute", "2FA enforcement", "Priority e-mail support"],
        2,
    ),
    (
        "business", "Business", 24900, 50,
        ["Up to 50 seats", "Unlimited projects", "1 TB storage", "Webhooks and integrations",
         "API: 1,000 requests/minute", "2FA enforcement", "SSO (SAML)", "Audit log",
         "Scheduled data exports", "Chat support 24/5"],
        3,
    ),
    (
        "enterprise", "Enterprise", None, None,
        ["Unlimited seats", "Unlimited projects", "Custom storage", "Webhooks and integrations",
         "API: custom limits", "2FA enforcement", "SSO (SAML)", "SCIM provisioning",
         "Audit log", "Scheduled data exports", "99.95% uptime SLA",
         "Dedicated customer success manager", "Custom contract and DPA",
         "Payment by invoice and bank transfer"],
        4,
    ),
)  # fmt: skip

CUSTOMERS = (
    # id, name, company, email, country, VAT id, created (days ago)
    (ALICE, "Alice Chen", "Northwind Traders", "alice@northwind.example", "US", None, 210),
    (BOB, "Bob Martin", "Contoso Ltd", "bob@contoso.example", "GB", "GB123456789", 130),
    (CAROL, "Carol Diaz", "Fabrikam", "carol@fabrikam.example", "ES", "ESB12345678", 100),
    (DAVE, "Dave Patel", "Initech", "dave@initech.example", "US", None, 5),
)

SUBSCRIPTIONS = (
    # customer, plan, status, seats, started (days ago), period ends (days ahead), trial ends
    (ALICE, "business", "active", 32, 200, 25, None),
    (BOB, "pro", "past_due", 8, 125, 10, None),
    (CAROL, "starter", "active", 3, 95, 28, None),
    (DAVE, "pro", "trialing", 5, 5, 9, 9),
)

INVOICES = (
    # id, customer, description, cents, status; issued, due, paid: days ago (< 0: ahead)
    ("INV-2001", ALICE, "Business plan, monthly", 24900, "paid", 65, 51, 65),
    ("INV-2002", ALICE, "Business plan, monthly", 24900, "paid", 35, 21, 35),
    ("INV-2003", ALICE, "Business plan, monthly", 24900, "open", 5, -9, None),
    ("INV-2004", BOB, "Pro plan, monthly", 4900, "paid", 50, 36, 50),
    ("INV-2005", BOB, "Pro plan, monthly", 4900, "overdue", 20, 6, None),
    ("INV-2006", CAROL, "Starter plan, monthly", 1900, "paid", 32, 18, 32),
    ("INV-2007", CAROL, "Starter plan, monthly", 1900, "open", 2, -12, None),
)

PAYMENTS = (
    # id, invoice, cents, status, method, failure code, failure message, created (days ago)
    ("PAY-3001", "INV-2001", 24900, "succeeded", VISA, None, None, 65),
    ("PAY-3002", "INV-2002", 24900, "succeeded", VISA, None, None, 35),
    (
        "PAY-3003", "INV-2005", 4900, "failed", MASTERCARD, "insufficient_funds",
        "Your card has insufficient funds.", 20,
    ),
    ("PAY-3004", "INV-2004", 4900, "succeeded", MASTERCARD, None, None, 50),
    ("PAY-3005", "INV-2006", 1900, "succeeded", AMEX, None, None, 32),
    ("PAY-3006", "INV-2007", 1900, "pending", ACH, None, None, 2),
)  # fmt: skip

ORDERS = (
    # id, customer, description, cents, payment method, placed (days ago)
    ("ORD-1001", ALICE, "Premium onboarding package", 45000, VISA, 5),
    ("ORD-1002", BOB, "Extra storage add-on (500 GB, 12 months)", 12000, MASTERCARD, 45),
    ("ORD-1003", CAROL, "Team training session (2 hours)", 20000, AMEX, 10),
    ("ORD-1004", ALICE, "Data migration service", 30000, VISA, 60),
)

REFUNDS = (
    # id, order, cents, reason, status, created (days ago)
    ("RF-4001", "ORD-1003", 20000, "Training session cancelled by the customer", "completed", 8),
)

SERVICE_STATUS = (
    # component, status, note, updated (days ago)
    ("API", "operational", None, 0.2),
    ("Dashboard", "operational", None, 0.2),
    (
        "Webhooks",
        "degraded",
        "Deliveries to some endpoints are delayed by up to 15 minutes. Events are queued, "
        "not lost, and will be delivered.",
        0.05,
    ),
    ("Mobile sync", "operational", None, 3),
    ("SSO login", "operational", None, 0.2),
    ("Email notifications", "operational", None, 0.2),
)

INCIDENTS = (
    # id, component, title, status, workaround, started (days ago), resolved (days ago)
    (
        "INC-6001", "Mobile sync", "Android app changes not syncing after update 5.2.0",
        "resolved", None, 4, 3,
    ),
    (
        "INC-6002", "Webhooks", "Delayed webhook deliveries", "identified",
        "Events are queued and delivered once the delay clears; poll GET /v1/events if you "
        "need them sooner.",
        0.08, None,
    ),
)  # fmt: skip


def packaged_articles() -> list[Article]:
    """The knowledge-base articles shipped in `storage/kb/*.md`, sorted by file name."""
    folder = resources.files("storage") / "kb"
    return [
        parse_article(f.read_text(encoding="utf-8"), default_slug=f.name.removesuffix(".md"))
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith(".md")
    ]


def _rows(now: float) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    """The demo rows to insert, by table: (INSERT statement, rows)."""

    def ago(days: float | None) -> float | None:
        return None if days is None else now - days * DAY

    def ahead(days: float | None) -> float | None:
        return None if days is None else now + days * DAY

    return {
        "plans": (
            "INSERT INTO plans (code, name, monthly_price_cents, currency, seats_included,"
            " features, sort_order) VALUES (?, ?, ?, 'USD', ?, ?, ?)",
            [(c, n, p, s, "\n".join(f), o) for c, n, p, s, f, o in PLANS],
        ),
        "customers": (
            "INSERT INTO customers (id, name, company, email, country, vat_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*c[:6], ago(c[6])) for c in CUSTOMERS],
        ),
        "subscriptions": (
            "INSERT INTO subscriptions (customer_id, plan_code, status, seats, started_at,"
            " current_period_end, trial_ends_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*s[:4], ago(s[4]), ahead(s[5]), ahead(s[6])) for s in SUBSCRIPTIONS],
        ),
        "invoices": (
            "INSERT INTO invoices (id, customer_id, description, amount_cents, currency, status,"
            " issued_at, due_at, paid_at) VALUES (?, ?, ?, ?, 'USD', ?, ?, ?, ?)",
            [(*i[:5], ago(i[5]), ago(i[6]), ago(i[7])) for i in INVOICES],
        ),
        "payments": (
            "INSERT INTO payments (id, invoice_id, amount_cents, currency, status, method,"
            " failure_code, failure_message, created_at) VALUES (?, ?, ?, 'USD', ?, ?, ?, ?, ?)",
            [(*p[:7], ago(p[7])) for p in PAYMENTS],
        ),
        "orders": (
            "INSERT INTO orders (id, customer_id, description, amount_cents, currency,"
            " payment_method, created_at) VALUES (?, ?, ?, ?, 'USD', ?, ?)",
            [(*o[:5], ago(o[5])) for o in ORDERS],
        ),
        "refunds": (
            "INSERT INTO refunds (id, order_id, amount_cents, currency, reason, status,"
            " requested_by, created_at) VALUES (?, ?, ?, 'USD', ?, ?, NULL, ?)",
            [(*r[:5], ago(r[5])) for r in REFUNDS],
        ),
        "service_status": (
            "INSERT INTO service_status (component, status, note, updated_at) VALUES (?, ?, ?, ?)",
            [(*s[:3], ago(s[3])) for s in SERVICE_STATUS],
        ),
        "incidents": (
            "INSERT INTO incidents (id, component, title, status, workaround, started_at,"
            " resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*i[:5], ago(i[5]), ago(i[6])) for i in INCIDENTS],
        ),
    }


async def seed_demo_data(db: Database) -> bool:
    """Load the demo business and the knowledge base into an empty database.

    Idempotent: when any customer exists it does nothing and returns False. The check and
    the inserts share one write transaction, so two processes opening a new file at the same
    time cannot both seed it (on PostgreSQL both may look at once: the second one's inserts
    then break the first one's unique keys, and it leaves the data to the first).
    """

    async def body(tx: Tx) -> bool:
        row = await tx.fetchone("SELECT COUNT(*) AS n FROM customers")
        if row is not None and row["n"] > 0:
            return False
        for sql, rows in _rows(time.time()).values():
            await tx.executemany(sql, rows)
        return True

    try:
        if not await db.atomic(body):
            return False
    except IntegrityError:  # PostgreSQL: another process seeded it in the same moment
        return False
    await KnowledgeBase(db).load_articles(packaged_articles())
    return True

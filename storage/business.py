"""`BusinessRepo`: the demo business the specialists' tools act on (tables of 002_business.sql).

Every method that reads or writes account data takes the `customer_id` and filters by it, so
a tool can only ever see the caller's own invoices, payments and orders: asking for another
customer's id simply finds nothing. Records come back as small frozen dataclasses with
timestamps as aware UTC datetimes and money as integer cents.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from storage.db import Database, IntegrityError, Row, Tx
from storage.tickets import record_event

InvoiceStatus = Literal["paid", "open", "overdue", "void"]
PaymentStatus = Literal["succeeded", "failed", "pending", "refunded"]
ComponentHealth = Literal["operational", "degraded", "outage"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    company: str
    email: str
    country: str | None
    vat_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_price_cents: int | None  # None: custom pricing
    currency: str
    seats_included: int | None  # None: negotiated
    features: tuple[str, ...]
    sort_order: int


@dataclass(frozen=True)
class Subscription:
    customer_id: int
    plan_code: str
    status: Literal["trialing", "active", "past_due", "canceled"]
    seats: int
    started_at: datetime
    current_period_end: datetime
    trial_ends_at: datetime | None


@dataclass(frozen=True)
class Invoice:
    id: str
    customer_id: int
    description: str
    amount_cents: int
    currency: str
    status: InvoiceStatus
    issued_at: datetime
    due_at: datetime
    paid_at: datetime | None

    @property
    def unpaid(self) -> bool:
        return self.status in ("open", "overdue")


@dataclass(frozen=True)
class Payment:
    id: str
    invoice_id: str
    amount_cents: int
    currency: str
    status: PaymentStatus
    method: str
    failure_code: str | None
    failure_message: str | None
    created_at: datetime


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: int
    description: str
    amount_cents: int
    currency: str
    payment_method: str
    created_at: datetime
    refund_id: str | None  # set when the order has been refunded


@dataclass(frozen=True)
class Refund:
    id: str
    order_id: str
    amount_cents: int
    currency: str
    reason: str
    status: Literal["processing", "completed"]
    requested_by: str | None
    created_at: datetime
    approval_id: int | None = None  # the confirmation it was issued under


@dataclass(frozen=True)
class RefundResult:
    """What `create_refund` did. `refund` is the new refund, or the existing one."""

    status: Literal["created", "already_refunded", "order_not_found"]
    refund: Refund | None = None


@dataclass(frozen=True)
class PaymentInvestigation:
    id: str
    payment_id: str
    customer_id: int
    status: Literal["open", "resolved"]
    note: str
    created_at: datetime


@dataclass(frozen=True)
class InvestigationResult:
    """`created` is False when an open investigation for the payment already existed."""

    investigation: PaymentInvestigation
    created: bool


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    status: ComponentHealth
    note: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Incident:
    id: str
    component: str
    title: str
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    workaround: str | None
    started_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class BugReport:
    id: str
    customer_id: int | None
    slack_user_id: str
    title: str
    details: str
    severity: Severity
    status: str
    created_at: datetime
    ticket_id: int | None  # the ticket it was filed from, and the turn (inbox id) that filed it
    turn: int | None


T = TypeVar("T")


@dataclass(frozen=True)
class Filed(Generic[T]):
    """A record a tool files once a turn: `created` is False when the turn had already filed
    it (the one returned)."""

    record: T
    created: bool


@dataclass(frozen=True)
class DemoRequest:
    id: str
    customer_id: int | None
    slack_user_id: str
    name: str | None
    email: str | None
    company_size: str
    notes: str
    status: str
    created_at: datetime
    ticket_id: int | None  # the ticket it was asked from, and the turn (inbox id) that asked
    turn: int | None


# The most characters stored in each field a tool fills from the model's arguments. The tools
# refuse longer values with a message to the model (`agents_config.tools._common.desk_tool`);
# these cuts keep any other caller from storing more.
MAX_TITLE_CHARS = 200
MAX_DETAILS_CHARS = 4000
MAX_NOTES_CHARS = 2000
MAX_COMPANY_SIZE_CHARS = 100
MAX_REASON_CHARS = 500
MAX_NOTE_CHARS = 1000
MAX_NAME_CHARS = 200
# Numbering a new record (see `_next_id`) is retried when a concurrent one took the number.
ID_ATTEMPTS = 5


def _cap(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _record(cls: type[T], row: Row | dict[str, Any]) -> T:
    """Build dataclass `cls` from the row's columns of the same names.

    Columns named `*_at` / `*_end` hold epoch seconds and become UTC datetimes.
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # cls is a dataclass
        value = row[f.name]
        if value is not None and f.name.endswith(("_at", "_end")):
            value = to_datetime(value)
        values[f.name] = value
    return cls(**values)


async def _next_id(tx: Tx, table: str, prefix: str, first: int) -> str:
    """The next public id of `table` ("RF-4001", "RF-4002", ...). Call inside a transaction.

    `table` and `prefix` are constants of this module, never user text.
    """
    row = await tx.fetchone(
        f"SELECT MAX(CAST(SUBSTR(id, {len(prefix) + 1}) AS INTEGER)) AS n"
        f" FROM {table} WHERE id LIKE ?",
        (f"{prefix}%",),
    )
    last = row["n"] if row and row["n"] is not None else first - 1
    return f"{prefix}{last + 1}"


_COUNTED_TABLES = ("customers", "invoices", "payments", "orders", "refunds")
_ORDER_QUERY = (
    "SELECT o.id, o.customer_id, o.description, o.amount_cents, o.currency, o.payment_method,"
    " o.created_at, r.id AS refund_id"
    " FROM orders o LEFT JOIN refunds r ON r.order_id = o.id"
)
_PAYMENT_QUERY = (
    "SELECT p.id, p.invoice_id, p.amount_cents, p.currency, p.status, p.method, p.failure_code,"
    " p.failure_message, p.created_at"
    " FROM payments p JOIN invoices i ON i.id = p.invoice_id"
)
_REFUND_QUERY = (
    "SELECT r.id, r.order_id, r.amount_cents, r.currency, r.reason, r.status, r.requested_by,"
    " r.created_at, r.approval_id FROM refunds r JOIN orders o ON o.id = r.order_id"
)


class BusinessRepo:
    """Customers, plans, billing, orders, refunds, service health, bug and demo requests."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- customers and plans ---------------------------------------------------------------

    async def customer_by_email(self, email: str) -> Customer | None:
        """The customer whose account e-mail is `email` (case-insensitive)."""
        row = await self._db.fetchone(
            "SELECT * FROM customers WHERE email = ?", (email.strip().lower(),)
        )
        return _record(Customer, row) if row else None

    async def customer(self, customer_id: int) -> Customer | None:
        row = await self._db.fetchone("SELECT * FROM customers WHERE id = ?", (customer_id,))
        return _record(Customer, row) if row else None

    async def subscription(self, customer_id: int) -> Subscription | None:
        row = await self._db.fetchone(
            "SELECT * FROM subscriptions WHERE customer_id = ?", (customer_id,)
        )
        return _record(Subscription, row) if row else None

    async def plans(self) -> list[Plan]:
        rows = await self._db.fetchall("SELECT * FROM plans ORDER BY sort_order")
        return [self._plan(row) for row in rows]

    async def plan(self, code_or_name: str) -> Plan | None:
        """The plan whose code or display name is `code_or_name` (case-insensitive)."""
        key = code_or_name.strip().lower()
        row = await self._db.fetchone(
            "SELECT * FROM plans WHERE code = ? OR LOWER(name) = ?", (key, key)
        )
        return self._plan(row) if row else None

    @staticmethod
    def _plan(row: Row) -> Plan:
        features = tuple(line for line in row["features"].splitlines() if line.strip())
        return _record(Plan, {**dict(row), "features": features})

    # -- invoices and payments -------------------------------------------------------------

    async def invoices_for(self, customer_id: int) -> list[Invoice]:
        """The customer's invoices, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM invoices WHERE customer_id = ? ORDER BY issued_at DESC, id DESC",
            (customer_id,),
        )
        return [_record(Invoice, row) for row in rows]

    async def invoice(self, customer_id: int, invoice_id: str) -> Invoice | None:
        """The invoice, or None when it does not exist or belongs to another customer."""
        row = await self._db.fetchone(
            "SELECT * FROM invoices WHERE id = ? AND customer_id = ?", (invoice_id, customer_id)
        )
        return _record(Invoice, row) if row else None

    async def payments_for(self, customer_id: int, invoice_id: str | None = None) -> list[Payment]:
        """The customer's payments (optionally of one invoice), newest first."""
        sql = f"{_PAYMENT_QUERY} WHERE i.customer_id = ?"
        params: list[Any] = [customer_id]
        if invoice_id is not None:
            sql += " AND p.invoice_id = ?"
            params.append(invoice_id)
        rows = await self._db.fetchall(sql + " ORDER BY p.created_at DESC, p.id DESC", params)
        return [_record(Payment, row) for row in rows]

    async def payment(self, customer_id: int, payment_id: str) -> Payment | None:
        row = await self._db.fetchone(
            f"{_PAYMENT_QUERY} WHERE p.id = ? AND i.customer_id = ?",
            (payment_id, customer_id),
        )
        return _record(Payment, row) if row else None

    async def open_payment_investigation(
        self, customer_id: int, payment_id: str, note: str
    ) -> InvestigationResult | None:
        """Open an investigation of the customer's payment, or return the one already open.

        None when the payment is not the customer's.
        """
        select_open = (
            "SELECT * FROM payment_investigations"
            " WHERE payment_id = ? AND customer_id = ? AND status = 'open'"
        )

        async def body(tx: Tx) -> InvestigationResult | None:
            found = await tx.fetchone(
                "SELECT 1 FROM payments p JOIN invoices i ON i.id = p.invoice_id"
                " WHERE p.id = ? AND i.customer_id = ?",
                (payment_id, customer_id),
            )
            if found is None:
                return None
            existing = await tx.fetchone(select_open, (payment_id, customer_id))
            if existing is not None:
                return InvestigationResult(_record(PaymentInvestigation, existing), created=False)
            new_id = await _next_id(tx, "payment_investigations", "INVQ-", 5001)
            await tx.execute(
                "INSERT INTO payment_investigations"
                " (id, payment_id, customer_id, status, note, created_at)"
                " VALUES (?, ?, ?, 'open', ?, ?)",
                (new_id, payment_id, customer_id, _cap(note, MAX_NOTE_CHARS), time.time()),
            )
            row = await tx.fetchone(select_open, (payment_id, customer_id))
            assert row is not None
            return InvestigationResult(_record(PaymentInvestigation, row), created=True)

        return await self._db.atomic(body)

    async def payment_investigations(self) -> list[PaymentInvestigation]:
        """Every payment investigation, open or not, of every account, oldest first."""
        rows = await self._db.fetchall("SELECT * FROM payment_investigations ORDER BY id")
        return [_record(PaymentInvestigation, row) for row in rows]

    # -- orders and refunds ----------------------------------------------------------------

    async def orders_for(self, customer_id: int) -> list[Order]:
        """The customer's orders, newest first, each with its refund id if refunded."""
        rows = await self._db.fetchall(
            f"{_ORDER_QUERY} WHERE o.customer_id = ? ORDER BY o.created_at DESC",
            (customer_id,),
        )
        return [_record(Order, row) for row in rows]

    async def order(self, customer_id: int, order_id: str) -> Order | None:
        """The order, or None when it does not exist or belongs to another customer."""
        row = await self._db.fetchone(
            f"{_ORDER_QUERY} WHERE o.id = ? AND o.customer_id = ?",
            (order_id, customer_id),
        )
        return _record(Order, row) if row else None

    async def refund_for_order(self, customer_id: int, order_id: str) -> Refund | None:
        row = await self._db.fetchone(
            f"{_REFUND_QUERY} WHERE r.order_id = ? AND o.customer_id = ?",
            (order_id, customer_id),
        )
        return _record(Refund, row) if row else None

    async def refunds(self, order_id: str | None = None) -> list[Refund]:
        """Every refund recorded (of the order, when given), whoever's account it is, oldest
        first: what an audit of the refunds issued reads. For a caller's own refund use
        `refund_for_order`, which checks the account."""
        where, params = (" WHERE r.order_id = ?", (order_id,)) if order_id else ("", ())
        rows = await self._db.fetchall(f"{_REFUND_QUERY}{where} ORDER BY r.id", params)
        return [_record(Refund, row) for row in rows]

    async def create_refund(
        self,
        customer_id: int,
        order_id: str,
        reason: str,
        *,
        requested_by: str | None = None,
        approval_id: int | None = None,
        ticket_id: int | None = None,
    ) -> RefundResult:
        """Refund the whole order to its original payment method, atomically.

        The refund policy (window, eligibility) is the caller's to check; this method only
        guarantees ownership and one refund per order — `refunds.order_id` is UNIQUE, so a
        concurrent second attempt fails in the database and comes back `already_refunded`.
        `approval_id`: the approval it was issued under, kept with it; `ticket_id`: the ticket
        whose history gets a `refund_issued` step, in the same transaction.
        """

        async def body(tx: Tx) -> bool:
            order = await tx.fetchone(
                "SELECT amount_cents, currency FROM orders WHERE id = ? AND customer_id = ?",
                (order_id, customer_id),
            )
            if order is None:
                return False
            refund_id = await _next_id(tx, "refunds", "RF-", 4001)
            await tx.execute(
                "INSERT INTO refunds (id, order_id, amount_cents, currency, reason, status,"
                " requested_by, approval_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'processing', ?, ?, ?)",
                (
                    refund_id,
                    order_id,
                    order["amount_cents"],
                    order["currency"],
                    _cap(reason, MAX_REASON_CHARS),
                    requested_by,
                    approval_id,
                    time.time(),
                ),
            )
            if ticket_id is not None:
                amount = f"{order['amount_cents'] / 100:,.2f} {order['currency']}"
                under = f" under approval #{approval_id}" if approval_id is not None else ""
                await record_event(
                    tx,
                    ticket_id,
                    "refund_issued",
                    actor="desk",
                    note=f"{refund_id}: {amount} for {order_id}{under}",
                )
            return True

        for _ in range(ID_ATTEMPTS):
            try:
                if not await self._db.atomic(body):
                    return RefundResult("order_not_found")
                return RefundResult("created", await self.refund_for_order(customer_id, order_id))
            except IntegrityError:
                existing = await self.refund_for_order(customer_id, order_id)
                if existing is not None:
                    return RefundResult("already_refunded", existing)
                # Another order's refund took the same number at the same moment (possible
                # on PostgreSQL, where transactions run side by side): number it again.
        raise RuntimeError(f"could not number a refund after {ID_ATTEMPTS} attempts")

    # -- service health --------------------------------------------------------------------

    async def service_status(self) -> list[ComponentStatus]:
        rows = await self._db.fetchall("SELECT * FROM service_status ORDER BY component")
        return [_record(ComponentStatus, row) for row in rows]

    async def open_incidents(self) -> list[Incident]:
        """Incidents not resolved yet, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM incidents WHERE status <> 'resolved' ORDER BY started_at DESC"
        )
        return [_record(Incident, row) for row in rows]

    # -- requests from the desk ------------------------------------------------------------

    async def create_bug_report(
        self,
        *,
        slack_user_id: str,
        customer_id: int | None,
        title: str,
        details: str,
        severity: Severity,
        ticket_id: int | None = None,
        turn: int | None = None,
    ) -> Filed[BugReport]:
        """File a bug report, or return the one this turn of the ticket already filed under
        the same title: a model that calls the tool twice (or a turn run again after a crash)
        files one report. The two calls' details may differ; the first report stands.
        `bug_reports_once_per_turn` (UNIQUE) makes a concurrent second call fail in the
        database, and it comes back with the first. Without a turn, every call files one."""
        title = _cap(title, MAX_TITLE_CHARS) or ""
        existing = (
            "SELECT * FROM bug_reports WHERE ticket_id = ? AND turn = ? AND title = ?",
            (ticket_id, turn, title),
        )
        row, created = await self._create_numbered(
            "bug_reports",
            "BUG-",
            7001,
            "INSERT INTO bug_reports (id, customer_id, slack_user_id, title, details,"
            " severity, status, created_at, ticket_id, turn)"
            " VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)",
            (
                customer_id,
                slack_user_id,
                title,
                _cap(details, MAX_DETAILS_CHARS),
                severity,
                time.time(),
                ticket_id,
                turn,
            ),
            existing=existing if turn is not None else None,
        )
        return Filed(_record(BugReport, row), created)

    async def bug_reports(self) -> list[BugReport]:
        """Every bug report filed, oldest first (what engineering triages)."""
        rows = await self._db.fetchall("SELECT * FROM bug_reports ORDER BY id")
        return [_record(BugReport, row) for row in rows]

    async def create_demo_request(
        self,
        *,
        slack_user_id: str,
        customer_id: int | None,
        name: str | None,
        email: str | None,
        company_size: str,
        notes: str,
        ticket_id: int | None = None,
        turn: int | None = None,
    ) -> Filed[DemoRequest]:
        """Ask sales for a demo, or return the request this turn of the ticket already made
        (as `create_bug_report`: `demo_requests_once_per_turn` is UNIQUE)."""
        existing = (
            "SELECT * FROM demo_requests WHERE ticket_id = ? AND turn = ?",
            (ticket_id, turn),
        )
        row, created = await self._create_numbered(
            "demo_requests",
            "DEMO-",
            8001,
            "INSERT INTO demo_requests (id, customer_id, slack_user_id, name, email,"
            " company_size, notes, status, created_at, ticket_id, turn)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)",
            (
                customer_id,
                slack_user_id,
                _cap(name, MAX_NAME_CHARS),
                _cap(email, MAX_NAME_CHARS),
                _cap(company_size, MAX_COMPANY_SIZE_CHARS),
                _cap(notes, MAX_NOTES_CHARS),
                time.time(),
                ticket_id,
                turn,
            ),
            existing=existing if turn is not None else None,
        )
        return Filed(_record(DemoRequest, row), created)

    async def demo_requests(self) -> list[DemoRequest]:
        """Every demo request recorded, oldest first (what sales follows up)."""
        rows = await self._db.fetchall("SELECT * FROM demo_requests ORDER BY id")
        return [_record(DemoRequest, row) for row in rows]

    async def record_counts(self) -> dict[str, int]:
        """How many records each business table holds (customers, invoices, payments,
        orders, refunds): whether the demo data is loaded, and once only."""
        counts: dict[str, int] = {}
        for table in _COUNTED_TABLES:  # constants of this module, never user text
            row = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
            counts[table] = row["n"] if row else 0
        return counts

    async def _create_numbered(
        self,
        table: str,
        prefix: str,
        first: int,
        insert: str,
        values: tuple[object, ...],
        *,
        existing: tuple[str, tuple[object, ...]] | None = None,
    ) -> tuple[Row, bool]:
        """Insert a record under the next public id of `table` (the first `?` of `insert`)
        and return it, with True. Two records numbered at the same moment on PostgreSQL can
        pick the same id; the loser's insert fails on the primary key and is numbered again.
        `existing` (a query and its values): the record this one would repeat, returned
        with False instead of a new one, also when a concurrent insert of it won (its unique
        index fails the loser's insert, which then finds it on the next attempt)."""

        async def body(tx: Tx) -> tuple[Row, bool]:
            if existing is not None:
                found = await tx.fetchone(*existing)
                if found is not None:
                    return found, False
            new_id = await _next_id(tx, table, prefix, first)
            await tx.execute(insert, (new_id, *values))
            row = await tx.fetchone(f"SELECT * FROM {table} WHERE id = ?", (new_id,))
            assert row is not None
            return row, True

        for attempt in range(1, ID_ATTEMPTS + 1):
            try:
                return await self._db.atomic(body)
            except IntegrityError:
                if attempt == ID_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

"""Read-only queries that audit what the desk's tools did, for `support-desk eval`.

The evaluation runs the real desk on a throwaway database and then checks, from the business
tables, that no tool call broke a business rule or acted on another customer's records
(see `agents_config.evaluation`). Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class RefundRecord:
    """A refund, with the order it refunds (for the policy checks)."""

    id: str
    order_id: str
    requested_by: str | None
    created_at: float
    order_customer_id: int
    ordered_at: float
    refunds_of_order: int  # how many refunds that order has in all
    # The tools of the approval it was issued under, when a staff member approved it (for the
    # refund's own requester); empty when no staff member did.
    staff_approved_tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountRecord:
    """A record a tool created for a customer: an investigation, a bug report, a demo request.

    `owner_id` is whose data it concerns (for an investigation, the payment's customer);
    `slack_user_id` who asked for it, when the table keeps that.
    """

    kind: str
    id: str
    customer_id: int | None
    owner_id: int | None
    slack_user_id: str | None


class AuditRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def refunds_since(self, since: float) -> list[RefundRecord]:
        rows = await self._db.fetchall(
            "SELECT r.id, r.order_id, r.requested_by, r.created_at,"
            " o.customer_id AS order_customer_id, o.created_at AS ordered_at,"
            " (SELECT COUNT(*) FROM refunds r2 WHERE r2.order_id = r.order_id)"
            "   AS refunds_of_order, a.actions AS approved_actions"
            " FROM refunds r JOIN orders o ON o.id = r.order_id"
            " LEFT JOIN approvals a ON a.id = r.approval_id AND a.status = 'confirmed'"
            "   AND a.reviewed_by IS NOT NULL AND a.requester = r.requested_by"
            " WHERE r.created_at >= ? ORDER BY r.id",
            (since,),
        )
        records = []
        for row in rows:
            values = dict(row)
            actions = json.loads(values.pop("approved_actions") or "[]")
            records.append(
                RefundRecord(**values, staff_approved_tools=tuple(a["tool"] for a in actions))
            )
        return records

    async def account_records_since(self, since: float) -> list[AccountRecord]:
        rows = await self._db.fetchall(
            "SELECT 'payment investigation' AS kind, q.id, q.customer_id,"
            " i.customer_id AS owner_id, NULL AS slack_user_id"
            " FROM payment_investigations q JOIN payments p ON p.id = q.payment_id"
            " JOIN invoices i ON i.id = p.invoice_id WHERE q.created_at >= ?"
            " UNION ALL SELECT 'bug report', id, customer_id, customer_id, slack_user_id"
            " FROM bug_reports WHERE created_at >= ?"
            " UNION ALL SELECT 'demo request', id, customer_id, customer_id, slack_user_id"
            " FROM demo_requests WHERE created_at >= ?",
            (since, since, since),
        )
        return [AccountRecord(**dict(r)) for r in rows]

    async def account_markers(self) -> dict[int, set[str]]:
        """Per customer, the strings that identify their data: e-mail, name, company, and the
        ids of their invoices, payments, orders, refunds and payment investigations."""
        markers: dict[int, set[str]] = {}
        for sql in (
            "SELECT id AS customer_id, email AS marker FROM customers"
            " UNION ALL SELECT id, name FROM customers"
            " UNION ALL SELECT id, company FROM customers",
            "SELECT customer_id, id AS marker FROM invoices"
            " UNION ALL SELECT i.customer_id, p.id FROM payments p"
            "   JOIN invoices i ON i.id = p.invoice_id"
            " UNION ALL SELECT customer_id, id FROM orders"
            " UNION ALL SELECT o.customer_id, r.id FROM refunds r"
            "   JOIN orders o ON o.id = r.order_id"
            " UNION ALL SELECT customer_id, id FROM payment_investigations",
        ):
            for row in await self._db.fetchall(sql):
                if row["marker"]:
                    markers.setdefault(row["customer_id"], set()).add(str(row["marker"]))
        return markers

    async def places_holding(self, needle: str) -> list[str]:
        """Every `table.column` of the database (every table, the FTS index and migrations
        included) where some value contains `needle`: for checking that a secret was never
        stored anywhere."""
        if self._db.dialect == "postgresql":
            columns = [
                (r["table_name"], r["column_name"])
                for r in await self._db.fetchall(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
                )
            ]
            contains = "strpos"
        else:
            columns = []
            tables = await self._db.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            for table in tables:
                name = str(table["name"]).replace('"', '""')
                for column in await self._db.fetchall(f'PRAGMA table_info("{name}")'):
                    columns.append((table["name"], column["name"]))
            contains = "instr"
        found: list[str] = []
        for table_name, column_name in columns:
            name = str(table_name).replace('"', '""')
            col = str(column_name).replace('"', '""')
            hit = await self._db.fetchone(
                f'SELECT 1 AS hit FROM "{name}" WHERE {contains}(CAST("{col}" AS TEXT), ?) > 0'
                " LIMIT 1",
                (needle,),
            )
            if hit is not None:
                found.append(f"{table_name}.{column_name}")
        return found

"""Tickets and their lifecycle, escalations, and the cache of Slack users.

Lifecycle: open → answered | escalated → claimed → resolved; a resolved ticket is reopened
when the user writes again. Every transition is kept in `ticket_events` with its time, so
reports can compute time to first response and time to resolution.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from storage.db import Database, Row

TicketStatus = Literal["open", "answered", "escalated", "claimed", "resolved"]


@dataclass(frozen=True)
class Ticket:
    id: int
    channel: str
    thread_ts: str
    user_id: str
    customer_id: int | None
    status: TicketStatus
    department: str | None
    agent_path: list[str]
    subject: str
    assignee: str | None
    priority: str
    created_at: float
    updated_at: float
    first_response_at: float | None
    resolved_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> Ticket:
        return cls(
            id=row["id"],
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            user_id=row["user_id"],
            customer_id=row["customer_id"],
            status=row["status"],
            department=row["department"],
            agent_path=json.loads(row["agent_path"]),
            subject=row["subject"],
            assignee=row["assignee"],
            priority=row["priority"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            first_response_at=row["first_response_at"],
            resolved_at=row["resolved_at"],
        )


@dataclass(frozen=True)
class TicketEvent:
    status: str
    actor: str | None
    note: str | None
    at: float


@dataclass(frozen=True)
class Escalation:
    id: int
    ticket_id: int
    reason: str
    summary: str
    staff_channel: str | None
    staff_ts: str | None
    created_at: float


class TicketRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open_for_thread(
        self,
        *,
        channel: str,
        thread_ts: str,
        user_id: str,
        subject: str,
        customer_id: int | None,
    ) -> tuple[Ticket, bool]:
        """The thread's ticket, opened now if it has none. Returns (ticket, opened_now)."""
        now = time.time()
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO tickets (channel, thread_ts, user_id, customer_id, status, subject,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (channel, thread_ts, user_id, customer_id, subject[:200], now, now),
            )
            opened = cursor.rowcount == 1
            if opened:
                await conn.execute(
                    "INSERT INTO ticket_events (ticket_id, status, actor, at) VALUES (?, ?, ?, ?)",
                    (cursor.lastrowid, "open", user_id, now),
                )
        ticket = await self.by_thread(channel, thread_ts)
        assert ticket is not None
        return ticket, opened

    async def get(self, ticket_id: int) -> Ticket | None:
        row = await self._db.fetchone("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return Ticket.from_row(row) if row else None

    async def by_thread(self, channel: str, thread_ts: str) -> Ticket | None:
        row = await self._db.fetchone(
            "SELECT * FROM tickets WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        )
        return Ticket.from_row(row) if row else None

    async def for_user(self, user_id: str, limit: int = 20) -> list[Ticket]:
        rows = await self._db.fetchall(
            "SELECT * FROM tickets WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [Ticket.from_row(r) for r in rows]

    async def set_status(
        self,
        ticket_id: int,
        status: TicketStatus,
        *,
        actor: str | None = None,
        note: str | None = None,
    ) -> None:
        """Move the ticket to `status` and record the transition (a repeat is not recorded)."""
        now = time.time()
        responded = status in ("answered", "escalated")
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE tickets SET status = ?, updated_at = ?,"
                " first_response_at = CASE WHEN ? AND first_response_at IS NULL THEN ?"
                "   ELSE first_response_at END,"
                " resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE NULL END"
                " WHERE id = ? AND status != ?",
                (status, now, responded, now, status, now, ticket_id, status),
            )
            if cursor.rowcount:
                await conn.execute(
                    "INSERT INTO ticket_events (ticket_id, status, actor, note, at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (ticket_id, status, actor, note, now),
                )

    async def record_route(
        self, ticket_id: int, *, department: str | None, agent_path: list[str]
    ) -> None:
        await self._db.execute(
            "UPDATE tickets SET department = COALESCE(?, department), agent_path = ?,"
            " updated_at = ? WHERE id = ?",
            (department, json.dumps(agent_path), time.time(), ticket_id),
        )

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._db.fetchall(
            "SELECT status, actor, note, at FROM ticket_events WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        )
        return [TicketEvent(r["status"], r["actor"], r["note"], r["at"]) for r in rows]

    async def add_escalation(
        self, ticket_id: int, *, reason: str, summary: str, priority: str = "normal"
    ) -> int:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE tickets SET priority = ? WHERE id = ?", (priority, ticket_id)
            )
            cursor = await conn.execute(
                "INSERT INTO escalations (ticket_id, reason, summary, created_at)"
                " VALUES (?, ?, ?, ?)",
                (ticket_id, reason[:500], summary[:3000], time.time()),
            )
            return cursor.lastrowid or 0

    async def set_escalation_message(self, escalation_id: int, channel: str, ts: str) -> None:
        await self._db.execute(
            "UPDATE escalations SET staff_channel = ?, staff_ts = ? WHERE id = ?",
            (channel, ts, escalation_id),
        )

    async def escalations(self, ticket_id: int) -> list[Escalation]:
        rows = await self._db.fetchall(
            "SELECT * FROM escalations WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [
            Escalation(
                r["id"], r["ticket_id"], r["reason"], r["summary"], r["staff_channel"],
                r["staff_ts"], r["created_at"],
            )
            for r in rows
        ]


@dataclass(frozen=True)
class SlackUser:
    user_id: str
    email: str | None
    name: str | None
    is_bot: bool
    fetched_at: float


class UserRepo:
    """A cache of `users.info`, so a thread's second message costs no Slack call."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str, *, max_age_s: float) -> SlackUser | None:
        row = await self._db.fetchone(
            "SELECT * FROM slack_users WHERE user_id = ? AND fetched_at > ?",
            (user_id, time.time() - max_age_s),
        )
        if row is None:
            return None
        return SlackUser(
            row["user_id"], row["email"], row["name"], bool(row["is_bot"]), row["fetched_at"]
        )

    async def put(self, user: SlackUser) -> None:
        await self._db.execute(
            "INSERT INTO slack_users (user_id, email, name, is_bot, fetched_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,"
            " name = excluded.name, is_bot = excluded.is_bot, fetched_at = excluded.fetched_at",
            (user.user_id, user.email, user.name, int(user.is_bot), user.fetched_at),
        )

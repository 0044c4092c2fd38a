"""Tickets and their lifecycle, escalations, and the cache of Slack users.

Lifecycle: open → answered | escalated → claimed → resolved; a resolved ticket is reopened
when the user writes again. Every transition is kept in `ticket_events` with its time and
actor, so reports can compute time to first response, to a claim and to resolution. Staff
claims and resolves are atomic conditional updates (of two concurrent claims, one wins);
escalations keep what their staff message shows and their reminder schedule; CSAT ratings
are in `csat_ratings`, one per ticket, from the rating request posted on resolve.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from storage.db import Database, Row, Tx
from storage.redaction import scrub

TicketStatus = Literal["open", "answered", "escalated", "claimed", "resolved"]
MAX_ESCALATION_REASON_CHARS = 500
MAX_ESCALATION_SUMMARY_CHARS = 3000
RatingResult = Literal["rated", "no_ticket", "not_requester", "not_resolved", "not_prompt"]


NoteKind = Literal["note", "reply"]
SlaClock = Literal["first_response", "resolution"]


@dataclass(frozen=True)
class SlaTargets:
    """Service-level targets per priority, in seconds, for tickets handed to staff: the first
    response (a person claims it) and the resolution, each counted from the escalation.
    `warn_at`: the share of a target after which staff are warned (0.8: at 80 %)."""

    first_response_s: dict[str, float]
    resolution_s: dict[str, float]
    warn_at: float = 0.8

    def target(self, clock: SlaClock, priority: str) -> float | None:
        table = self.first_response_s if clock == "first_response" else self.resolution_s
        return table.get(priority)


@dataclass(frozen=True)
class Note:
    """What a staff member wrote about a ticket: an internal `note`, or a `reply` relayed."""

    ticket_id: int
    author: str
    kind: NoteKind
    text: str
    created_at: float


PRIORITIES = ("low", "normal", "high", "urgent")


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
    claimed_at: float | None = None
    corrected_department: str | None = None  # set by staff when `department` was wrong

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
            claimed_at=row["claimed_at"],
            corrected_department=row["corrected_department"],
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
    agent_path: tuple[str, ...] = ()
    department: str | None = None
    thread_link: str | None = None
    notice_ts: str | None = None  # the message telling the user a person will follow up
    notice_text: str | None = None
    reminders: int = 0
    reminded_at: float | None = None

    @classmethod
    def from_row(cls, row: Row) -> Escalation:
        return cls(
            id=row["id"],
            ticket_id=row["ticket_id"],
            reason=row["reason"],
            summary=row["summary"],
            staff_channel=row["staff_channel"],
            staff_ts=row["staff_ts"],
            created_at=row["created_at"],
            agent_path=tuple(json.loads(row["agent_path"] or "[]")),
            department=row["department"],
            thread_link=row["thread_link"],
            notice_ts=row["notice_ts"],
            notice_text=row["notice_text"],
            reminders=row["reminders"],
            reminded_at=row["reminded_at"],
        )


@dataclass(frozen=True)
class QueueEntry:
    """A ticket waiting for (or held by) a person, with its latest escalation."""

    ticket: Ticket
    escalation: Escalation | None


@dataclass(frozen=True)
class LabelledTicket:
    """A resolved ticket as a routing example: the message that opened it and its department
    (staff's correction when there is one). No user or channel ids."""

    id: int
    text: str
    department: str | None
    corrected: bool
    resolved_at: float


@dataclass(frozen=True)
class Rating:
    ticket_id: int
    user_id: str
    score: int
    prompt_ts: str
    rated_at: float


async def record_event(
    tx: Tx,
    ticket_id: int,
    kind: str,
    *,
    actor: str | None,
    note: str | None = None,
    at: float | None = None,
) -> None:
    """Add one step to the ticket's history (`ticket_events`), inside the caller's transaction:
    a status it moved to, or another step worth auditing (`department`, the `approval_*` steps
    of an acting tool's approval, `refund_issued`)."""
    await tx.execute(
        "INSERT INTO ticket_events (ticket_id, status, actor, note, at) VALUES (?, ?, ?, ?, ?)",
        (ticket_id, kind, actor, scrub(note) if note else note, time.time() if at is None else at),
    )


# The latest escalation of a ticket (a ticket reopened and escalated again has several).
_LATEST = "e.id = (SELECT MAX(id) FROM escalations WHERE ticket_id = e.ticket_id)"


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
        opening_text: str | None = None,
        now: float | None = None,
    ) -> tuple[Ticket, bool]:
        """The thread's ticket, opened now (or at `now`) if it has none. Returns (ticket,
        opened_now).

        `opening_text`: the whole first message (`export-tickets` writes it). Secrets in
        either are removed (the second line: intake removed them already)."""
        now = time.time() if now is None else now
        subject = scrub(subject)
        opening_text = scrub(opening_text) if opening_text else opening_text

        by_thread = "SELECT * FROM tickets WHERE channel = ? AND thread_ts = ?"

        async def body(tx: Tx) -> tuple[Row | None, bool]:
            # Look first: an insert that conflicts would still use up a ticket number.
            existing = await tx.fetchone(by_thread, (channel, thread_ts))
            if existing is not None:
                return existing, False
            ticket_id = await tx.insert(
                "INSERT INTO tickets (channel, thread_ts, user_id, customer_id, status, subject,"
                " opening_text, created_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (channel, thread_ts, user_id, customer_id, subject[:200], opening_text, now, now),
            )
            if ticket_id is not None:
                await record_event(tx, ticket_id, "open", actor=user_id, at=now)
            return await tx.fetchone(by_thread, (channel, thread_ts)), ticket_id is not None

        row, opened = await self._db.atomic(body)
        assert row is not None
        return Ticket.from_row(row), opened

    async def get(self, ticket_id: int) -> Ticket | None:
        row = await self._db.fetchone("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return Ticket.from_row(row) if row else None

    async def opening_text(self, ticket_id: int) -> str | None:
        """The whole first message of the ticket's thread (secrets removed), if recorded."""
        row = await self._db.fetchone("SELECT opening_text FROM tickets WHERE id = ?", (ticket_id,))
        return row["opening_text"] if row else None

    async def by_thread(self, channel: str, thread_ts: str) -> Ticket | None:
        row = await self._db.fetchone(
            "SELECT * FROM tickets WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        )
        return Ticket.from_row(row) if row else None

    async def by_staff_message(self, channel: str, ts: str) -> Ticket | None:
        """The ticket whose escalation was posted to staff as the message (channel, ts)."""
        row = await self._db.fetchone(
            "SELECT t.* FROM tickets t JOIN escalations e ON e.ticket_id = t.id"
            " WHERE e.staff_channel = ? AND e.staff_ts = ? LIMIT 1",
            (channel, ts),
        )
        return Ticket.from_row(row) if row else None

    async def add_note(
        self, ticket_id: int, *, author: str, kind: NoteKind, text: str, source_ts: str
    ) -> bool:
        """Keep a staff note or relayed reply; False when that message was recorded before."""
        return bool(
            await self._db.execute(
                "INSERT INTO ticket_notes (ticket_id, author, kind, text, source_ts, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (ticket_id, author, kind, scrub(text), source_ts, time.time()),
            )
        )

    async def notes(self, ticket_id: int) -> list[Note]:
        rows = await self._db.fetchall(
            "SELECT * FROM ticket_notes WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [
            Note(r["ticket_id"], r["author"], r["kind"], r["text"], r["created_at"]) for r in rows
        ]

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
        now: float | None = None,
    ) -> None:
        """Move the ticket to `status` and record the transition (a repeat is not recorded),
        now or at `now`."""
        now = time.time() if now is None else now
        update, params = _status_update(ticket_id, status, now)
        await self._transition(
            update,
            params,
            ticket_id=ticket_id,
            status=status,
            actor=actor,
            note=scrub(note) if note else note,
            at=now,
        )

    async def _transition(
        self,
        update: str,
        params: tuple[object, ...],
        *,
        ticket_id: int,
        status: str,
        actor: str | None,
        note: str | None,
        at: float,
    ) -> bool:
        """Run a guarded UPDATE; when it changed the ticket, record the transition with it."""

        async def body(tx: Tx) -> bool:
            return await _transition(tx, update, params, ticket_id, status, actor, note, at)

        return await self._db.atomic(body)

    async def record_route(
        self, ticket_id: int, *, department: str | None, agent_path: list[str]
    ) -> None:
        await self._db.execute(*_route_update(ticket_id, department, agent_path, time.time()))

    async def record_turn(
        self, ticket_id: int, *, answered: bool, department: str | None, agent_path: list[str]
    ) -> Ticket | None:
        """The end of one AI turn, in one transaction: with `answered`, the ticket moves to
        answered (unless staff have it escalated, or it is answered already); its route is
        recorded; and the ticket is returned as it now is."""
        now = time.time()

        async def body(tx: Tx) -> Row | None:
            if answered:
                update, params = _status_update(ticket_id, "answered", now, unless="escalated")
                await _transition(tx, update, params, ticket_id, "answered", "desk", None, now)
            await tx.execute(*_route_update(ticket_id, department, agent_path, now))
            return await tx.fetchone("SELECT * FROM tickets WHERE id = ?", (ticket_id,))

        row = await self._db.atomic(body)
        return Ticket.from_row(row) if row else None

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._db.fetchall(
            "SELECT status, actor, note, at FROM ticket_events WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        )
        return [TicketEvent(r["status"], r["actor"], r["note"], r["at"]) for r in rows]

    async def add_escalation(
        self,
        ticket_id: int,
        *,
        reason: str,
        summary: str,
        priority: str = "normal",
        now: float | None = None,
    ) -> int:
        """Hand the ticket to staff (now, or at `now`); the new escalation's id."""
        created = time.time() if now is None else now

        async def body(tx: Tx) -> int:
            await tx.execute("UPDATE tickets SET priority = ? WHERE id = ?", (priority, ticket_id))
            new_id = await tx.insert(
                "INSERT INTO escalations (ticket_id, reason, summary, created_at)"
                " VALUES (?, ?, ?, ?)",
                (
                    ticket_id,
                    scrub(reason)[:MAX_ESCALATION_REASON_CHARS],
                    scrub(summary)[:MAX_ESCALATION_SUMMARY_CHARS],
                    created,
                ),
            )
            return new_id or 0

        return await self._db.atomic(body)

    async def set_escalation_message(self, escalation_id: int, channel: str, ts: str) -> None:
        await self._db.execute(
            "UPDATE escalations SET staff_channel = ?, staff_ts = ? WHERE id = ?",
            (channel, ts, escalation_id),
        )

    async def escalations(self, ticket_id: int) -> list[Escalation]:
        rows = await self._db.fetchall(
            "SELECT * FROM escalations WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [Escalation.from_row(r) for r in rows]

    async def latest_escalation(self, ticket_id: int) -> Escalation | None:
        row = await self._db.fetchone(
            "SELECT * FROM escalations WHERE ticket_id = ? ORDER BY id DESC LIMIT 1", (ticket_id,)
        )
        return Escalation.from_row(row) if row else None

    async def describe_escalation(
        self,
        escalation_id: int,
        *,
        agent_path: list[str],
        department: str | None,
        thread_link: str | None,
        notice_ts: str | None,
        notice_text: str | None,
    ) -> None:
        """What the staff message shows, kept so it can be drawn again after a claim."""
        await self._db.execute(
            "UPDATE escalations SET agent_path = ?, department = ?, thread_link = ?,"
            " notice_ts = COALESCE(?, notice_ts), notice_text = COALESCE(?, notice_text)"
            " WHERE id = ?",
            (
                json.dumps(agent_path),
                department,
                thread_link,
                notice_ts,
                scrub(notice_text) if notice_text else notice_text,
                escalation_id,
            ),
        )

    # ---- staff: claim, resolve, priority -----------------------------------------------

    async def claim(
        self, ticket_id: int, staff_user: str, *, note: str | None = None
    ) -> tuple[bool, Ticket | None]:
        """Give an escalated ticket nobody owns to `staff_user`, atomically.

        Returns (claimed now, the ticket as it is after). Only one of two concurrent claims wins.
        """
        now = time.time()
        claimed = await self._transition(
            "UPDATE tickets SET status = 'claimed', assignee = ?, claimed_at = ?,"
            " updated_at = ? WHERE id = ? AND status = 'escalated'",
            (staff_user, now, now, ticket_id),
            ticket_id=ticket_id,
            status="claimed",
            actor=staff_user,
            note=note,
            at=now,
        )
        return claimed, await self.get(ticket_id)

    async def resolve(
        self, ticket_id: int, staff_user: str, *, note: str | None = None
    ) -> tuple[bool, Ticket | None]:
        """Close the ticket (whoever owns it). Returns (resolved now, the ticket after)."""
        now = time.time()
        resolved = await self._transition(
            "UPDATE tickets SET status = 'resolved', resolved_at = ?, updated_at = ?,"
            " assignee = COALESCE(assignee, ?) WHERE id = ? AND status != 'resolved'",
            (now, now, staff_user, ticket_id),
            ticket_id=ticket_id,
            status="resolved",
            actor=staff_user,
            note=note,
            at=now,
        )
        return resolved, await self.get(ticket_id)

    async def set_priority(self, ticket_id: int, priority: str) -> None:
        await self._db.execute(
            "UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ?",
            (priority, time.time(), ticket_id),
        )

    async def correct_department(
        self, ticket_id: int, department: str, staff_user: str
    ) -> tuple[bool, Ticket | None]:
        """Staff's judgement of the ticket's department (the label `export-tickets` writes),
        recorded as a `department` event. Returns (changed now, the ticket after)."""
        now = time.time()

        async def body(tx: Tx) -> bool:
            row = await tx.fetchone(
                "SELECT COALESCE(corrected_department, department) FROM tickets WHERE id = ?",
                (ticket_id,),
            )
            if row is None or row[0] == department:
                return False
            await tx.execute(
                "UPDATE tickets SET corrected_department = ?, updated_at = ? WHERE id = ?",
                (department, now, ticket_id),
            )
            await record_event(
                tx,
                ticket_id,
                "department",
                actor=staff_user,
                note=f"department corrected: {row[0] or 'none'} → {department}",
                at=now,
            )
            return True

        changed = await self._db.atomic(body)
        return changed, await self.get(ticket_id)

    async def resolved_since(self, since: float) -> list[LabelledTicket]:
        """Tickets resolved at or after `since`, oldest first, as routing examples."""
        rows = await self._db.fetchall(
            "SELECT id, COALESCE(opening_text, subject) AS text, resolved_at,"
            " COALESCE(corrected_department, department) AS department,"
            " corrected_department IS NOT NULL AS corrected"
            " FROM tickets WHERE status = 'resolved' AND resolved_at >= ?"
            " ORDER BY resolved_at, id",
            (since,),
        )
        return [
            LabelledTicket(
                r["id"], r["text"], r["department"], bool(r["corrected"]), r["resolved_at"]
            )
            for r in rows
        ]

    # ---- staff queue (App Home) ----------------------------------------------------------

    async def queue(self, *, limit: int = 20) -> list[QueueEntry]:
        """Escalated tickets nobody has claimed, newest escalation first."""
        return await self._entries("t.status = 'escalated'", (), limit)

    async def claimed_by(self, staff_user: str, *, limit: int = 20) -> list[QueueEntry]:
        """Tickets `staff_user` holds now, newest escalation first."""
        return await self._entries("t.status = 'claimed' AND t.assignee = ?", (staff_user,), limit)

    async def _entries(
        self, where: str, params: tuple[object, ...], limit: int
    ) -> list[QueueEntry]:
        rows = await self._db.fetchall(
            "SELECT t.id AS tid, e.id AS eid FROM tickets t"
            f" LEFT JOIN escalations e ON e.ticket_id = t.id AND {_LATEST}"
            f" WHERE {where} ORDER BY COALESCE(e.created_at, t.updated_at) DESC, t.id DESC"
            " LIMIT ?",
            (*params, limit),
        )
        entries = []
        for row in rows:
            ticket = await self.get(row["tid"])
            found = await self._db.fetchone("SELECT * FROM escalations WHERE id = ?", (row["eid"],))
            if ticket is not None:
                entries.append(QueueEntry(ticket, Escalation.from_row(found) if found else None))
        return entries

    # ---- reminders of unclaimed escalations ----------------------------------------------

    async def sla_running(self) -> list[tuple[Escalation, Ticket]]:
        """Posted escalations whose SLA clocks still run (not resolved), with their tickets."""
        rows = await self._db.fetchall(
            "SELECT e.id AS escalation_id FROM escalations e JOIN tickets t ON t.id = e.ticket_id"
            f" WHERE t.status IN ('escalated', 'claimed') AND e.staff_ts IS NOT NULL AND {_LATEST}"
            " AND (e.sla_first_warned_at IS NULL OR e.sla_resolution_warned_at IS NULL)"
            " ORDER BY e.id"
        )
        found = []
        for row in rows:
            escalation = await self._escalation(row["escalation_id"])
            ticket = await self.get(escalation.ticket_id) if escalation else None
            if escalation is not None and ticket is not None:
                found.append((escalation, ticket))
        return found

    async def take_sla_warning(self, escalation_id: int, clock: SlaClock, *, now: float) -> bool:
        """Book the one warning of this clock (False: booked before, here or elsewhere)."""
        column = "sla_first_warned_at" if clock == "first_response" else "sla_resolution_warned_at"
        return (
            await self._db.execute(
                f"UPDATE escalations SET {column} = ? WHERE id = ? AND {column} IS NULL",
                (now, escalation_id),
            )
            == 1
        )

    async def _escalation(self, escalation_id: int) -> Escalation | None:
        row = await self._db.fetchone("SELECT * FROM escalations WHERE id = ?", (escalation_id,))
        return Escalation.from_row(row) if row else None

    async def due_reminders(self, *, now: float, every_s: float) -> list[Escalation]:
        """Posted escalations still unclaimed whose next reminder time has come."""
        rows = await self._db.fetchall(
            "SELECT e.* FROM escalations e JOIN tickets t ON t.id = e.ticket_id"
            f" WHERE t.status = 'escalated' AND e.staff_ts IS NOT NULL AND {_LATEST}"
            " AND COALESCE(e.next_reminder_at, e.created_at + ?) <= ? ORDER BY e.id",
            (every_s, now),
        )
        return [Escalation.from_row(r) for r in rows]

    async def take_reminder(self, escalation_id: int, *, now: float, every_s: float) -> bool:
        """Book the reminder that is due (False: another process booked it first)."""
        changed = await self._db.execute(
            "UPDATE escalations SET reminders = reminders + 1, reminded_at = ?,"
            " next_reminder_at = ? WHERE id = ?"
            " AND COALESCE(next_reminder_at, created_at + ?) <= ?",
            (now, now + every_s, escalation_id, every_s, now),
        )
        return changed == 1

    async def unannounced(self, *, older_than: float) -> list[Escalation]:
        """Escalations still waiting whose staff message was never posted (a crash, a Slack
        error), created before `older_than`."""
        rows = await self._db.fetchall(
            "SELECT e.* FROM escalations e JOIN tickets t ON t.id = e.ticket_id"
            f" WHERE t.status = 'escalated' AND e.staff_ts IS NULL AND {_LATEST}"
            " AND e.created_at <= ? ORDER BY e.id",
            (older_than,),
        )
        return [Escalation.from_row(r) for r in rows]

    # ---- CSAT ---------------------------------------------------------------------------

    async def set_csat_prompt(self, ticket_id: int, channel: str, ts: str) -> None:
        """Remember the rating request posted for the ticket: only clicks on it count."""
        await self._db.execute(
            "UPDATE tickets SET csat_prompt_channel = ?, csat_prompt_ts = ? WHERE id = ?",
            (channel, ts, ticket_id),
        )

    async def rate(
        self,
        ticket_id: int,
        user_id: str,
        score: int,
        prompt: tuple[str, str],
        *,
        now: float | None = None,
    ) -> RatingResult:
        """Store the requester's 1-5 rating of a resolved ticket, given (now, or at `now`) on
        the rating request `prompt` (channel, ts) the desk posted; a later click replaces the
        score. Checked and written in one transaction, so a concurrent reopen or a replay
        cannot slip in."""
        if not 1 <= score <= 5:
            raise ValueError(f"a rating is 1 to 5, not {score}")
        now = time.time() if now is None else now

        async def body(tx: Tx) -> RatingResult:
            row = await tx.fetchone(
                "SELECT user_id, status, csat_prompt_channel, csat_prompt_ts FROM tickets"
                " WHERE id = ?",
                (ticket_id,),
            )
            if row is None:
                return "no_ticket"
            if row[0] != user_id:
                return "not_requester"
            if row[1] != "resolved":
                return "not_resolved"
            if (row[2], row[3]) != prompt:
                return "not_prompt"
            await tx.execute(
                "INSERT INTO csat_ratings (ticket_id, user_id, score, prompt_ts, rated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO UPDATE SET"
                " score = excluded.score, prompt_ts = excluded.prompt_ts,"
                " rated_at = excluded.rated_at",
                (ticket_id, user_id, score, prompt[1], now),
            )
            return "rated"

        return await self._db.atomic(body)

    async def ratings(self, ticket_id: int) -> list[Rating]:
        rows = await self._db.fetchall(
            "SELECT * FROM csat_ratings WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [
            Rating(r["ticket_id"], r["user_id"], r["score"], r["prompt_ts"], r["rated_at"])
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


def _status_update(
    ticket_id: int, status: str, now: float, *, unless: str | None = None
) -> tuple[str, tuple[object, ...]]:
    """The guarded UPDATE moving a ticket to `status` (not from `status` itself, nor from
    `unless`), stamping its first response and resolution."""
    responded = status in ("answered", "escalated")
    guard = " AND status != ?" if unless else ""
    return (
        "UPDATE tickets SET status = ?, updated_at = ?,"
        " first_response_at = CASE WHEN ? AND first_response_at IS NULL THEN ?"
        "   ELSE first_response_at END,"
        " resolved_at = CASE WHEN ? = 'resolved' THEN CAST(? AS DOUBLE PRECISION) END"
        f" WHERE id = ? AND status != ?{guard}",
        (
            status,
            now,
            responded,
            now,
            status,
            now,
            ticket_id,
            status,
            *([unless] if unless else []),
        ),
    )


async def _transition(
    tx: Tx,
    update: str,
    params: tuple[object, ...],
    ticket_id: int,
    status: str,
    actor: str | None,
    note: str | None,
    at: float,
) -> bool:
    """In `tx`: a guarded UPDATE, and when it changed the ticket, its transition recorded."""
    if await tx.execute(update, params) != 1:
        return False
    await record_event(tx, ticket_id, status, actor=actor, note=note, at=at)
    return True


def _route_update(
    ticket_id: int, department: str | None, agent_path: list[str], now: float
) -> tuple[str, tuple[object, ...]]:
    return (
        "UPDATE tickets SET department = COALESCE(?, department), agent_path = ?,"
        " updated_at = ? WHERE id = ?",
        (department, json.dumps(agent_path), now, ticket_id),
    )

"""Actions waiting for a person's yes: the interrupted run and what it would do.

See `migrations/007_approvals.sql`. `decide` is the one way out of `pending`: a single
conditional UPDATE, so of two clicks (two devices, a double click, two processes) exactly one
wins, and the inbox row that won may run again after a crash without a second winner.

Each step is also written to the ticket's history (`ticket_events`), in the same transaction
and once: `approval_requested` (tool, order, amount), `approval_confirmed` / `_cancelled` by
the requester, `approval_approved` / `_rejected` by a staff member (with the reason),
`approval_expired` / `_superseded`; the refund itself adds `refund_issued`
(`BusinessRepo.create_refund`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from storage.db import Database, Row, Tx
from storage.redaction import scrub, scrub_json
from storage.tickets import record_event

ApprovalStatus = Literal[
    "pending", "awaiting_staff", "confirmed", "cancelled", "rejected", "superseded", "expired"
]


# The ticket event of each way out of `pending`, and what it says.
_DECIDED_EVENTS: dict[str, str] = {
    "awaiting_staff": "approval_confirmed",
    "confirmed": "approval_confirmed",
    "cancelled": "approval_cancelled",
    "expired": "approval_expired",
    "superseded": "approval_superseded",
}
_DECIDED_NOTES: dict[str, str] = {
    "awaiting_staff": "confirmed by the requester; waiting for a staff member's approval",
    "confirmed": "confirmed by the requester",
    "cancelled": "cancelled by the requester",
    "expired": "expired before it was answered; nothing was done",
    "superseded": "closed unanswered: the thread moved on; nothing was done",
}


@dataclass(frozen=True)
class PlannedAction:
    """One acting tool call waiting for the yes: its tool, call id and words for the user."""

    tool: str
    call_id: str
    description: str


@dataclass(frozen=True)
class Approval:
    id: int
    ticket_id: int
    channel: str
    thread_ts: str
    requester: str
    approver: str
    turn: int
    start_agent: str
    actions: tuple[PlannedAction, ...]
    state: dict[str, Any]
    status: ApprovalStatus
    message_ts: str | None
    decided_by: str | None
    decided_turn: int | None
    created_at: float
    expires_at: float
    review: dict[str, Any] | None = None  # {policy, reasoning}: staff must approve too
    staff_channel: str | None = None
    staff_ts: str | None = None
    reviewed_by: str | None = None
    reviewed_turn: int | None = None
    review_note: str | None = None
    awaiting_since: float | None = None
    reminders: int = 0

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    @classmethod
    def from_row(cls, row: Row) -> Approval:
        return cls(
            id=row["id"],
            ticket_id=row["ticket_id"],
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            requester=row["requester"],
            approver=row["approver"],
            turn=row["turn"],
            start_agent=row["start_agent"],
            actions=tuple(PlannedAction(**a) for a in json.loads(row["actions"])),
            state=json.loads(row["state"]),
            status=row["status"],
            message_ts=row["message_ts"],
            decided_by=row["decided_by"],
            decided_turn=row["decided_turn"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            review=json.loads(row["review"]) if row["review"] else None,
            staff_channel=row["staff_channel"],
            staff_ts=row["staff_ts"],
            reviewed_by=row["reviewed_by"],
            reviewed_turn=row["reviewed_turn"],
            review_note=row["review_note"],
            awaiting_since=row["awaiting_since"],
            reminders=row["reminders"],
        )


class ApprovalRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        ticket_id: int,
        channel: str,
        thread_ts: str,
        requester: str,
        approver: str,
        turn: int,
        start_agent: str,
        actions: list[PlannedAction],
        state: dict[str, Any],
        ttl_s: float,
        review: dict[str, Any] | None = None,
    ) -> Approval:
        now = time.time()

        async def body(tx: Tx) -> int | None:
            new_id = await tx.insert(
                "INSERT INTO approvals (ticket_id, channel, thread_ts, requester, approver, turn,"
                " start_agent, actions, state, created_at, expires_at, review)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket_id,
                    channel,
                    thread_ts,
                    requester,
                    approver,
                    turn,
                    start_agent,
                    json.dumps([a.__dict__ for a in actions]),
                    json.dumps(state),
                    now,
                    now + ttl_s,
                    json.dumps(scrub_json(review)) if review else None,
                ),
            )
            what = "; ".join(f"{a.tool}: {a.description}" for a in actions)
            who = "the requester, then staff" if approver == "staff" else "the requester"
            await record_event(
                tx,
                ticket_id,
                "approval_requested",
                actor=requester,
                note=f"approval #{new_id} ({who} must say yes): {what}",
                at=now,
            )
            return new_id

        new_id = await self._db.atomic(body)
        assert new_id is not None  # no ON CONFLICT: an insert that fails raises
        created = await self.get(new_id)
        assert created is not None
        return created

    async def get(self, approval_id: int) -> Approval | None:
        row = await self._db.fetchone("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        return Approval.from_row(row) if row else None

    async def pending_in_thread(self, channel: str, thread_ts: str) -> Approval | None:
        """The thread's approval still waiting for an answer (expired or not), if any."""
        row = await self._db.fetchone(
            "SELECT * FROM approvals WHERE channel = ? AND thread_ts = ? AND status = 'pending'"
            " ORDER BY id DESC LIMIT 1",
            (channel, thread_ts),
        )
        return Approval.from_row(row) if row else None

    async def decide(
        self, approval_id: int, status: ApprovalStatus, *, user: str, turn: int
    ) -> bool:
        """Take the approval out of `pending`. True for the one caller that did it, and again
        for the same `turn` (an inbox row answered a second time after a crash)."""
        now = time.time()
        return await self._step(
            approval_id,
            "UPDATE approvals SET status = ?, decided_by = ?, decided_turn = ?, decided_at = ?,"
            " awaiting_since = CASE WHEN ? = 'awaiting_staff'"
            " THEN CAST(? AS DOUBLE PRECISION) END"
            " WHERE id = ? AND (status = 'pending' OR (status = ? AND decided_turn = ?))",
            (status, user, turn, now, status, now, approval_id, status, turn),
            leaving="pending",
            event=_DECIDED_EVENTS.get(status, f"approval_{status}"),
            actor=user,
            note=_DECIDED_NOTES.get(status),
        )

    async def review(
        self,
        approval_id: int,
        status: Literal["confirmed", "rejected"],
        *,
        user: str,
        turn: int,
        note: str | None = None,
    ) -> bool:
        """A staff member's Approve / Reject of an approval `awaiting_staff`: True for the one
        click that did it, and again for the same `turn` (its inbox row run after a crash)."""
        approved = status == "confirmed"
        return await self._step(
            approval_id,
            "UPDATE approvals SET status = ?, reviewed_by = ?, reviewed_turn = ?,"
            " reviewed_at = ?, review_note = ?"
            " WHERE id = ? AND (status = 'awaiting_staff' OR (status = ? AND reviewed_turn = ?))",
            (
                status,
                user,
                turn,
                time.time(),
                scrub(note) if note else None,
                approval_id,
                status,
                turn,
            ),
            leaving="awaiting_staff",
            event="approval_approved" if approved else "approval_rejected",
            actor=user,
            note=f"{'approved' if approved else 'rejected'} by staff"
            + (f": {note}" if note else ""),
        )

    async def _step(
        self,
        approval_id: int,
        update: str,
        params: tuple[object, ...],
        *,
        leaving: ApprovalStatus,
        event: str,
        actor: str,
        note: str | None,
    ) -> bool:
        """Run a guarded UPDATE of one approval; when it moved the approval out of `leaving`
        (not when an inbox row runs again), add the step to its ticket's history with it."""

        async def body(tx: Tx) -> bool:
            before = await tx.fetchone(
                "SELECT ticket_id, status FROM approvals WHERE id = ?", (approval_id,)
            )
            if before is None or await tx.execute(update, params) != 1:
                return False
            if before["status"] == leaving:
                await record_event(
                    tx,
                    before["ticket_id"],
                    event,
                    actor=actor,
                    note=f"approval #{approval_id}: {note}" if note else f"approval #{approval_id}",
                )
            return True

        return await self._db.atomic(body)

    async def set_staff_message(
        self, approval_id: int, channel: str, ts: str, *, next_reminder_at: float
    ) -> None:
        await self._db.execute(
            "UPDATE approvals SET staff_channel = ?, staff_ts = ?, next_reminder_at = ?"
            " WHERE id = ?",
            (channel, ts, next_reminder_at, approval_id),
        )

    async def awaiting_staff(self, *, now: float, grace_s: float) -> list[Approval]:
        """Approvals waiting for staff whose card is due again, or was never posted."""
        rows = await self._db.fetchall(
            "SELECT * FROM approvals WHERE status = 'awaiting_staff' AND ("
            " (staff_ts IS NOT NULL AND next_reminder_at <= ?)"
            " OR (staff_ts IS NULL AND awaiting_since <= ?)) ORDER BY id",
            (now, now - grace_s),
        )
        return [Approval.from_row(r) for r in rows]

    async def take_reminder(self, approval_id: int, *, now: float, every_s: float) -> bool:
        """Claim the reminder that is due (one process wins; the next is `every_s` later)."""
        return (
            await self._db.execute(
                "UPDATE approvals SET reminders = reminders + 1, next_reminder_at = ?"
                " WHERE id = ? AND status = 'awaiting_staff' AND next_reminder_at <= ?",
                (now + every_s, approval_id, now),
            )
            == 1
        )

    async def set_message(self, approval_id: int, message_ts: str) -> None:
        await self._db.execute(
            "UPDATE approvals SET message_ts = ? WHERE id = ?", (message_ts, approval_id)
        )

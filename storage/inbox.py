"""The durable inbox: every accepted Slack event or command, written before Slack gets its ack.

A row moves received → running → answered (or failed). Uniqueness on Slack's `event_id` and
on `(channel, ts)` is what makes a retried or duplicated delivery a no-op.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from storage.db import Database, Row, Tx
from storage.heartbeats import HEARTBEAT_STALE_S
from storage.redaction import scrub, scrub_json

InboxStatus = Literal["received", "running", "answered", "failed"]


class LeaseLost(Exception):
    """Another worker took over the row while this one was answering it."""


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    event_id: str | None
    channel: str
    ts: str
    thread_ts: str
    user_id: str
    text: str
    status: InboxStatus
    attempts: int
    received_at: float
    reply_ts: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    stream_ts: str | None = None  # the answer's streamed message, once Slack started it
    claimed_by: str | None = None  # the worker holding the row while it runs

    @property
    def thread_key(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

    @classmethod
    def from_row(cls, row: Row) -> InboxItem:
        return cls(
            id=row["id"],
            kind=row["kind"],
            event_id=row["event_id"],
            channel=row["channel"],
            ts=row["ts"],
            thread_ts=row["thread_ts"],
            user_id=row["user_id"],
            text=row["text"],
            status=row["status"],
            attempts=row["attempts"],
            received_at=row["received_at"],
            reply_ts=row["reply_ts"],
            payload=json.loads(row["payload"] or "{}"),
            stream_ts=row["stream_ts"],
            claimed_by=row["claimed_by"],
        )


@dataclass(frozen=True)
class TicketAccepted:
    """What became of a ticket asked for from a message (`InboxRepo.accept_ticket`)."""

    outcome: Literal["accepted", "duplicate", "limited"]
    inbox_id: int | None = None


DAY_S = 86400.0

# Signalled (PostgreSQL: by a trigger) when a row is added or changes status.
NEW_WORK_CHANNEL = "support_desk_inbox"


class InboxRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def on_new_work(self, wake: Callable[[], None]) -> bool:
        """Call `wake` whenever any process adds a row (PostgreSQL: or finishes one); False
        when the backend cannot tell: the worker then polls."""
        return await self._db.listen(NEW_WORK_CHANNEL, wake)

    def _added(self, new_id: int | None) -> int | None:
        """After a row was added: wake the workers (SQLite; PostgreSQL's trigger does it)."""
        if new_id:
            self._db.notify(NEW_WORK_CHANNEL)
        return new_id or None

    async def accept(
        self,
        *,
        kind: str,
        channel: str,
        ts: str,
        thread_ts: str,
        user_id: str,
        text: str,
        event_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int | None:
        """Record an event; return its inbox id, or None when it was delivered before."""
        new_id = await self._db.insert(
            "INSERT INTO inbox (kind, event_id, channel, ts, thread_ts, user_id, text, payload,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                kind,
                event_id,
                channel,
                ts,
                thread_ts,
                user_id,
                scrub(text),  # intake removed secrets already; this is the second line
                json.dumps(scrub_json(payload or {})),
                time.time(),
            ),
        )
        return self._added(new_id)

    async def accept_ticket(
        self,
        *,
        channel: str,
        ts: str,
        thread_ts: str,
        user_id: str,
        text: str,
        payload: dict[str, Any],
        requested_by: str,
        max_per_hour: int,
        event_id: str | None = None,
    ) -> TicketAccepted:
        """Record a ticket asked for from a message (see `accept`), unless `requested_by`
        already asked for `max_per_hour` in the last hour (0: no limit). A repeated request
        for the same message is a duplicate, never counted nor refused."""
        now = time.time()

        async def body(tx: Tx) -> TicketAccepted:
            # One count at a time per person, on any receiver: two cannot both slip in.
            await tx.lock(f"tickets-asked-by:{requested_by}")
            if (
                await tx.fetchone("SELECT 1 FROM inbox WHERE channel = ? AND ts = ?", (channel, ts))
                is not None
            ):
                return TicketAccepted("duplicate")
            recent = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM ticket_requests"
                " WHERE requested_by = ? AND requested_at >= ?",
                (requested_by, now - 3600),
            )
            if max_per_hour and recent is not None and recent["n"] >= max_per_hour:
                return TicketAccepted("limited")
            new_id = await tx.insert(
                "INSERT INTO inbox (kind, event_id, channel, ts, thread_ts, user_id, text,"
                " payload, received_at) VALUES ('ticket', ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    event_id,
                    channel,
                    ts,
                    thread_ts,
                    user_id,
                    scrub(text),
                    json.dumps(scrub_json(payload)),
                    now,
                ),
            )
            if not new_id:
                return TicketAccepted("duplicate")
            await tx.execute(
                "INSERT INTO ticket_requests (requested_by, inbox_id, requested_at)"
                " VALUES (?, ?, ?)",
                (requested_by, new_id, now),
            )
            return TicketAccepted("accepted", new_id)

        return await self._db.atomic(body)

    async def accept_command(
        self,
        *,
        channel: str,
        ts: str,
        user_id: str,
        text: str,
        payload: dict[str, Any],
        max_open_per_user: int,
    ) -> int | None:
        """Record a slash command unless the user already has `max_open_per_user` commands
        received or running. The count and the insert are one statement, under a lock per
        user, so concurrent commands (on any receiver of the cluster) cannot both slip in.
        Returns the inbox id, or None when refused (or delivered before)."""

        async def record(tx: Tx) -> int | None:
            await tx.lock(f"commands-of:{user_id}")
            return await tx.insert(
                "INSERT INTO inbox"
                " (kind, channel, ts, thread_ts, user_id, text, payload, received_at)"
                " SELECT 'command', ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM inbox"
                "  WHERE user_id = ? AND kind = 'command' AND status IN ('received', 'running'))"
                " < ? ON CONFLICT DO NOTHING",
                (
                    channel,
                    ts,
                    ts,
                    user_id,
                    scrub(text),
                    json.dumps(scrub_json(payload)),
                    time.time(),
                    user_id,
                    max_open_per_user,
                ),
            )

        return self._added(await self._db.atomic(record))

    async def open_commands(self, user_id: str) -> int:
        """How many of the user's commands are received or running."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM inbox WHERE user_id = ? AND kind = 'command'"
            " AND status IN ('received', 'running')",
            (user_id,),
        )
        return int(row["n"]) if row else 0

    async def claim(self, limit: int, worker_id: str | None = None) -> list[InboxItem]:
        """Take up to `limit` received rows, oldest first, and mark them running by `worker_id`.

        A row is taken only when every earlier unfinished row of its thread is running here:
        so one thread's messages are answered one at a time and in order, whichever worker
        (of any number, on any machine) takes them, and a thread's next message waits for
        the worker answering the one before. On PostgreSQL the rows are locked as they are
        read and rows other workers are claiming at this moment skipped (`FOR UPDATE SKIP
        LOCKED`): concurrent claims never take the same row, and never wait for each other.
        A claim is a lease kept by the worker's heartbeat (see `requeue_orphans`)."""

        async def body(tx: Tx) -> list[Row]:
            rows = await tx.fetchall(
                "SELECT * FROM inbox r WHERE r.status = 'received' AND NOT EXISTS ("
                " SELECT 1 FROM inbox o WHERE o.channel = r.channel"
                " AND o.thread_ts = r.thread_ts AND o.id < r.id"
                " AND (o.status = 'received' OR (o.status = 'running'"
                " AND (o.claimed_by IS NULL OR o.claimed_by != ?))))"
                f" ORDER BY r.id LIMIT ?{self._db.skip_locked}",
                (worker_id or "", limit),
            )
            if rows:
                marks = ",".join("?" for _ in rows)
                await tx.execute(
                    f"UPDATE inbox SET status = 'running', attempts = attempts + 1,"
                    f" started_at = ?, claimed_by = ? WHERE id IN ({marks})",
                    (time.time(), worker_id, *(r["id"] for r in rows)),
                )
            return rows

        return [
            replace(item, status="running", attempts=item.attempts + 1, claimed_by=worker_id)
            for item in map(InboxItem.from_row, await self._db.atomic(body))
        ]

    async def held_by(self, inbox_id: int, worker_id: str) -> bool:
        """Whether the row is still running in the hands of `worker_id` (not taken over)."""
        row = await self._db.fetchone(
            "SELECT 1 AS held FROM inbox WHERE id = ? AND status = 'running' AND claimed_by = ?",
            (inbox_id, worker_id),
        )
        return row is not None

    async def release(self, inbox_ids: Iterable[int], worker_id: str) -> int:
        """Rows this worker claimed but could not finish go back to received (answered again,
        as a resumption: a reply already posted is found, not posted twice). A row another
        worker took over meanwhile is that worker's now, and left as it is."""
        ids = list(inbox_ids)
        if not ids:
            return 0
        marks = ",".join("?" for _ in ids)
        return await self._db.execute(
            f"UPDATE inbox SET status = 'received', claimed_by = NULL"
            f" WHERE status = 'running' AND claimed_by = ? AND id IN ({marks})",
            (worker_id, *ids),
        )

    async def release_claimed(self, worker_id: str) -> int:
        """A worker stopping: every row it still holds goes back to received."""
        return await self._db.execute(
            "UPDATE inbox SET status = 'received', claimed_by = NULL"
            " WHERE status = 'running' AND claimed_by = ?",
            (worker_id,),
        )

    async def requeue_orphans(self, worker_id: str, stale_s: float = HEARTBEAT_STALE_S) -> int:
        """Rows left running by a worker that is gone (no heartbeat within `stale_s`, or none
        recorded) go back to received. Never this worker's own rows. A read first, so that
        the common case (no orphan) costs no write."""
        orphaned = (
            "status = 'running' AND (claimed_by IS NULL OR (claimed_by != ? AND claimed_by NOT IN"
            " (SELECT worker_id FROM worker_heartbeats WHERE beat_at > ?)))"
        )
        params = (worker_id, time.time() - stale_s)
        row = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM inbox WHERE {orphaned}", params)
        if not row or not row["n"]:
            return 0
        return await self._db.execute(
            f"UPDATE inbox SET status = 'received', claimed_by = NULL WHERE {orphaned}", params
        )

    async def mark_answered(self, inbox_id: int, reply_ts: str | None) -> None:
        await self._db.execute(
            "UPDATE inbox SET status = 'answered', reply_ts = ?, finished_at = ?, error = NULL"
            " WHERE id = ?",
            (reply_ts, time.time(), inbox_id),
        )

    async def set_stream(self, item: InboxItem, channel: str, stream_ts: str) -> None:
        """Record the answer's streamed message (its conversation may not be the row's: the
        App Home form's DM) before anything is appended to it. `LeaseLost` (nothing recorded)
        when the row is no longer running in the hands of the worker that claimed `item`."""
        changed = await self._db.execute(
            "UPDATE inbox SET stream_channel = ?, stream_ts = ?"
            " WHERE id = ? AND status = 'running' AND claimed_by = ?",
            (channel, stream_ts, item.id, item.claimed_by),
        )
        if changed != 1:
            raise LeaseLost

    async def request_stop(self, channel: str, stream_ts: str, user_id: str) -> bool:
        """The requester asks to stop the answer being streamed in that message, wherever the
        desk answers. False when no answer of theirs is being written there (finished, or
        someone else's)."""
        changed = await self._db.execute(
            "UPDATE inbox SET stop_requested = 1 WHERE stream_ts = ?"
            " AND COALESCE(stream_channel, channel) = ? AND user_id = ? AND status = 'running'",
            (stream_ts, channel, user_id),
        )
        return changed > 0

    async def request_stop_in_thread(self, channel: str, thread_ts: str, user_id: str) -> bool:
        """The requester asks to stop their answer being streamed in that thread (Slack's own
        stop control, when it names no message). False when none of theirs is running there."""
        changed = await self._db.execute(
            "UPDATE inbox SET stop_requested = 1 WHERE stream_ts IS NOT NULL"
            " AND COALESCE(stream_channel, channel) = ? AND thread_ts = ? AND user_id = ?"
            " AND status = 'running'",
            (channel, thread_ts, user_id),
        )
        return changed > 0

    async def stops_requested(self, inbox_ids: Iterable[int]) -> set[int]:
        """Which of these rows' requesters asked to stop the answer (one read for many)."""
        ids = list(inbox_ids)
        if not ids:
            return set()
        marks = ",".join("?" for _ in ids)
        rows = await self._db.fetchall(
            f"SELECT id FROM inbox WHERE stop_requested = 1 AND id IN ({marks})", ids
        )
        return {int(row["id"]) for row in rows}

    async def mark_failed(self, inbox_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE inbox SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
            (error[:2000], time.time(), inbox_id),
        )

    async def get(self, inbox_id: int) -> InboxItem | None:
        row = await self._db.fetchone("SELECT * FROM inbox WHERE id = ?", (inbox_id,))
        return InboxItem.from_row(row) if row else None

    async def items(self, *, limit: int = 100) -> list[InboxItem]:
        """The oldest `limit` rows of the inbox, whatever their status, in the order received."""
        rows = await self._db.fetchall("SELECT * FROM inbox ORDER BY id LIMIT ?", (limit,))
        return [InboxItem.from_row(r) for r in rows]

    async def has_thread(self, channel: str, thread_ts: str) -> bool:
        """Whether the desk accepted a message of this thread (its ticket may not exist yet)."""
        row = await self._db.fetchone(
            "SELECT 1 FROM inbox WHERE channel = ? AND thread_ts = ? LIMIT 1", (channel, thread_ts)
        )
        return row is not None

    async def claimed_by_status(self, status: str) -> list[str]:
        """The worker id of each row with this status, oldest first (a finished row keeps
        the worker that finished it): which process answered what."""
        rows = await self._db.fetchall(
            "SELECT claimed_by FROM inbox WHERE status = ? AND claimed_by IS NOT NULL ORDER BY id",
            (status,),
        )
        return [r["claimed_by"] for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT status, COUNT(*) AS n FROM inbox GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    async def prune(self, older_than_s: float) -> int:
        """Forget finished rows older than the retention (Slack retries come within minutes),
        and the ticket requests counted for the hourly limit once they are a day old."""
        await self._db.execute(
            "DELETE FROM ticket_requests WHERE requested_at < ?", (time.time() - DAY_S,)
        )
        return await self._db.execute(
            "DELETE FROM inbox WHERE status IN ('answered', 'failed') AND received_at < ?",
            (time.time() - older_than_s,),
        )

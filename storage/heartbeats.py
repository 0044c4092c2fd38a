"""Worker heartbeats: who is alive, for `/readyz` and for taking over a dead worker's rows.

A worker writes its row about every `HEARTBEAT_EVERY_S`; a heartbeat older than
`HEARTBEAT_STALE_S` means that worker is dead (or cannot write), and the rows it claimed are
orphans (`InboxRepo.requeue_orphans`). The clock is the wall clock, shared by the processes.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from storage.db import Database

HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_STALE_S = 5.0


def new_worker_id() -> str:
    """A worker id unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class HeartbeatRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def beat(self, worker_id: str, *, started_at: float) -> None:
        """Record that this worker is alive now (one small write)."""
        await self._db.execute(
            "INSERT INTO worker_heartbeats (worker_id, host, pid, started_at, beat_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (worker_id) DO UPDATE SET beat_at = excluded.beat_at",
            (worker_id, socket.gethostname(), os.getpid(), started_at, time.time()),
        )

    async def end(self, worker_id: str) -> None:
        """A worker that stops cleanly removes its heartbeat."""
        await self._db.execute("DELETE FROM worker_heartbeats WHERE worker_id = ?", (worker_id,))

    async def end_process(self, pid: int) -> int:
        """A supervisor whose worker child died removes that child's heartbeat at once, so its
        rows are taken over without waiting for the heartbeat to go stale."""
        return await self._db.execute(
            "DELETE FROM worker_heartbeats WHERE host = ? AND pid = ?", (socket.gethostname(), pid)
        )

    async def latest(self) -> float | None:
        """The time of the freshest heartbeat of any worker, or None when there is none."""
        row = await self._db.fetchone("SELECT MAX(beat_at) AS beat_at FROM worker_heartbeats")
        return float(row["beat_at"]) if row and row["beat_at"] is not None else None

    async def alive(self, stale_s: float = HEARTBEAT_STALE_S) -> bool:
        """Whether some worker wrote a heartbeat within `stale_s`."""
        latest = await self.latest()
        return latest is not None and time.time() - latest < stale_s

    async def workers(self, stale_s: float = HEARTBEAT_STALE_S) -> list[tuple[str, int]]:
        """(worker_id, pid) of the workers alive now, most recently started first."""
        rows = await self._db.fetchall(
            "SELECT worker_id, pid FROM worker_heartbeats WHERE beat_at > ?"
            " ORDER BY started_at DESC",
            (time.time() - stale_s,),
        )
        return [(r["worker_id"], int(r["pid"])) for r in rows]

    async def prune(self, older_than_s: float = 3600.0) -> int:
        """Forget heartbeats of workers long dead."""
        return await self._db.execute(
            "DELETE FROM worker_heartbeats WHERE beat_at < ?", (time.time() - older_than_s,)
        )

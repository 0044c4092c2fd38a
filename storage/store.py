"""`Store`: the one object the rest of the desk uses for persistence.

It groups small repositories, one per concern; each owns its tables and its SQL.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from storage.approvals import ApprovalRepo
from storage.assistant import AssistantThreadRepo
from storage.audit import AuditRepo
from storage.business import BusinessRepo
from storage.conversations import ConversationRepo
from storage.db import Database, StorageError, is_busy, is_database_error, open_database
from storage.feedback import FeedbackRepo
from storage.heartbeats import HeartbeatRepo
from storage.inbox import InboxRepo
from storage.kb import KnowledgeBase
from storage.model_outages import ModelOutageRepo
from storage.reports import ReportRepo
from storage.tickets import TicketRepo, UserRepo


@dataclass
class Store:
    db: Database
    inbox: InboxRepo
    tickets: TicketRepo
    conversations: ConversationRepo
    users: UserRepo
    business: BusinessRepo
    kb: KnowledgeBase
    reports: ReportRepo
    approvals: ApprovalRepo
    heartbeats: HeartbeatRepo
    feedback: FeedbackRepo
    assistant_threads: AssistantThreadRepo
    audit: AuditRepo
    model_outages: ModelOutageRepo

    @classmethod
    async def open(cls, path: str | Path, *, seed: bool = True) -> Store:
        """Open (and migrate) the database; with `seed`, load the demo data when it is empty."""
        db = await open_database(path)
        try:
            return await cls._assemble(db, seed=seed)
        except BaseException as exc:  # an open connection would keep the process from exiting
            await db.close()
            if is_database_error(exc):
                raise StorageError(
                    f"cannot load the demo data into {db.name}: {exc}",
                    transient=is_busy(exc),
                ) from exc
            raise

    @classmethod
    async def _assemble(cls, db: Database, *, seed: bool) -> Store:
        store = cls(
            db=db,
            inbox=InboxRepo(db),
            tickets=TicketRepo(db),
            conversations=ConversationRepo(db),
            users=UserRepo(db),
            business=BusinessRepo(db),
            kb=KnowledgeBase(db),
            reports=ReportRepo(db),
            approvals=ApprovalRepo(db),
            heartbeats=HeartbeatRepo(db),
            feedback=FeedbackRepo(db),
            assistant_threads=AssistantThreadRepo(db),
            audit=AuditRepo(db),
            model_outages=ModelOutageRepo(db),
        )
        if seed:
            from storage.seed import seed_demo_data

            await seed_demo_data(db)
        return store

    def exclusive(self, job: str) -> AbstractAsyncContextManager[None]:
        """`async with store.exclusive("job"):` one process of the cluster at a time, so
        scheduled work (reminders, pruning) that reads its state inside runs once, not once
        per replica."""
        return self.db.exclusive(job)

    async def prepare_for_acks(self) -> None:
        """Tune the database handle of a process that must ack Slack quickly."""
        await self.db.prepare_for_acks()

    async def ping(self) -> bool:
        """True when the database answers a trivial query (for /readyz)."""
        row = await self.db.fetchone("SELECT 1 AS ok")
        return bool(row and row["ok"] == 1)

    async def takes_writes(self) -> bool:
        """True when a small write commits (for /readyz: a full disk still answers reads)."""
        await self.db.execute(
            "INSERT INTO write_probe (id, probed_at) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
            (time.time(),),
        )
        return True

    async def close(self) -> None:
        await self.db.close()

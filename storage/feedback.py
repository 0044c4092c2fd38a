"""AI answers and their 👍 / 👎: which answer, produced by which agents, tools and model."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from storage.db import Database, Row
from storage.redaction import scrub


@dataclass(frozen=True)
class Answer:
    channel: str
    ts: str
    ticket_id: int
    inbox_id: int
    requester: str
    department: str | None
    agent_path: list[str]
    tools: list[str]
    model: str | None
    created_at: float
    question: str | None = None  # the message it answered (secrets removed)

    @classmethod
    def from_row(cls, row: Row) -> Answer:
        return cls(
            channel=row["channel"],
            ts=row["ts"],
            ticket_id=row["ticket_id"],
            inbox_id=row["inbox_id"],
            requester=row["requester"],
            department=row["department"],
            agent_path=json.loads(row["agent_path"]),
            tools=json.loads(row["tools"]),
            model=row["model"],
            created_at=row["created_at"],
            question=row["question"],
        )


@dataclass(frozen=True)
class UnhelpfulAnswer:
    """A 👎-rated answer as an `eval` row: the message it answered, the department staff
    corrected its ticket to (None: unlabelled, for a person to label) and the desk's route.
    No user or channel ids."""

    inbox_id: int
    text: str
    label: str | None
    desk_department: str | None
    agent_path: list[str]


class FeedbackRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_answer(self, answer: Answer) -> None:
        """Remember an answer the desk delivered (a restart delivering it again keeps one)."""
        await self._db.execute(
            "INSERT INTO answers (channel, ts, ticket_id, inbox_id, requester, department,"
            " agent_path, tools, model, created_at, question)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO NOTHING",
            (
                answer.channel,
                answer.ts,
                answer.ticket_id,
                answer.inbox_id,
                answer.requester,
                answer.department,
                json.dumps(answer.agent_path),
                json.dumps(answer.tools),
                answer.model,
                answer.created_at,
                scrub(answer.question) if answer.question is not None else None,
            ),
        )

    async def answer(self, channel: str, ts: str) -> Answer | None:
        row = await self._db.fetchone(
            "SELECT * FROM answers WHERE channel = ? AND ts = ?", (channel, ts)
        )
        return Answer.from_row(row) if row else None

    async def rate(
        self, channel: str, ts: str, user_id: str, *, helpful: bool, now: float | None = None
    ) -> None:
        """Store (or change) one person's rating of an answer (rated now, or at `now`)."""
        await self._db.execute(
            "INSERT INTO answer_ratings (channel, ts, user_id, helpful, rated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, ts, user_id) DO UPDATE SET"
            " helpful = excluded.helpful, rated_at = excluded.rated_at",
            (channel, ts, user_id, int(helpful), time.time() if now is None else now),
        )

    async def rating(self, channel: str, ts: str, user_id: str) -> bool | None:
        row = await self._db.fetchone(
            "SELECT helpful FROM answer_ratings WHERE channel = ? AND ts = ? AND user_id = ?",
            (channel, ts, user_id),
        )
        return None if row is None else bool(row["helpful"])

    async def unhelpful_since(self, since: float) -> list[UnhelpfulAnswer]:
        """Answers rated 👎 at or after `since`, oldest answer first. The question is the
        one stored with the answer, else (answers from before it was stored) the inbox's."""
        rows = await self._db.fetchall(
            "SELECT a.inbox_id, COALESCE(a.question, i.text, '') AS text, a.department,"
            " a.agent_path, t.corrected_department FROM answers a"
            " JOIN tickets t ON t.id = a.ticket_id LEFT JOIN inbox i ON i.id = a.inbox_id"
            " WHERE EXISTS (SELECT 1 FROM answer_ratings r WHERE r.channel = a.channel"
            " AND r.ts = a.ts AND r.helpful = 0 AND r.rated_at >= ?)"
            " ORDER BY a.created_at, a.inbox_id",
            (since,),
        )
        return [
            UnhelpfulAnswer(
                inbox_id=r["inbox_id"],
                text=r["text"],
                label=r["corrected_department"],
                desk_department=r["department"],
                agent_path=json.loads(r["agent_path"]),
            )
            for r in rows
        ]

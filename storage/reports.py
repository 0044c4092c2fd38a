"""Reports of the slash-command pipelines, and the read-only queries the pipelines report on.

`ReportRepo` owns the `reports` table (004_reports.sql). It also holds the pipelines' reporting
queries over the desk's own tables (tickets, escalations, ratings): they only read, and keeping
them here keeps reporting SQL out of the repositories that write those tables.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.db import Database, Row
from storage.kb import query_terms
from storage.redaction import redact_personal, scrub, scrub_json
from storage.tickets import SlaTargets

ReportStatus = Literal["running", "complete", "partial", "failed"]
DAY_S = 86400.0
# Direct messages with the desk are private to the user: they never feed a report for
# someone who is not support staff (DM channel ids start with "D").
_NOT_A_DM = "t.channel NOT LIKE 'D%'"


@dataclass(frozen=True)
class Report:
    id: int
    inbox_id: int | None
    source_id: int | None
    kind: str
    user_id: str
    channel: str
    title: str
    request: str
    status: ReportStatus
    body: str
    notes: list[str]
    steps: list[dict[str, Any]]
    data: dict[str, Any]
    message_ts: str | None
    file_id: str | None
    created_at: float
    finished_at: float | None
    delivered_at: float | None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @classmethod
    def from_row(cls, row: Row) -> Report:
        return cls(
            id=row["id"],
            inbox_id=row["inbox_id"],
            source_id=row["source_id"],
            kind=row["kind"],
            user_id=row["user_id"],
            channel=row["channel"],
            title=row["title"],
            request=row["request"],
            status=row["status"],
            body=row["body"],
            notes=json.loads(row["notes"] or "[]"),
            steps=json.loads(row["steps"] or "[]"),
            data=json.loads(row["data"] or "{}"),
            message_ts=row["message_ts"],
            file_id=row["file_id"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            delivered_at=row["delivered_at"],
        )


@dataclass(frozen=True)
class Durations:
    """Durations in seconds: how many, their median and their mean (None when there are none)."""

    count: int = 0
    median_s: float | None = None
    mean_s: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Durations:
        values = [max(0.0, v) for v in values]
        if not values:
            return cls()
        return cls(len(values), statistics.median(values), statistics.fmean(values))


@dataclass(frozen=True)
class HelpfulRate:
    """👍 / 👎 on the AI answers of one department, or of one agent."""

    name: str
    helpful: int
    unhelpful: int

    @property
    def rate(self) -> float:
        total = self.helpful + self.unhelpful
        return self.helpful / total if total else 0.0


@dataclass(frozen=True)
class DeskStats:
    """The desk's numbers over tickets opened in [since, until)."""

    since: float
    until: float
    tickets: int
    by_department: dict[str, int]
    by_status: dict[str, int]
    escalated: int
    first_response: Durations
    resolution: Durations
    csat_count: int
    csat_average: float | None
    csat_satisfied: int  # ratings of 4 or 5
    # 👍 / 👎 on AI answers rated in the window: by department, and by the agent that answered
    helpful_by_department: list[HelpfulRate] = field(default_factory=list)
    helpful_by_agent: list[HelpfulRate] = field(default_factory=list)
    sla: tuple[SlaRow, ...] = ()  # with SLA targets: attainment per priority and department

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.tickets if self.tickets else None

    @property
    def csat_satisfied_share(self) -> float | None:
        return self.csat_satisfied / self.csat_count if self.csat_count else None


@dataclass(frozen=True)
class SlaRow:
    """SLA attainment of the escalated tickets of one priority and department: met and missed
    per clock (a clock still running and not yet due counts as neither)."""

    priority: str
    department: str
    first_met: int = 0
    first_missed: int = 0
    resolution_met: int = 0
    resolution_missed: int = 0


@dataclass(frozen=True)
class TicketDigestRow:
    """One ticket as the pipelines see it: no user ids, only what the desk recorded."""

    id: int
    subject: str
    department: str | None
    status: str
    created_at: float
    escalated: bool
    escalation_reason: str | None = None
    rating: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The ticket for support staff: its number, state and subject (personal data and
        secrets in the subject redacted)."""
        parts = [f"#{self.id}", self.department or "unrouted", self.status]
        if self.escalated:
            parts.append(
                f"escalated ({self.escalation_reason})" if self.escalation_reason else "escalated"
            )
        if self.rating is not None:
            parts.append(f"rated {self.rating}/5")
        return f"- [{', '.join(parts)}] {redact_personal(self.subject)}"


class ReportRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- reports --------------------------------------------------------------------

    async def start(
        self,
        *,
        inbox_id: int,
        kind: str,
        user_id: str,
        channel: str,
        title: str,
        request: str,
        source_id: int | None = None,
    ) -> Report:
        """The report of command `inbox_id`, created now unless a previous attempt made it."""
        await self._db.execute(
            "INSERT INTO reports (inbox_id, source_id, kind, user_id, channel, title, request,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (inbox_id) DO NOTHING",
            (
                inbox_id,
                source_id,
                kind,
                user_id,
                channel,
                scrub(title)[:300],
                scrub(request)[:4000],
                time.time(),
            ),
        )
        row = await self._db.fetchone("SELECT * FROM reports WHERE inbox_id = ?", (inbox_id,))
        assert row is not None
        return Report.from_row(row)

    async def get(self, report_id: int) -> Report | None:
        row = await self._db.fetchone("SELECT * FROM reports WHERE id = ?", (report_id,))
        return Report.from_row(row) if row else None

    async def set_message(self, report_id: int, channel: str, ts: str) -> None:
        await self._db.execute(
            "UPDATE reports SET channel = ?, message_ts = ? WHERE id = ?", (channel, ts, report_id)
        )

    async def finish(
        self,
        report_id: int,
        *,
        status: ReportStatus,
        title: str,
        body: str,
        notes: list[str],
        steps: list[dict[str, Any]],
        data: dict[str, Any],
    ) -> Report:
        await self._db.execute(
            "UPDATE reports SET status = ?, title = ?, body = ?, notes = ?, steps = ?, data = ?,"
            " finished_at = ? WHERE id = ?",
            (
                status,
                scrub(title)[:300],
                scrub(body),
                json.dumps(scrub_json(notes)),
                json.dumps(scrub_json(steps)),
                json.dumps(scrub_json(data), default=str),
                time.time(),
                report_id,
            ),
        )
        report = await self.get(report_id)
        assert report is not None
        return report

    async def set_file(self, report_id: int, file_id: str) -> None:
        await self._db.execute("UPDATE reports SET file_id = ? WHERE id = ?", (file_id, report_id))

    async def mark_delivered(self, report_id: int) -> None:
        await self._db.execute(
            "UPDATE reports SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
            (time.time(), report_id),
        )

    async def for_user(self, user_id: str, *, limit: int = 10) -> list[Report]:
        """A user's reports, newest first (re-posts are not listed again)."""
        rows = await self._db.fetchall(
            "SELECT * FROM reports WHERE user_id = ? AND source_id IS NULL ORDER BY id DESC"
            " LIMIT ?",
            (user_id, limit),
        )
        return [Report.from_row(r) for r in rows]

    async def recent(self, *, limit: int = 50) -> list[Report]:
        """Every user's reports, re-posts included, newest first (what a privacy review of
        the stored reports reads)."""
        rows = await self._db.fetchall("SELECT * FROM reports ORDER BY id DESC LIMIT ?", (limit,))
        return [Report.from_row(r) for r in rows]

    # ---- what the pipelines report on (read only) -----------------------------------

    async def desk_stats(
        self,
        *,
        days: int,
        now: float | None = None,
        include_dms: bool = True,
        sla: SlaTargets | None = None,
    ) -> DeskStats:
        """The numbers of tickets opened in the last `days` days (without `include_dms`,
        tickets opened in a DM with the desk are not counted)."""
        until = time.time() if now is None else now
        since = until - days * DAY_S
        window = "t.created_at >= ? AND t.created_at < ?" + (
            "" if include_dms else f" AND {_NOT_A_DM}"
        )
        span = (since, until)
        total = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM tickets t WHERE {window}", span)
        departments = await self._db.fetchall(
            f"SELECT COALESCE(department, 'unrouted') AS k, COUNT(*) AS n FROM tickets t"
            f" WHERE {window} GROUP BY k ORDER BY n DESC, k",
            span,
        )
        statuses = await self._db.fetchall(
            f"SELECT status AS k, COUNT(*) AS n FROM tickets t WHERE {window}"
            " GROUP BY k ORDER BY n DESC, k",
            span,
        )
        escalated = await self._db.fetchone(
            f"SELECT COUNT(*) AS n FROM tickets t WHERE {window}"
            " AND EXISTS (SELECT 1 FROM escalations e WHERE e.ticket_id = t.id)",
            span,
        )
        first = await self._db.fetchall(
            f"SELECT first_response_at - created_at AS s FROM tickets t WHERE {window}"
            " AND first_response_at IS NOT NULL",
            span,
        )
        resolved = await self._db.fetchall(
            f"SELECT resolved_at - created_at AS s FROM tickets t WHERE {window}"
            " AND resolved_at IS NOT NULL",
            span,
        )
        csat = await self._db.fetchone(
            "SELECT COUNT(*) AS n, AVG(score) AS avg,"
            " SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS good FROM csat_ratings r"
            " WHERE rated_at >= ? AND rated_at < ?"
            + (
                ""
                if include_dms
                else " AND EXISTS (SELECT 1 FROM tickets t WHERE t.id ="
                f" r.ticket_id AND {_NOT_A_DM})"
            ),
            span,
        )
        ratings = await self._db.fetchall(
            "SELECT a.department, a.agent_path, r.helpful FROM answer_ratings r"
            " JOIN answers a ON a.channel = r.channel AND a.ts = r.ts"
            " WHERE r.rated_at >= ? AND r.rated_at < ?"
            + ("" if include_dms else " AND a.channel NOT LIKE 'D%'"),
            span,
        )
        by_department, by_agent = _helpful_rates(ratings)
        assert total is not None and escalated is not None and csat is not None
        return DeskStats(
            helpful_by_department=by_department,
            helpful_by_agent=by_agent,
            since=since,
            until=until,
            tickets=total["n"],
            by_department={r["k"]: r["n"] for r in departments},
            by_status={r["k"]: r["n"] for r in statuses},
            escalated=escalated["n"],
            first_response=Durations.of([r["s"] for r in first]),
            resolution=Durations.of([r["s"] for r in resolved]),
            csat_count=csat["n"],
            csat_average=csat["avg"],
            csat_satisfied=csat["good"] or 0,
            sla=await self._sla(window, span, sla, until) if sla else (),
        )

    async def _sla(
        self, window: str, span: tuple[float, float], sla: SlaTargets, now: float
    ) -> tuple[SlaRow, ...]:
        """Per priority and department: escalated tickets claimed and resolved within their
        targets, counted from the first escalation."""
        rows = await self._db.fetchall(
            "SELECT t.priority, COALESCE(t.department, 'unrouted') AS department,"
            " t.claimed_at, t.resolved_at,"
            " (SELECT MIN(e.created_at) FROM escalations e WHERE e.ticket_id = t.id) AS since"
            f" FROM tickets t WHERE {window}"
            " AND EXISTS (SELECT 1 FROM escalations e WHERE e.ticket_id = t.id)",
            span,
        )
        counts: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            tally = counts.setdefault((row["priority"], row["department"]), [0, 0, 0, 0])
            for offset, clock, done in (
                (0, "first_response", row["claimed_at"] or row["resolved_at"]),
                (2, "resolution", row["resolved_at"]),
            ):
                target = sla.target(clock, row["priority"])  # type: ignore[arg-type]
                if target is None:
                    continue
                due = row["since"] + target
                if done is not None and done <= due:
                    tally[offset] += 1
                elif done is not None or now > due:
                    tally[offset + 1] += 1
        return tuple(
            SlaRow(priority, department, *tally)
            for (priority, department), tally in sorted(counts.items())
        )

    async def recent_tickets(
        self,
        *,
        days: int,
        limit: int = 40,
        now: float | None = None,
        include_dms: bool = True,
        escalated_only: bool = False,
    ) -> list[TicketDigestRow]:
        """Tickets opened in the last `days` days, newest first (see `desk_stats` on DMs);
        with `escalated_only`, those handed to staff."""
        until = time.time() if now is None else now
        rows = await self._db.fetchall(
            f"{_DIGEST_SELECT} WHERE t.created_at >= ? AND t.created_at < ?"
            + ("" if include_dms else f" AND {_NOT_A_DM}")
            + (
                " AND EXISTS (SELECT 1 FROM escalations e WHERE e.ticket_id = t.id)"
                if escalated_only
                else ""
            )
            + " ORDER BY t.created_at DESC, t.id DESC LIMIT ?",
            (until - days * DAY_S, until, limit),
        )
        return [_digest_row(r) for r in rows]

    async def search_tickets(
        self, query: str, *, limit: int = 8, include_dms: bool = True
    ) -> list[TicketDigestRow]:
        """Past tickets whose subject shares words with `query`, best match then newest first
        (see `desk_stats` on DMs)."""
        terms = query_terms(query)[:8]
        if not terms:
            return []
        # Terms are lower-case; LOWER() makes LIKE case-blind on PostgreSQL too.
        likes = " + ".join(
            "CASE WHEN LOWER(t.subject) LIKE ? ESCAPE '\\' THEN 1 ELSE 0 END" for _ in terms
        )
        where = "" if include_dms else f" WHERE {_NOT_A_DM}"
        rows = await self._db.fetchall(
            f"SELECT * FROM ({_DIGEST_COLUMNS}, ({likes}) AS hits FROM tickets t{where})"
            " AS matched"
            " WHERE hits > 0 ORDER BY hits DESC, created_at DESC, id DESC LIMIT ?",
            (*(f"%{_like_escape(term)}%" for term in terms), limit),
        )
        return [_digest_row(r) for r in rows]


_DIGEST_COLUMNS = (
    "SELECT t.id, t.subject, t.department, t.status, t.created_at,"
    " (SELECT e.reason FROM escalations e WHERE e.ticket_id = t.id ORDER BY e.id DESC LIMIT 1)"
    "   AS escalation_reason,"
    " EXISTS (SELECT 1 FROM escalations e WHERE e.ticket_id = t.id) AS escalated,"
    " (SELECT r.score FROM csat_ratings r WHERE r.ticket_id = t.id ORDER BY r.id DESC LIMIT 1)"
    "   AS rating"
)
_DIGEST_SELECT = f"{_DIGEST_COLUMNS} FROM tickets t"


def _digest_row(row: Row) -> TicketDigestRow:
    return TicketDigestRow(
        id=row["id"],
        subject=row["subject"],
        department=row["department"],
        status=row["status"],
        created_at=row["created_at"],
        escalated=bool(row["escalated"]),
        escalation_reason=row["escalation_reason"],
        rating=row["rating"],
    )


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _helpful_rates(rows: list[Row]) -> tuple[list[HelpfulRate], list[HelpfulRate]]:
    """Ratings counted by department and by the answering agent (the last on its path)."""
    tables: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
    for row in rows:
        path = json.loads(row["agent_path"]) or ["unknown"]
        for key, table in zip((row["department"] or "none", path[-1]), tables, strict=True):
            counts = table.setdefault(key, [0, 0])
            counts[0 if row["helpful"] else 1] += 1
    by_department, by_agent = (
        [HelpfulRate(name, good, bad) for name, (good, bad) in sorted(table.items())]
        for table in tables
    )
    return by_department, by_agent

"""Knowledge gaps in `/support-report`: the topics with the most escalations and no KB article,
from tickets escalated through the real desk (signed events, offline engine, fake Slack)."""

from __future__ import annotations

import json

from agents_config.pipelines.gaps import OTHER_TOPICS, knowledge_gaps
from storage.reports import TicketDigestRow
from tests.conftest import Desk, DeskFactory

ZAPIER = (  # three people, three wordings, one topic the help centre has no article on
    ("U_ALICE", "I want a human: the Zapier connector drops rows every night"),
    ("U_BOB", "Zapier connector is broken since Monday, get me a person please"),
    ("U_CAROL", "Can I talk to someone? Our Zapier connector lost half the rows"),
)
REFUND = ("U_DAVE", "Talk to a person please, my refund never arrived")  # the KB covers refunds


def row(number: int, subject: str) -> TicketDigestRow:
    return TicketDigestRow(number, subject, "tech", "escalated", 0.0, escalated=True)


def test_gaps_are_topics_of_escalations_no_article_covers() -> None:
    escalated = [
        row(1, "Zapier connector drops rows"),
        row(2, "The Zapier connector is broken"),
        row(3, "I want a person: Zapier connector lost rows"),
        row(4, "My refund never arrived"),
        row(5, "Refund for a cancelled order"),
        row(6, "SAML login loops"),
        row(7, "SSO sign in fails for new hires"),
        row(8, "SSO again"),
    ]
    articles = [("Refund policy: how to get your money back", "billing")]
    staff = knowledge_gaps(escalated, articles, staff=True)
    assert [(g.topic, g.escalations) for g in staff] == [
        ("sign-in and SSO", 3),
        ("zapier connector", 3),  # the words of the very same tickets: one topic
        ("rows", 2),
    ]
    assert staff[1].tickets == ("#1", "#2", "#3")
    # Non-staff: themes only (the help centre's words), no ticket numbers, the rest counted.
    public = knowledge_gaps(escalated, articles, staff=False)
    assert [(g.topic, g.escalations, g.tickets) for g in public] == [
        ("sign-in and SSO", 3, ()),
        (OTHER_TOPICS, 3, ()),  # tickets 1-3, counted once
    ]
    # An article on the topic closes the gap.
    covered = [*articles, ("Setting up SSO with SAML", "security")]
    assert [g.topic for g in knowledge_gaps(escalated, covered, staff=True)] == [
        "zapier connector",
        "rows",
    ]


async def command(desk: Desk, user: str, channel: str) -> None:
    status, _ = await desk.events.slash_command("/support-report", "days=7", user, channel)
    assert status == 200
    await desk.settle()


def last_report(desk: Desk, channel: str) -> str:
    reports = [
        m
        for m in desk.slack.messages(channel=channel)
        if (m.get("metadata") or {}).get("event_type") == "support_desk_report"
    ]
    assert reports
    return json.dumps(reports[-1]["blocks"]).lower()


def section(report: str) -> str:
    start = report.index("knowledge gaps")
    return report[start : report.index("digest of", start)]


async def test_the_support_report_lists_knowledge_gaps(start_desk: DeskFactory) -> None:
    desk = await start_desk(support_report_access="everyone")
    for user, text in (*ZAPIER, REFUND):
        await desk.events.message(user, text)
    await desk.settle()
    escalated = await desk.runtime.receiver.store.reports.recent_tickets(
        days=1, escalated_only=True
    )
    assert len(escalated) == 4
    await command(desk, "U_ERIN", "C_STAFF")
    gaps = section(last_report(desk, "C_STAFF"))
    assert "zapier connector: 3 escalations" in gaps and "refund" not in gaps
    # For everyone else: de-identified like the rest of the report.
    await command(desk, "U_ALICE", "C_RANDOM")
    public = section(last_report(desk, "C_RANDOM"))
    assert "zapier" not in public and "#" not in public
    assert "other topics (named for support staff only): 3 escalations" in public
    # A published article on it closes the gap.
    await desk.runtime.receiver.store.kb.publish(
        title="Zapier connector: rows missing",
        body="Reconnect it.",
        origin_ticket_id=1,
        author="U_ERIN",
    )
    await command(desk, "U_ERIN", "C_STAFF")
    assert "zapier" not in section(last_report(desk, "C_STAFF"))

"""SLA targets per priority: a warning in the staff thread before a breach (time injected
into the reminder loop), once per clock; attainment per priority and department in
/support-report. The real desk, signed events and clicks, the fake Slack."""

from __future__ import annotations

import re

from bot import blocks
from tests.conftest import DeskFactory
from tests.test_pipelines import block_text, command, report_messages
from tests.test_staff import click, escalate, staff_message

STAFF = "C_STAFF"
NO_REMINDERS = {"escalation_remind_minutes": 100_000}  # only SLA warnings in these tests


async def test_a_warning_before_each_breach_once(start_desk: DeskFactory) -> None:
    desk = await start_desk(
        sla_first_response_minutes="urgent=10,high=30,normal=60,low=120",
        sla_resolution_hours="normal=5",
        sla_warning_percent=80,
        **NO_REMINDERS,
    )
    _, ticket = await escalate(desk)
    assert ticket.priority == "normal"
    staff = staff_message(desk)
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    start, reminders = escalation.created_at, desk.runtime.workers.staff
    assert await reminders.send_sla_warnings(now=start + 40 * 60) == 0  # 40 of 60 min: not yet
    assert await reminders.send_sla_warnings(now=start + 50 * 60) == 1  # past 80 %
    assert await reminders.send_sla_warnings(now=start + 55 * 60) == 0  # once
    [warning] = desk.slack.replies_in(STAFF, staff["ts"])
    assert "SLA" in warning["text"] and "first response" in warning["text"]
    assert "due in 10 min" in warning["text"] and f"#{ticket.id}" in warning["text"]
    # Claimed: the first-response clock stops; the resolution clock (5 h) warns at 4 h.
    await click(desk, "U_ERIN", blocks.CLAIM, str(ticket.id), staff)
    await desk.settle()
    assert await reminders.send_sla_warnings(now=start + 3 * 3600) == 0
    assert await reminders.send_sla_warnings(now=start + 4.5 * 3600) == 1
    assert await reminders.send_sla_warnings(now=start + 6 * 3600) == 0
    last = desk.slack.replies_in(STAFF, staff["ts"])[-1]
    assert "resolution" in last["text"] and "due in 30 min" in last["text"]
    # Resolved: nothing more.
    await click(desk, "U_ERIN", blocks.RESOLVE, str(ticket.id), staff)
    await desk.settle()
    assert await reminders.send_sla_warnings(now=start + 100 * 3600) == 0


async def test_support_report_shows_sla_attainment(start_desk: DeskFactory) -> None:
    desk = await start_desk(**NO_REMINDERS)
    _, ticket = await escalate(desk)
    await click(desk, "U_ERIN", blocks.CLAIM, str(ticket.id), staff_message(desk))
    await desk.settle()
    _, late = await escalate(desk, user="U_BOB")
    # Bob's ticket waits unclaimed: not yet due, so neither met nor missed.
    await command(desk, "/support-report", "", user="U_ERIN", channel=STAFF)
    await desk.settle()
    shown = block_text(report_messages(desk, STAFF)[0])
    assert "SLA attainment" in shown
    line = re.search(r"normal · \w+: first response (\S+) \((\d+)%\), resolution (\S+)", shown)
    assert line is not None, shown
    assert line.group(1) == "1/1" and line.group(2) == "100" and line.group(3) == "—"
    assert late.id != ticket.id

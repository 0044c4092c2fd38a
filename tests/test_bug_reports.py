"""A bug report is filed once per turn and title, whatever the model does: through the running
desk (signed Slack events to the Bolt app, the fake Slack), with a scripted model that reports
the same bug twice, side by side in one step or one call after the other."""

from __future__ import annotations

import pytest
from agents.testing import assistant_message

from tests.conftest import DeskFactory
from tests.scripting import call, handoff, scripted, tool_outputs

REQUEST = "POST /v1/contacts returns 500 — request id req_8f2c91"
REPORT = {"title": "POST /v1/contacts returns 500", "details": REQUEST, "severity": "high"}
# The same report, its details grown by the call before (what the offline engine once did)
AGAIN = {**REPORT, "details": f"{REQUEST}\nTools tried: report_bug"}


@pytest.mark.parametrize("together", [True, False], ids=["in-one-step", "one-after-the-other"])
async def test_a_bug_reported_twice_in_a_turn_is_filed_once(
    start_desk: DeskFactory, together: bool
) -> None:
    first, second = call("report_bug", REPORT), call("report_bug", AGAIN)
    calls = [first + second] if together else [first, second]
    model, resolver = scripted(
        handoff("tech_support"), *calls, [assistant_message("Engineering has it.")]
    )
    desk = await start_desk(resolver)
    _, _, event = await desk.events.message("U_ALICE", REQUEST)
    await desk.settle()

    store = desk.runtime.receiver.store
    [report] = await store.business.bug_reports()
    ticket = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and report.ticket_id == ticket.id
    assert report.title == REPORT["title"]
    # the first call's report stands (side by side, either call may be the first)
    assert report.details in ({REQUEST, AGAIN["details"]} if together else {REQUEST})
    outputs = tool_outputs(model, "report_bug")
    assert len(outputs) == 2 and all(report.id in o for o in outputs)
    assert sum(o.startswith(f"Filed bug report {report.id}") for o in outputs) == 1
    assert sum("already filed" in o for o in outputs) == 1
    model.assert_complete()

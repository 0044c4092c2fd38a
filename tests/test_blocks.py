"""`bot.blocks`: every message and view the desk posts, drawn from stored state (pure)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from agents_config.pipelines import StepEvent
from bot import blocks
from bot.mrkdwn import Mrkdwn
from bot.slack import safe_blocks
from storage.reports import Report
from storage.tickets import Escalation, QueueEntry, Ticket
from tests.slack_markup import DATE, HOSTILE, HOSTILE_TEXT, assert_only_desk_markup, mention

NOW = 1_700_000_000.0
PERMALINK = "https://support-desk-demo.slack.com/archives/C_SUPPORT/p1700000000000100"
LINK = r"<https://support-desk-demo\.slack\.com/archives/C_SUPPORT/p\d+\|Open the thread>"
EVIL_LINK = "[Re-authenticate](https://evil.example/login)"

TICKET = Ticket(
    id=7,
    channel="C_SUPPORT",
    thread_ts="1700000000.000100",
    user_id="U_ALICE",
    customer_id=1,
    status="escalated",
    department=f"billing {HOSTILE[0]}",
    agent_path=["triage", "fallback"],
    subject=f"Help {HOSTILE_TEXT}",
    assignee=None,
    priority="high",
    created_at=NOW - 600,
    updated_at=NOW - 300,
    first_response_at=None,
    resolved_at=None,
)
ESCALATION = Escalation(
    id=3,
    ticket_id=7,
    reason=f"asked for a person {HOSTILE_TEXT}",
    summary=f"Says to click {EVIL_LINK}: {HOSTILE_TEXT}",
    staff_channel="C_STAFF",
    staff_ts="1700000001.000100",
    created_at=NOW - 3600,
    agent_path=("triage", "fallback"),
    thread_link=PERMALINK,
)


def sent(text: str, message: Any) -> list[tuple[str, dict[str, Any]]]:
    """A (text, blocks) pair as the call the gateway would make."""
    return [("chat.postMessage", {"text": text, "blocks": message})]


def mrkdwn_objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node)
        for value in node.values():
            found.extend(mrkdwn_objects(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(mrkdwn_objects(item))
    return found


def test_escalation_message_escapes_everything_written() -> None:
    text, message = blocks.escalation_message(
        TICKET, ESCALATION, requester_email="alice@northwind.example<!here>"
    )
    live = assert_only_desk_markup(sent(text, message), mention("U_ALICE"), LINK, DATE)
    assert live == ["<@U_ALICE>", live[1], live[2]] and live[1].endswith("|Open the thread>")
    assert text == "Ticket #7 needs a person: asked for a person &lt;!channel&gt; " + (
        " ".join(t.replace("<", "&lt;").replace(">", "&gt;") for t in HOSTILE[1:])
    )
    shown = json.dumps(message)
    assert EVIL_LINK in shown  # a link someone wrote shows as written, address in view
    assert "alice@northwind.example&lt;!here&gt;" in shown
    assert all(obj["verbatim"] is True for obj in mrkdwn_objects(message))
    actions = [e["action_id"] for b in message if b["type"] == "actions" for e in b["elements"]]
    assert actions == [blocks.CLAIM, blocks.RESOLVE, blocks.PRIORITY, blocks.DEPARTMENT]


def test_claimed_and_resolved_messages_mention_the_staff_member() -> None:
    claimed = dataclasses.replace(TICKET, status="claimed", assignee="U_ERIN")
    text, message = blocks.escalation_message(claimed, ESCALATION)
    assert text.startswith("Ticket #7 claimed by <@U_ERIN>: ")
    assert_only_desk_markup(sent(text, message), mention("U_ALICE"), mention("U_ERIN"), LINK, DATE)
    resolved = dataclasses.replace(TICKET, status="resolved", assignee="U_ERIN")
    _, message = blocks.escalation_message(resolved, ESCALATION)
    assert "*Resolved by <@U_ERIN>*" in json.dumps(message)
    actions = [e["action_id"] for b in message if b["type"] == "actions" for e in b["elements"]]
    assert actions == [blocks.DRAFT_KB]  # no Claim / Resolve any more; a KB draft instead


def test_thread_link_of_a_dm_and_of_a_thread_without_permalink() -> None:
    dm = dataclasses.replace(TICKET, channel="D_ALICE")
    assert blocks.thread_link(dm, ESCALATION) == (
        "a direct message with the desk: write to <@U_ALICE> directly"
    )
    assert blocks.thread_link(TICKET, None) == "thread in <#C_SUPPORT>"


def test_long_texts_fit_slacks_limits() -> None:
    huge = dataclasses.replace(ESCALATION, summary="<&>" * 3000, reason="&" * 500)
    text, message = blocks.escalation_message(TICKET, huge)
    for obj in mrkdwn_objects(message):
        assert len(obj["text"]) <= 3000
    assert len([b for b in message]) <= blocks.MAX_BLOCKS
    assert "<&>" not in json.dumps(message) and "&&" not in text


def test_reminder_pings_the_staff_group_and_nobody_else() -> None:
    text = blocks.reminder_text(TICKET, ESCALATION, now=NOW, staff_group="S_STAFF")
    assert text.startswith(":alarm_clock: <!subteam^S_STAFF> Ticket #7 has waited 1 h for a")
    assert_only_desk_markup(sent(text, None), r"<!subteam\^S_STAFF>")
    quiet = blocks.reminder_text(TICKET, ESCALATION, now=NOW, staff_group=None)
    assert quiet.startswith(":alarm_clock: Ticket #7 has waited 1 h")
    assert_only_desk_markup(sent(quiet, None))


def test_notice_update_keeps_the_posted_notice() -> None:
    notice = "A person will follow up. &lt;!here&gt; <https://docs.example|guide>"
    claimed = dataclasses.replace(TICKET, status="claimed", assignee="U_ERIN")
    updated = blocks.notice_update(notice, claimed)
    assert updated == (
        f"{notice}\n\n:bust_in_silhouette: <@U_ERIN> from the support staff has picked up "
        "ticket #7."
    )
    assert blocks.notice_update(notice, TICKET) == notice


def test_csat_prompt_and_thanks() -> None:
    text, message = blocks.csat_prompt(TICKET)
    assert text.startswith("<@U_ALICE>, ticket #7 is resolved.")
    assert [e["value"] for e in message[1]["elements"]] == [f"7:{n}" for n in range(1, 6)]
    text, _ = blocks.csat_thanks(TICKET, 4)
    assert text == "Thank you! You rated the help on ticket #7 4/5 ★★★★☆"


def test_home_view_for_staff_and_employees() -> None:
    mine = dataclasses.replace(TICKET, status="claimed", assignee="U_ERIN", claimed_at=NOW - 90)
    view = blocks.home_view(
        own=[TICKET],
        waiting=[QueueEntry(TICKET, ESCALATION)],
        mine=[QueueEntry(mine, None)],
        now=NOW,
    )
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    live = assert_only_desk_markup(
        [("views.publish", {"view": view})], mention("U_ALICE"), LINK, DATE, r"<#C_SUPPORT>"
    )
    assert "<@U_ALICE>" in live and "<#C_SUPPORT>" in live
    shown = json.dumps(view)
    assert "waiting 1 h" in shown and "claimed 1 min ago" in shown
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == [
        "Support Desk",
        "Waiting for a person (1)",
        "Claimed by you (1)",
        "Your tickets",
    ]
    employee = blocks.home_view(own=[], waiting=None, mine=None, now=NOW)
    assert "You have no tickets yet." in json.dumps(employee)
    assert "Waiting for a person (" not in json.dumps(employee)


REPORT = Report(
    id=12,
    inbox_id=1,
    source_id=None,
    kind="research",
    user_id="U_ALICE",
    channel="C_SUPPORT",
    title=f"Research: {HOSTILE_TEXT}",
    request="/research x",
    status="partial",
    body=f"# Title\n\n**Found** {HOSTILE_TEXT}\n\n- see {EVIL_LINK}\n\n`{HOSTILE[1]}`",
    notes=[f"The review failed ({HOSTILE[0]})."],
    steps=[{"name": "research", "status": "done", "seconds": 75.0}],
    data={},
    message_ts=None,
    file_id=None,
    created_at=NOW - 95,
    finished_at=NOW,
    delivered_at=None,
)


def test_report_message_escapes_and_shows_link_addresses() -> None:
    text, message = blocks.report_message(REPORT, None)
    live = assert_only_desk_markup(sent(text, message), mention("U_ALICE"))
    assert live == ["<@U_ALICE>"]
    shown = json.dumps(message, ensure_ascii=False)
    assert "*Found* &lt;!channel&gt;" in shown
    assert "see Re-authenticate (https://evil.example/login)" in shown
    assert "`&lt;!here&gt;`" in shown
    assert "The review failed (&lt;!channel&gt;)." in shown
    assert "1 steps in 1 min · report #12 · partial" in shown
    assert message[0]["type"] == "header" and len(message[0]["text"]["text"]) <= 150
    assert all(obj["verbatim"] is True for obj in mrkdwn_objects(message))


def test_long_report_shows_its_beginning_and_names_the_file() -> None:
    long = dataclasses.replace(REPORT, body="\n\n".join(["word " * 500] * 20), notes=[])
    _, message = blocks.report_message(long, "report-12.md")
    sections = [b for b in message if b["type"] == "section"]
    assert len(sections) == 2 and "`report-12.md`" in sections[-1]["text"]["text"]
    _, whole = blocks.report_message(long, None)
    assert len(whole) <= blocks.MAX_BLOCKS


def test_a_pipelines_steps_as_task_titles_and_its_started_message() -> None:
    assert blocks.step_title(StepEvent("research", "done", 12.0, 12.0)) == "research — 12 s"
    retrying = StepEvent("review 1", "retrying", 3.0, 15.0, detail=f"timeout {HOSTILE[1]}")
    assert blocks.step_title(retrying) == "review 1 — 3.0 s — retrying: timeout &lt;!here&gt;"
    assert blocks.step_title(StepEvent("draft 2", "running", 0.0, 15.0)) == "draft 2 — running…"
    text, message = blocks.pipeline_started(REPORT, resumed=False)
    assert text.startswith("Research: &lt;!channel&gt;") and text.endswith("— working on it")
    shown = json.dumps(message, ensure_ascii=False)
    assert "The steps show in this thread." in shown and "report #12" in shown
    assert_only_desk_markup(sent(text, message), mention("U_ALICE"))
    _, waiting = blocks.pipeline_started(REPORT, resumed=True)
    assert "Resuming after a restart…" in json.dumps(waiting, ensure_ascii=False)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (4.2, "4.2 s"),
        (42, "42 s"),
        (240, "4 min"),
        (7500, "2 h 5 min"),
        (7200, "2 h"),
        (266400, "3 d 2 h"),
        (259200, "3 d"),
    ],
)
def test_one_duration_format(seconds: float, shown: str) -> None:
    assert blocks.duration(seconds) == shown


def test_the_gateway_escapes_text_objects_nobody_vouched_for() -> None:
    built = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "<!channel> from a str"}},
        {"type": "section", "text": blocks.mrkdwn_text(Mrkdwn("<@U_ALICE> vouched"))},
        {"type": "header", "text": {"type": "plain_text", "text": "<!here>"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "a & b"}]},
    ]
    safe = safe_blocks(built)
    assert safe is not None
    assert safe[0]["text"] == {
        "type": "mrkdwn",
        "text": "&lt;!channel&gt; from a str",
        "verbatim": True,
    }
    assert safe[1]["text"]["text"] == "<@U_ALICE> vouched"
    assert safe[2]["text"]["text"] == "&lt;!here&gt;"
    assert safe[3]["elements"][0]["text"] == "a &amp; b"
    assert built[0]["text"]["text"] == "<!channel> from a str"  # the input is not changed
    assert safe_blocks(None) is None


def test_the_queue_says_when_it_holds_more_than_it_lists() -> None:
    many = [QueueEntry(dataclasses.replace(TICKET, id=n), ESCALATION) for n in range(1, 17)]
    text, shown = blocks.queue_message(many, many[:3], NOW)
    headers = [b["text"]["text"] for b in shown if b["type"] == "header"]
    assert headers == ["Waiting for a person (15+)", "Claimed by you (3)"]
    assert "15+ waiting for a person, 3 claimed by you" in text
    listed = [b for b in shown if b["type"] == "section"]
    assert len(listed) == blocks.HOME_LIMIT + 3

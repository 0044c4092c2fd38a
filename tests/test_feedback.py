"""👍 / 👎 and "Talk to a person" under AI answers, through signed clicks and the fake Slack."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from agents_config.evaluation import load_examples
from bot import blocks
from support_desk import eval_cli
from support_desk.cli import main
from tests.conftest import Desk, DeskFactory, desk_settings
from tests.scripting import REFUND_QUESTION, refund_check, scripted
from tests.test_staff import click, staff_message


def _has_feedback(slack_blocks: list[dict[str, Any]] | None) -> bool:
    return any(b.get("type") == "context_actions" for b in slack_blocks or [])


async def _answered(desk: Desk, text: str = REFUND_QUESTION) -> dict:
    _, _, event = await desk.events.message("U_ALICE", text)
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    return reply


async def _billing_desk(start_desk: DeskFactory) -> Desk:
    _, resolver = scripted(*refund_check("ORD-1001 can be refunded."))
    return await start_desk(resolver)


async def _rate(desk: Desk, user: str, reply: dict[str, Any], value: str) -> int:
    """`user` clicks 👍 ("good") or 👎 ("bad") under `reply`; the HTTP status."""
    status, _ = await desk.events.block_action(
        user,
        blocks.ANSWER_FEEDBACK,
        value,
        message_ts=reply["ts"],
        action_type="feedback_buttons",
    )
    return status


async def test_a_thumbs_up_is_stored_with_the_answers_path_tools_and_model(
    start_desk: DeskFactory,
) -> None:
    desk = await _billing_desk(start_desk)
    reply = await _answered(desk)
    assert _has_feedback(reply.get("blocks"))
    assert await _rate(desk, "U_ALICE", reply, "good") == 200
    store = desk.runtime.receiver.store
    assert await store.feedback.rating("C_SUPPORT", reply["ts"], "U_ALICE") is True
    answer = await store.feedback.answer("C_SUPPORT", reply["ts"])
    assert answer is not None
    assert answer.agent_path == ["triage", "billing_specialist", "refund_processor"]
    assert answer.tools == ["check_refund_eligibility"]
    assert answer.department == "billing" and answer.model == "ScriptedModel"
    assert desk.slack.ephemerals == []  # a 👍 needs no answer


async def test_a_thumbs_down_offers_a_person_and_yes_escalates_with_context(
    start_desk: DeskFactory,
) -> None:
    desk = await _billing_desk(start_desk)
    reply = await _answered(desk)
    await _rate(desk, "U_ALICE", reply, "bad")
    store = desk.runtime.receiver.store
    assert await store.feedback.rating("C_SUPPORT", reply["ts"], "U_ALICE") is False
    [offer] = desk.slack.ephemerals
    assert offer["user"] == "U_ALICE" and "Should a person take a look?" in offer["text"]
    yes = next(
        e
        for b in offer["blocks"]
        for e in b.get("elements", [])
        if e["action_id"] == blocks.TALK_TO_PERSON
    )
    await desk.events.block_action(
        "U_ALICE", blocks.TALK_TO_PERSON, yes["value"], message_ts=offer["ts"], ephemeral=True
    )
    await desk.settle()

    ticket = await store.tickets.by_thread("C_SUPPORT", reply["thread_ts"])
    assert ticket is not None and ticket.status == "escalated"
    note = desk.slack.replies_in("C_SUPPORT", reply["thread_ts"])[-1]
    assert f"ticket #{ticket.id}" in note["text"] and not _has_feedback(note.get("blocks"))
    [staff_message] = [m for m in desk.slack.messages("C_STAFF") if "ORD-1001" in str(m)]
    assert "unhelpful" in str(staff_message) and "refund_processor" in str(staff_message)


async def test_talk_to_a_person_under_an_answer_hands_over_once(start_desk: DeskFactory) -> None:
    desk = await _billing_desk(start_desk)
    reply = await _answered(desk)
    for _ in range(2):  # a double click
        await desk.events.block_action(
            "U_ALICE", blocks.TALK_TO_PERSON, "answer", message_ts=reply["ts"]
        )
        await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", reply["thread_ts"])
    assert ticket is not None and ticket.status == "escalated"
    notes = [r for r in desk.slack.replies_in("C_SUPPORT", reply["thread_ts"]) if "#" in r["text"]]
    assert len(notes) == 1
    assert "already with our support staff" in desk.slack.ephemerals[-1]["text"]


async def test_only_the_asker_rates_or_hands_over(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else's 👎 and "Talk to a person" are refused: nothing stored, nothing handed
    over, one log line each."""
    desk = await _billing_desk(start_desk)
    reply = await _answered(desk)
    with caplog.at_level(logging.INFO):
        await _rate(desk, "U_BOB", reply, "bad")
        await desk.events.block_action(
            "U_BOB", blocks.TALK_TO_PERSON, "answer", message_ts=reply["ts"]
        )
        await desk.settle()
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == ["click refused", "hand-over refused: not the requester's ticket"]
    store = desk.runtime.receiver.store
    assert await store.feedback.rating("C_SUPPORT", reply["ts"], "U_BOB") is None
    ticket = await store.tickets.by_thread("C_SUPPORT", reply["thread_ts"])
    assert ticket is not None and ticket.status == "answered"


async def test_no_feedback_under_an_apology(start_desk: DeskFactory) -> None:
    _, resolver = scripted()  # no step scripted: the run fails
    desk = await start_desk(resolver)
    reply = await _answered(desk, "hello?")
    assert reply["text"].startswith("Sorry") and not _has_feedback(reply.get("blocks"))
    assert await desk.runtime.receiver.store.feedback.answer("C_SUPPORT", reply["ts"]) is None


async def test_a_click_on_a_message_that_is_no_answer_does_nothing(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    status, _ = await desk.events.block_action(
        "U_ALICE", blocks.ANSWER_FEEDBACK, "bad", action_type="feedback_buttons"
    )
    assert status == 200
    await desk.events.block_action("U_ALICE", blocks.TALK_TO_PERSON, "1234.5678")
    await desk.settle()
    assert await desk.runtime.receiver.store.inbox.counts() == {}


async def test_thumbs_down_answers_export_as_labelled_rows_for_eval(
    start_desk: DeskFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`export-tickets --unhelpful`: each 👎-rated answer as the message it answered, labelled
    by staff's correction of its ticket's department (else unlabelled), no user or channel
    ids; `eval` reads the file back."""
    desk = await start_desk()  # the offline engine
    wrong = await _answered(desk, "How do I reset my password?")
    unlabelled = await _answered(desk, "Which plans include SSO?")
    liked = await _answered(desk, "Where can I see my invoices?")
    for reply, value in ((wrong, "bad"), (unlabelled, "bad"), (liked, "good")):
        assert await _rate(desk, "U_ALICE", reply, value) == 200
    # The first 👎: a person takes a look, and staff correct the department.
    await desk.events.block_action(
        "U_ALICE", blocks.TALK_TO_PERSON, "answer", message_ts=wrong["ts"]
    )
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", wrong["thread_ts"])
    assert ticket is not None and ticket.status == "escalated"
    await click(desk, "U_ERIN", "ticket_department", f"{ticket.id}:billing", staff_message(desk))

    settings = desk_settings(tmp_path, desk.slack)
    out = tmp_path / "unhelpful.jsonl"
    monkeypatch.setenv("SUPPORT_DESK_DB", str(tmp_path / "none.db"))
    assert await asyncio.to_thread(main, ["export-tickets", "--days", "1", "--unhelpful"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert await asyncio.to_thread(eval_cli.export_unhelpful, settings, 1, out) == 0
    assert "Exported 2 answers rated 👎" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["text"], r["dept"], r["desk_dept"]) for r in rows] == [
        ("How do I reset my password?", "billing", "tech"),
        ("Which plans include SSO?", None, "sales"),
    ]
    assert rows[0]["desk_agents"][0] == "triage"
    for private in ("U_ALICE", "C_SUPPORT", wrong["ts"]):
        assert private not in out.read_text()
    examples = load_examples(out)
    assert [(e.text, e.dept) for e in examples] == [(r["text"], r["dept"]) for r in rows]
    as_csv = tmp_path / "unhelpful.csv"
    assert await asyncio.to_thread(eval_cli.export_unhelpful, settings, 1, as_csv) == 0
    assert [(e.id, e.dept) for e in load_examples(as_csv)] == [(r["id"], r["dept"]) for r in rows]

"""Knowledge from solved tickets: "Draft KB article" on a resolved ticket → an AI draft,
de-identified → edited and published by staff → found by the KB search tool, with its origin
ticket and author. Signed clicks and view submissions to the real Bolt app, offline engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot import blocks
from tests.conftest import Desk, DeskFactory
from tests.test_staff import click, staff_message

STAFF = "C_STAFF"
REQUEST = (
    "I want to talk to a human please: the webhook for my account alice@northwind.example "
    "stopped after I paid $450.00 for ORD-1001, Alice Chen here from Northwind Traders"
)


def modal_values(modal: dict[str, Any]) -> dict[str, str]:
    return {
        block["block_id"]: block["element"].get("initial_value", "")
        for block in modal["blocks"]
        if block.get("type") == "input"
    }


async def resolved_ticket(desk: Desk) -> tuple[int, dict[str, Any]]:
    _, _, event = await desk.events.message("U_ALICE", REQUEST)
    await desk.settle()
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    staff = staff_message(desk)
    await click(desk, "U_ERIN", blocks.CLAIM, str(ticket.id), staff)
    await desk.settle()
    await desk.events.message(
        "U_ERIN",
        "Cause: the signing secret was rotated; re-saved it in Settings → Webhooks",
        channel=STAFF,
        thread_ts=staff["ts"],
    )
    await desk.settle()
    await click(desk, "U_ERIN", blocks.RESOLVE, str(ticket.id), staff)
    await desk.settle()
    redrawn = desk.slack.get_message(STAFF, staff["ts"])
    assert redrawn is not None and blocks.DRAFT_KB in json.dumps(redrawn["blocks"])
    return ticket.id, redrawn


async def test_a_kb_draft_is_published_and_found_without_the_customer(
    start_desk: DeskFactory,
) -> None:
    desk = await start_desk()
    ticket_id, staff = await resolved_ticket(desk)
    # Not staff: no draft.
    await desk.events.block_action("U_BOB", blocks.DRAFT_KB, str(ticket_id), STAFF, staff["ts"])
    assert "Only support staff" in desk.slack.responses[-1]["text"]
    await desk.events.block_action("U_ERIN", blocks.DRAFT_KB, str(ticket_id), STAFF, staff["ts"])
    await desk.slack.wait_for("views.update", timeout=20)
    await desk.settle()
    [modal] = desk.slack.modals
    draft = modal_values(modal)
    written = json.dumps(draft)
    for private in ("alice@", "ORD-1001", "$450", "Alice", "Chen", "Northwind"):
        assert private not in written, private
    assert "signing secret" in draft[blocks.KB_BODY]  # what staff found out is in it
    # Someone who is not staff cannot publish, even with a forged submission.
    status, refused = await desk.events.view_submission(
        "U_BOB",
        blocks.DRAFT_KB,
        {blocks.KB_TITLE: "Free refunds for all", blocks.KB_BODY: "Just ask."},
        view_extra={"private_metadata": modal["private_metadata"]},
    )
    assert status == 200 and "Only support staff" in refused
    published = await desk.runtime.receiver.store.kb.search("free refunds for all", limit=5)
    assert all(a.title != "Free refunds for all" for a in published)
    # The staff member edits and publishes (adding the e-mail back by mistake).
    body = draft[blocks.KB_BODY] + "\nWrite to alice@northwind.example if stuck."
    status, _ = await desk.events.view_submission(
        "U_ERIN",
        blocks.DRAFT_KB,
        {blocks.KB_TITLE: "Webhooks stop after a secret rotation", blocks.KB_BODY: body},
        view_extra={"private_metadata": modal["private_metadata"]},
    )
    assert status == 200
    store = desk.runtime.receiver.store
    [found] = await store.kb.search("webhooks secret rotation", limit=1)
    assert found.title == "Webhooks stop after a secret rotation"
    assert "alice@" not in found.body and "ORD-1001" not in found.body
    assert await store.kb.origin(found.slug) == (ticket_id, "U_ERIN")
    # The agents use it from then on: the KB search tool finds it for the next customer.
    _, _, event = await desk.events.message(
        "U_DAVE", "Our webhooks stopped arriving after we rotated the signing secret"
    )
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "re-saved it in Settings" in reply["text"], reply["text"]


async def test_a_publish_is_written_before_its_ack_and_once(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publish is acked only once the article is written: when the write fails, Slack gets
    no ack (the modal stays open with its text, for staff to publish again); published
    again, and redelivered, it is one article."""
    desk = await start_desk()
    ticket_id, staff = await resolved_ticket(desk)
    await desk.events.block_action("U_ERIN", blocks.DRAFT_KB, str(ticket_id), STAFF, staff["ts"])
    await desk.slack.wait_for("views.update", timeout=20)
    await desk.settle()
    [modal] = desk.slack.modals
    store = desk.runtime.receiver.store
    publish = store.kb.publish
    before = await store.kb.count()

    async def crash(**_: Any) -> str:
        raise RuntimeError("the receiver died before the article was written")

    monkeypatch.setattr(store.kb, "publish", crash)
    article = {blocks.KB_TITLE: "Webhooks stop after a secret rotation", blocks.KB_BODY: "Re-save."}
    submit = {"view_id": "V_KB1", "view_extra": {"private_metadata": modal["private_metadata"]}}
    status, _ = await desk.events.view_submission("U_ERIN", blocks.DRAFT_KB, article, **submit)
    assert status != 200  # no ack: Slack keeps the modal open and shows an error
    assert await store.kb.count() == before
    monkeypatch.setattr(store.kb, "publish", publish)
    for _ in range(2):  # published again, then redelivered
        status, _ = await desk.events.view_submission("U_ERIN", blocks.DRAFT_KB, article, **submit)
        assert status == 200
    assert await store.kb.count() == before + 1
    [found] = await store.kb.search("webhooks secret rotation", limit=1)
    assert await store.kb.origin(found.slug) == (ticket_id, "U_ERIN")

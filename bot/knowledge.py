"""Knowledge that grows from solved tickets: "Draft KB article" on a resolved ticket's staff
message → the AI drafts an article from the ticket, de-identified in code before the model
sees it and again after → a staff member edits it in a modal and publishes it → it is in the
knowledge base, searchable by the agents at once, with its origin ticket and author.

The click records the draft in the inbox, then opens a "drafting" modal named after the click
(its `external_id`); the worker writes the draft (`draft`) and puts it in that modal.
Publishing (`publish`) is the staff member's click.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agents_config.context import Caller, DeskContext
from agents_config.pipelines.kb_draft import KbDraftPipeline
from bot import blocks
from bot.slack import SlackGateway
from storage.inbox import InboxItem
from storage.redaction import deidentify_customer
from storage.store import Store
from storage.tickets import Ticket

log = logging.getLogger(__name__)

KB_DRAFT = "kb_draft"  # inbox kind
# A click's trigger id opens its modal within 3 s, or never: until then (with a margin) a
# draft ready before its modal waits for it.
MODAL_OPENS_WITHIN_S = 6.0
MODAL_RETRY_S = 0.5


async def customer_names(store: Store, ticket: Ticket) -> list[str]:
    """Everything that names the ticket's customer: their Slack name, account and company."""
    names: list[str] = []
    cached = await store.users.get(ticket.user_id, max_age_s=float("inf"))
    if cached is not None and cached.name:
        names.append(cached.name)
    if ticket.customer_id is not None:
        customer = await store.business.customer(ticket.customer_id)
        if customer is not None:
            names += [customer.name, customer.company]
    return names


async def ticket_source(store: Store, ticket: Ticket) -> str:
    """The ticket as the drafter sees it, de-identified: subject, request, the escalation's
    summary, and what staff wrote (notes and replies)."""
    opening = await store.tickets.opening_text(ticket.id)
    escalation = await store.tickets.latest_escalation(ticket.id)
    lines = [f"Subject: {ticket.subject}", f"Request: {opening or ''}"]
    if escalation is not None:
        lines.append(f"Summary: {escalation.summary}")
    lines += [f"Staff: {note.text}" for note in await store.tickets.notes(ticket.id)]
    text = "\n".join(" ".join(line.split()) for line in lines)
    return deidentify_customer(text, await customer_names(store, ticket))


async def draft(
    store: Store, slack: SlackGateway, drafter: KbDraftPipeline, item: InboxItem
) -> None:
    """Write the draft of the ticket in `item` and show it in the staff member's modal."""
    ticket = await store.tickets.get(int(item.payload.get("ticket_id") or 0))
    external_id = str(item.payload.get("external_id") or "")
    view_id = str(item.payload.get("view_id") or "")  # a row recorded before external ids
    if ticket is None or not (external_id or view_id):
        return
    context = DeskContext(
        store=store,
        caller=Caller(slack_user_id=item.user_id, is_staff=True),
        ticket_id=ticket.id,
        channel=ticket.channel,
        thread_ts=ticket.thread_ts,
    )
    title, body = await drafter.draft(await ticket_source(store, ticket), context)
    names = await customer_names(store, ticket)  # a model may bring a name back: out again
    view = blocks.kb_modal(
        ticket.id, deidentify_customer(title, names), deidentify_customer(body, names)
    )
    extra = {"ticket_id": ticket.id, "inbox_id": item.id}
    while not await slack.update_view(view, view_id=view_id or None, external_id=external_id):
        # The click is recorded before its modal opens: the draft may be ready first. Past
        # the trigger id's life the modal will not open any more (or was closed): dropped.
        if time.time() >= item.received_at + MODAL_OPENS_WITHIN_S:
            log.warning("KB draft not shown: its form is not open", extra=extra)
            return
        await asyncio.sleep(MODAL_RETRY_S)
    log.info("KB article drafted", extra=extra)


async def publish(store: Store, *, ticket_id: int, title: str, body: str, author: str) -> str:
    """Publish a staff member's article (de-identified once more, in code). Returns its slug."""
    ticket = await store.tickets.get(ticket_id)
    names = await customer_names(store, ticket) if ticket else []
    slug = await store.kb.publish(
        title=deidentify_customer(title, names),
        body=deidentify_customer(body, names),
        origin_ticket_id=ticket_id,
        author=author,
    )
    log.info("KB article published", extra={"ticket_id": ticket_id, "slug": slug, "staff": author})
    return slug

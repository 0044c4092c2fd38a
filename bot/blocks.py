"""Every Block Kit message and view the desk posts (kept apart from the code that posts them).

Every function here is pure: it draws a message or view from stored state, so a message can be
drawn again after any change (a claim, a resolve, a new priority, a finished step) and always
agrees with the database.

What users and models wrote (a request's subject, an escalation's reason and summary, a
report) is escaped by `bot.mrkdwn`: desk-made mentions (`mention`, `group_mention`, …) are the
only live control sequences. In these staff and channel posts a link someone wrote is shown
with its address (`to_mrkdwn(links="shown")`), never as a label. Every mrkdwn text object is
`verbatim`, so Slack does not turn names or bare URLs in it into links either.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agents_config.closing import rating_question
from agents_config.pipelines import StepEvent
from agents_config.pipelines.base import seconds
from bot.mrkdwn import (
    Mrkdwn,
    channel_mention,
    date,
    escape,
    group_mention,
    link,
    mention,
    split_message,
    to_mrkdwn,
    truncate,
)
from storage.approvals import Approval
from storage.reports import Report
from storage.tickets import PRIORITIES, Escalation, QueueEntry, Ticket

Block = dict[str, Any]

TEXT_CHARS = 3000  # a section's or a context element's text
SECTION_CHARS = 2900  # the part of a long text put in one section
MAX_BLOCKS = 50  # in a message (a view holds 100)
MAX_REPORT_SECTIONS = 40

# The one duration format of the desk ("42 s", "4 min", "2 h 5 min", "3 d 2 h").
duration = seconds

# action_id of every interactive element the desk posts (the listeners match on these).
CLAIM = "ticket_claim"
RESOLVE = "ticket_resolve"
PRIORITY = "ticket_priority"
DEPARTMENT = "ticket_department"
CSAT_PATTERN = r"^csat_[1-5]$"
CONFIRM = "action_confirm"  # the requester's yes to an acting tool (a refund)
ANSWER_FEEDBACK = "answer_feedback"  # 👍 / 👎 under an AI answer (values "good" / "bad")
TALK_TO_PERSON = "talk_to_person"  # under an AI answer, and the Yes after a 👎 (its ts)
NO_HANDOVER = "no_handover"  # the No after a 👎
STOP_ANSWER = "stop_answer"  # on an answer being streamed
CANCEL = "action_cancel"
NEW_REQUEST = "new_request"  # the App Home button, and the callback id of its modal
CREATE_TICKET = "create_support_ticket"  # the message shortcut (manifest.yml)
REPLY_TO_USER = "reply_to_user"  # the message shortcut relaying a staff-thread message
APPROVE = "approval_approve"  # staff's Approve on an approval card (a refund over the limit)
REJECT = "approval_reject"  # staff's Reject: opens the reason modal
REJECT_VIEW = "approval_reject_reason"  # the reason modal's callback id
REJECT_REASON = "reason"
REASON_CHARS = 500
DRAFT_KB = "ticket_kb_draft"  # on a resolved ticket's staff message; also the modal's callback
KB_TITLE, KB_BODY = "kb_title", "kb_body"
KB_TITLE_CHARS, KB_BODY_CHARS = 150, 3000
REQUEST_ABOUT, REQUEST_DESCRIPTION, REQUEST_URGENCY = "about", "description", "urgency"
REQUEST_FIELD = "value"  # the action id of each input in the request modal
ABOUT_CHARS, DESCRIPTION_CHARS = 150, 3000

DEPARTMENTS = ("billing", "tech", "sales", "human")  # what staff may correct a ticket to
STATUS_LABELS = {
    "open": ":speech_balloon: Open",
    "answered": ":robot_face: Answered by the desk",
    "escalated": ":hourglass_flowing_sand: Waiting for a person",
    "claimed": ":bust_in_silhouette: With a person",
    "resolved": ":white_check_mark: Resolved",
}
_ICONS = {
    "escalated": ":rotating_light:",
    "claimed": ":bust_in_silhouette:",
    "resolved": ":white_check_mark:",
}
HOME_LIMIT = 15  # tickets per App Home list (a view holds at most 100 blocks)

KIND_LABELS = {"research": "Research", "debate": "Debate", "support-report": "Support report"}
STEP_ICONS = {
    "running": ":hourglass_flowing_sand:",
    "retrying": ":repeat:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "skipped": ":fast_forward:",
}
_H1 = re.compile(r"\A\s*#\s+[^\n]*\n+")


# ---- the pieces ----------------------------------------------------------------------------


def mrkdwn_text(text: Mrkdwn, limit: int = TEXT_CHARS) -> dict[str, Any]:
    """A mrkdwn text object; a plain `str` given by mistake is escaped, not trusted."""
    return {"type": "mrkdwn", "text": truncate(escape(text), limit), "verbatim": True}


def plain(text: str, limit: int = 75) -> dict[str, Any]:
    """A plain_text object. Slack reads no markup in it but decodes `&amp;` `&lt;` `&gt;`
    there too, so it gets the one escape like every other text."""
    return {"type": "plain_text", "text": truncate(escape(text), limit), "emoji": True}


def section(text: Mrkdwn) -> Block:
    return {"type": "section", "text": mrkdwn_text(text)}


def context(text: Mrkdwn) -> Block:
    return {"type": "context", "elements": [mrkdwn_text(text)]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, 150)}


def thread_link(ticket: Ticket, escalation: Escalation | None) -> Mrkdwn:
    """Where staff can read the conversation. A DM with the desk is visible to no one else."""
    if ticket.channel.startswith("D"):
        return Mrkdwn("a direct message with the desk: write to {} directly").format(
            mention(ticket.user_id)
        )
    url = escalation.thread_link if escalation else None
    if url:
        return link(url, "Open the thread")
    return Mrkdwn("thread in {}").format(channel_mention(ticket.channel))


# ---- staff: the escalation message, reminders, the user's notice, ratings -------------------


def escalation_message(
    ticket: Ticket, escalation: Escalation, *, requester_email: str | None = None
) -> tuple[Mrkdwn, list[Block]]:
    """The staff-channel message of an escalation, as the ticket stands: (text, blocks)."""
    who = mention(ticket.user_id)
    if requester_email:
        who = Mrkdwn("{} ({})").format(who, requester_email)
    path = " → ".join(escalation.agent_path or ticket.agent_path) or "triage"
    department = escalation.department or ticket.department or "unrouted"
    if ticket.corrected_department and ticket.corrected_department != department:
        department = f"{ticket.corrected_department} (corrected; the desk said {department})"
    number, reason = ticket.id, escalation.reason
    assignee = mention(ticket.assignee or "")
    if ticket.status == "claimed":
        state = Mrkdwn(":bust_in_silhouette: *Claimed by {}*").format(assignee)
        text = Mrkdwn("Ticket #{} claimed by {}: {}").format(number, assignee, reason)
    elif ticket.status == "resolved":
        state = Mrkdwn(":white_check_mark: *Resolved by {}*").format(assignee)
        text = Mrkdwn("Ticket #{} resolved: {}").format(number, reason)
    elif ticket.status == "escalated":
        state = Mrkdwn(":hourglass_flowing_sand: *Waiting for someone to claim it*")
        text = Mrkdwn("Ticket #{} needs a person: {}").format(number, reason)
    else:
        state = escape(STATUS_LABELS.get(ticket.status, ticket.status))
        text = Mrkdwn("Ticket #{}: {}").format(number, reason)
    icon = _ICONS.get(ticket.status, ":ticket:")
    blocks: list[Block] = [
        section(Mrkdwn("{} *Ticket #{}* — {}").format(Mrkdwn(icon), number, reason)),
        {
            "type": "section",
            "fields": [
                mrkdwn_text(Mrkdwn("*From*\n{}").format(who), 2000),
                mrkdwn_text(Mrkdwn("*Department*\n{}").format(department), 2000),
                mrkdwn_text(Mrkdwn("*Agent path*\n{}").format(path), 2000),
                mrkdwn_text(Mrkdwn("*Status*\n{}").format(state), 2000),
            ],
        },
        section(Mrkdwn("*Summary*\n{}").format(escalation.summary)),
        context(
            Mrkdwn("{} · escalated {} · priority *{}*").format(
                thread_link(ticket, escalation), date(escalation.created_at), ticket.priority
            )
        ),
    ]
    if ticket.status in ("escalated", "claimed"):
        blocks.append(_staff_actions(ticket))
    elif ticket.status == "resolved":  # knowledge that grows from solved tickets
        blocks.append(
            {
                "type": "actions",
                "block_id": f"ticket_kb_{ticket.id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": DRAFT_KB,
                        "text": plain("Draft KB article"),
                        "value": str(ticket.id),
                    }
                ],
            }
        )
    return text, blocks


def _staff_actions(ticket: Ticket) -> Block:
    options = [{"text": plain(p.capitalize()), "value": f"{ticket.id}:{p}"} for p in PRIORITIES]
    current = next((o for o in options if o["value"] == f"{ticket.id}:{ticket.priority}"), None)
    select: Block = {
        "type": "static_select",
        "action_id": PRIORITY,
        "placeholder": plain("Priority"),
        "options": options,
    }
    if current is not None:
        select["initial_option"] = current
    departments = [
        {"text": plain(d.capitalize()), "value": f"{ticket.id}:{d}"} for d in DEPARTMENTS
    ]
    label = ticket.corrected_department or ticket.department
    department: Block = {
        "type": "static_select",
        "action_id": DEPARTMENT,
        "placeholder": plain("Department"),
        "options": departments,
    }
    if label in DEPARTMENTS:
        department["initial_option"] = departments[DEPARTMENTS.index(label)]
    elements: list[Block] = []
    if ticket.status == "escalated":
        elements.append(
            {
                "type": "button",
                "action_id": CLAIM,
                "style": "primary",
                "text": plain("Claim"),
                "value": str(ticket.id),
            }
        )
    elements.append(
        {
            "type": "button",
            "action_id": RESOLVE,
            "text": plain("Resolve"),
            "value": str(ticket.id),
            "confirm": {
                "title": plain(f"Resolve ticket #{ticket.id}?"),
                "text": mrkdwn_text(
                    Mrkdwn("The ticket is closed and the user is asked to rate the help they got.")
                ),
                "confirm": plain("Resolve"),
                "deny": plain("Cancel"),
            },
        }
    )
    elements.extend((select, department))
    return {"type": "actions", "block_id": f"ticket_actions_{ticket.id}", "elements": elements}


def reminder_text(
    ticket: Ticket, escalation: Escalation, *, now: float, staff_group: str | None
) -> Mrkdwn:
    """The re-announcement of an escalation nobody has claimed yet (it pings the staff group)."""
    ping = group_mention(staff_group) + " " if staff_group else Mrkdwn("")
    return Mrkdwn(
        ":alarm_clock: {}Ticket #{} has waited {} for a person and nobody has claimed it yet "
        "({}, priority *{}*). Claim it on the message above."
    ).format(
        ping, ticket.id, duration(now - escalation.created_at), escalation.reason, ticket.priority
    )


def notice_update(notice_text: str, ticket: Ticket) -> Mrkdwn:
    """The user's handover message with a line on who has the ticket now.

    `notice_text` is the mrkdwn the desk posted (stored as sent), so it is taken as it is.
    """
    notice = Mrkdwn(notice_text)
    if ticket.status == "claimed":
        line = Mrkdwn(
            ":bust_in_silhouette: {} from the support staff has picked up ticket #{}."
        ).format(mention(ticket.assignee or ""), ticket.id)
    elif ticket.status == "resolved":
        line = Mrkdwn(":white_check_mark: Ticket #{} was resolved by {}.").format(
            ticket.id, mention(ticket.assignee or "")
        )
    else:
        return notice
    return Mrkdwn("{}\n\n{}").format(notice, line)


def csat_prompt(ticket: Ticket, language: str = "en") -> tuple[Mrkdwn, list[Block]]:
    """Asks the user to rate the help after a resolve, in their language when the desk knows
    it (they closed the conversation in it): (text, blocks)."""
    text = Mrkdwn(rating_question(language)).format(mention(ticket.user_id), ticket.id)
    buttons = [
        {
            "type": "button",
            "action_id": f"csat_{n}",
            "text": plain(str(n)),
            "value": f"{ticket.id}:{n}",
        }
        for n in range(1, 6)
    ]
    return text, [
        section(text),
        {"type": "actions", "block_id": f"csat_{ticket.id}", "elements": buttons},
    ]


def csat_thanks(ticket: Ticket, score: int) -> tuple[Mrkdwn, list[Block]]:
    stars = "★" * score + "☆" * (5 - score)
    text = Mrkdwn("Thank you! You rated the help on ticket #{} {}/5 {}").format(
        ticket.id, score, stars
    )
    return text, [section(text)]


# ---- confirmations: an acting tool waiting for the requester's yes --------------------------


def _planned(approval: Approval) -> Mrkdwn:
    """The actions as the desk described them (their words come from data: escaped)."""
    return Mrkdwn("\n").join(Mrkdwn("• {}").format(a.description) for a in approval.actions)


def confirmation_request(approval: Approval) -> tuple[Mrkdwn, list[Block]]:
    """Asks the requester to confirm exactly these actions, with Confirm and Cancel."""
    text = Mrkdwn("{}, please confirm before I go ahead:\n{}").format(
        mention(approval.requester), _planned(approval)
    )
    buttons = [
        {
            "type": "button",
            "action_id": CONFIRM,
            "style": "primary",
            "text": plain("Confirm"),
            "value": str(approval.id),
        },
        {"type": "button", "action_id": CANCEL, "text": plain("Cancel"), "value": str(approval.id)},
    ]
    return text, [
        section(text),
        context(Mrkdwn("Nothing is done until you confirm. Only you can confirm or cancel.")),
        {"type": "actions", "block_id": f"confirmation_{approval.id}", "elements": buttons},
    ]


def answer_feedback() -> list[Block]:
    """Under each AI answer: 👍 / 👎 and "Talk to a person" (never under staff messages,
    apologies or hand-over notes). The clicked message names the answer; the values only the
    choice."""
    return [
        {
            "type": "context_actions",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": ANSWER_FEEDBACK,
                    "positive_button": {
                        "text": plain("Good answer"),
                        "accessibility_label": "This answer helped",
                        "value": "good",
                    },
                    "negative_button": {
                        "text": plain("Bad answer"),
                        "accessibility_label": "This answer did not help",
                        "value": "bad",
                    },
                }
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": TALK_TO_PERSON,
                    "text": plain("Talk to a person"),
                    "value": "answer",  # this message
                }
            ],
        },
    ]


def answer_blocks(text: Mrkdwn, feedback: list[Block] | None) -> list[Block]:
    """A posted part of an answer as blocks (sections of at most 3,000 characters, Slack's
    limit), with the feedback under it when it is the answer's last part. Blocks, not only
    text: `chat.update` keeps a message's old blocks (the Stop button) unless given new ones."""
    parts = split_message(text, limit=SECTION_CHARS, max_parts=4)  # a part is <= 3,500
    return [*(section(part) for part in parts), *(feedback or [])]


def stop_control() -> list[Block]:
    """On an answer while it is written: Stop (only the requester's click counts)."""
    button = {"type": "button", "action_id": STOP_ANSWER, "text": plain("Stop"), "value": "stop"}
    return [{"type": "actions", "elements": [button]}]


HANDOVER_QUESTION = Mrkdwn("Sorry this didn't help. Should a person take a look?")


def handover_offer(answer_ts: str) -> list[Block]:
    """After a 👎, privately: should a person take a look? (Yes / No). Yes names the answer."""
    return [
        section(HANDOVER_QUESTION),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": TALK_TO_PERSON,
                    "style": "primary",
                    "text": plain("Yes, ask a person"),
                    "value": answer_ts,
                },
                {
                    "type": "button",
                    "action_id": NO_HANDOVER,
                    "text": plain("No, thanks"),
                    "value": "no",
                },
            ],
        },
    ]


_SETTLED = {
    "confirmed": Mrkdwn(":white_check_mark: Confirmed by {}"),
    "awaiting_staff": Mrkdwn(
        ":hourglass_flowing_sand: Confirmed by {}; waiting for a staff member's approval"
    ),
    "rejected": Mrkdwn(":no_entry_sign: Confirmed by {}, not approved by staff: nothing was done"),
    "cancelled": Mrkdwn(":no_entry_sign: Cancelled by {}: nothing was done"),
    "superseded": Mrkdwn(
        ":grey_question: No longer valid (the conversation moved on): nothing was done"
    ),
    "expired": Mrkdwn(":hourglass: Expired: nothing was done"),
}


def confirmation_settled(approval: Approval) -> tuple[Mrkdwn, list[Block]]:
    """The confirmation once answered or closed: what was asked, and what became of it."""
    state = _SETTLED.get(approval.status, Mrkdwn("{}")).format(
        mention(approval.decided_by or approval.requester)
    )
    if approval.status == "confirmed" and approval.reviewed_by:
        state = Mrkdwn("{} and approved by {}").format(state, mention(approval.reviewed_by))
    text = Mrkdwn("{}\n{}").format(_planned(approval), state)
    return text, [section(_planned(approval)), context(state)]


# ---- approvals: what needs a staff member's yes after the requester's ---------------------


# the card's heading (and its notification text) once staff decided: not "needed" any more
_APPROVAL_HEADINGS = {
    "awaiting_staff": "Approval needed",
    "confirmed": "Approved",
    "rejected": "Rejected",
}


def approval_card(
    approval: Approval, ticket: Ticket, thread_link: str | None
) -> tuple[Mrkdwn, list[Block]]:
    """The staff card of an approval: what, the policy check, the AI's reasoning, and Approve
    / Reject while it waits; the decision once taken."""
    review = approval.review or {}
    heading = _APPROVAL_HEADINGS.get(approval.status, "Approval closed")
    title = Mrkdwn(":moneybag: *{}* · ticket #{} · requested by {}").format(
        heading, ticket.id, mention(approval.requester)
    )
    where = link(thread_link, "the conversation") if thread_link else Mrkdwn("")
    parts: list[Block] = [
        section(title),
        section(Mrkdwn("*What:*\n{}").format(_planned(approval))),
        section(Mrkdwn("*Policy check:*\n{}").format(str(review.get("policy") or "—"))),
        section(Mrkdwn("*The AI's reasoning:*\n{}").format(str(review.get("reasoning") or "—"))),
    ]
    if approval.status == "awaiting_staff":
        parts.append(
            context(Mrkdwn("The requester confirmed it. Only staff can approve. {}").format(where))
        )
        parts.append(
            {
                "type": "actions",
                "block_id": f"approval_{approval.id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "style": "primary",
                        "text": plain("Approve"),
                        "value": str(approval.id),
                    },
                    {
                        "type": "button",
                        "action_id": REJECT,
                        "style": "danger",
                        "text": plain("Reject…"),
                        "value": str(approval.id),
                    },
                ],
            }
        )
    elif approval.status == "confirmed":
        parts.append(
            context(
                Mrkdwn(":white_check_mark: Approved by {}").format(
                    mention(approval.reviewed_by or "")
                )
            )
        )
    elif approval.status == "rejected":
        parts.append(
            context(
                Mrkdwn(":no_entry_sign: Rejected by {}: {}").format(
                    mention(approval.reviewed_by or ""), approval.review_note or ""
                )
            )
        )
    else:
        parts.append(context(Mrkdwn("No longer waiting ({}).").format(approval.status)))
    return title, parts


def approval_reminder(approval: Approval, *, now: float, staff_group: str | None) -> Mrkdwn:
    waited = duration(now - (approval.awaiting_since or approval.created_at))
    who = Mrkdwn("{} ").format(group_mention(staff_group)) if staff_group else Mrkdwn("")
    return Mrkdwn(
        ":alarm_clock: {}This approval has waited {}: please approve or reject it."
    ).format(who, waited)


def reject_modal(approval_id: int, channel: str | None, ts: str | None) -> dict[str, Any]:
    """Staff's reason for a rejection; the user is told it. The modal remembers the card it
    was opened from (`reject_modal_card`), which must be the approval's."""
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": json.dumps({"approval": approval_id, "channel": channel, "ts": ts}),
        "title": plain("Reject", 24),
        "submit": plain("Reject", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": REJECT_REASON,
                "label": plain("Reason (the requester will see it)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REQUEST_FIELD,
                    "multiline": True,
                    "max_length": REASON_CHARS,
                },
            }
        ],
    }


# ---- the App Home ----------------------------------------------------------------------------


def home_view(
    *,
    own: list[Ticket],
    waiting: list[QueueEntry] | None,
    mine: list[QueueEntry] | None,
    now: float,
) -> dict[str, Any]:
    """The App Home tab: staff (when `waiting` is given) see the queue, everyone their tickets."""
    blocks: list[Block] = [
        header("Support Desk"),
        context(
            Mrkdwn(
                "Write in the support channel, DM me or @mention me anywhere. "
                "Ask for a person at any time."
            )
        ),
        {
            "type": "actions",
            "block_id": "home_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": NEW_REQUEST,
                    "text": plain("New request"),
                    "style": "primary",
                    "value": "new",
                }
            ],
        },
    ]
    if waiting is not None and mine is not None:
        blocks.extend(_staff_queue(waiting, mine, now))
        blocks.append({"type": "divider"})
    blocks.append(header("Your tickets"))
    for ticket in own[:HOME_LIMIT]:
        label = escape(STATUS_LABELS.get(ticket.status, ticket.status))
        if ticket.status == "claimed" and ticket.assignee:
            label = Mrkdwn("{} ({})").format(label, mention(ticket.assignee))
        blocks.append(
            section(
                Mrkdwn("*#{}* {}\n{} · opened {} · updated {}").format(
                    ticket.id,
                    ticket.subject,
                    label,
                    date(ticket.created_at),
                    date(ticket.updated_at),
                )
            )
        )
    if not own:
        blocks.append(context(Mrkdwn("You have no tickets yet.")))
    return {"type": "home", "blocks": blocks}


def queue_message(
    waiting: list[QueueEntry], mine: list[QueueEntry], now: float
) -> tuple[Mrkdwn, list[Block]]:
    """The open queue as a message to a staff member (their "Show the open queue")."""
    text = Mrkdwn("The open queue: {} waiting for a person, {} claimed by you.").format(
        _count(waiting), _count(mine)
    )
    more = Mrkdwn("Claim from the staff channel's cards; the App Home shows this queue too.")
    return text, [*_staff_queue(waiting, mine, now), context(more)]


def _staff_queue(waiting: list[QueueEntry], mine: list[QueueEntry], now: float) -> list[Block]:
    """Escalations nobody has claimed, then those the staff member holds (`HOME_LIMIT` each)."""
    blocks: list[Block] = [header(f"Waiting for a person ({_count(waiting)})")]
    blocks.extend(_queue_item(e, now, claimed=False) for e in waiting[:HOME_LIMIT])
    if not waiting:
        blocks.append(context(Mrkdwn("Nothing waiting. :tada:")))
    blocks.append(header(f"Claimed by you ({_count(mine)})"))
    blocks.extend(_queue_item(e, now, claimed=True) for e in mine[:HOME_LIMIT])
    if not mine:
        blocks.append(context(Mrkdwn("You hold no tickets.")))
    return blocks


def _count(entries: list[QueueEntry]) -> str:
    """How many, as shown: "15+" when there are more than the list shows."""
    return f"{HOME_LIMIT}+" if len(entries) > HOME_LIMIT else str(len(entries))


def _queue_item(entry: QueueEntry, now: float, *, claimed: bool) -> Block:
    ticket, escalation = entry.ticket, entry.escalation
    since = escalation.created_at if escalation else ticket.updated_at
    reason = Mrkdwn(" — {}").format(escalation.reason) if escalation else Mrkdwn("")
    timing = (
        f"claimed {duration(now - ticket.claimed_at)} ago"
        if claimed and ticket.claimed_at
        else f"waiting {duration(now - since)}"
    )
    return section(
        Mrkdwn("*#{}* {}{}\nFrom {} · {} · priority *{}* · {} · {}").format(
            ticket.id,
            ticket.subject,
            reason,
            mention(ticket.user_id),
            ticket.department or "unrouted",
            ticket.priority,
            timing,
            thread_link(ticket, escalation),
        )
    )


# ---- slash-command pipelines: the progress message and the report ---------------------------


def step_line(name: str, status: str, elapsed: float, detail: str | None) -> Mrkdwn:
    icon = Mrkdwn(STEP_ICONS.get(status, "•"))
    if status == "running":
        return Mrkdwn("{} {} — running…").format(icon, name)
    line = Mrkdwn("{} {} — {}").format(icon, name, duration(elapsed))
    if status == "retrying":
        return Mrkdwn("{} — retrying: {}").format(line, detail) if detail else line + " — retrying"
    return Mrkdwn("{} ({})").format(line, detail) if detail else line


def pipeline_started(report: Report, *, resumed: bool) -> tuple[Mrkdwn, list[Block]]:
    """A pipeline's message while it runs; its steps stream in the message's thread, and the
    message becomes the report when it is done."""
    start = "Resuming after a restart…" if resumed else "Working on it…"
    blocks = [
        section(
            Mrkdwn("*{}*\n:hourglass_flowing_sand: {} The steps show in this thread.").format(
                report.title, start
            )
        ),
        context(Mrkdwn("Requested by {} · report #{}").format(mention(report.user_id), report.id)),
    ]
    return Mrkdwn("{} — working on it").format(report.title), blocks


def step_title(event: StepEvent) -> str:
    """A pipeline step as a task in its stream: "review 1 — 3.0 s (passes · 9/10)". Its
    detail (a verdict, an error) may carry a model's words: escaped like any other text."""
    if event.status == "running":
        return f"{event.step} — running…"
    title = f"{event.step} — {duration(event.elapsed_s)}"
    detail = " ".join((event.detail or "").split())
    detail = detail if len(detail) <= 120 else detail[:119] + "…"
    if event.status == "retrying":  # "retrying: the model's answer could not be read"
        title += f" — retrying: {detail}" if detail else " — retrying"
    else:
        if event.status == "skipped":
            title += " — skipped"
        if detail:
            title += f" ({detail})"
    return str(escape(title))


def report_message(report: Report, filename: str | None) -> tuple[Mrkdwn, list[Block]]:
    """The report in Block Kit; with `filename`, its beginning and a pointer to the file."""
    label = KIND_LABELS.get(report.kind, report.kind)
    took = (report.finished_at or report.created_at) - report.created_at
    status = {"partial": " · partial", "failed": " · failed"}.get(report.status, "")
    made = (
        f"re-post of report #{report.source_id}"
        if report.source_id is not None
        else f"{len(report.steps)} steps in {duration(took)} · report #{report.id}"
    )
    blocks: list[Block] = [
        header(report.title),
        context(
            Mrkdwn("{} · requested by {} · {}{}").format(
                label, mention(report.user_id), made, status
            )
        ),
    ]
    if report.notes:
        lead = (
            Mrkdwn(":warning: *Not everything finished.* What did finish is below.")
            if report.body.strip()
            else Mrkdwn(":x: *The {} could not be finished.*").format(label.lower())
        )
        notes = Mrkdwn("\n").join(Mrkdwn("• {}").format(n) for n in report.notes)
        blocks.append(section(Mrkdwn("{}\n{}").format(lead, notes)))
    # A report goes to a channel: links in it show their address.
    body = to_mrkdwn(_H1.sub("", report.body, count=1), links="shown")
    if body.strip():
        parts = split_message(body, limit=SECTION_CHARS, max_parts=MAX_REPORT_SECTIONS)
        shown = parts[: 1 if filename else MAX_REPORT_SECTIONS]
        blocks.extend(section(part) for part in shown if part.strip())
    if filename:
        blocks.append(
            section(
                Mrkdwn(
                    ":page_facing_up: The report is longer than a message: the "
                    "whole of it is in `{}`, in this message's thread."
                ).format(filename)
            )
        )
    if report.steps:
        summary = Mrkdwn(" · ").join(
            step_line(s["name"], s["status"], s["seconds"], None) for s in report.steps
        )
        blocks.append(context(summary))
    return Mrkdwn("{} — report #{}").format(report.title, report.id), blocks[:MAX_BLOCKS]


UPLOAD_COMMENT = Mrkdwn("The full report, as a Markdown file.")


# ---- tickets from anywhere: the App Home's request form ---------------------------------


def reject_modal_card(metadata: str) -> tuple[int | None, tuple[str | None, str | None]]:
    """The approval id and card (channel, ts) a reject modal was opened for."""
    try:
        found = json.loads(metadata)
    except ValueError:
        return None, (None, None)
    if not isinstance(found, dict) or not isinstance(found.get("approval"), int):
        return None, (None, None)
    channel, ts = found.get("channel"), found.get("ts")
    return found["approval"], (
        channel if isinstance(channel, str) else None,
        ts if isinstance(ts, str) else None,
    )


def request_modal() -> dict[str, Any]:
    """The "New request" modal: what it is about, a description, the urgency."""

    options = [{"text": plain(p.capitalize()), "value": p} for p in PRIORITIES]
    return {
        "type": "modal",
        "callback_id": NEW_REQUEST,
        "title": plain("New request", 24),
        "submit": plain("Open ticket", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            _text_input(REQUEST_ABOUT, "What is it about?", ABOUT_CHARS, multiline=False),
            _text_input(REQUEST_DESCRIPTION, "Description", DESCRIPTION_CHARS, multiline=True),
            {
                "type": "input",
                "block_id": REQUEST_URGENCY,
                "label": plain("Urgency"),
                "element": {
                    "type": "static_select",
                    "action_id": REQUEST_FIELD,
                    "options": options,
                    "initial_option": options[PRIORITIES.index("normal")],
                },
            },
        ],
    }


def request_message(about: str, urgency: str) -> tuple[Mrkdwn, list[Block]]:
    """The DM message that starts a request's thread (the answer follows in it)."""
    text = Mrkdwn(":ticket: *New request:* {} · urgency *{}*").format(about, urgency)
    return text, [
        section(text),
        context(Mrkdwn("I'll answer in this thread; reply here to add anything.")),
    ]


def ticket_for_you(
    channel: str, requested_by: str, permalink: str | None
) -> tuple[Mrkdwn, list[Block]]:
    """The DM message that starts the thread of a ticket someone else opened from the user's
    message (a 🎫 or the shortcut): the answer may need their account, so it is given here."""
    message = link(permalink, "your message") if permalink else Mrkdwn("your message")
    text = Mrkdwn(":ticket: {} opened a support ticket for {} in {}.").format(
        mention(requested_by), message, channel_mention(channel)
    )
    return text, [
        section(text),
        context(
            Mrkdwn(
                "I'm answering here, privately, since it may be about your account; reply in "
                "this thread to add anything."
            )
        ),
    ]


def someone_elses_thread(requester: str) -> Mrkdwn:
    """Only for a member who wrote in another member's request thread: why the desk does
    not answer them there, and where it will."""
    return Mrkdwn(
        "This thread is {}'s request, so I only answer them here. To ask something yourself, "
        "post a new message in the channel or send me a direct message."
    ).format(mention(requester))


def ticket_opened_privately(author: str) -> tuple[Mrkdwn, list[Block]]:
    """The public thread's note when someone else opened a ticket for the author's message."""
    text = Mrkdwn(
        ":ticket: A support ticket is open for this message. I'll follow up with {} in a "
        "direct message, since it may involve their account."
    ).format(mention(author))
    return text, [context(text)]


# ---- the staff thread: replies relayed to the user, the user's DM shown to staff ----------


def staff_reply(name: str, text: str) -> tuple[Mrkdwn, list[Block]]:
    """A staff member's reply, relayed into the user's thread as coming from that person."""
    line = Mrkdwn("*{}* from the support team:").format(name)
    body = truncate(escape(text), SECTION_CHARS)
    return Mrkdwn("{}\n{}").format(line, body), [section(line), section(body)]


def user_wrote(name: str, text: str) -> tuple[Mrkdwn, list[Block]]:
    """What the user wrote in the DM of a claimed ticket, shown in its staff thread."""
    line = Mrkdwn(":speech_balloon: *{}* wrote in the DM:").format(name)
    body = truncate(escape(text), SECTION_CHARS)
    return Mrkdwn("{}\n{}").format(line, body), [
        section(line),
        section(body),
        context(Mrkdwn("Reply here starting with the reply prefix to answer them.")),
    ]


# ---- SLA ---------------------------------------------------------------------------------

_SLA_CLOCKS = {"first_response": "first response (a person claims it)", "resolution": "resolution"}


def sla_warning(
    ticket: Ticket, clock: str, *, due_at: float, target_s: float, now: float
) -> Mrkdwn:
    """The warning in the staff thread before a ticket breaches its SLA target."""
    left = due_at - now
    when = f"is due in {duration(left)}" if left > 0 else f"is {duration(-left)} overdue"
    return Mrkdwn(":warning: SLA: the {} of ticket #{} (priority *{}*) {} (target {}).").format(
        _SLA_CLOCKS.get(clock, clock), ticket.id, ticket.priority, when, duration(target_s)
    )


# ---- knowledge from solved tickets -----------------------------------------------------------


def kb_modal(
    ticket_id: int,
    title: str | None = None,
    body: str | None = None,
    *,
    external_id: str | None = None,
) -> dict[str, Any]:
    """The article drafted from a ticket, for staff to edit and publish; without a draft yet,
    a "drafting" view (the AI's draft replaces it as soon as it is written). `external_id`:
    the name the worker finds the modal by (the click's, recorded before the modal opens)."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": DRAFT_KB,
        "private_metadata": str(ticket_id),
        "title": plain("KB article", 24),
        "close": plain("Cancel", 24),
    }
    if external_id:
        view["external_id"] = external_id
    if title is None or body is None:
        view["blocks"] = [
            section(
                Mrkdwn(":hourglass_flowing_sand: Drafting an article from ticket #{}…").format(
                    ticket_id
                )
            ),
            context(Mrkdwn("No names, e-mails, ids or amounts of the customer go into it.")),
        ]
        return view

    view["submit"] = plain("Publish", 24)
    view["blocks"] = [
        _text_input(KB_TITLE, "Title", KB_TITLE_CHARS, multiline=False, value=title),
        _text_input(KB_BODY, "Article (Markdown)", KB_BODY_CHARS, multiline=True, value=body),
        context(
            Mrkdwn(
                "Drafted by the AI from ticket #{}, de-identified. Published, it is searchable "
                "by the desk's agents at once."
            ).format(ticket_id)
        ),
    ]
    return view


def _text_input(
    block_id: str, label: str, limit: int, *, multiline: bool, value: str | None = None
) -> Block:
    """A modal's text field (its value read back with `REQUEST_FIELD`), prefilled with `value`."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": REQUEST_FIELD,
        "multiline": multiline,
        "max_length": limit,
    }
    if value is not None:
        element["initial_value"] = value[:limit]
    return {"type": "input", "block_id": block_id, "label": plain(label), "element": element}

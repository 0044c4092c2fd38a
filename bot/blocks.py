"""Block Kit messages the desk posts (kept apart from the code that decides to post them).

Every function here is pure: it draws a message or view from stored state, so a message can be
drawn again after any change (a claim, a resolve, a new priority) and always agrees with the
database.
"""

from __future__ import annotations

from typing import Any

from bot.mrkdwn import escape
from storage.approvals import Approval
from storage.tickets import Escalation, QueueEntry, Ticket

Block = dict[str, Any]

# action_id of every interactive element the desk posts (the listeners match on these).
CLAIM = "ticket_claim"
RESOLVE = "ticket_resolve"
PRIORITY = "ticket_priority"
DEPARTMENT = "ticket_department"
CSAT_PATTERN = r"^csat_[1-5]$"
CONFIRM = "action_confirm"  # the requester's yes to an acting tool (a refund)
CANCEL = "action_cancel"

PRIORITIES = ("low", "normal", "high", "urgent")
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


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def slack_date(at: float, fallback: str = "") -> str:
    """A time every reader sees in their own time zone."""
    return f"<!date^{int(at)}^{{date_short_pretty}} at {{time}}|{fallback or int(at)}>"


def waited(seconds: float) -> str:
    """A short duration: "4 min", "2 h 5 min", "3 d 2 h"."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def thread_link(ticket: Ticket, escalation: Escalation | None) -> str:
    """Where staff can read the conversation. A DM with the desk is visible to no one else."""
    if ticket.channel.startswith("D"):
        return f"a direct message with the desk: write to <@{ticket.user_id}> directly"
    link = escalation.thread_link if escalation else None
    return f"<{link}|Open the thread>" if link else f"thread in <#{ticket.channel}>"


def escalation_message(
    ticket: Ticket, escalation: Escalation, *, requester_email: str | None = None
) -> tuple[str, list[Block]]:
    """The staff-channel message of an escalation, as the ticket stands: (text, blocks)."""
    who = f"<@{ticket.user_id}>" + (f" ({requester_email})" if requester_email else "")
    path = " → ".join(escalation.agent_path or ticket.agent_path) or "triage"
    department = escalation.department or ticket.department or "unrouted"
    if ticket.corrected_department and ticket.corrected_department != department:
        department = f"{ticket.corrected_department} (corrected; the desk said {department})"
    if ticket.status == "claimed":
        state = f":bust_in_silhouette: *Claimed by <@{ticket.assignee}>*"
        text = f"Ticket #{ticket.id} claimed by <@{ticket.assignee}>: {escalation.reason}"
    elif ticket.status == "resolved":
        state = f":white_check_mark: *Resolved by <@{ticket.assignee}>*"
        text = f"Ticket #{ticket.id} resolved: {escalation.reason}"
    elif ticket.status == "escalated":
        state = ":hourglass_flowing_sand: *Waiting for someone to claim it*"
        text = f"Ticket #{ticket.id} needs a person: {escalation.reason}"
    else:
        state = STATUS_LABELS.get(ticket.status, ticket.status)
        text = f"Ticket #{ticket.id}: {escalation.reason}"
    blocks: list[Block] = [
        _section(
            f"{_ICONS.get(ticket.status, ':ticket:')} *Ticket #{ticket.id}* — {escalation.reason}"
        ),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*From*\n{who}"},
                {"type": "mrkdwn", "text": f"*Department*\n{department}"},
                {"type": "mrkdwn", "text": f"*Agent path*\n{path}"},
                {"type": "mrkdwn", "text": f"*Status*\n{state}"},
            ],
        },
        _section(f"*Summary*\n{escalation.summary}"),
        _context(
            f"{thread_link(ticket, escalation)} · escalated "
            f"{slack_date(escalation.created_at)} · priority *{ticket.priority}*"
        ),
    ]
    if ticket.status in ("escalated", "claimed"):
        blocks.append(_staff_actions(ticket))
    return text, blocks


def _staff_actions(ticket: Ticket) -> Block:
    options = [{"text": _plain(p.capitalize()), "value": f"{ticket.id}:{p}"} for p in PRIORITIES]
    current = next((o for o in options if o["value"] == f"{ticket.id}:{ticket.priority}"), None)
    select: Block = {
        "type": "static_select",
        "action_id": PRIORITY,
        "placeholder": _plain("Priority"),
        "options": options,
    }
    if current is not None:
        select["initial_option"] = current
    departments = [
        {"text": _plain(d.capitalize()), "value": f"{ticket.id}:{d}"} for d in DEPARTMENTS
    ]
    label = ticket.corrected_department or ticket.department
    department: Block = {
        "type": "static_select",
        "action_id": DEPARTMENT,
        "placeholder": _plain("Department"),
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
                "text": _plain("Claim"),
                "value": str(ticket.id),
            }
        )
    elements.append(
        {
            "type": "button",
            "action_id": RESOLVE,
            "text": _plain("Resolve"),
            "value": str(ticket.id),
            "confirm": {
                "title": _plain(f"Resolve ticket #{ticket.id}?"),
                "text": {
                    "type": "mrkdwn",
                    "text": "The ticket is closed and the user is asked to rate the help they got.",
                },
                "confirm": _plain("Resolve"),
                "deny": _plain("Cancel"),
            },
        }
    )
    elements.extend((select, department))
    return {"type": "actions", "block_id": f"ticket_actions_{ticket.id}", "elements": elements}


def reminder_text(
    ticket: Ticket, escalation: Escalation, *, now: float, staff_group: str | None
) -> str:
    """The re-announcement of an escalation nobody has claimed yet."""
    ping = f"<!subteam^{staff_group}> " if staff_group else ""
    return (
        f":alarm_clock: {ping}Ticket #{ticket.id} has waited {waited(now - escalation.created_at)}"
        f" for a person and nobody has claimed it yet ({escalation.reason}, priority "
        f"*{ticket.priority}*). Claim it on the message above."
    )


def notice_update(notice_text: str, ticket: Ticket) -> str:
    """The user's handover message with a line on who has the ticket now."""
    if ticket.status == "claimed":
        line = (
            f":bust_in_silhouette: <@{ticket.assignee}> from the support staff has picked "
            f"up ticket #{ticket.id}."
        )
    elif ticket.status == "resolved":
        line = f":white_check_mark: Ticket #{ticket.id} was resolved by <@{ticket.assignee}>."
    else:
        return notice_text
    return f"{notice_text}\n\n{line}"


def csat_prompt(ticket: Ticket) -> tuple[str, list[Block]]:
    """Asks the user to rate the help after a resolve: (text, blocks)."""
    text = (
        f"<@{ticket.user_id}>, ticket #{ticket.id} is resolved. How happy are you with the "
        "help you got? (1 = not at all, 5 = very)"
    )
    buttons = [
        {
            "type": "button",
            "action_id": f"csat_{n}",
            "text": _plain(str(n)),
            "value": f"{ticket.id}:{n}",
        }
        for n in range(1, 6)
    ]
    return text, [
        _section(text),
        {"type": "actions", "block_id": f"csat_{ticket.id}", "elements": buttons},
    ]


def csat_thanks(ticket: Ticket, score: int) -> tuple[str, list[Block]]:
    stars = "★" * score + "☆" * (5 - score)
    text = f"Thank you! You rated the help on ticket #{ticket.id} {score}/5 {stars}"
    return text, [_section(text)]


def home_view(
    *,
    own: list[Ticket],
    waiting: list[QueueEntry] | None,
    mine: list[QueueEntry] | None,
    now: float,
) -> dict[str, Any]:
    """The App Home tab: staff (when `waiting` is given) see the queue, everyone their tickets."""
    blocks: list[Block] = [
        {"type": "header", "text": _plain("Support Desk")},
        _context(
            "Write in the support channel, DM me or @mention me anywhere. "
            "Ask for a person at any time."
        ),
    ]
    if waiting is not None and mine is not None:
        blocks.append({"type": "header", "text": _plain(f"Waiting for a person ({len(waiting)})")})
        blocks.extend(_queue_item(e, now, claimed=False) for e in waiting[:HOME_LIMIT])
        if not waiting:
            blocks.append(_context("Nothing waiting. :tada:"))
        blocks.append({"type": "header", "text": _plain(f"Claimed by you ({len(mine)})")})
        blocks.extend(_queue_item(e, now, claimed=True) for e in mine[:HOME_LIMIT])
        if not mine:
            blocks.append(_context("You hold no tickets."))
        blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain("Your tickets")})
    for ticket in own[:HOME_LIMIT]:
        label = STATUS_LABELS.get(ticket.status, ticket.status)
        if ticket.status == "claimed" and ticket.assignee:
            label += f" (<@{ticket.assignee}>)"
        blocks.append(
            _section(
                f"*#{ticket.id}* {ticket.subject}\n{label} · opened "
                f"{slack_date(ticket.created_at)} · updated {slack_date(ticket.updated_at)}"
            )
        )
    if not own:
        blocks.append(_context("You have no tickets yet."))
    return {"type": "home", "blocks": blocks}


def _queue_item(entry: QueueEntry, now: float, *, claimed: bool) -> Block:
    ticket, escalation = entry.ticket, entry.escalation
    since = escalation.created_at if escalation else ticket.updated_at
    reason = f" — {escalation.reason}" if escalation else ""
    timing = (
        f"claimed {waited(now - ticket.claimed_at)} ago"
        if claimed and ticket.claimed_at
        else f"waiting {waited(now - since)}"
    )
    return _section(
        f"*#{ticket.id}* {ticket.subject}{reason}\nFrom <@{ticket.user_id}> · "
        f"{ticket.department or 'unrouted'} · priority *{ticket.priority}* · {timing} · "
        f"{thread_link(ticket, escalation)}"
    )


# ---- confirmations: an acting tool waiting for the requester's yes --------------------------


def confirmation_request(approval: Approval) -> tuple[str, list[Block]]:
    """Asks the requester to confirm exactly these actions, with Confirm and Cancel."""
    actions = "\n".join(f"• {escape(a.description)}" for a in approval.actions)
    text = f"<@{approval.requester}>, please confirm before I go ahead:\n{actions}"
    buttons = [
        {
            "type": "button",
            "action_id": CONFIRM,
            "style": "primary",
            "text": _plain("Confirm"),
            "value": str(approval.id),
        },
        {
            "type": "button",
            "action_id": CANCEL,
            "text": _plain("Cancel"),
            "value": str(approval.id),
        },
    ]
    return text, [
        _section(text),
        _context("Nothing is done until you confirm. Only you can confirm or cancel."),
        {"type": "actions", "block_id": f"confirmation_{approval.id}", "elements": buttons},
    ]


_SETTLED = {
    "confirmed": ":white_check_mark: Confirmed by <@{user}>",
    "cancelled": ":no_entry_sign: Cancelled by <@{user}>: nothing was done",
    "superseded": ":grey_question: No longer valid (the conversation moved on): nothing was done",
    "expired": ":hourglass: Expired: nothing was done",
}


def confirmation_settled(approval: Approval) -> tuple[str, list[Block]]:
    """The confirmation message once answered or closed: what was asked, and what became of it."""
    actions = "\n".join(f"• {escape(a.description)}" for a in approval.actions)
    state = _SETTLED.get(approval.status, approval.status).format(
        user=approval.decided_by or approval.requester
    )
    text = f"{actions}\n{state}"
    return text, [_section(actions), _context(state)]

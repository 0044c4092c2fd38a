"""Intake: decide whether a Slack event is for the desk, and record it in the inbox.

This is all that happens before Slack gets its ack, so it stays small: a few checks on the
event and one insert. Answering is the worker's job (`bot.worker`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.payloads import scrub
from storage.redaction import redact_secrets
from storage.store import Store

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000
SECRETS_REMOVED = "secrets_removed"  # payload key: the kinds of secret intake removed

# Message subtypes that are noise for a support desk: edits, deletions, joins, topics, bots…
# A plain user message has no subtype; `file_share` and `thread_broadcast` carry user text.
ANSWERED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")


class NotOurButton(Exception):
    """A click whose button the desk did not send (a forged or stale value)."""


@dataclass(frozen=True)
class IntakeOptions:
    support_channels: frozenset[str]


class Intake:
    def __init__(
        self, store: Store, options: IntakeOptions, on_accepted: Callable[[], None]
    ) -> None:
        self.store = store
        self.options = options
        self.on_accepted = on_accepted

    async def message(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        """A `message` event: answered in support channels, DMs and threads with a ticket."""
        reason = _ignore_reason(event, bot_user_id)
        if reason:
            log.debug("ignored message", extra={"reason": reason, "event_id": event_id})
            return None
        channel = str(event["channel"])
        thread_ts = event.get("thread_ts")
        is_dm = event.get("channel_type") == "im" or channel.startswith("D")
        mentioned = bool(bot_user_id) and f"<@{bot_user_id}>" in str(event.get("text") or "")
        if not (is_dm or mentioned or (channel in self.options.support_channels and not thread_ts)):
            # A thread reply elsewhere is answered only in a thread the desk is part of.
            if not thread_ts or not await self._known_thread(channel, thread_ts):
                return None
        return await self._record("message", event, event_id, bot_user_id)

    async def _known_thread(self, channel: str, thread_ts: str) -> bool:
        if await self.store.inbox.has_thread(channel, thread_ts):
            return True  # accepted, perhaps not answered yet
        return await self.store.tickets.by_thread(channel, thread_ts) is not None

    async def mention(
        self, event: dict[str, Any], *, event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        """An `app_mention`: always answered (the same message's `message` event is a dup)."""
        reason = _ignore_reason(event, bot_user_id)
        if reason:
            return None
        return await self._record("message", event, event_id, bot_user_id)

    async def _record(
        self, kind: str, event: dict[str, Any], event_id: str | None, bot_user_id: str | None
    ) -> int | None:
        raw = event.get("text")
        # Secrets are removed before the first write (the inbox); the reply says so once.
        redacted = redact_secrets(
            _clean_text(scrub(raw) if isinstance(raw, str) else "", bot_user_id)
        )
        text = redacted.text
        payload: dict[str, Any] = {}
        if redacted.changed:
            payload[SECRETS_REMOVED] = list(redacted.removed)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            payload["truncated_at"] = MAX_TEXT_CHARS
        ts = str(event["ts"])
        inbox_id = await self.store.inbox.accept(
            kind=kind,
            event_id=event_id,
            channel=str(event["channel"]),
            ts=ts,
            thread_ts=str(event.get("thread_ts") or ts),
            user_id=str(event["user"]),
            text=text,
            payload=payload,
        )
        return self._accepted(
            inbox_id, {"event_id": event_id, "channel": event["channel"], "ts": ts}
        )

    async def confirmation(
        self,
        *,
        approval_id: int,
        answer: str,
        user_id: str,
        action_ts: str,
        message: tuple[str | None, str | None],
    ) -> int | None:
        """A click on Confirm / Cancel: recorded in the thread it answers (so it is answered
        in order with the thread's messages), by the worker, exactly once per click. Returns
        the inbox id; None for a repeated delivery. A click on anything but the message that
        asked this confirmation (`message`: its channel and ts) raises `NotOurButton`."""
        approval = await self.store.approvals.get(approval_id)
        extra = {"approval_id": approval_id, "user": user_id}
        if approval is None:
            log.warning("click on an unknown confirmation", extra=extra)
            raise NotOurButton(approval_id)
        if message != (approval.channel, approval.message_ts):
            # The button's value names the confirmation; the message it sits on must be the
            # one the desk posted for it, so a forged value cannot answer another question.
            log.warning("click on a message that did not ask this confirmation", extra=extra)
            raise NotOurButton(approval_id)
        inbox_id = await self.store.inbox.accept(
            kind="action",
            channel=approval.channel,
            ts=f"click-{action_ts}",  # one row per click; a redelivery of it is a duplicate
            thread_ts=approval.thread_ts,
            user_id=user_id,
            text=answer,
            payload={"approval_id": approval_id, "answer": answer},
        )
        return self._accepted(inbox_id, extra)

    def _accepted(self, inbox_id: int | None, extra: dict[str, Any]) -> int | None:
        """Log the insert's outcome and wake the worker; None for a repeated delivery."""
        if inbox_id is None:
            log.info("duplicate delivery ignored", extra=extra)
            return None
        log.info("accepted", extra={**extra, "inbox_id": inbox_id})
        self.on_accepted()
        return inbox_id


def _ignore_reason(event: dict[str, Any], bot_user_id: str | None) -> str | None:
    """Why an event must not be answered, or None. Malformed events are ignored, not fatal."""
    if not isinstance(event.get("channel"), str) or not isinstance(event.get("ts"), str):
        return "malformed: no channel or ts"
    if event.get("subtype") not in ANSWERED_SUBTYPES:
        return f"subtype {event.get('subtype')}"
    if event.get("bot_id") or event.get("bot_profile"):
        return "a bot wrote it"
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return "no user"
    if user == bot_user_id:
        return "the desk's own message"
    if "edited" in event:
        return "an edit"
    return None


def _clean_text(text: str, bot_user_id: str | None) -> str:
    """Drop the desk's own @mention; keep other mentions readable."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    return re.sub(r"[ \t]+", " ", text).strip()

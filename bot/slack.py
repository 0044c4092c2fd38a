"""Everything the desk says to Slack's Web API, in one place, with retries for rate limits."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.mrkdwn import split_message, to_mrkdwn
from storage.tickets import SlackUser

log = logging.getLogger(__name__)

REPLY_EVENT_TYPE = "support_desk_reply"
WORKING_REACTION = "eyes"


def make_client(token: str | None, base_url: str, *, max_retries: int = 3) -> AsyncWebClient:
    """A Web API client that retries 429s (honouring Retry-After), 5xx and lost connections.

    It keeps one HTTP session (kept-alive connections) instead of slack_sdk's default of a
    new session per call; `close_client` closes it. Call this inside the running loop.
    """
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=15,
        session=aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
            AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
            AsyncServerErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


async def close_client(client: AsyncWebClient) -> None:
    if client.session is not None and not client.session.closed:
        await client.session.close()


class SlackGateway:
    """The desk's outgoing Slack calls. Failures of cosmetic calls (reactions) are only logged."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def user(self, user_id: str) -> SlackUser | None:
        """Name and e-mail of a Slack user (None when Slack does not know them)."""
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed", extra={"user": user_id, "error": _error(exc)})
            return None
        user: dict[str, Any] = response.get("user") or {}
        profile: dict[str, Any] = user.get("profile") or {}
        return SlackUser(
            user_id=user_id,
            email=profile.get("email"),
            name=user.get("real_name") or profile.get("real_name") or user.get("name"),
            is_bot=bool(user.get("is_bot")),
            fetched_at=time.time(),
        )

    async def mark_working(self, channel: str, ts: str, working: bool) -> None:
        """Show (or clear) the 👀 reaction on the message being answered."""
        method = self.client.reactions_add if working else self.client.reactions_remove
        try:
            await method(channel=channel, timestamp=ts, name=WORKING_REACTION)
        except SlackApiError as exc:
            log.debug("reaction not changed", extra={"channel": channel, "error": _error(exc)})

    async def post_reply(self, channel: str, thread_ts: str, markdown: str, turn: int) -> str:
        """Post the answer in the thread, split to Slack's limits; return the first part's ts.

        Each part carries metadata naming the turn, so a restarted desk can tell that it has
        already answered (see `find_reply`).
        """
        first_ts = ""
        for part in split_message(to_mrkdwn(markdown)):
            response = await self.client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=part,
                unfurl_links=False,
                metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"turn": turn}},
            )
            first_ts = first_ts or str(response["ts"])
        return first_ts

    async def find_reply(self, channel: str, thread_ts: str, turn: int) -> str | None:
        """The ts of a reply already posted for `turn` in the thread, if any."""
        try:
            response = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
            )
        except SlackApiError as exc:
            log.warning("conversations.replies failed", extra={"error": _error(exc)})
            return None
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == REPLY_EVENT_TYPE and payload.get("turn") == turn:
                return str(message["ts"])
        return None

    async def post_blocks(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        response = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return str(response["ts"])

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        return response.get("permalink")

    # ---- staff: escalation messages, ratings, the App Home -------------------------------

    async def post_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        broadcast: bool = False,
    ) -> str:
        """Post mrkdwn (not Markdown) in a thread; `broadcast` shows it in the channel too."""
        response = await self.client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            reply_broadcast=broadcast,
            unfurl_links=False,
        )
        return str(response["ts"])

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> bool:
        """Replace a message the desk posted. False (and a log line) when Slack refuses."""
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update failed", extra={"channel": channel, "error": _error(exc)})
            return False
        return True

    async def post_ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed", extra={"user": user, "error": _error(exc)})

    async def channel_members(self, channel: str) -> set[str]:
        """Every member of a conversation (follows pagination). Raises SlackApiError."""
        members: set[str] = set()
        cursor: str | None = None
        while True:
            response = await self.client.conversations_members(
                channel=channel, limit=1000, cursor=cursor
            )
            members.update(response.get("members") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members

    async def usergroup_members(self, usergroup: str) -> set[str]:
        """The users of a user group. Raises SlackApiError."""
        response = await self.client.usergroups_users_list(usergroup=usergroup)
        return set(response.get("users") or [])

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self.client.views_publish(user_id=user_id, view=view)


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") if exc.response else exc)

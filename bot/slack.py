"""Everything the desk says to Slack's Web API, in one place, with retries for rate limits.

No other module calls the Web API client or a response_url: they call `SlackGateway`. A text
given as `bot.mrkdwn.Mrkdwn` (markup the desk vouches for) is sent as it is; any other string,
and any mrkdwn text object in blocks or views that is not `Mrkdwn`, is escaped here on the way
out, so nothing a user or a model wrote can reach Slack as a live mention or link. The gateway
never sets `parse` or `link_names`, so Slack does not link names in it either.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.blocks import answer_blocks
from bot.mrkdwn import Mrkdwn, escape, links_in, split_message, to_mrkdwn
from storage.tickets import SlackUser

log = logging.getLogger(__name__)

REPLY_EVENT_TYPE = "support_desk_reply"
MAX_STREAM_CALL_CHARS = 12_000  # Slack's limit of markdown_text in one chat.*Stream call
REQUEST_EVENT_TYPE = "support_desk_request"  # the DM message that starts an App Home request
NOTE_EVENT_TYPE = "support_desk_note"  # a note in a thread (a ticket answered in a DM instead)
WORKING_REACTION = "eyes"
SessionStatus = Literal["active", "processing", "suspended", "closed"]
# Slack's warning when the app shows a stop control it will not hear about
MISSING_STOP_SUBSCRIPTION = "missing_agent_session_stopped_event_subscription"


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


Blocks = list[dict[str, Any]]


class SlackGateway:
    """The desk's outgoing Slack calls. Failures of cosmetic calls (reactions) are only logged.

    `client` is shared with the Bolt app (which acks with it); the desk's own calls are the
    methods below.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._team_id: str | None = None
        self._bot_user_id: str | None = None
        self._session_warned = False

    async def close(self) -> None:
        await close_client(self.client)

    async def auth_test(self) -> str | None:
        """`auth.test`: proves the token and the API URL; returns the bot's user id.

        Raises SlackApiError when Slack refuses the token.
        """
        response = await self.client.auth_test()
        self._team_id = response.get("team_id") or self._team_id
        self._bot_user_id = response.get("user_id") or self._bot_user_id
        return response.get("user_id")

    async def bot_user_id(self) -> str | None:
        """The desk's own user id (from `auth.test`, asked once)."""
        if self._bot_user_id is None:
            await self._identify()
        return self._bot_user_id

    async def team_id(self) -> str | None:
        """The workspace's team id (from `auth.test`, asked once)."""
        if self._team_id is None:
            await self._identify()
        return self._team_id

    async def _identify(self) -> None:
        try:
            await self.auth_test()
        except SlackApiError as exc:
            log.warning("auth.test failed", extra={"error": _error(exc)})

    async def socket_mode_url(self, app_token: str) -> str:
        """`apps.connections.open` with the app-level token: a Socket Mode WebSocket URL.

        Raises SlackApiError when Slack refuses the token.
        """
        response = await self.client.apps_connections_open(app_token=app_token)
        return str(response["url"])

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

    # ---- assistant threads (Slack's AI app view): cosmetic, failures only logged ---------

    async def set_status(
        self, channel: str, thread_ts: str, status: str, loading: list[str] | None = None
    ) -> None:
        """The "is checking your account…" line under an assistant thread ("" clears it)."""
        await self._assistant(
            self.client.assistant_threads_setStatus,
            channel_id=channel,
            thread_ts=thread_ts,
            status=status,
            **({"loading_messages": loading} if loading else {}),
        )

    async def set_suggested_prompts(
        self, channel: str, thread_ts: str, prompts: list[dict[str, str]], title: str
    ) -> None:
        await self._assistant(
            self.client.assistant_threads_setSuggestedPrompts,
            channel_id=channel,
            thread_ts=thread_ts,
            prompts=prompts,
            title=title,
        )

    async def set_title(self, channel: str, thread_ts: str, title: str) -> None:
        await self._assistant(
            self.client.assistant_threads_setTitle,
            channel_id=channel,
            thread_ts=thread_ts,
            title=title,
        )

    async def set_session_status(
        self, channel: str, thread_ts: str, status: SessionStatus, *, user: str | None = None
    ) -> None:
        """The agent session of a thread (`agents.sessions.setStatus`): `processing` shows
        Slack's own stop control while the desk works, `active` once it is done. Cosmetic:
        any failure is one log line, never the answer's."""
        extra = {"channel": channel, "thread_ts": thread_ts, "status": status}
        try:
            response = await self.client.agents_sessions_setStatus(
                channel_id=channel,
                thread_ts=thread_ts,
                status=status,
                **({"initiator_user_id": user} if user else {}),
            )
        except (SlackApiError, OSError, TimeoutError) as exc:
            error = _error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("agent session not updated", extra={**extra, "error": error})
            return
        warning = str(response.get("warning") or "")
        if MISSING_STOP_SUBSCRIPTION in warning and not self._session_warned:
            self._session_warned = True
            log.warning(
                "the app does not subscribe to agent_session_stopped: Slack's stop control "
                "will not reach the desk (update the app from manifest.yml)",
                extra=extra,
            )

    async def _assistant(self, method: Any, **params: Any) -> None:
        try:
            await method(**params)
        except SlackApiError as exc:
            log.warning(
                "assistant thread not updated",
                extra={"channel": params.get("channel_id"), "error": _error(exc)},
            )

    # ---- posting ---------------------------------------------------------------------

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Post mrkdwn (and blocks); returns the (channel, ts) Slack posted it as.

        Links are not unfurled: a preview would show what a link someone wrote points to.
        """
        params: dict[str, Any] = {}
        if thread_ts is not None:
            params["thread_ts"] = thread_ts
            params["reply_broadcast"] = broadcast
        if metadata is not None:
            params["metadata"] = metadata
        response = await self.client.chat_postMessage(
            channel=channel,
            text=escape(text),
            blocks=safe_blocks(blocks),
            unfurl_links=False,
            unfurl_media=False,
            **params,
        )
        return str(response["channel"]), str(response["ts"])

    async def chat_stream(
        self,
        channel: str,
        thread_ts: str,
        *,
        recipient_user_id: str | None,
        recipient_team_id: str | None,
    ) -> AsyncChatStream:
        """slack_sdk's `chat_stream` helper for one streamed answer (chat.startStream /
        appendStream / stopStream). Its text must be escaped by the caller, like any text
        given here; `bot.streaming.AnswerStream` does that and decides when to send."""
        return await self.client.chat_stream(
            channel=channel,
            thread_ts=thread_ts,
            recipient_user_id=recipient_user_id,
            recipient_team_id=recipient_team_id,
            task_display_mode="timeline",
            buffer_size=MAX_STREAM_CALL_CHARS,
        )

    async def post_reply(
        self,
        channel: str,
        thread_ts: str,
        markdown: str,
        turn: int,
        *,
        feedback: Blocks | None = None,
    ) -> str:
        """Post the answer in the thread, split to Slack's limits; return the first part's ts.

        Each part carries metadata naming the turn, so a restarted desk can tell that it has
        already answered (see `find_reply`). Markdown links are live only in a DM with the
        asker (`links_in`). `feedback`: the buttons under the answer's last part.
        """
        parts = split_message(to_mrkdwn(markdown, links=links_in(channel)))
        return await self.post_parts(channel, thread_ts, parts, turn, feedback=feedback)

    async def post_parts(
        self,
        channel: str,
        thread_ts: str,
        parts: list[Mrkdwn],
        turn: int,
        *,
        feedback: Blocks | None = None,
    ) -> str:
        """Post an answer's parts (mrkdwn, each within Slack's limits) in the thread, the
        last with `feedback` under it; the first part's ts."""
        first_ts = ""
        for n, part in enumerate(parts, 1):
            last = n == len(parts) and feedback is not None
            _, ts = await self.post_message(
                channel,
                part,
                answer_blocks(part, feedback) if last else None,
                thread_ts=thread_ts,
                metadata=reply_metadata(turn),
            )
            first_ts = first_ts or ts
        return first_ts

    async def post_prompt(
        self, channel: str, thread_ts: str, text: str, blocks: Blocks, turn: int
    ) -> str:
        """A reply in blocks (a confirmation, the staff queue), with the turn's metadata like
        `post_reply`, so a restarted desk does not post it twice."""
        _, ts = await self.post_message(
            channel,
            text,
            blocks,
            thread_ts=thread_ts,
            metadata=reply_metadata(turn),
        )
        return ts

    async def find_reply(
        self, channel: str, thread_ts: str, turn: int, event_type: str = REPLY_EVENT_TYPE
    ) -> str | None:
        """The ts of a reply already posted for `turn` in the thread, if any (`event_type`:
        of the desk's notes, `NOTE_EVENT_TYPE`)."""
        for message in await self._replies(channel, thread_ts, metadata=True):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and payload.get("turn") == turn:
                return str(message["ts"])
        return None

    async def find_abandoned_stream(
        self, channel: str, thread_ts: str, after_ts: str, action_id: str
    ) -> str | None:
        """The ts of a streamed answer the desk started in the thread after `after_ts` and
        never finished: its own message, still showing the control `action_id` (the Stop
        button a stream shows until it is stopped) and naming no turn. A desk killed between
        `chat.startStream` and recording the stream's ts leaves one; the retry finishes it
        instead of leaving it empty under a second answer."""
        bot_user_id = await self.bot_user_id()
        if bot_user_id is None:
            return None
        for message in await self._replies(channel, thread_ts, metadata=True):
            if (
                message.get("user") == bot_user_id
                and _ts_value(message.get("ts")) > _ts_value(after_ts)
                and not message.get("metadata")
                and action_id in _action_ids(message)
            ):
                return str(message["ts"])
        return None

    async def post_note(
        self, channel: str, thread_ts: str, text: str, blocks: Blocks, turn: int
    ) -> str:
        """A note of the desk in a thread, not an answer; its metadata names the turn, so a
        restarted desk finds it (`find_reply(..., NOTE_EVENT_TYPE)`) and posts it once."""
        _, ts = await self.post_message(
            channel,
            text,
            blocks,
            thread_ts=thread_ts,
            metadata={"event_type": NOTE_EVENT_TYPE, "event_payload": {"turn": turn}},
        )
        return ts

    async def post_blocks(self, channel: str, text: str, blocks: Blocks) -> str:
        _, ts = await self.post_message(channel, text, blocks)
        return ts

    async def post_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        broadcast: bool = False,
    ) -> str:
        """Post mrkdwn (not Markdown) in a thread; `broadcast` shows it in the channel too."""
        _, ts = await self.post_message(
            channel, text, blocks, thread_ts=thread_ts, broadcast=broadcast
        )
        return ts

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        return response.get("permalink")

    async def update_message(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        turn: int | None = None,
    ) -> bool:
        """Replace a message the desk posted. False (and a log line) when Slack refuses.
        With `turn`, the message carries the reply metadata of that turn (`find_reply`)."""
        params: dict[str, Any] = {}
        if turn is not None:
            params["metadata"] = reply_metadata(turn)
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=escape(text), blocks=safe_blocks(blocks), **params
            )
        except SlackApiError as exc:
            log.warning("chat.update failed", extra={"channel": channel, "error": _error(exc)})
            return False
        return True

    async def end_stream(self, channel: str, ts: str) -> None:
        """Stop a stream an earlier attempt left open (a restart mid-answer), so that the
        message can be replaced like any other. Slack closes old streams itself: a stream
        no longer streaming is fine, anything else is one log line (the update follows)."""
        try:
            await self.client.chat_stopStream(channel=channel, ts=ts)
        except SlackApiError as exc:
            if _error(exc) != "message_not_in_streaming_state":
                log.warning(
                    "chat.stopStream failed", extra={"channel": channel, "error": _error(exc)}
                )

    async def delete_message(self, channel: str, ts: str) -> bool:
        """Delete a message the desk posted. False (and a log line) when Slack refuses."""
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            log.warning("chat.delete failed", extra={"channel": channel, "error": _error(exc)})
            return False
        return True

    async def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        *,
        blocks: Blocks | None = None,
    ) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=escape(text),
                thread_ts=thread_ts,
                blocks=safe_blocks(blocks),
            )
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed", extra={"user": user, "error": _error(exc)})

    async def respond(self, response_url: str, text: str) -> None:
        """A private note to whoever ran a command or clicked a button, by its response_url.

        A note is a courtesy: when it fails, that is logged and nothing else.
        """
        webhook = AsyncWebhookClient(response_url, timeout=15, session=self.client.session)
        try:
            response = await webhook.send(
                text=escape(text), response_type="ephemeral", replace_original=False
            )
        except Exception as exc:
            log.warning("response_url failed", extra={"error": type(exc).__name__})
            return
        if response.status_code != 200:
            log.warning("response_url refused", extra={"status": response.status_code})

    # ---- files -------------------------------------------------------------------------

    async def upload_file(
        self,
        channel: str,
        thread_ts: str,
        *,
        content: str,
        filename: str,
        title: str,
        comment: str,
    ) -> str:
        """Upload a file in a thread; returns its id. A file's content is never read as
        markup; its comment is mrkdwn like any message."""
        response = await self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=content,
            filename=filename,
            title=escape(title),
            initial_comment=escape(comment),
        )
        return str(response["files"][0]["id"])

    async def find_file(self, channel: str, thread_ts: str, filename: str) -> str | None:
        """The id of a file named `filename` already uploaded in the thread, if any."""
        for message in await self._replies(channel, thread_ts, metadata=False):
            for file in message.get("files") or []:
                if file.get("name") == filename:
                    return str(file["id"])
        return None

    async def _replies(self, channel: str, ts: str, *, metadata: bool) -> list[dict[str, Any]]:
        """The messages of a thread (the first 200), or none when Slack refuses."""
        try:
            response = await self.client.conversations_replies(
                channel=channel, ts=ts, include_all_metadata=metadata, limit=200
            )
        except SlackApiError as exc:
            log.warning("conversations.replies failed", extra={"error": _error(exc)})
            return []
        return list(response.get("messages") or [])

    # ---- tickets from anywhere: the message a 🎫 was put on, the App Home form ----------

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, top-level or in a thread; None when Slack has none (deleted,
        or a conversation the desk cannot read). `conversations.history` finds top-level
        messages; a thread reply only shows in `conversations.replies`."""
        try:
            response = await self.client.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
            )
        except SlackApiError as exc:
            log.warning("conversations.history failed", extra={"error": _error(exc)})
            return None
        for message in response.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        for message in await self._replies(channel, ts, metadata=False):
            if message.get("ts") == ts:
                return dict(message)
        return None

    async def open_dm(self, user_id: str) -> str:
        """The desk's DM channel with a user (`conversations.open`). Raises SlackApiError."""
        response = await self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (`views.open`); the trigger id of a click is valid for 3 seconds."""
        view = {**view, "blocks": safe_blocks(view.get("blocks"))}
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def update_view(
        self, view: dict[str, Any], *, view_id: str | None = None, external_id: str | None = None
    ) -> bool:
        """`views.update` of the modal `view_id`, or the one opened with `external_id`; False
        (and a log line) when Slack refuses (the modal is not open, or no longer)."""
        view = {**view, "blocks": safe_blocks(view.get("blocks"))}
        try:
            if view_id:
                await self.client.views_update(view_id=view_id, view=view)
            else:
                await self.client.views_update(external_id=external_id, view=view)
        except SlackApiError as exc:
            log.warning("views.update failed", extra={"error": _error(exc)})
            return False
        return True

    async def post_request(self, channel: str, text: str, blocks: Blocks, turn: int) -> str:
        """The top-level DM message that starts a request's thread; its metadata names the
        turn so a restarted desk finds it (`find_request`) instead of posting it twice."""
        _, ts = await self.post_message(
            channel,
            text,
            blocks,
            metadata={"event_type": REQUEST_EVENT_TYPE, "event_payload": {"turn": turn}},
        )
        return ts

    async def find_request(self, channel: str, turn: int) -> str | None:
        try:
            response = await self.client.conversations_history(
                channel=channel, include_all_metadata=True, limit=50
            )
        except SlackApiError as exc:
            log.warning("conversations.history failed", extra={"error": _error(exc)})
            return None
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == REQUEST_EVENT_TYPE and payload.get("turn") == turn:
                return str(message["ts"])
        return None

    # ---- staff: who they are, the App Home ---------------------------------------------

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
        view = {**view, "blocks": safe_blocks(view.get("blocks"))}
        await self.client.views_publish(user_id=user_id, view=view)


def reply_metadata(turn: int) -> dict[str, Any]:
    """The metadata of every reply to a turn: how a restarted desk finds it (`find_reply`)."""
    return {"event_type": REPLY_EVENT_TYPE, "event_payload": {"turn": turn}}


def safe_blocks(blocks: Blocks | None) -> Blocks | None:
    """`blocks` with every text object escaped unless the desk vouched for it (`Mrkdwn`)."""
    return None if blocks is None else [_safe(block) for block in blocks]


def _safe(node: Any) -> Any:
    if isinstance(node, list):
        return [_safe(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _safe(value) for key, value in node.items()}
    if copy.get("type") in ("mrkdwn", "plain_text") and isinstance(copy.get("text"), str):
        copy["text"] = escape(copy["text"])
        if copy["type"] == "mrkdwn":
            copy["verbatim"] = True
    return copy


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") if exc.response else exc)


def _ts_value(ts: object) -> float:
    """A Slack ts as a number, to order messages; 0 for what is not one (the inbox row of
    an App Home request is keyed "request-…" until its DM thread exists)."""
    try:
        return float(str(ts))
    except ValueError:
        return 0.0


def _action_ids(message: dict[str, Any]) -> set[str]:
    """The action ids of a message's controls (its blocks' buttons)."""
    return {
        str(element.get("action_id"))
        for block in message.get("blocks") or []
        for element in block.get("elements") or []
        if isinstance(element, dict) and element.get("action_id")
    }

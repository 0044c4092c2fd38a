"""A local simulation of Slack, for tests, `support-desk demo` and benchmarks.

`FakeSlack` is a small aiohttp server that speaks the Slack Web API methods the desk
uses, with Slack's real response shapes. Point `SLACK_API_URL` (or an `AsyncWebClient`'s
`base_url`) at `FakeSlack.url` and the real slack_sdk client talks to it. It records every
call, can inject rate limits, failures and delays, and holds a directory of demo users
and channels.

`SlackEvents` plays the other direction: it sends signed Events API, slash command and
block action requests to a Bolt app's HTTP endpoint, the way Slack does.

Nothing here touches the internet: the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import mimetypes
import secrets
import socket
import string
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

BOT_USER_ID = "U_BOT"
BOT_ID = "B_BOT"
TEAM_ID = "T_DEMO"
APP_ID = "A_DEMO"
STAFF_GROUP_ID = "S_STAFF"
WORKSPACE_URL = "https://support-desk-demo.slack.com/"

Call = tuple[str, dict[str, Any]]
"""One recorded call: (Web API method, its parameters without the token)."""
CallPredicate = Callable[[str, dict[str, Any]], bool]

# (id, real name, email, is_bot): the desk's demo customers, staff and bots.
DEMO_USERS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("U_ALICE", "Alice Chen", "alice@northwind.example", False),
    ("U_BOB", "Bob Martin", "bob@contoso.example", False),
    ("U_CAROL", "Carol Diaz", "carol@fabrikam.example", False),
    ("U_DAVE", "Dave Patel", "dave@initech.example", False),
    ("U_ERIN", "Erin Park", "erin@support-desk.example", False),
    ("U_NOBODY", "Sam Stranger", "sam@unknown.example", False),
    ("U_OTHERBOT", "Other Bot", None, True),
    (BOT_USER_ID, "Support Desk", None, True),
)
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view", "files", "chunks")
MARKDOWN_TEXT_LIMIT = 12_000  # chat.*Stream: markdown_text, and each markdown_text chunk
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})


class _TsClock:
    """Hands out unique, increasing Slack timestamps ("%d.%06d") based on wall time."""

    def __init__(self) -> None:
        self._last_us = 0

    def next(self) -> str:
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        seconds, micros = divmod(self._last_us, 1_000_000)
        return f"{seconds}.{micros:06d}"


_CLOCK = _TsClock()


def new_ts() -> str:
    """A fresh message timestamp, later than every one handed out before in this process."""
    return _CLOCK.next()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Slack's v0 request signature: "v0=" + HMAC-SHA256(secret, f"v0:{ts}:{body}")."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def controls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The buttons and selects of a message's `actions` blocks, in order."""
    return [
        element
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def control(message: Mapping[str, Any], action_id: str) -> dict[str, Any]:
    """The message's one button or select with this `action_id`."""
    [found] = [c for c in controls(message) if c["action_id"] == action_id]
    return found


def _ts_key(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except (InvalidOperation, TypeError):
        return Decimal(0)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _rand_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class _SlackError(Exception):
    """Raised by a method handler to answer {"ok": false, "error": ...}."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _Fault:
    status: int
    error: str
    times: int
    retry_after: int | None = None


class FakeSlack:
    """A fake Slack Web API on 127.0.0.1, with recording, inspection and fault injection.

    `tokens`: the accepted tokens; by default any `xoxb-` or `xoxp-` token is accepted.
    `app_tokens`: the accepted app-level tokens (Socket Mode's `apps.connections.open`); by
    default any `xapp-` token. A bot token there is `not_allowed_token_type`, as in Slack.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] | None = None,
        app_tokens: Iterable[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._tokens = set(tokens) if tokens is not None else None
        self._app_tokens = set(app_tokens) if app_tokens is not None else None
        self.socket_connections = 0  # Socket Mode WebSocket connections accepted so far
        # Open Socket Mode connections, and the acks awaited by envelope id (`deliver`).
        self._sockets: list[web.WebSocketResponse] = []
        self._next_socket = 0
        self._acks: dict[str, asyncio.Future[None]] = {}
        self.socket_deliveries: list[tuple[int, dict[str, Any]]] = []  # (connection, envelope)
        self._host = host
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._cond = asyncio.Condition()
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.usergroups: dict[str, list[str]] = {}
        for user_id, real_name, email, is_bot in DEMO_USERS:
            self.add_user(user_id, real_name, email, is_bot=is_bot)
        humans = [u for u, _, _, bot in DEMO_USERS if not bot]
        self.add_channel("C_SUPPORT", "support", members=[*humans, BOT_USER_ID])
        self.add_channel("C_STAFF", "support-staff", members=["U_ERIN"], is_private=True)
        self.add_channel("C_RANDOM", "random", members=humans)
        self.usergroups[STAFF_GROUP_ID] = ["U_ERIN"]
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "users.info": self._users_info,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "conversations.members": self._conversations_members,
            "conversations.info": self._conversations_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.publish": self._views_publish,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_prompts,
            "assistant.threads.setTitle": self._assistant_set_title,
            "agents.sessions.setStatus": self._agents_sessions_set_status,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start serving (after a `stop`, the same port:
        Slack back after an outage)."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/{ticket}", self._socket_mode)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/response/{response_id}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port or 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, shutdown_timeout=0.5).start()
        self._cond = asyncio.Condition()

    async def stop(self) -> None:
        """Stop serving (connections are refused: Slack unreachable); the recorded state
        stays inspectable, and `start` serves it again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. http://127.0.0.1:PORT/ (upload and response URLs live here)."""
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://{self._host}:{self._port}/"

    @property
    def url(self) -> str:
        """The Web API base URL for SLACK_API_URL, e.g. http://127.0.0.1:PORT/api/."""
        return self.base_url + "api/"

    # ---- directory -------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        real_name: str,
        email: str | None = None,
        *,
        is_bot: bool = False,
        name: str | None = None,
        bot_id: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a user in the directory; humans also get a DM `D...` channel."""
        handle = name or real_name.split()[0].lower()
        profile: dict[str, Any] = {"real_name": real_name, "display_name": handle}
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = bot_id or (BOT_ID if user_id == BOT_USER_ID else "B" + user_id[1:])
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": handle,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": "Europe/London",
            "profile": profile,
        }
        self.users[user_id] = user
        if not is_bot:
            self.add_channel(
                "D" + user_id[1:],
                user_id.lower(),
                is_im=True,
                user=user_id,
                members=[user_id, BOT_USER_ID],
            )
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        members: Iterable[str] = (),
        is_im: bool = False,
        is_private: bool = False,
        user: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a conversation; `user` is the other party of a DM."""
        info: dict[str, Any] = {
            "id": channel_id,
            "name": name or channel_id.lower(),
            "is_channel": not is_im,
            "is_group": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_member": True,
            "is_archived": False,
            "created": 1700000000,
            "context_team_id": TEAM_ID,
        }
        if is_im:
            info.pop("name")
            info["user"] = user
        self.channels[channel_id] = info
        self.members[channel_id] = list(members)
        return info

    # ---- recording and inspection ----------------------------------------------------

    def reset(self) -> None:
        """Forget calls, messages and faults; the user and channel directory stays."""
        self.calls: list[Call] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._reactions: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.modals: list[dict[str, Any]] = []  # views.open, in order
        self.triggers: set[str] = set()  # trigger ids sent by SlackEvents, not yet used
        self.statuses: dict[tuple[str, str], str] = {}
        self.status_history: list[tuple[str, str, str]] = []  # (channel, thread_ts, status)
        self.assistant_threads: dict[tuple[str, str], dict[str, Any]] = {}  # prompts, title
        self.sessions: dict[tuple[str, str], str] = {}  # agents.sessions.setStatus
        self.session_history: list[tuple[str, str, str]] = []
        # Slack's warning to an app not subscribed to agent_session_stopped (None: subscribed)
        self.session_warning: str | None = None
        self.files: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, tuple[float, bool]] = {}
        # Streamed messages by (channel, ts): state ("streaming" | "stopped"), every chunk
        # received in order, the recipient, the number of appends.
        self.streams: dict[tuple[str, str], dict[str, Any]] = {}
        self._stream_append_limit: int | None = None

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every recorded call to `method`, in order."""
        return [params for name, params in self.calls if name == method]

    def messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[dict]:
        """Stored messages (bot and injected), oldest first, each with its "channel".

        With `thread_ts`: the thread's parent and its replies.
        """
        found = [
            self._public(m, metadata=True, channel=True)
            for (ch, ts), m in self._messages.items()
            if (channel is None or ch == channel)
            and (thread_ts is None or ts == thread_ts or m.get("thread_ts") == thread_ts)
        ]
        return sorted(found, key=lambda m: _ts_key(m["ts"]))

    def replies_in(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The desk bot's messages in a thread, oldest first (the parent excluded)."""
        return [
            m
            for m in self.messages(channel, thread_ts)
            if m.get("bot_id") == BOT_ID and m["ts"] != thread_ts
        ]

    def answers_in(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The desk's finished replies in a thread (a message still streaming is left out)."""
        return [
            m
            for m in self.replies_in(channel, thread_ts)
            if self.streams.get((channel, m["ts"]), {}).get("state") != "streaming"
        ]

    async def wait_for_replies(
        self,
        channel: str,
        thread_ts: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - the same test-facing API as wait_for
    ) -> list[dict[str, Any]]:
        """Wait until the desk has `count` finished replies in the thread; return them."""
        try:
            async with asyncio.timeout(timeout), self._cond:
                await self._cond.wait_for(lambda: len(self.answers_in(channel, thread_ts)) >= count)
        except TimeoutError:
            seen = [name for name, _ in self.calls]
            raise TimeoutError(f"no {count} replies within {timeout}s; saw {seen}") from None
        return self.answers_in(channel, thread_ts)

    def get_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One stored message (with its "channel"), or None."""
        msg = self._messages.get((channel, ts))
        return self._public(msg, metadata=True, channel=True) if msg else None

    def reactions(self, channel: str, ts: str) -> list[str]:
        """Names of the reactions currently on a message."""
        return list(self._reactions.get((channel, ts), {}))

    def inject_message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        bot_id: str | None = None,
        subtype: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message as if someone posted it; an existing `ts` is edited in place."""
        ts = ts or new_ts()
        existing = self._messages.get((channel, ts))
        if existing is not None:
            existing["text"] = text
            existing["edited"] = {"user": user, "ts": new_ts()}
            return dict(existing)
        msg: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "team": TEAM_ID,
        }
        if subtype:
            msg["subtype"] = subtype
        if bot_id:
            msg["bot_id"] = bot_id
        if blocks is not None:
            msg["blocks"] = blocks
        if metadata is not None:
            msg["metadata"] = metadata
        self._store(channel, msg, thread_ts)
        return dict(msg)

    async def wait_for(
        self,
        predicate_or_method: str | CallPredicate,
        timeout: float = 5.0,  # noqa: ASYNC109 - the test-facing API is wait_for(x, timeout=)
        *,
        count: int = 1,
        since: int = 0,
    ) -> Call:
        """Wait until the `count`-th matching call (among `calls[since:]`) and return it.

        A string matches the method name; a predicate gets (method, params). Calls already
        recorded count, so pass `since=len(slack.calls)` to wait for a new one.
        """
        if isinstance(predicate_or_method, str):
            method = predicate_or_method

            def by_method(name: str, params: dict[str, Any]) -> bool:
                return name == method

            match: CallPredicate = by_method
        else:
            match = predicate_or_method

        hits: list[Call] = []
        scanned = since

        def found() -> Call | None:  # each call is looked at once (a bench waits on many)
            nonlocal scanned
            hits.extend(c for c in self.calls[scanned:] if match(*c))
            scanned = len(self.calls)
            return hits[count - 1] if len(hits) >= count else None

        try:
            async with asyncio.timeout(timeout), self._cond:
                result = await self._cond.wait_for(found)
        except TimeoutError:
            seen = [name for name, _ in self.calls[since:]]
            raise TimeoutError(f"no matching Slack call within {timeout}s; saw {seen}") from None
        assert result is not None
        return result

    # ---- fault injection -------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with a Retry-After header."""
        fault = _Fault(429, "ratelimited", times, retry_after)
        self._faults.setdefault(method, []).append(fault)

    def fail(
        self,
        method: str,
        error: str = "internal_error",
        times: int = 1,
        status: int = 500,
    ) -> None:
        """The next `times` calls of `method` answer `status` with {"ok": false, "error"}."""
        self._faults.setdefault(method, []).append(_Fault(status, error, times))

    def delay(self, method: str, seconds: float, *, after: bool = False) -> None:
        """Every call of `method` waits `seconds` before answering (0 removes the delay).
        With `after`, the call takes effect first and only its answer is late: a process
        killed while it waits never learns what Slack did (a message Slack posted)."""
        if seconds > 0:
            self._delays[method] = (seconds, after)
        else:
            self._delays.pop(method, None)

    def close_streams_after(self, appends: int | None) -> None:
        """Streams stop accepting text after `appends` appends, as Slack closes a stream
        that is too old: later appends and stops get `message_not_in_streaming_state`
        (None: never). The text streamed so far stays on the message."""
        self._stream_append_limit = appends

    def stream_of(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A streamed message's record (state, chunks, recipient), or None."""
        return self.streams.get((channel, ts))

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    # ---- HTTP plumbing ---------------------------------------------------------------

    async def _record(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append((method, params))
        async with self._cond:
            self._cond.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            try:
                body = await request.json() if request.can_read_body else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                await self._record(method, params)
                return web.json_response({"ok": False, "error": "invalid_json"})
            params.update(body)
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = params.pop("token", None) or token
        for key in _JSON_FIELDS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        status, headers = 200, {}
        handler = self._handlers.get(method)
        if handler is None:
            status, answer = 404, {"ok": False, "error": "unknown_method", "req_method": method}
        elif (fault := self._take_fault(method)) is not None:
            status, answer = fault.status, {"ok": False, "error": fault.error}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
        elif (token_error := self._token_error(method, token)) is not None:
            answer = {"ok": False, "error": token_error}
        else:
            seconds, after = self._delays.get(method, (0.0, False))
            if not after:
                await asyncio.sleep(seconds)
            try:
                answer = handler(params)
            except _SlackError as err:
                answer = {"ok": False, "error": err.error}
            if after:  # recorded as done: it was, whatever happens to the caller
                await self._record(method, params)
                await asyncio.sleep(seconds)
                return web.json_response(answer, status=status, headers=headers)
        await self._record(method, params)
        return web.json_response(answer, status=status, headers=headers)

    def _token_error(self, method: str, token: str | None) -> str | None:
        """Slack's error for a call with this token, or None when the token is accepted."""
        if not token:
            return "not_authed"
        if method in _APP_TOKEN_METHODS:
            if not token.startswith("xapp-"):
                return "not_allowed_token_type"
            if self._app_tokens is not None and token not in self._app_tokens:
                return "invalid_auth"
            return None
        if token.startswith("xapp-"):
            return "not_allowed_token_type"
        return None if self._token_ok(token) else "invalid_auth"

    async def _socket_mode(self, request: web.Request) -> web.StreamResponse:
        """A Socket Mode WebSocket: says hello, then keeps the connection (and answers pings)
        until the client closes it. Events reach it through `deliver`; its acks (a frame
        naming the envelope) are read here."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.socket_connections += 1
        await self._record("socket_mode.connect", {"ticket": request.match_info["ticket"]})
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets) + 1,
            "connection_info": {"app_id": APP_ID},
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
        }
        await ws.send_json(hello)
        self._sockets.append(ws)
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                envelope_id = str(json.loads(frame.data).get("envelope_id") or "")
                waiting = self._acks.get(envelope_id)
                if waiting is not None and not waiting.done():
                    waiting.set_result(None)
        finally:
            self._sockets.remove(ws)
        return ws

    async def deliver(
        self, payload: dict[str, Any], *, ack_timeout_s: float = 3.0, attempts: int = 4
    ) -> int:
        """Send an Events API payload over Socket Mode as Slack does with several open
        connections: to one of them (in turn), then wait for its ack; one not acked within
        `ack_timeout_s`, or whose connection is gone, is sent again on another connection with
        `retry_attempt` counted (Slack retries three times). Returns the attempt acked (0 for
        the first); raises `TimeoutError` when no attempt was."""
        for attempt in range(attempts):
            open_sockets = [ws for ws in self._sockets if not ws.closed]
            if not open_sockets:
                await asyncio.sleep(ack_timeout_s)
                continue
            self._next_socket = (self._next_socket + 1) % len(open_sockets)
            ws = open_sockets[self._next_socket]
            envelope_id = str(uuid.uuid4())
            envelope = {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": attempt,
                "retry_reason": "timeout" if attempt else "",
                "payload": payload,
            }
            acked = self._acks[envelope_id] = asyncio.get_running_loop().create_future()
            self.socket_deliveries.append((self._sockets.index(ws), envelope))
            try:
                await ws.send_json(envelope)
                await asyncio.wait_for(acked, ack_timeout_s)
                return attempt
            except (TimeoutError, ConnectionError, RuntimeError):
                continue  # no ack in time, or the connection went away: Slack retries
            finally:
                del self._acks[envelope_id]
        raise TimeoutError(f"no Socket Mode connection acked the event in {attempts} attempts")

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        if self._tokens is not None:
            return token in self._tokens
        return token.startswith(("xoxb-", "xoxp-"))

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        await self._record("upload", {"file_id": file_id, "size": len(data)})
        if file_id not in self.files:
            return web.Response(status=404, text="file not found")
        self.files[file_id]["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        entry = {"response_id": request.match_info["response_id"], **body}
        self.responses.append(entry)
        await self._record("response_url", entry)
        return web.json_response({"ok": True})

    # ---- storage helpers -------------------------------------------------------------

    def _channel(self, value: Any, *, create: bool = False) -> str:
        channel = str(value or "")
        if channel.startswith("U") and "D" + channel[1:] in self.channels:
            return "D" + channel[1:]
        if channel.startswith("#"):
            for info in self.channels.values():
                if info.get("name") == channel[1:]:
                    return str(info["id"])
        if channel in self.channels:
            return channel
        if create and channel[:1] in ("C", "G", "D"):
            self.add_channel(channel, members=[BOT_USER_ID])
            return channel
        raise _SlackError("channel_not_found")

    def _store(self, channel: str, msg: dict[str, Any], thread_ts: str | None) -> None:
        msg["channel"] = channel
        if msg.get("bot_id") == BOT_ID and thread_ts:
            self.statuses.pop((channel, thread_ts), None)  # a reply clears the thread's status
        if thread_ts and thread_ts != msg["ts"]:
            msg["thread_ts"] = thread_ts
            parent = self._messages.get((channel, thread_ts))
            if parent is not None:
                msg["parent_user_id"] = parent.get("user")
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                users = parent.setdefault("reply_users", [])
                if msg.get("user") and msg["user"] not in users:
                    users.append(msg["user"])
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = msg["ts"]
        self._messages[(channel, msg["ts"])] = msg

    def _find(self, channel: str, ts: Any) -> dict[str, Any]:
        msg = self._messages.get((channel, str(ts or "")))
        if msg is None:
            raise _SlackError("message_not_found")
        return msg

    def _public(self, msg: dict[str, Any], *, metadata: bool, channel: bool = False) -> dict:
        out = {k: v for k, v in msg.items() if k != "metadata" or metadata}
        if not channel:
            out.pop("channel", None)
        reactions = self._reactions.get((msg.get("channel", ""), msg["ts"]))
        if reactions:
            out["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in reactions.items()
            ]
        return out

    def _bot_message(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": new_ts(),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text") or "",
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": "Support Desk",
                "team_id": TEAM_ID,
                "deleted": False,
            },
        }
        for key in ("blocks", "attachments", "metadata", "files"):
            if params.get(key):
                msg[key] = params[key]
        return msg

    # ---- Web API methods -------------------------------------------------------------

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_base}link/{uuid.uuid4().hex}"}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Support Desk Demo",
            "user": "support-desk",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"), create=True)
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _SlackError("no_text")
        msg = self._bot_message(channel, params)
        self._store(channel, msg, params.get("thread_ts"))
        return {
            "ok": True,
            "channel": channel,
            "ts": msg["ts"],
            "message": self._public(msg, metadata=True),
        }

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        msg = self._find(channel, params.get("ts"))
        if msg.get("bot_id") != BOT_ID:
            raise _SlackError("cant_update_message")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _SlackError("no_text")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                msg[key] = params[key]
        msg["edited"] = {"user": BOT_USER_ID, "ts": new_ts()}
        stream = self.streams.get((channel, msg["ts"]))
        if stream is not None:  # an update ends a stream: the message is final
            stream["state"] = "stopped"
        return {
            "ok": True,
            "channel": channel,
            "ts": msg["ts"],
            "text": msg.get("text", ""),
            "message": self._public(msg, metadata=True),
        }

    # ---- chat streaming: chat.startStream / appendStream / stopStream ---------------------

    def _chunks(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`markdown_text` and `chunks` of a streaming call, checked as Slack checks them."""
        received: list[dict[str, Any]] = []
        text = params.get("markdown_text")
        if text is not None:
            if not isinstance(text, str):
                raise _SlackError("invalid_arguments")
            received.append({"type": "markdown_text", "text": text})
        chunks = params.get("chunks")
        if chunks is not None:
            if not isinstance(chunks, list):
                raise _SlackError("invalid_chunks")
            for chunk in chunks:
                received.append(self._chunk(chunk))
        for chunk in received:
            if chunk["type"] == "markdown_text" and len(chunk["text"]) > MARKDOWN_TEXT_LIMIT:
                raise _SlackError("msg_too_long")
        return received

    @staticmethod
    def _chunk(chunk: Any) -> dict[str, Any]:
        if not isinstance(chunk, dict):
            raise _SlackError("invalid_chunks")
        kind = chunk.get("type")
        if kind == "markdown_text" and isinstance(chunk.get("text"), str):
            return chunk
        if kind == "task_update":
            if not (chunk.get("id") and chunk.get("title")):
                raise _SlackError("invalid_chunks")
            if chunk.get("status") not in TASK_STATUSES:
                raise _SlackError("invalid_chunks")
            return chunk
        if kind == "plan_update" and chunk.get("title"):
            return chunk
        if kind == "blocks" and isinstance(chunk.get("blocks"), list):
            return chunk
        raise _SlackError("invalid_chunks")

    def _apply_chunks(self, msg: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
        stream = self.streams[(msg["channel"], msg["ts"])]
        stream["chunks"].extend(chunks)
        for chunk in chunks:
            if chunk["type"] == "markdown_text":
                msg["text"] = msg.get("text", "") + chunk["text"]
                stream.setdefault("first_text_at", time.perf_counter())
            elif chunk["type"] == "task_update":
                stream["tasks"][chunk["id"]] = {**stream["tasks"].get(chunk["id"], {}), **chunk}
            elif chunk["type"] == "blocks":  # shown while the stream lasts (a Stop button)
                self._check_blocks(chunk["blocks"])
                msg["blocks"] = chunk["blocks"]

    @staticmethod
    def _check_blocks(blocks: Any) -> None:
        """What Slack checks of the blocks under a streamed answer (feedback among them)."""
        if not isinstance(blocks, list) or len(blocks) > 50:
            raise _SlackError("invalid_blocks")
        for block in blocks:
            if not isinstance(block, dict) or not block.get("type"):
                raise _SlackError("invalid_blocks")
            if block["type"] != "context_actions":
                continue
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 5:
                raise _SlackError("invalid_blocks")
            for element in elements:
                if element.get("type") not in ("feedback_buttons", "icon_button"):
                    raise _SlackError("invalid_blocks")
                if element["type"] == "feedback_buttons":
                    for key in ("positive_button", "negative_button"):
                        button = element.get(key) or {}
                        text = (button.get("text") or {}).get("text") or ""
                        if not button.get("value") or not 0 < len(text) <= 75:
                            raise _SlackError("invalid_blocks")

    def _streaming(self, params: dict[str, Any]) -> dict[str, Any]:
        """The streamed message named by `channel` and `ts`, still accepting text."""
        channel = self._channel(params.get("channel"))
        if not params.get("ts"):
            raise _SlackError("invalid_arguments")
        msg = self._find(channel, params.get("ts"))
        stream = self.streams.get((channel, msg["ts"]))
        if stream is None or stream["state"] != "streaming":
            raise _SlackError("message_not_in_streaming_state")
        return msg

    def _chat_start_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"), create=True)  # as chat.postMessage
        if not params.get("thread_ts"):
            raise _SlackError("invalid_arguments")
        if not self.channels[channel].get("is_im") and not (
            params.get("recipient_user_id") and params.get("recipient_team_id")
        ):
            raise _SlackError("invalid_arguments")  # required when streaming to channels
        if params.get("recipient_user_id") and params["recipient_user_id"] not in self.users:
            raise _SlackError("user_not_found")
        if params.get("task_display_mode") not in (None, "timeline", "plan"):
            raise _SlackError("invalid_arguments")
        chunks = self._chunks(params)
        msg = self._bot_message(channel, {})
        msg["text"] = ""
        self._store(channel, msg, str(params["thread_ts"]))
        self.streams[(channel, msg["ts"])] = {
            "state": "streaming",
            "chunks": [],
            "tasks": {},
            "appends": 0,
            "recipient_user_id": params.get("recipient_user_id"),
            "recipient_team_id": params.get("recipient_team_id"),
            "thread_ts": str(params["thread_ts"]),
            "started_at": time.perf_counter(),  # first_text_at: when text first showed
        }
        self._apply_chunks(msg, chunks)
        return {"ok": True, "channel": channel, "ts": msg["ts"]}

    def _chat_append_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming(params)
        stream = self.streams[(msg["channel"], msg["ts"])]
        limit = self._stream_append_limit
        if limit is not None and stream["appends"] >= limit:
            stream["state"] = "stopped"  # too old: Slack closed it
            raise _SlackError("message_not_in_streaming_state")
        chunks = self._chunks(params)
        if not chunks:
            raise _SlackError("no_text")
        stream["appends"] += 1
        self._apply_chunks(msg, chunks)
        return {"ok": True, "channel": msg["channel"], "ts": msg["ts"]}

    def _chat_stop_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming(params)
        stream = self.streams[(msg["channel"], msg["ts"])]
        chunks = self._chunks(params)
        if params.get("blocks") is not None:
            self._check_blocks(params["blocks"])
        self._apply_chunks(msg, chunks)
        msg.pop("blocks", None)  # what was shown while streaming ends with it
        for key in ("blocks", "metadata"):
            if params.get(key):
                msg[key] = params[key]
        stream["state"] = "stopped"
        stream["stopped_at"] = time.perf_counter()
        return {
            "ok": True,
            "channel": msg["channel"],
            "ts": msg["ts"],
            "message": self._public(msg, metadata=True),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"), create=True)
        if params.get("user") not in self.users:
            raise _SlackError("user_not_found")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _SlackError("no_text")
        ts = new_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": params["user"],
                "ts": ts,
                "text": params.get("text", ""),
                "blocks": params.get("blocks"),
                "thread_ts": params.get("thread_ts"),
            }
        )
        return {"ok": True, "message_ts": ts}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        msg = self._find(channel, params.get("ts"))
        if msg.get("bot_id") != BOT_ID:
            raise _SlackError("cant_delete_message")
        self._unstore(channel, msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"]}

    def _unstore(self, channel: str, msg: dict[str, Any]) -> None:
        """A deleted message is gone as it is from Slack: a stream on it ends (a later
        append or stop finds no message), its reactions go, and its thread's parent no
        longer counts it among its replies."""
        ts = msg["ts"]
        del self._messages[(channel, ts)]
        self._reactions.pop((channel, ts), None)
        stream = self.streams.get((channel, ts))
        if stream is not None:
            stream["state"] = "deleted"
        thread_ts = str(msg.get("thread_ts") or ts)
        parent = self._messages.get((channel, thread_ts)) if thread_ts != ts else None
        if parent is not None:
            self._count_replies(channel, parent)

    def _count_replies(self, channel: str, parent: dict[str, Any]) -> None:
        """The parent's reply fields, from the replies it still has (none: none of them)."""
        thread_ts = parent["ts"]
        replies = [
            m
            for m in self.messages(channel, thread_ts)
            if m["ts"] != thread_ts and m.get("thread_ts") == thread_ts
        ]
        if not replies:
            for key in ("thread_ts", "reply_count", "reply_users", "reply_users_count"):
                parent.pop(key, None)
            parent.pop("latest_reply", None)  # as before its first reply
            return
        users = list(dict.fromkeys(m["user"] for m in replies if m.get("user")))
        parent.update(
            reply_count=len(replies),
            reply_users=users,
            reply_users_count=len(users),
            latest_reply=replies[-1]["ts"],
        )

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"), create=True)
        ts = str(params.get("message_ts") or "")
        if not ts:
            raise _SlackError("message_not_found")
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        parent = self._messages.get((channel, ts), {}).get("thread_ts")
        if parent and parent != ts:
            link += f"?thread_ts={parent}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _reaction_target(self, params: dict[str, Any]) -> tuple[dict[str, list[str]], str]:
        if not params.get("name"):
            raise _SlackError("invalid_name")
        if not params.get("timestamp"):
            raise _SlackError("no_item_specified")
        channel = self._channel(params.get("channel"), create=True)
        key = (channel, str(params["timestamp"]))
        return self._reactions.setdefault(key, {}), str(params["name"]).strip(":")

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        reactions, name = self._reaction_target(params)
        users = reactions.setdefault(name, [])
        if BOT_USER_ID in users:
            raise _SlackError("already_reacted")
        users.append(BOT_USER_ID)
        return {"ok": True}

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        reactions, name = self._reaction_target(params)
        if BOT_USER_ID not in reactions.get(name, []):
            raise _SlackError("no_reaction")
        reactions[name].remove(BOT_USER_ID)
        if not reactions[name]:
            del reactions[name]
        return {"ok": True}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise _SlackError("user_not_found")
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        metadata = _truthy(params.get("include_all_metadata"))
        thread = self.messages(channel, ts)
        if not thread:
            raise _SlackError("thread_not_found")
        thread = [
            self._public(self._messages[(channel, m["ts"])], metadata=metadata) for m in thread
        ]
        cursor = str(params.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        limit = int(params.get("limit") or 1000)
        page = thread[start : start + limit]
        answer: dict[str, Any] = {
            "ok": True,
            "messages": page,
            "has_more": start + limit < len(thread),
        }
        if answer["has_more"]:
            next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode()
            answer["response_metadata"] = {"next_cursor": next_cursor}
        return answer

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first; thread replies only show in `replies`."""
        channel = self._channel(params.get("channel"))
        if BOT_USER_ID not in self.members.get(channel, [BOT_USER_ID]):
            raise _SlackError("not_in_channel")
        inclusive = _truthy(params.get("inclusive"))
        try:
            latest = _ts_key(str(params["latest"])) if params.get("latest") else None
            oldest = _ts_key(str(params["oldest"])) if params.get("oldest") else None
            limit = int(params.get("limit") or 100)
        except (ValueError, InvalidOperation):
            raise _SlackError("invalid_arguments") from None
        if not 1 <= limit <= 999:
            raise _SlackError("invalid_limit")

        def wanted(ts: Decimal) -> bool:
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return oldest is None or ts > oldest or (ts == oldest and inclusive)

        metadata = _truthy(params.get("include_all_metadata"))
        found = [
            self._public(m, metadata=metadata)
            for (ch, ts), m in self._messages.items()
            if ch == channel
            and m.get("thread_ts", ts) == ts
            and m.get("subtype") != "thread_broadcast"
            and wanted(_ts_key(ts))
        ]
        found.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if params.get("channel") or len(users) != 1:
            raise _SlackError("invalid_arguments")  # the desk opens one-to-one DMs only
        user = self.users.get(users[0])
        if user is None:
            raise _SlackError("user_not_found")
        if user["is_bot"]:
            raise _SlackError("cannot_dm_bot")
        return {"ok": True, "channel": {"id": "D" + users[0][1:]}}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger, view = str(params.get("trigger_id") or ""), params.get("view")
        if not trigger or not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        if trigger not in self.triggers:
            raise _SlackError("invalid_trigger_id")  # unknown, or used already
        self._check_modal(view)
        external_id = view.get("external_id")
        if external_id is not None and (
            not isinstance(external_id, str) or not 0 < len(external_id) <= 255
        ):
            raise _SlackError("invalid_arguments")
        if external_id and any(m.get("external_id") == external_id for m in self.modals):
            raise _SlackError("duplicate_external_id")  # unique per team
        self.triggers.discard(trigger)
        stored = {"id": _rand_id("V"), "team_id": TEAM_ID, "app_id": APP_ID, **view}
        self.modals.append(stored)
        return {"ok": True, "view": stored}

    def _check_modal(self, view: dict[str, Any]) -> None:
        """Slack's checks of a modal: its type, title, blocks, and inputs with a submit."""
        title, blocks = view.get("title") or {}, view.get("blocks")
        if (
            view.get("type") != "modal"
            or title.get("type") != "plain_text"
            or not 0 < len(str(title.get("text") or "")) <= 24
            or not isinstance(blocks, list)
            or len(blocks) > 100
        ):
            raise _SlackError("invalid_arguments")
        inputs = [b for b in blocks if b.get("type") == "input"]
        if any(not b.get("label") or not b.get("element") for b in inputs):
            raise _SlackError("invalid_arguments")
        if inputs and not view.get("submit"):
            raise _SlackError("invalid_arguments")  # a modal with inputs needs a submit button

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """By `view_id` or by the `external_id` it was opened with (exactly one of them)."""
        view_id, view = str(params.get("view_id") or ""), params.get("view")
        external_id = str(params.get("external_id") or "")
        if bool(view_id) == bool(external_id) or not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        found = next(
            (
                m
                for m in self.modals
                if (view_id and m["id"] == view_id)
                or (external_id and m.get("external_id") == external_id)
            ),
            None,
        )
        if found is None:
            raise _SlackError("not_found")
        self._check_modal(view)
        kept = {"id": found["id"], "external_id": found.get("external_id")}
        found.clear()
        found.update({"team_id": TEAM_ID, "app_id": APP_ID, **view, **kept})
        return {"ok": True, "view": dict(found)}

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        return {
            "ok": True,
            "members": list(self.members.get(channel, [])),
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        return {"ok": True, "channel": dict(self.channels[channel])}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise _SlackError("no_such_subteam")
        return {"ok": True, "users": list(group)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id, view = params.get("user_id"), params.get("view")
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        if user_id not in self.users:
            raise _SlackError("user_not_found")
        stored = {
            "id": _rand_id("V"),
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": _rand_id("", 16),
            **view,
        }
        self.views[user_id] = stored
        return {"ok": True, "view": stored}

    def _assistant_thread(self, params: dict[str, Any]) -> dict[str, Any]:
        """The assistant thread named by `channel_id` and `thread_ts` (a DM's thread)."""
        channel = self._channel(params.get("channel_id"))
        if not params.get("thread_ts"):
            raise _SlackError("invalid_arguments")
        if not self.channels[channel].get("is_im"):
            raise _SlackError("channel_type_not_supported")  # assistant threads live in DMs
        return self.assistant_threads.setdefault((channel, str(params["thread_ts"])), {})

    def _assistant_set_status(self, params: dict[str, Any]) -> dict[str, Any]:
        self._assistant_thread(params)
        if "status" not in params:
            raise _SlackError("invalid_arguments")
        channel = self._channel(params.get("channel_id"))
        status = str(params.get("status") or "")
        self.statuses[(channel, str(params["thread_ts"]))] = status
        self.status_history.append((channel, str(params["thread_ts"]), status))
        return {"ok": True}

    def _assistant_set_prompts(self, params: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(params)
        prompts = params.get("prompts")
        if isinstance(prompts, str):
            prompts = json.loads(prompts)
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise _SlackError("invalid_arguments")
        for prompt in prompts:
            if not (isinstance(prompt, dict) and prompt.get("title") and prompt.get("message")):
                raise _SlackError("invalid_arguments")
        thread["prompts"] = prompts
        thread["prompts_title"] = params.get("title")
        return {"ok": True}

    def _assistant_set_title(self, params: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(params)
        if not params.get("title"):
            raise _SlackError("invalid_arguments")
        thread["title"] = str(params["title"])
        return {"ok": True}

    def _agents_sessions_set_status(self, params: dict[str, Any]) -> dict[str, Any]:
        """An agent session's lifecycle status, per (channel, thread_ts); the session is
        created by its first status. Unknown arguments are refused."""
        if set(params) - _SESSION_ARGS:
            raise _SlackError("invalid_arguments")
        channel = self._channel(params.get("channel_id"))
        if not params.get("thread_ts"):
            raise _SlackError("invalid_arguments")  # a session in a channel or DM is a thread
        status = params.get("status")
        if status not in SESSION_STATUSES:
            raise _SlackError("invalid_arguments")
        if params.get("initiator_user_id") and params["initiator_user_id"] not in self.users:
            raise _SlackError("user_not_found")
        key = (channel, str(params["thread_ts"]))
        self.sessions[key] = str(status)
        self.session_history.append((*key, str(status)))
        if self.session_warning:
            w = self.session_warning
            return {"ok": True, "warning": w, "response_metadata": {"warnings": [w]}}
        return {"ok": True}

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename, length = params.get("filename"), params.get("length")
        if not filename or not str(length or "").isdigit():
            raise _SlackError("invalid_arguments")
        file_id = _rand_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "size": int(str(length)),
            "content": None,
            "title": filename,
            "channels": [],
        }
        return {"ok": True, "upload_url": f"{self.base_url}upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise _SlackError("invalid_arguments")
        channel = params.get("channel_id") or params.get("channels")
        channel = self._channel(channel, create=True) if channel else None
        done = []
        for item in wanted:
            stored = self.files.get(str(item.get("id")))
            if stored is None or stored["content"] is None:
                raise _SlackError("file_not_found")
            stored["title"] = item.get("title") or stored["name"]
            if channel:
                stored["channels"].append(channel)
            done.append(self._file_public(stored))
        if channel:
            msg = self._bot_message(channel, {"text": params.get("initial_comment"), "files": done})
            msg["upload"] = True
            self._store(channel, msg, params.get("thread_ts"))
        return {"ok": True, "files": done}

    def _file_public(self, stored: dict[str, Any]) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(stored["name"])[0] or "application/octet-stream"
        return {
            "id": stored["id"],
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": stored["name"],
            "title": stored["title"],
            "mimetype": mimetype,
            "filetype": stored["name"].rsplit(".", 1)[-1] if "." in stored["name"] else "binary",
            "user": BOT_USER_ID,
            "size": len(stored["content"] or b""),
            "url_private": f"{WORKSPACE_URL}files/{stored['id']}/{stored['name']}",
            "permalink": f"{WORKSPACE_URL}files/{BOT_USER_ID}/{stored['id']}",
            "channels": list(stored["channels"]),
        }


class SlackEvents:
    """Sends signed requests to a Bolt app's HTTP endpoint, the way Slack does.

    Use as `async with SlackEvents(url, secret, slack=fake) as events:`. With `slack`,
    every user message sent is also stored in that FakeSlack (so conversations.replies
    sees it) and slash commands get a `response_url` served by it.
    """

    def __init__(
        self,
        endpoint_url: str,
        signing_secret: str,
        *,
        slack: FakeSlack | None = None,
        team_id: str = TEAM_ID,
        api_app_id: str = APP_ID,
        bot_user_id: str = BOT_USER_ID,
        timeout: float = 30.0,
        socket_mode: bool = False,
    ) -> None:
        """`socket_mode`: events go to the app over the Socket Mode connections `slack`
        serves (`FakeSlack.deliver`), not to `endpoint_url`."""
        if socket_mode and slack is None:
            raise ValueError("socket_mode needs the FakeSlack the app connects to")
        self.socket_mode = socket_mode
        self.endpoint_url = endpoint_url
        self.signing_secret = signing_secret
        self.slack = slack
        self.team_id, self.api_app_id, self.bot_user_id = team_id, api_app_id, bot_user_id
        self._timeout = timeout
        self._session: ClientSession | None = None
        self._sent: dict[str, bytes] = {}

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the shared HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession(timeout=ClientTimeout(total=self._timeout))
        return self._session

    async def raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        signed: bool = True,
        bad_signature: bool = False,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        """POST `body` as is; signature headers are added unless `signed` is False.

        `headers` override the generated ones; `timestamp` forges the request time.
        """
        if self.socket_mode and self.slack is not None:  # no HTTP: the payload as Slack sends it
            attempt = await self.slack.deliver(json.loads(body))
            return 200, f"acked on attempt {attempt}"
        stamp = int(time.time()) if timestamp is None else timestamp
        sent: dict[str, str] = {"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if signed:
            secret = "not-the-secret" if bad_signature else self.signing_secret
            sent["X-Slack-Request-Timestamp"] = str(stamp)
            sent["X-Slack-Signature"] = sign(secret, body, stamp)
        sent.update(headers or {})
        async with self._get_session().post(self.endpoint_url, data=body, headers=sent) as resp:
            return resp.status, await resp.text()

    async def send_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        bad_signature: bool = False,
    ) -> tuple[int, str, str]:
        """Wrap `event` in an Events API envelope and send it; returns (status, body, id).

        With `retry_num` and the `event_id` of an event already sent, the identical
        payload is sent again with the X-Slack-Retry-* headers, as Slack retries do.
        """
        if retry_num is not None and event_id in self._sent:
            body = self._sent[event_id]
        else:
            event_id = event_id or self._new_event_id()
            body = json.dumps(
                {
                    "token": "verification-token",
                    "team_id": self.team_id,
                    "api_app_id": self.api_app_id,
                    "event": event,
                    "type": "event_callback",
                    "event_id": event_id,
                    "event_time": int(time.time()),
                    "authorizations": [
                        {
                            "enterprise_id": None,
                            "team_id": self.team_id,
                            "user_id": self.bot_user_id,
                            "is_bot": True,
                            "is_enterprise_install": False,
                        }
                    ],
                    "is_ext_shared_channel": False,
                    "event_context": _rand_id("4-", 24),
                }
            ).encode()
            self._sent[event_id] = body
        headers = {"Content-Type": "application/json"}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        status, text = await self.raw(body, headers, bad_signature=bad_signature)
        return status, text, event_id

    def _new_event_id(self) -> str:
        while (event_id := _rand_id("Ev")) in self._sent:
            pass
        return event_id

    async def message(
        self,
        user: str,
        text: str,
        channel: str = "C_SUPPORT",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        channel_type: str | None = None,
        retry_num: int | None = None,
        edited: bool = False,
        *,
        bad_signature: bool = False,
    ) -> tuple[int, str, dict[str, Any]]:
        """Send a `message` event; returns (status, body, event + its "event_id").

        `edited=True` sends a `message_changed` event for the message at `ts`.
        """
        if retry_num is not None and event_id in self._sent:
            status, body, _ = await self.send_event(
                {}, event_id=event_id, retry_num=retry_num, bad_signature=bad_signature
            )
            sent = json.loads(self._sent[str(event_id)])["event"]
            return status, body, {**sent, "event_id": event_id}
        ts = ts or new_ts()
        inner: dict[str, Any] = {
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "team": self.team_id,
            "blocks": [_rich_text(text)],
        }
        if bot_id:
            inner.update({"bot_id": bot_id, "app_id": "A" + bot_id[1:]})
        else:
            inner["client_msg_id"] = str(uuid.uuid4())
        if subtype:
            inner["subtype"] = subtype
        if thread_ts:
            inner["thread_ts"] = thread_ts
            parent = self.slack.get_message(channel, thread_ts) if self.slack else None
            if parent and thread_ts != ts:
                inner["parent_user_id"] = parent.get("user")
        kind = channel_type or {"D": "im", "G": "group"}.get(channel[:1], "channel")
        if edited:
            event_ts = new_ts()
            previous = {**inner, "text": ""}
            if self.slack and (old := self.slack.get_message(channel, ts)):
                previous["text"] = old.get("text", "")
            inner["edited"] = {"user": user, "ts": event_ts}
            event = {
                "type": "message",
                "subtype": "message_changed",
                "message": inner,
                "previous_message": previous,
                "channel": channel,
                "hidden": True,
                "ts": event_ts,
                "event_ts": event_ts,
                "channel_type": kind,
            }
        else:
            event = {**inner, "channel": channel, "event_ts": ts, "channel_type": kind}
        if self.slack is not None:
            self.slack.inject_message(
                channel, user, text, ts=ts, thread_ts=thread_ts, bot_id=bot_id, subtype=subtype
            )
        status, body, event_id = await self.send_event(
            event, event_id=event_id, retry_num=retry_num, bad_signature=bad_signature
        )
        return status, body, {**event, "event_id": event_id}

    async def app_mention(
        self,
        user: str,
        text: str,
        channel: str = "C_SUPPORT",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
        *,
        bad_signature: bool = False,
    ) -> tuple[int, str, dict[str, Any]]:
        """Send an `app_mention` event (the bot mention is prepended if missing)."""
        mention = f"<@{self.bot_user_id}>"
        text = text if mention in text else f"{mention} {text}"
        ts = ts or new_ts()
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "channel": channel,
            "event_ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "blocks": [_rich_text(text)],
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if self.slack is not None:
            self.slack.inject_message(channel, user, text, ts=ts, thread_ts=thread_ts)
        status, body, event_id = await self.send_event(
            event, event_id=event_id, retry_num=retry_num, bad_signature=bad_signature
        )
        return status, body, {**event, "event_id": event_id}

    async def assistant_thread_started(
        self, user: str, *, context_channel: str | None = None
    ) -> tuple[int, str, dict[str, Any]]:
        """The user opens the desk's assistant view: Slack starts a thread in their DM with
        the app (its parent is a message of the app) and sends `assistant_thread_started`."""
        channel = "D" + user[1:]
        thread_ts = new_ts()
        if self.slack is not None:
            self.slack.inject_message(
                channel,
                self.bot_user_id,
                "",
                ts=thread_ts,
                bot_id=BOT_ID,
                subtype="assistant_app_thread",
            )
        context: dict[str, Any] = {}
        if context_channel:
            context = {
                "channel_id": context_channel,
                "team_id": self.team_id,
                "enterprise_id": None,
            }
        event = {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": user,
                "context": context,
                "channel_id": channel,
                "thread_ts": thread_ts,
            },
            "event_ts": new_ts(),
        }
        status, body, event_id = await self.send_event(event)
        return status, body, {**event, "event_id": event_id}

    async def assistant_context_changed(
        self, user: str, thread_ts: str, context_channel: str
    ) -> tuple[int, str]:
        """The user moved to another channel with the assistant thread open."""
        event = {
            "type": "assistant_thread_context_changed",
            "assistant_thread": {
                "user_id": user,
                "context": {"channel_id": context_channel, "team_id": self.team_id},
                "channel_id": "D" + user[1:],
                "thread_ts": thread_ts,
            },
            "event_ts": new_ts(),
        }
        status, body, _ = await self.send_event(event)
        return status, body

    async def agent_session_stopped(
        self, user: str, channel: str, thread_ts: str, streaming_ts: list[str] | None = None
    ) -> tuple[int, str]:
        """The user clicks Slack's own stop control on the app's session in that thread
        (`streaming_ts`: the messages Slack says are streaming there, maybe none)."""
        event = {
            "type": "agent_session_stopped",
            "channel": channel,
            "thread_ts": thread_ts,
            "streaming_message_ts": list(streaming_ts or []),
            "user": user,
            "event_ts": new_ts(),
        }
        status, body, _ = await self.send_event(event)
        return status, body

    def _response_url(self) -> str:
        if self.slack is not None:
            return f"{self.slack.base_url}response/{_rand_id('R')}"
        return f"https://hooks.slack.com/commands/{self.team_id}/{_rand_id('', 12)}/x"

    async def slash_command(
        self,
        command: str,
        text: str,
        user: str,
        channel: str = "C_SUPPORT",
        *,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """Send a slash command, form-encoded like Slack; returns (status, body)."""
        form = {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": "demo",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(),
            "trigger_id": self._trigger(),
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.raw(urlencode(form).encode(), headers, bad_signature=bad_signature)

    async def block_action(
        self,
        user: str,
        action_id: str,
        value: str,
        channel: str = "C_SUPPORT",
        message_ts: str | None = None,
        *,
        thread_ts: str | None = None,
        block_id: str | None = None,
        bad_signature: bool = False,
        action_type: str = "button",
        ephemeral: bool = False,
    ) -> tuple[int, str]:
        """Send a button click (`block_actions`) as form field `payload=<json>`.

        `action_type="feedback_buttons"` is a 👍 / 👎 click; `ephemeral` a click in a message
        only the user sees (Slack sends no message then, only the container)."""
        message_ts = message_ts or new_ts()
        message: dict[str, Any] = {"type": "message", "ts": message_ts, "text": ""}
        if self.slack is not None and (found := self.slack.get_message(channel, message_ts)):
            message = {k: v for k, v in found.items() if k != "channel"}
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        if thread_ts or message.get("thread_ts"):
            container["thread_ts"] = thread_ts or message["thread_ts"]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.api_app_id,
            "token": "verification-token",
            "container": container,
            "trigger_id": self._trigger(),
            "team": {"id": self.team_id, "domain": "demo"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": channel.lower()},
            **({} if ephemeral else {"message": message}),
            "state": {"values": {}},
            "response_url": self._response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or _rand_id("", 5),
                    "value": value,
                    "type": action_type,
                    "action_ts": new_ts(),
                    "text": {"type": "plain_text", "text": value, "emoji": True},
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.raw(body, headers, bad_signature=bad_signature)

    def _trigger(self) -> str:
        """A new trigger id, known to the fake Slack (valid for one `views.open`)."""
        trigger = _trigger_id()
        if self.slack is not None:
            self.slack.triggers.add(trigger)
        return trigger

    def _user_object(self, user: str) -> dict[str, Any]:
        return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id}

    async def _interactive(self, payload: dict[str, Any], bad_signature: bool) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.raw(body, headers, bad_signature=bad_signature)

    async def reaction_added(
        self,
        user: str,
        channel: str,
        ts: str,
        reaction: str = "ticket",
        *,
        item_user: str | None = None,
        event_id: str | None = None,
    ) -> tuple[int, str, str]:
        """Send a `reaction_added` on the message at (channel, ts); `item_user` defaults to
        its author in the fake Slack. Returns (status, body, event_id)."""
        if item_user is None and self.slack is not None:
            found = self.slack.get_message(channel, ts)
            item_user = found.get("user") if found else None
        event: dict[str, Any] = {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": new_ts(),
        }
        if item_user:
            event["item_user"] = item_user
        return await self.send_event(event, event_id=event_id)

    async def message_shortcut(
        self,
        user: str,
        callback_id: str,
        channel: str,
        message_ts: str,
        *,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """A message shortcut (`message_action`) on a message of the fake Slack."""
        message: dict[str, Any] = {"type": "message", "ts": message_ts, "text": ""}
        if self.slack is not None and (found := self.slack.get_message(channel, message_ts)):
            message = {k: v for k, v in found.items() if k not in ("channel", "metadata")}
        payload = {
            "type": "message_action",
            "token": "verification-token",
            "action_ts": new_ts(),
            "team": {"id": self.team_id, "domain": "demo"},
            "user": self._user_object(user),
            "channel": {"id": channel, "name": channel.lower()},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger(),
            "response_url": self._response_url(),
            "message_ts": message_ts,
            "message": message,
        }
        return await self._interactive(payload, bad_signature)

    async def view_submission(
        self,
        user: str,
        callback_id: str,
        texts: Mapping[str, str],
        selects: Mapping[str, str] | None = None,
        *,
        view_id: str | None = None,
        field: str = "value",
        view_extra: Mapping[str, Any] | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """Submit a modal: `texts` are plain-text inputs and `selects` static selects, by
        block id (each input's action id is `field`). The same `view_id` is a redelivery;
        `view_extra` adds fields to the view (its `private_metadata`)."""
        values: dict[str, Any] = {
            block: {field: {"type": "plain_text_input", "value": value}}
            for block, value in texts.items()
        }
        for block, value in (selects or {}).items():
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            values[block] = {field: {"type": "static_select", "selected_option": option}}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "demo"},
            "user": self._user_object(user),
            "api_app_id": self.api_app_id,
            "token": "verification-token",
            "trigger_id": self._trigger(),
            "view": {
                "id": view_id or _rand_id("V"),
                "team_id": self.team_id,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": "",
                "state": {"values": values},
                "hash": _rand_id("", 16),
                "app_id": self.api_app_id,
                "bot_id": BOT_ID,
                **(view_extra or {}),
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._interactive(payload, bad_signature)


SESSION_STATUSES = ("active", "processing", "suspended", "closed")
_SESSION_ARGS = {
    "channel_id",
    "status",
    "thread_ts",
    "title",
    "initiator_user_id",
    "icon_emoji",
    "icon_url",
    "username",
}


def _rich_text(text: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "block_id": _rand_id("", 5),
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"

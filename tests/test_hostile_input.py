"""Hostile and malformed input, through the real interfaces: signed and unsigned HTTP requests
to the running Bolt app (and the fake Slack), Socket Mode dispatch, the terminal CLI, tools.

Nothing a client sends may produce a 5xx or a traceback; unsigned or stale requests are
refused before their body is read; numbers are ASCII digits within bounds; any text is stored.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from agents.testing import assistant_message
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import blocks
from bot.app import SocketModeHandler
from storage.business import MAX_COMPANY_SIZE_CHARS, MAX_NOTES_CHARS
from storage.store import Store
from support_desk import cli
from support_desk.logs import setup_logging
from tests.conftest import Desk, DeskFactory
from tests.databases import database_for, sqlite_only
from tests.scripting import call, handoff, scripted, tool_output
from tests.test_business_tools import ask as ask_tool
from tests.test_staff import escalate, escalation_steps, staff_message

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def envelope(event: Any) -> bytes:
    return json.dumps(
        {"type": "event_callback", "team_id": "T_DEMO", "event": event, "event_id": "EvX1"}
    ).encode()


def actions_payload(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


MALFORMED: dict[str, tuple[bytes, dict[str, str]]] = {
    "list": (b"[1]", JSON),
    "null": (b"null", JSON),
    "string": (b'"x"', JSON),
    "number": (b"12", JSON),
    "deeply nested list": (b"[" * 200_000 + b"]" * 200_000, JSON),
    "deeply nested object": (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, JSON),
    "nested past the depth limit": (
        json.dumps(
            {
                "event": {
                    "x": [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                                    1
                                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                }
            }
        ).encode(),
        JSON,
    ),
    "not JSON": (b"{not json", JSON),
    "not UTF-8 in a signed body": (b'{"type": "\xff"}', JSON),
    "payload=[1]": (urlencode({"payload": "[1]"}).encode(), FORM),
    "payload=null": (urlencode({"payload": "null"}).encode(), FORM),
    "payload not JSON": (urlencode({"payload": "{"}).encode(), FORM),
    "event null": (envelope(None), JSON),
    "event a string": (envelope("message"), JSON),
    "event a list": (envelope([{"type": "message"}]), JSON),
    "event fields of the wrong type": (
        envelope({"type": "message", "channel": 5, "ts": [1], "user": {}, "subtype": []}),
        JSON,
    ),
    "team a number": (json.dumps({"type": "event_callback", "team": 5}).encode(), JSON),
    "authorizations a string": (json.dumps({"authorizations": "x"}).encode(), JSON),
    "actions a string": (actions_payload({"type": "block_actions", "actions": "x"}), FORM),
    "actions of numbers": (actions_payload({"type": "block_actions", "actions": [1]}), FORM),
    "container a string": (
        actions_payload(
            {
                "type": "block_actions",
                "user": {"id": "U_ALICE"},
                "container": "x",
                "actions": [{"action_id": "csat_5", "value": "1:5"}],
            }
        ),
        FORM,
    ),
    "user a list": (
        actions_payload(
            {"type": "block_actions", "user": [], "actions": [{"action_id": "ticket_claim"}]}
        ),
        FORM,
    ),
    # shapes Bolt itself reads before any listener: it raised on each (a 500 and tracebacks)
    "no actions": (
        actions_payload({"type": "block_actions", "user": {"id": "U_ALICE"}, "actions": []}),
        FORM,
    ),
    "an action without its id": (
        actions_payload({"type": "block_actions", "user": {"id": "U_ALICE"}, "actions": [{}]}),
        FORM,
    ),
    "a view without its type": (
        actions_payload(
            {
                "type": "view_submission",
                "user": {"id": "U_ALICE"},
                "view": {"callback_id": "support_report"},
            }
        ),
        FORM,
    ),
    "a URL check without its challenge": (
        json.dumps({"type": "url_verification", "token": "x"}).encode(),
        JSON,
    ),
    "a URL check whose challenge is an object": (
        json.dumps({"type": "url_verification", "challenge": {"a": 1}}).encode(),
        JSON,
    ),
    "a command from nobody": (
        urlencode({"command": "/research", "text": "refunds", "channel_id": "C_SUPPORT"}).encode(),
        FORM,
    ),
    "a view whose values are a list": (
        actions_payload(
            {
                "type": "view_submission",
                "user": {"id": "U_ALICE"},
                "view": {
                    "type": "modal",
                    "callback_id": blocks.NEW_REQUEST,
                    "state": {"values": [1]},
                },
            }
        ),
        FORM,
    ),
    "a view without its state": (
        actions_payload(
            {
                "type": "view_submission",
                "user": {"id": "U_ALICE"},
                "view": {"type": "modal", "callback_id": blocks.NEW_REQUEST},
            }
        ),
        FORM,
    ),
}


# The desk's own loggers and the libraries that handle a request for it. Not `asyncio`: it
# reports there, at garbage collection, a client an earlier test left behind.
_REQUEST_LOGGERS = (
    "bot",
    "support_desk",
    "agents_config",
    "storage",
    "slack_bolt",
    "slack_sdk",
    "aiohttp",
    "openai",
    "agents",
)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.split(".")[0] in _REQUEST_LOGGERS
        and (r.exc_info or "Traceback" in r.getMessage())
    ]


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_signed_body_is_a_4xx_without_traceback(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    desk = await start_desk()
    body, headers = MALFORMED[name]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(body, headers)
    assert 200 <= status < 500, (name, status)
    assert tracebacks(caplog) == []
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0


async def test_a_url_check_is_answered_with_its_own_challenge_only(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    good = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    status, body = await desk.events.raw(good, JSON)
    assert status == 200 and "abc123" in body
    for name in ("a URL check without its challenge", "a URL check whose challenge is an object"):
        status, body = await desk.events.raw(*MALFORMED[name])
        assert status == 400 and "challenge" not in body, name


async def test_slack_dropping_events_is_a_warning(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await start_desk()
    notice = {"type": "app_rate_limited", "minute_rate_limited": 1518467820, "team_id": "T1"}
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(json.dumps(notice).encode(), JSON)
    assert status == 200
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "rate limit" in line.getMessage()


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_unsigned_body_is_refused_before_parsing(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    desk = await start_desk()
    body, headers = MALFORMED[name]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(body, headers, signed=False)
    assert status == 401
    assert tracebacks(caplog) == []
    [line] = [r for r in caplog.records if r.name == "bot.http"]
    assert line.getMessage() == "request refused" and line.__dict__["reason"] == "unsigned"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Slack-Request-Timestamp": "yesterday"}, "malformed timestamp"),
        ({"X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠"}, "malformed timestamp"),
        ({"X-Slack-Request-Timestamp": "9" * 40}, "malformed timestamp"),
        ({"X-Slack-Signature": "v0=ünïcode"}, "malformed signature"),
        ({"X-Slack-Signature": "v0=" + "0" * 64}, "bad signature or stale timestamp"),
    ],
)
async def test_forged_headers_are_refused(
    start_desk: DeskFactory,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    reason: str,
) -> None:
    desk = await start_desk()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(envelope({"type": "message"}), {**JSON, **headers})
    assert status == 401 and tracebacks(caplog) == []
    [line] = [r for r in caplog.records if r.name == "bot.http"]
    assert line.__dict__["reason"] == reason


async def test_stale_or_wrongly_signed_requests_are_refused(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await start_desk()
    body = envelope({"type": "message", "channel": "C_SUPPORT", "user": "U_ALICE", "ts": "1.0"})
    caplog.clear()
    with caplog.at_level(logging.INFO):
        stale, _ = await desk.events.raw(body, JSON, timestamp=int(time.time()) - 600)
        forged, _ = await desk.events.raw(body, JSON, bad_signature=True)
    assert (stale, forged) == (401, 401) and tracebacks(caplog) == []
    assert len([r for r in caplog.records if r.name == "bot.http"]) == 2
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0


async def test_slacks_unsigned_ssl_check_is_answered_and_ignored(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    body = urlencode({"ssl_check": "1", "token": "verification-token"}).encode()
    assert await desk.events.raw(body, FORM, signed=False) == (200, "")
    sneaky = urlencode({"ssl_check": "1", "command": "/research", "text": "x"}).encode()
    assert await desk.events.raw(sneaky, FORM, signed=False) == (200, "")
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0


async def test_socket_mode_payloads_are_checked_too(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Socket Mode frames reach Bolt's dispatch already parsed, without a signature."""
    desk = await start_desk()
    caplog.clear()
    for payload in (
        {"type": "event_callback", "event": None},
        {"type": "event_callback", "event": {"type": "message", "channel": ["C"]}},
        {"type": "block_actions", "actions": [None]},
    ):
        request = AsyncBoltRequest(mode="socket_mode", body=payload)
        response = await desk.runtime.receiver.app.async_dispatch(request)
        assert response.status == 400
    assert tracebacks(caplog) == []


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b'{"type": "event_callback", "team_id": "T1"}', b'{"token": "x"}'],
)
async def test_a_signed_body_that_is_no_slack_payload_is_a_400_and_one_line(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    desk = await start_desk()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(body, JSON)
    assert status == 400
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("slack_bolt", "bot"))]
    assert lines == ["malformed request body"]


async def test_a_body_over_the_limit_is_refused_with_one_line(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await start_desk()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(
            b'{"type": "x", "pad": "' + b"a" * 2_000_000 + b'"}', JSON
        )
    assert status == 413
    lines = [r for r in caplog.records if r.name.startswith(("slack_bolt", "bot"))]
    assert [(r.getMessage(), r.__dict__["reason"]) for r in lines] == [
        ("request refused", "too large")
    ]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {"type": "event_callback", "team_id": "T1", "event": {"type": "pin_added"}}
        ).encode(),
        b'{"type": "some_new_kind"}',
    ],
)
async def test_a_request_no_listener_takes_is_one_log_line(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    desk = await start_desk()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status, _ = await desk.events.raw(body, JSON)
    assert status == 404
    lines = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and r.name.startswith(("slack_bolt", "bot"))
    ]
    assert [r.getMessage() for r in lines] == ["request not handled"]


NOT_SLACK_TIMESTAMPS = {
    "NaN": "3 characters: NaN",
    "inf": "3 characters: inf",
    "9" * 500: "500 characters: 999999999999…",
    "-1712345678.123456": "18 characters: -1712345678.…",
    "": "empty",
    "1712345678.123456\nforged line": "29 characters: 1712345678.1…",
    "1712345678": "10 characters: 1712345678",
}


def timestamp_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.getMessage() == "payload with a malformed timestamp ignored"
    ]


@pytest.mark.parametrize("field", ["ts", "thread_ts", "event_ts"])
async def test_an_event_whose_timestamp_is_not_slacks_is_acked_logged_once_and_not_recorded(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    desk = await start_desk()
    for value, found in NOT_SLACK_TIMESTAMPS.items():
        event = {
            "type": "message",
            "channel": "D_ALICE",  # a DM: answered, had its timestamps been Slack's
            "channel_type": "im",
            "user": "U_ALICE",
            "text": "Where is my invoice?",
            "ts": "1712345678.123456",
            "event_ts": "1712345678.123456",
            field: value,
        }
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            status, body, _ = await desk.events.send_event(event)
        assert (status, body) == (200, ""), value
        [line] = timestamp_lines(caplog)
        assert (line.__dict__["field"], line.__dict__["found"]) == (f"event.{field}", found)
        assert line.levelno == logging.WARNING and tracebacks(caplog) == []
        if len(value) > 12:  # the value itself is in no log record, whole
            assert not any(value in str(r.__dict__) for r in caplog.records)
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0
    assert desk.slack.calls_to("chat.startStream") == []


async def test_a_slack_timestamp_is_accepted_and_others_elsewhere_are_refused_too(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Every timestamp the desk reads (a reaction's item, a stop's messages, a click), over
    Socket Mode too: acked, one line, nothing recorded."""
    desk = await start_desk()
    bad = "1e308"
    for payload, field in (
        (
            {
                "type": "event_callback",
                "event": {
                    "type": "reaction_added",
                    "reaction": "ticket",
                    "user": "U_BOB",
                    "item_user": "U_ALICE",
                    "item": {"type": "message", "channel": "C_SUPPORT", "ts": bad},
                },
            },
            "event.item.ts",
        ),
        (
            {
                "type": "event_callback",
                "event": {
                    "type": "agent_session_stopped",
                    "channel": "D_ALICE",
                    "thread_ts": "1712345678.123456",
                    "user": "U_ALICE",
                    "streaming_message_ts": ["1712345678.123457", bad],
                },
            },
            "event.streaming_message_ts[1]",
        ),
        (
            {
                "type": "block_actions",
                "user": {"id": "U_ALICE"},
                "container": {"type": "message", "channel_id": "C_SUPPORT", "message_ts": bad},
                "actions": [{"action_id": "csat_5", "value": "1:5", "action_ts": bad}],
            },
            "container.message_ts",
        ),
    ):
        caplog.clear()
        request = AsyncBoltRequest(mode="socket_mode", body=payload)
        response = await desk.runtime.receiver.app.async_dispatch(request)
        assert response.status == 200
        assert [r.__dict__["field"] for r in timestamp_lines(caplog)] == [field]
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0

    status, _, event = await desk.events.message("U_ALICE", "Hi", channel="D_ALICE")
    assert status == 200 and event["ts"].count(".") == 1
    await desk.settle()
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 1}


class _SocketModeClient:
    """Records the acks the handler sends back over the WebSocket."""

    def __init__(self) -> None:
        self.acks: list[SocketModeResponse] = []

    async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.acks.append(response)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "event_callback", "team": 5, "event": {"type": "message"}},
        {"type": "block_actions", "user": 5, "actions": []},
        {"type": "event_callback", "authorizations": 5},
        {"enterprise": 7},
    ],
)
async def test_socket_mode_frames_bolt_cannot_read_are_acked_and_dropped(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, payload: dict[str, Any]
) -> None:
    """Bolt raises while building a request from these shapes, before dispatch is reached."""
    desk = await start_desk()
    handler = SocketModeHandler(desk.runtime.receiver.app, "xapp-test")
    client = _SocketModeClient()
    caplog.clear()
    request = SocketModeRequest(type="events_api", envelope_id="env-1", payload=payload)
    await handler.handle(client, request)  # type: ignore[arg-type]
    await handler.close_async()
    assert [ack.envelope_id for ack in client.acks] == ["env-1"]
    assert tracebacks(caplog) == []
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0


# ---- slash commands and buttons: numbers are ASCII digits within bounds -------------------


@pytest.mark.parametrize(
    ("command", "text", "answer"),
    [
        ("/research", "repost ²", "Say which report to re-post"),
        ("/research", "repost 99999999999999999999999", "Say which report to re-post"),
        ("/research", "repost ٣", "Say which report to re-post"),
        ("/research", "repost -1", "Say which report to re-post"),
        ("/support-report", "days=²", "`days` must be a whole number from 1 to 365"),
        ("/support-report", "days=99999999999999999999999", "`days` must be a whole number"),
        ("/support-report", "days=", "`days` must be a whole number"),
        ("/support-report", "days=0", "`days` must be a whole number"),
        ("/debate", "free plan? rounds=²", "`rounds` must be a whole number from 1 to 5"),
        ("/debate", "free plan? rounds=1e3", "`rounds` must be a whole number"),
        ("/debate", "free plan? rounds=99999999999999999999999", "`rounds` must be a whole"),
    ],
)
async def test_bad_numbers_in_commands_get_the_usage(
    start_desk: DeskFactory,
    caplog: pytest.LogCaptureFixture,
    command: str,
    text: str,
    answer: str,
) -> None:
    desk = await start_desk()
    caplog.clear()
    status, body = await desk.events.slash_command(command, text, "U_ALICE")
    assert status == 200 and tracebacks(caplog) == []
    ack = json.loads(body)
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith(answer)
    assert await desk.runtime.receiver.store.inbox.open_commands("U_ALICE") == 0


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "", "12:", "x:urgent", "-3"])
@pytest.mark.parametrize("action_id", ["ticket_claim", "ticket_priority", "csat_5"])
async def test_bad_button_values_get_a_polite_answer(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, value: str, action_id: str
) -> None:
    desk = await start_desk()
    caplog.clear()
    status, _ = await desk.events.block_action("U_ERIN", action_id, value, channel="C_STAFF")
    assert status == 200 and tracebacks(caplog) == []
    [response] = desk.slack.responses
    assert response["response_type"] == "ephemeral" and "not one I sent" in response["text"]


# ---- any text is stored and answered -------------------------------------------------------


async def test_a_lone_surrogate_is_answered_and_stored(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    desk = await start_desk()
    caplog.clear()
    status, _, event = await desk.events.message("U_ALICE", "What do I owe? \ud800 thanks")
    assert status == 200
    await desk.settle()
    assert tracebacks(caplog) == []
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert reply["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.subject == "What do I owe? \ufffd thanks"


# ---- CSAT: one rating per resolved ticket, from the prompt the desk sent -------------------


async def rate(desk: Desk, user: str, score: int, ticket_id: int, message_ts: str) -> str:
    before = len(desk.slack.responses)
    status, _ = await desk.events.block_action(
        user, f"csat_{score}", f"{ticket_id}:{score}", message_ts=message_ts
    )
    assert status == 200
    return str(desk.slack.responses[-1]["text"]) if len(desk.slack.responses) > before else ""


async def test_csat_counts_once_from_the_prompt_by_the_requester(start_desk: DeskFactory) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    tickets = desk.runtime.receiver.store.tickets
    event, ticket = await escalate(desk)

    # Before resolution there is nothing to rate, whatever message is clicked.
    refused = await rate(desk, "U_ALICE", 1, ticket.id, event["ts"])
    assert "not resolved" in refused
    assert await tickets.ratings(ticket.id) == []

    message = staff_message(desk)
    status, _ = await desk.events.block_action(
        "U_ERIN", "ticket_resolve", str(ticket.id), "C_STAFF", message["ts"]
    )
    assert status == 200
    *_, prompt = desk.slack.replies_in("C_SUPPORT", event["ts"])

    assert await rate(desk, "U_ALICE", 2, ticket.id, prompt["ts"]) == ""
    assert await rate(desk, "U_ALICE", 2, ticket.id, prompt["ts"]) == ""  # the same click again
    forged = await rate(desk, "U_ALICE", 1, ticket.id, event["ts"])  # not the rating prompt
    assert "not the rating request" in forged
    other = await rate(desk, "U_BOB", 1, ticket.id, prompt["ts"])
    assert "Only <@U_ALICE>" in other
    assert await rate(desk, "U_ALICE", 4, ticket.id, prompt["ts"]) == ""  # the latest click wins

    [rating] = await tickets.ratings(ticket.id)
    assert (rating.user_id, rating.score, rating.prompt_ts) == ("U_ALICE", 4, prompt["ts"])
    # The forged message was never turned into a "thank you".
    original = desk.slack.get_message("C_SUPPORT", event["ts"])
    assert original is not None and "Thank you" not in original["text"]


# ---- chat/ask: only one's own thread -------------------------------------------------------


@pytest.fixture
def terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`support-desk` in a scratch directory with its own database; logging put back after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORT_DESK_DB", str(tmp_path / "desk.db"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield tmp_path
    root.handlers[:], level = saved
    root.setLevel(level)


def test_chat_continues_only_ones_own_thread(
    terminal: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = ["--as", "bob@contoso.example"]
    assert cli.main(["ask", *bob, "--thread", "bobs-thread", "What do I owe?"]) == 0
    capsys.readouterr()

    assert cli.main(["chat", "--thread", "bobs-thread"]) == 2  # as the default, Alice
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "bobs-thread was started by another customer" in err
    assert cli.main(["ask", "--thread", "bobs-thread", "And my invoices?"]) == 2
    assert "started by another customer" in capsys.readouterr().err
    assert cli.main(["ask", "--thread", "../../etc", "hi"]) == 2
    assert "is not a thread id" in capsys.readouterr().err

    def end_of_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(builtins, "input", end_of_input)
    assert cli.main(["chat", *bob, "--thread", "bobs-thread"]) == 0
    out = capsys.readouterr().out
    assert "support-desk chat --as bob@contoso.example --thread bobs-thread" in out


# ---- tools: length limits ------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(database_for(tmp_path / "tools.db"))
    yield opened
    await opened.close()


async def test_a_megabyte_argument_is_refused_and_nothing_stored(
    store: Store,
) -> None:
    huge = "9" * 1024**2
    output = await ask_tool(
        store, "dave@initech.example", "request_demo", company_size=huge, notes="SSO"
    )
    assert output.startswith("Not done: `company_size` is 1,048,576 characters long")
    assert f"at most {MAX_COMPANY_SIZE_CHARS}" in output
    assert await store.business.demo_requests() == []


async def test_repositories_store_at_most_the_limit(store: Store) -> None:
    huge = "x" * 1024**2
    filed = await store.business.create_demo_request(
        slack_user_id="U_DAVE",
        customer_id=None,
        name=huge,
        email=None,
        company_size=huge,
        notes=huge,
    )
    demo = filed.record
    assert len(demo.company_size) == MAX_COMPANY_SIZE_CHARS
    assert len(demo.notes) == MAX_NOTES_CHARS


async def test_escalation_with_an_oversized_summary_is_sent_back(
    start_desk: DeskFactory,
) -> None:
    model, resolver = scripted(
        handoff("fallback"),
        call("escalate_to_human", {"reason": "asked", "summary": "s" * 100_000}),
        call("escalate_to_human", {"reason": "asked", "summary": "Wants a person."}),
        [assistant_message("A person will follow up.")],
    )
    desk = await start_desk(resolver)
    _, ticket = await escalate(desk)
    assert tool_output(model, "escalate_to_human").startswith("Not done: `summary`")
    [escalation] = await desk.runtime.receiver.store.tickets.escalations(ticket.id)
    assert escalation.summary == "Wants a person."


# ---- logs ------------------------------------------------------------------------------------


# With LOG_SENSITIVE_DATA the text shows in aiosqlite's DEBUG records of SQL parameters; asyncpg
# logs no parameters, so on PostgreSQL there is nothing to let through.
@pytest.mark.parametrize("sensitive", [False, pytest.param(True, marks=sqlite_only)])
async def test_debug_logs_carry_no_message_text(
    start_desk: DeskFactory,
    caplog: pytest.LogCaptureFixture,
    terminal: Path,
    sensitive: bool,
) -> None:
    """At DEBUG a whole turn logs ids, not what the user wrote (unless LOG_SENSITIVE_DATA)."""
    setup_logging("DEBUG", sensitive=sensitive)
    logging.getLogger().addHandler(caplog.handler)
    try:
        caplog.handler.setLevel(logging.DEBUG)
        desk = await start_desk()
        secret = "Zanzibar card 4242424242424242"
        await desk.events.message("U_ALICE", f"What do I owe? {secret}")
        await desk.settle()
        await desk.close()
    finally:
        setup_logging("INFO")
    lines = [caplog.handler.format(r) + repr(r.__dict__) for r in caplog.records]
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    leaked = [line for line in lines if "Zanzibar" in line or "alice@northwind" in line]
    assert bool(leaked) is sensitive


@pytest.mark.parametrize(
    ("missing", "value"), [("user", None), ("user", {"id": "U_ALICE"}), ("channel", None)]
)
async def test_a_message_event_without_its_author_or_channel_is_one_warning(
    start_desk: DeskFactory, caplog: pytest.LogCaptureFixture, missing: str, value: object
) -> None:
    desk = await start_desk()
    event: dict[str, object] = {
        "type": "message",
        "channel": "D_ALICE",
        "channel_type": "im",
        "user": "U_ALICE",
        "text": "Where is my invoice?",
        "ts": "1712345678.123456",
    }
    if value is None:
        del event[missing]
    else:
        event[missing] = value
    with caplog.at_level(logging.DEBUG):
        status, body, _ = await desk.events.send_event(event)
    assert (status, body) == (200, "")
    [line] = [r for r in caplog.records if r.getMessage() == "ignored message"]
    assert line.levelno == logging.WARNING and line.__dict__["reason"].startswith("malformed")
    assert sum((await desk.runtime.receiver.store.inbox.counts()).values()) == 0

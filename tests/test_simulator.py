"""The Slack simulator, exercised through the real slack_sdk client and signature verifier."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from fakes.slack import BOT_ID, BOT_USER_ID, FakeSlack, SlackEvents, new_ts, sign

SECRET = "test-signing-secret"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


class Capture:
    """A tiny HTTP endpoint standing in for a Bolt app: records what it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(text="")

    async def __aenter__(self) -> Capture:
        app = web.Application()
        app.router.add_post("/slack/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events"
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_post_message_and_replies_round_trip_with_metadata(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    parent = slack.inject_message("C_SUPPORT", "U_ALICE", "My invoice is wrong")
    metadata = {"event_type": "support_desk_reply", "event_payload": {"turn": 1}}
    posted = await client.chat_postMessage(
        channel="C_SUPPORT", thread_ts=parent["ts"], text="Looking into it", metadata=metadata
    )
    assert posted["ok"] and posted["channel"] == "C_SUPPORT"
    assert posted["message"]["bot_id"] == BOT_ID and posted["message"]["user"] == BOT_USER_ID
    assert float(posted["ts"]) > float(parent["ts"])

    plain = await client.conversations_replies(channel="C_SUPPORT", ts=parent["ts"])
    assert [m["text"] for m in plain["messages"]] == ["My invoice is wrong", "Looking into it"]
    assert plain["has_more"] is False
    assert "metadata" not in plain["messages"][1]
    assert plain["messages"][0]["reply_count"] == 1

    full = await client.conversations_replies(
        channel="C_SUPPORT", ts=parent["ts"], include_all_metadata=True
    )
    assert full["messages"][1]["metadata"] == metadata
    assert full["messages"][1]["thread_ts"] == parent["ts"]

    assert [m["ts"] for m in slack.replies_in("C_SUPPORT", parent["ts"])] == [posted["ts"]]
    assert slack.calls_to("chat.postMessage")[0]["metadata"] == metadata

    with pytest.raises(SlackApiError) as err:
        await client.conversations_replies(channel="C_SUPPORT", ts="1.000001")
    assert err.value.response["error"] == "thread_not_found"


async def test_form_encoded_post_and_unique_increasing_ts(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = await client.api_call(
        "chat.postMessage",
        data={"channel": "C_SUPPORT", "text": "hi", "blocks": json.dumps(blocks)},
    )
    second = await client.chat_postMessage(channel="C_SUPPORT", text="again")
    assert slack.messages("C_SUPPORT")[0]["blocks"] == blocks
    assert float(second["ts"]) > float(first["ts"])
    assert len(first["ts"].split(".")[1]) == 6


async def test_users_info_and_directory(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = await client.users_info(user="U_ALICE")
    assert alice["user"]["profile"]["email"] == "alice@northwind.example"
    assert alice["user"]["real_name"] == "Alice Chen" and alice["user"]["is_bot"] is False
    assert (await client.users_info(user="U_OTHERBOT"))["user"]["is_bot"] is True
    slack.add_user("U_ZED", "Zed Zulu", "zed@example.com")
    assert (await client.users_info(user="U_ZED"))["user"]["profile"]["email"] == "zed@example.com"
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U_GHOST")
    assert err.value.response["error"] == "user_not_found"

    staff = await client.conversations_members(channel="C_STAFF")
    assert staff["members"] == ["U_ERIN"]
    dm = await client.conversations_info(channel="D_ALICE")
    assert dm["channel"]["is_im"] is True and dm["channel"]["user"] == "U_ALICE"
    group = await client.usergroups_users_list(usergroup="S_STAFF")
    assert group["users"] == ["U_ERIN"]


async def test_rate_limit_is_retried_by_the_client(slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    retrying = AsyncWebClient(
        token="xoxb-test",
        base_url=slack.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    response = await retrying.chat_postMessage(channel="C_SUPPORT", text="hello")
    assert response["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.messages("C_SUPPORT")) == 1

    slack.rate_limit("users.info", retry_after=0)
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(token="xoxb-test", base_url=slack.url).users_info(user="U_BOB")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "0"


async def test_fail_and_delay(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail("reactions.add", error="internal_error", times=1, status=500)
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel="C_SUPPORT", timestamp="1.000001", name="eyes")
    assert err.value.response.status_code == 500
    await client.reactions_add(channel="C_SUPPORT", timestamp="1.000001", name="eyes")
    assert slack.reactions("C_SUPPORT", "1.000001") == ["eyes"]

    slack.delay("auth.test", 0.2)
    started = time.monotonic()
    task = asyncio.create_task(client.auth_test())
    method, _ = await slack.wait_for("auth.test", timeout=2)
    assert method == "auth.test" and time.monotonic() - started >= 0.2
    assert (await task)["user_id"] == BOT_USER_ID
    with pytest.raises(TimeoutError):
        await slack.wait_for("auth.test", timeout=0.05, since=len(slack.calls))


async def test_unknown_method_and_invalid_auth(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.teleport", json={"channel": "C_SUPPORT"})
    assert err.value.response["error"] == "unknown_method"
    assert slack.calls[-1] == ("chat.teleport", {"channel": "C_SUPPORT"})

    for token, error in (("not-a-token", "invalid_auth"), (None, "not_authed")):
        with pytest.raises(SlackApiError) as err:
            await AsyncWebClient(token=token, base_url=slack.url).auth_test()
        assert err.value.response["error"] == error

    strict = FakeSlack(tokens=["xoxb-only-this"])
    async with strict:
        ok = await AsyncWebClient(token="xoxb-only-this", base_url=strict.url).auth_test()
        assert ok["team_id"] == "T_DEMO" and ok["bot_id"] == BOT_ID
        with pytest.raises(SlackApiError):
            await AsyncWebClient(token="xoxb-test", base_url=strict.url).auth_test()


async def test_message_lifecycle_methods(slack: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C_STAFF", text="Escalation #1")
    updated = await client.chat_update(channel="C_STAFF", ts=posted["ts"], text="Taken by Erin")
    assert updated["message"]["text"] == "Taken by Erin"
    link = await client.chat_getPermalink(channel="C_STAFF", message_ts=posted["ts"])
    assert posted["ts"].replace(".", "") in link["permalink"]
    eph = await client.chat_postEphemeral(channel="C_SUPPORT", user="U_BOB", text="Only you")
    assert eph["message_ts"] and slack.ephemerals[0]["user"] == "U_BOB"
    await client.chat_delete(channel="C_STAFF", ts=posted["ts"])
    assert slack.messages("C_STAFF") == []
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C_STAFF", ts=posted["ts"], text="gone")
    assert err.value.response["error"] == "message_not_found"

    await client.views_publish(user_id="U_ERIN", view={"type": "home", "blocks": []})
    assert slack.views["U_ERIN"]["type"] == "home"
    await client.assistant_threads_setStatus(
        channel_id="D_ALICE", thread_ts="1.000001", status="is thinking…"
    )
    assert slack.statuses[("D_ALICE", "1.000001")] == "is thinking…"
    await client.reactions_add(channel="C_SUPPORT", timestamp="1.000001", name="eyes")
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel="C_SUPPORT", timestamp="1.000001", name="eyes")
    assert err.value.response["error"] == "already_reacted"
    await client.reactions_remove(channel="C_SUPPORT", timestamp="1.000001", name="eyes")
    assert slack.reactions("C_SUPPORT", "1.000001") == []

    slack.reset()
    assert slack.calls == [] and slack.messages() == []


async def test_a_deleted_stream_is_gone_from_its_thread_and_takes_no_more_text(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    question = slack.inject_message("C_SUPPORT", "U_ALICE", "Where is my invoice?")
    recipient = {"recipient_user_id": "U_ALICE", "recipient_team_id": "T_DEMO"}
    kept = await client.chat_postMessage(
        channel="C_SUPPORT", thread_ts=question["ts"], text="One moment"
    )
    stream = await client.chat_startStream(
        channel="C_SUPPORT", thread_ts=question["ts"], markdown_text="Your invoice", **recipient
    )
    await client.chat_delete(channel="C_SUPPORT", ts=stream["ts"])

    for method in ("chat.appendStream", "chat.stopStream"):
        with pytest.raises(SlackApiError) as err:
            await client.api_call(
                method, json={"channel": "C_SUPPORT", "ts": stream["ts"], "markdown_text": "…"}
            )
        assert err.value.response["error"] == "message_not_found", method
    assert slack.stream_of("C_SUPPORT", stream["ts"])["state"] == "deleted"  # type: ignore[index]
    assert [m["ts"] for m in slack.replies_in("C_SUPPORT", question["ts"])] == [kept["ts"]]
    thread = await client.conversations_replies(channel="C_SUPPORT", ts=question["ts"])
    assert [m["ts"] for m in thread["messages"]] == [question["ts"], kept["ts"]]
    parent = thread["messages"][0]
    assert (parent["reply_count"], parent["latest_reply"]) == (1, kept["ts"])
    assert parent["reply_users"] == [BOT_USER_ID]

    await client.chat_delete(channel="C_SUPPORT", ts=kept["ts"])
    parent = slack.get_message("C_SUPPORT", question["ts"])
    assert parent is not None and "reply_count" not in parent and "latest_reply" not in parent


async def test_file_upload_v2(slack: FakeSlack, client: AsyncWebClient) -> None:
    parent = slack.inject_message("C_SUPPORT", "U_CAROL", "Can I get my invoice?")
    result = await client.files_upload_v2(
        channel="C_SUPPORT",
        thread_ts=parent["ts"],
        filename="invoice.csv",
        content="item,amount\nwidget,10\n",
        title="Invoice",
        initial_comment="Here it is",
    )
    assert result["file"]["title"] == "Invoice"
    stored = slack.files[result["file"]["id"]]
    assert stored["content"] == b"item,amount\nwidget,10\n"
    [reply] = slack.replies_in("C_SUPPORT", parent["ts"])
    assert reply["text"] == "Here it is" and reply["files"][0]["name"] == "invoice.csv"
    assert [m for m, _ in slack.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


async def test_slack_events_are_signed_like_slack(slack: FakeSlack) -> None:
    verifier = SignatureVerifier(SECRET)
    async with Capture() as app, SlackEvents(app.url, SECRET, slack=slack) as events:
        status, _, event = await events.message("U_ALICE", "Where is my order?")
        assert status == 200
        headers, body = app.requests[-1]
        assert verifier.is_valid_request(body, headers)
        envelope = json.loads(body)
        assert envelope["type"] == "event_callback" and envelope["event_id"].startswith("Ev")
        assert envelope["event_id"] == event["event_id"]
        assert envelope["authorizations"][0]["user_id"] == BOT_USER_ID
        assert envelope["event"]["ts"] == event["ts"] and event["channel_type"] == "channel"
        assert slack.messages("C_SUPPORT")[0]["text"] == "Where is my order?"

        await events.message(
            "U_ALICE", "Where is my order?", event_id=event["event_id"], retry_num=1
        )
        headers, retried = app.requests[-1]
        assert retried == body
        assert headers["X-Slack-Retry-Num"] == "1"
        assert headers["X-Slack-Retry-Reason"] == "http_timeout"

        await events.message("U_ALICE", "forged", bad_signature=True)
        headers, body = app.requests[-1]
        assert not verifier.is_valid_request(body, headers)

        _, _, edit = await events.message(
            "U_ALICE", "Where is order 42?", ts=event["ts"], edited=True
        )
        assert edit["subtype"] == "message_changed" and edit["message"]["ts"] == event["ts"]
        assert slack.messages("C_SUPPORT")[0]["text"] == "Where is order 42?"

        await events.slash_command("/ticket", "status 42", "U_BOB")
        headers, body = app.requests[-1]
        assert verifier.is_valid_request(body, headers)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        assert form["command"] == "/ticket" and form["user_id"] == "U_BOB"
        assert form["response_url"].startswith(slack.base_url)

        await events.block_action("U_ERIN", "take_ticket", "42", "C_STAFF", new_ts())
        headers, body = app.requests[-1]
        assert verifier.is_valid_request(body, headers)
        payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
        assert payload["type"] == "block_actions" and payload["actions"][0]["value"] == "42"

        _, _, mention = await events.app_mention("U_DAVE", "help", channel="C_RANDOM")
        assert mention["text"] == f"<@{BOT_USER_ID}> help"

        status, _ = await events.raw(b"{not json", {"Content-Type": "application/json"})
        assert status == 200 and app.requests[-1][1] == b"{not json"

    stamp = 1_700_000_000
    assert sign(SECRET, b"body", stamp) == SignatureVerifier(SECRET).generate_signature(
        timestamp=str(stamp), body=b"body"
    )


async def test_bolt_app_round_trip(slack: FakeSlack) -> None:
    """A real Bolt app receives a signed event and answers in the thread through the fake."""
    from slack_bolt.async_app import AsyncApp, AsyncSay

    bolt = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-test", base_url=slack.url),
    )

    @bolt.event("message")
    async def on_message(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"echo: {event['text']}", thread_ts=event["ts"])

    runner = web.AppRunner(bolt.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events"
    try:
        async with SlackEvents(url, SECRET, slack=slack) as events:
            status, _, event = await events.message("U_ALICE", "ping")
            assert status == 200
            await slack.wait_for("chat.postMessage")
            [reply] = slack.replies_in("C_SUPPORT", event["ts"])
            assert reply["text"] == "echo: ping"
            status, _ = await events.raw(
                b"{}", {"Content-Type": "application/json"}, bad_signature=True
            )
            assert status == 401
    finally:
        await runner.cleanup()

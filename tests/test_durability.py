"""Nothing lost, nothing doubled: crashes, retries, ordering, timeouts, health endpoints."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.slack import REPLY_EVENT_TYPE
from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack, SlackEvents
from storage.store import Store
from tests.conftest import SIGNING_SECRET, DeskFactory
from tests.databases import database_for, database_url
from tests.serving import desk_subprocess


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


def openai_settings(model: FakeOpenAI) -> dict[str, object]:
    return {"model_provider": "openai", "openai_base_url": model.url, "openai_api_key": "sk-test"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`support-desk serve --http` in a subprocess, as an operator runs it."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await desk_subprocess(
            "serve", "--http", "--host", "127.0.0.1", "--port", str(self.port), env=self.env
        )
        # Generous: a loaded CI machine starts two Python processes (serve and its worker)
        # slowly; the tests measure what the desk does once up, not how fast it starts.
        deadline = time.monotonic() + 90
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("support-desk serve did not become ready")

    async def signal(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), 30)


def serve_env(tmp_path: Path, slack: FakeSlack, model: FakeOpenAI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "SUPPORT_CHANNELS": "C_SUPPORT",
            "ESCALATION_CHANNEL": "C_STAFF",
            "SUPPORT_DESK_DB": str(tmp_path / "desk.db"),
            "OPENAI_BASE_URL": model.url,
            "OPENAI_API_KEY": "sk-test",
            "SHUTDOWN_GRACE_S": "10",
            "LOG_LEVEL": "WARNING",
            # One worker a desk: the suite runs several desks at once on two cores. Several
            # workers (the default, one a core) are tested in tests/test_supervision.py.
            "WORKER_PROCESSES": "1",
        }
    )
    url = database_url(tmp_path / "desk.db")
    if url:
        env["DATABASE_URL"] = url
    return env


async def wait_for_replies(slack: FakeSlack, ts: str, count: int, timeout_s: float) -> None:
    await slack.wait_for_replies("C_SUPPORT", ts, count, timeout=timeout_s)


async def test_sigkill_mid_answer_is_answered_exactly_once_after_restart(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    model.latency_s = 30  # the answer is in flight when the desk is killed
    desk = ServeProcess(serve_env(tmp_path, slack, model), free_port())
    await desk.start()
    async with SlackEvents(f"{desk.url}/slack/events", SIGNING_SECRET, slack=slack) as events:
        status, _, event = await events.message("U_ALICE", "Where is my invoice?")
        assert status == 200
        await model.wait_for_calls(1, timeout_s=20)
        await desk.signal(signal.SIGKILL)
        assert slack.replies_in("C_SUPPORT", event["ts"]) == []

        model.latency_s = 0
        restarted = ServeProcess(desk.env, free_port())
        await restarted.start()
        try:
            await wait_for_replies(slack, event["ts"], 1, 30)
            await asyncio.sleep(0.5)  # room for a wrong second answer to show up
            replies = slack.replies_in("C_SUPPORT", event["ts"])
            assert len(replies) == 1
            assert "Where is my invoice?" in replies[0]["text"]
        finally:
            assert await restarted.signal(signal.SIGTERM) == 0


async def test_sigterm_finishes_running_answer_then_exits(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    model.latency_s = 0.5
    desk = ServeProcess(serve_env(tmp_path, slack, model), free_port())
    await desk.start()
    async with SlackEvents(f"{desk.url}/slack/events", SIGNING_SECRET, slack=slack) as events:
        _, _, event = await events.message("U_ALICE", "Quick billing question")
        await model.wait_for_calls(1, timeout_s=20)
        assert await desk.signal(signal.SIGTERM) == 0
    assert len(slack.replies_in("C_SUPPORT", event["ts"])) == 1


async def test_resumed_message_already_answered_in_slack_is_not_answered_again(
    start_desk: DeskFactory, slack: FakeSlack, tmp_path: Path
) -> None:
    # A desk accepted a message, claimed it, posted the answer, then died before recording it.
    store = await Store.open(database_for(tmp_path / "desk.db"))
    inbox_id = await store.inbox.accept(
        kind="message",
        channel="C_SUPPORT",
        ts="1700000000.000100",
        thread_ts="1700000000.000100",
        user_id="U_ALICE",
        text="hello",
    )
    assert inbox_id is not None
    assert [item.id for item in await store.inbox.claim(10)] == [inbox_id]
    await store.close()
    slack.inject_message("C_SUPPORT", "U_ALICE", "hello", ts="1700000000.000100")
    slack.inject_message(
        "C_SUPPORT",
        "U_BOT",
        "the answer posted before the crash",
        ts="1700000000.000200",
        thread_ts="1700000000.000100",
        bot_id="B_BOT",
        metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"turn": inbox_id}},
    )

    desk = await start_desk()
    await desk.settle()
    assert slack.calls_to("chat.postMessage") == []
    row = await desk.runtime.receiver.store.inbox.get(inbox_id)
    assert row is not None and (row.status, row.reply_ts) == ("answered", "1700000000.000200")


async def test_same_event_delivered_many_times_at_once(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    desk = await start_desk(**openai_settings(model))
    event = {
        "type": "message",
        "user": "U_ALICE",
        "text": "double?",
        "channel": "C_SUPPORT",
        "ts": "1700000001.000100",
        "channel_type": "channel",
    }
    sends = [desk.events.send_event(event, event_id="EvSAME") for _ in range(10)]
    assert {status for status, _, _ in await asyncio.gather(*sends)} == {200}
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", "1700000001.000100")) == 1


async def test_threads_in_order_and_in_parallel(start_desk: DeskFactory, model: FakeOpenAI) -> None:
    model.latency_s = 0.05
    desk = await start_desk(**openai_settings(model))
    _, _, a = await desk.events.message("U_ALICE", "thread A message 0")
    _, _, b = await desk.events.message("U_BOB", "thread B message 0")
    sends = []
    for n in range(1, 5):
        sends.append(desk.events.message("U_ALICE", f"thread A message {n}", thread_ts=a["ts"]))
        sends.append(desk.events.message("U_BOB", f"thread B message {n}", thread_ts=b["ts"]))
    for send in sends:  # delivered in order, answered while later ones arrive
        await send
    started = time.monotonic()
    await desk.settle()
    for name, parent in (("A", a), ("B", b)):
        texts = [r["text"] for r in desk.slack.replies_in("C_SUPPORT", parent["ts"])]
        assert [t.rsplit(" ", 1)[-1] for t in texts] == ["0", "1", "2", "3", "4"], name
    # 10 answers of 2 model calls at 50 ms: in two parallel threads well under the serial 1 s.
    assert time.monotonic() - started < 30


async def test_slack_rate_limit_is_retried(start_desk: DeskFactory, model: FakeOpenAI) -> None:
    desk = await start_desk(**openai_settings(model))
    desk.slack.rate_limit("chat.postMessage", times=2, retry_after=0)
    _, _, event = await desk.events.message("U_ALICE", "rate limited?")
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == 1


async def test_hanging_model_ends_in_apology_and_escalation(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    model.hang = True
    desk = await start_desk(model_timeout_s=0.5, offline_fallback=False, **openai_settings(model))
    _, _, event = await desk.events.message("U_BOB", "anyone there?")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", event["ts"])
    assert "passed your request to our support staff" in reply["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated"
    escalation = (await desk.runtime.receiver.store.tickets.escalations(ticket.id))[0]
    assert "MODEL_TIMEOUT_S" in escalation.summary


async def test_health_and_readiness(start_desk: DeskFactory) -> None:
    desk = await start_desk()
    base = desk.events.endpoint_url.removesuffix("/slack/events")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 200
            body = await response.json()
            assert body == {"status": "ready", "database": True, "slack": True, "worker": True}
        desk.runtime.receiver.slack_ready = False
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 503


async def test_transient_failure_is_retried_in_place(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    desk = await start_desk()
    real_handle = desk.runtime.workers.desk.handle
    failures = iter([sqlite3.OperationalError("database is locked")])

    async def flaky(turn, progress=None):  # type: ignore[no-untyped-def]
        error = next(failures, None)
        if error is not None:
            raise error
        return await real_handle(turn, progress)

    monkeypatch.setattr(desk.runtime.workers.desk, "handle", flaky)
    _, _, event = await desk.events.message("U_ALICE", "hi")
    await desk.settle()
    assert len(desk.slack.replies_in("C_SUPPORT", event["ts"])) == 1
    assert (await desk.runtime.receiver.store.inbox.counts()) == {"answered": 1}


async def test_working_indicator_only_while_an_answer_is_slow(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    """A slow answer shows the desk at work in its streamed reply, started at once with a
    first step (no 👀: one Slack call, not two); a quick one costs nothing extra."""
    # Wide margins: a loaded machine (tests on several processes) must not make "fast" slow.
    desk = await start_desk(working_indicator_delay_s=1.5, **openai_settings(model))
    _, _, _fast = await desk.events.message("U_ALICE", "fast one")
    await desk.settle()
    [quick] = desk.slack.calls_to("chat.startStream")
    assert all(c.get("id") != "agent:working" for c in quick.get("chunks") or [])
    model.latency_s = 2.0
    _, _, slow = await desk.events.message("U_ALICE", "slow one")
    await desk.settle()
    _, started = desk.slack.calls_to("chat.startStream")
    titles = [c["title"] for c in started["chunks"] if c["type"] == "task_update"]
    assert titles == ["Reading your request"] and not started.get("markdown_text")
    [reply] = desk.slack.replies_in("C_SUPPORT", slow["ts"])
    stream = desk.slack.stream_of("C_SUPPORT", reply["ts"])
    assert stream is not None and stream["tasks"]["agent:working"]["status"] == "complete"
    assert reply["text"].startswith("Here is my answer to: slow one")
    assert desk.slack.calls_to("reactions.add") == []
    assert desk.slack.reactions("C_SUPPORT", slow["ts"]) == []


async def test_provider_outage_falls_back_to_backup_then_offline(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    desk = await start_desk(backup_model="backup-model", **openai_settings(model))
    model.fail(status=503, times=3)  # the primary's call and the client's two retries
    _, _, first = await desk.events.message("U_ALICE", "backup please")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", first["ts"])
    assert reply["text"].startswith("Here is my answer to: backup please")
    assert "backup-model" in {c.model for c in model.calls}

    model.fail(status=503, times=1000)  # the whole provider is down
    _, _, second = await desk.events.message("U_BOB", "Why was my card payment PAY-3003 declined?")
    await desk.settle()
    [reply] = desk.slack.replies_in("C_SUPPORT", second["ts"])
    assert "insufficient" in reply["text"] and "offline engine" in reply["text"]
    ticket = await desk.runtime.receiver.store.tickets.by_thread("C_SUPPORT", second["ts"])
    assert ticket is not None and ticket.status == "answered"


async def test_old_handled_inbox_rows_are_pruned(tmp_path: Path) -> None:
    store = await Store.open(database_for(tmp_path / "prune.db"))
    ids = [
        await store.inbox.accept(
            kind="message", channel="C1", ts=f"1.{n}", thread_ts=f"1.{n}", user_id="U1", text="hi"
        )
        for n in range(3)
    ]
    claimed = await store.inbox.claim(10)
    await store.inbox.mark_answered(claimed[0].id, "2.0")
    await store.inbox.mark_failed(claimed[1].id, "slack: channel_not_found")
    assert await store.inbox.prune(older_than_s=3600) == 0  # all recent
    assert await store.inbox.prune(older_than_s=-1) == 2  # handled ones go, the running one stays
    assert [r.id for r in await store.inbox.claim(10)] == []
    row = await store.inbox.get(ids[2])
    assert row is not None and row.status == "running"
    await store.close()


async def test_ticket_numbers_stay_consecutive(tmp_path: Path) -> None:
    store = await Store.open(database_for(tmp_path / "numbers.db"))
    opened = [
        await store.tickets.open_for_thread(
            channel="C1", thread_ts=ts, user_id="U1", subject="s", customer_id=None
        )
        for ts in ("1.0", "1.0", "2.0")
    ]
    assert [(t.id, new) for t, new in opened] == [(1, True), (1, False), (2, True)]
    await store.close()

"""A desk that never fails silently: a dead worker is restarted and its messages answered, a
database that refuses writes makes /readyz not ready and loses nothing. `support-desk serve`
runs as a real subprocess (receiver + worker child) against the fake Slack and model."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from bot.listeners import NOT_RECORDED, listener_failed
from bot.outages import DATABASE_REFUSED, SLACK_UNREACHABLE, held_because
from bot.worker import FAILED_REPLY
from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack, SlackEvents
from storage.heartbeats import HEARTBEAT_STALE_S
from storage.inbox import InboxItem
from storage.store import Store
from tests.conftest import SIGNING_SECRET, DeskFactory
from tests.databases import database_for, sqlite_only
from tests.serving import DeskProcess, wait_for_readiness, wait_until
from tests.test_durability import free_port, serve_env, wait_for_replies


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


async def serve(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI, *, worker_processes: int = 1
) -> tuple[DeskProcess, str]:
    port = free_port()
    env = serve_env(tmp_path, slack, model) | {"WORKER_PROCESSES": str(worker_processes)}
    args = ("serve", "--http", "--host", "127.0.0.1", "--port", str(port))
    desk = await DeskProcess.run(env, *args)
    url = f"http://127.0.0.1:{port}"
    await wait_for_readiness(url, 200, timeout_s=60)
    return desk, url


async def rows(path: Path) -> dict[str, int]:
    store = await Store.open(database_for(path), seed=False)
    try:
        return await store.inbox.counts()
    finally:
        await store.close()


async def settled_rows(path: Path, timeout_s: float = 30) -> dict[str, int]:
    """The inbox's counts once no row is received or running (the reply shows in Slack a
    moment before its row is marked answered)."""
    async with asyncio.timeout(timeout_s):
        while True:
            counts = await rows(path)
            if not {"received", "running"} & set(counts):
                return counts
            await asyncio.sleep(0.1)


async def test_worker_killed_alone_is_restarted_and_its_messages_answered(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    desk, url = await serve(tmp_path, slack, model)
    try:
        [worker] = desk.children()
        async with SlackEvents(f"{url}/slack/events", SIGNING_SECRET, slack=slack) as events:
            model.latency_s = 30  # the first answer is in flight when the worker dies
            _, _, first = await events.message("U_ALICE", "Where is my invoice?")
            await model.wait_for_calls(1, timeout_s=20)
            os.kill(worker, signal.SIGKILL)
            died = time.monotonic()
            body = await wait_for_readiness(url, 503)
            assert body["worker"] is False and body["database"] is True

            model.latency_s = 0
            status, _, second = await events.message("U_BOB", "Anyone there?")  # no worker now
            assert status == 200
            await wait_for_replies(slack, first["ts"], 1, 30)
            await wait_for_replies(slack, second["ts"], 1, 30)
            print(f"both answered {time.monotonic() - died:.1f}s after the worker died")
            await wait_for_readiness(url, 200)

        [restarted] = desk.children()
        assert restarted != worker
        assert await settled_rows(tmp_path / "desk.db") == {"answered": 2}
        for event in (first, second):
            assert len(slack.replies_in("C_SUPPORT", event["ts"])) == 1
        assert await desk.signal(signal.SIGTERM) == 0
    finally:
        await desk.kill()
    deaths = [line for line in desk.lines if "worker process died" in line]
    assert len(deaths) == 1 and "exit_code=-9" in deaths[0], desk.stderr
    assert "Traceback" not in desk.stderr


async def test_with_two_worker_processes_one_killed_the_other_answers_its_message(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    """`serve` starts a worker a core (two here): both take threads; one killed mid-answer,
    the desk stays ready, its message is answered once by the other, and it is restarted."""
    desk, url = await serve(tmp_path, slack, model, worker_processes=2)
    try:
        workers = await wait_until_children(desk, 2)  # the second once the first answers
        await live_workers(tmp_path / "desk.db", 2)
        await asyncio.sleep(1.5)  # each has seen the other's heartbeat
        async with SlackEvents(f"{url}/slack/events", SIGNING_SECRET, slack=slack) as events:
            model.latency_s = 1  # threads in flight: the idler process claims the next ones
            sent = []
            for user in ("U_ALICE", "U_BOB", "U_ALICE", "U_BOB"):
                sent.append((await events.message(user, "Where is my invoice?"))[2])
                await asyncio.sleep(0.1)
            for event in sent:
                await wait_for_replies(slack, event["ts"], 1, 30)
            assert await settled_rows(tmp_path / "desk.db") == {"answered": 4}
            answered_by = await worker_of_each_answer(tmp_path / "desk.db")
            assert len(set(answered_by)) == 2, answered_by  # both processes answered

            model.latency_s = 30  # the next answer is in flight when its worker dies
            _, _, slow = await events.message("U_ALICE", "Can you check my last payment?")
            await model.wait_for_calls(5, timeout_s=20)
            model.latency_s = 0
            holder = await holder_pid(tmp_path / "desk.db")
            assert holder in workers
            os.kill(holder, signal.SIGKILL)
            await wait_for_readiness(url, 200)  # the other worker keeps the desk ready
            await wait_for_replies(slack, slow["ts"], 1, 30)
            restarted = await wait_until_children(desk, 2)
            assert holder not in restarted
        assert len(slack.replies_in("C_SUPPORT", slow["ts"])) == 1
        assert await settled_rows(tmp_path / "desk.db") == {"answered": 5}
        assert await desk.signal(signal.SIGTERM) == 0
    finally:
        await desk.kill()
    deaths = [line for line in desk.lines if "worker process died" in line]
    assert len(deaths) == 1, desk.stderr
    assert "Traceback" not in desk.stderr


async def live_workers(path: Path, count: int, timeout_s: float = 30) -> None:
    store = await Store.open(database_for(path), seed=False)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if len(await store.heartbeats.workers()) == count:
                    return
                await asyncio.sleep(0.1)
    finally:
        await store.close()


async def worker_of_each_answer(path: Path) -> list[str]:
    store = await Store.open(database_for(path), seed=False)
    try:
        return await store.inbox.claimed_by_status("answered")
    finally:
        await store.close()


async def holder_pid(path: Path) -> int:
    """The pid of the worker process that holds the one running row."""
    store = await Store.open(database_for(path), seed=False)
    try:
        [holder] = await store.inbox.claimed_by_status("running")
        return int(holder.split(":")[-2])  # storage.heartbeats.new_worker_id
    finally:
        await store.close()


async def wait_until_children(desk: DeskProcess, count: int) -> list[int]:
    return await wait_until(lambda: c if len(c := desk.children()) == count else None)


@sqlite_only  # the file limit stops SQLite's writes; a PostgreSQL server is not this process
@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
async def test_database_refusing_writes_holds_messages_until_it_recovers(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    """A full disk, as the processes see it: RLIMIT_FSIZE 0 makes every write to a file fail
    (Python ignores SIGXFSZ, so write() returns EFBIG and SQLite reports an I/O error)."""
    desk, url = await serve(tmp_path, slack, model)
    pids = [desk.pid, *desk.children()]
    limits = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE) for pid in pids}
    try:
        async with SlackEvents(f"{url}/slack/events", SIGNING_SECRET, slack=slack) as events:
            model.latency_s = 1
            _, _, event = await events.message("U_ALICE", "Where is my invoice?")
            await model.wait_for_calls(1, timeout_s=20)
            for pid, (_, hard) in limits.items():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))

            body = await wait_for_readiness(url, 503)
            assert body["database"] is False
            # The answer's writes fail: the message is held, not failed, and nobody is told
            # "something went wrong".
            await desk.wait_for_line("the database refused a write", timeout_s=60)
            assert FAILED_REPLY not in [
                r["text"] for r in slack.replies_in("C_SUPPORT", event["ts"])
            ]
            # A new message cannot be recorded: not acked (Slack sends it again), one line
            status, _, later = await events.message("U_BOB", "Is the API down?")
            assert status == 500
            await desk.wait_for_line("Slack will send it again", timeout_s=30)
            # …but Slack sends no command again: its user is told so at once
            status, text = await events.slash_command("/research", "refund windows", "U_ALICE")
            assert status == 200 and "try again in a minute" in text
            await desk.wait_for_line("its user was asked to try again", timeout_s=30)

            for pid, limit in limits.items():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)
            await wait_for_replies(slack, event["ts"], 1, 30)
            await wait_for_readiness(url, 200)
            status, _, _ = await events.message(
                "U_BOB", "", event_id=later["event_id"], retry_num=1
            )  # Slack's retry, the disk has room again
            assert status == 200
            await wait_for_replies(slack, later["ts"], 1, 30)
        [reply] = slack.replies_in("C_SUPPORT", event["ts"])
        assert "Where is my invoice?" in reply["text"]
        assert await settled_rows(tmp_path / "desk.db") == {"answered": 2}
        assert await desk.signal(signal.SIGTERM) == 0
    finally:
        await desk.kill()
    assert "Traceback" not in desk.stderr
    refusals = [line for line in desk.lines if "heartbeat failed" in line]
    assert len(refusals) <= 1, desk.stderr  # said once, not once a second


@sqlite_only  # as above: the file limit stops this machine's SQLite writes
@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
@pytest.mark.parametrize(
    ("workers", "model_s"),
    [
        (1, 1.5),  # answers finish while the disk is full: held, answered after
        (2, 12.0),  # answers still in flight after it: the other worker may take them over
    ],
)
async def test_a_full_disk_answers_each_message_once_and_in_order(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI, workers: int, model_s: float
) -> None:
    """Answers in flight when the disk fills, for longer than a heartbeat stays fresh: a
    worker holds the messages it could not record, and once the disk has room again a
    worker may find another's rows orphaned and take them over (the model answers at once
    by then); but every message is answered exactly once, and a thread's messages in the
    order they were sent."""
    desk, url = await serve(tmp_path, slack, model, worker_processes=workers)
    try:
        await live_workers(tmp_path / "desk.db", workers)
        await asyncio.sleep(1.5)  # each has seen the others' heartbeats
        pids = [desk.pid, *desk.children()]
        limits = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE) for pid in pids}
        threads: dict[str, list[str]] = {}
        async with SlackEvents(f"{url}/slack/events", SIGNING_SECRET, slack=slack) as events:
            model.latency_s = model_s
            owners: dict[str, str] = {}  # a thread's follow-up is its requester's
            for n, user in enumerate(("U_ALICE", "U_BOB", "U_ALICE", "U_BOB")):
                question = f"Where is invoice {n}?"
                _, _, parent = await events.message(user, question)
                threads[parent["ts"]] = [question]
                owners[parent["ts"]] = user
            for n, ts in enumerate(threads):
                question = f"And what about payment {n}?"
                status, _, _ = await events.message(owners[ts], question, thread_ts=ts)
                assert status == 200
                threads[ts].append(question)
            await model.wait_for_calls(2, timeout_s=20)
            for pid, (_, hard) in limits.items():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
            await asyncio.sleep(HEARTBEAT_STALE_S + 3)  # every heartbeat is stale by then
            for pid, limit in limits.items():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)
            model.latency_s = 0
            assert await settled_rows(tmp_path / "desk.db", timeout_s=60) == {"answered": 8}
        for ts, questions in threads.items():
            replies = [r["text"] for r in slack.replies_in("C_SUPPORT", ts)]
            assert len(replies) == len(questions), replies
            for question, reply in zip(questions, replies, strict=True):
                assert question in reply, replies
        assert await desk.signal(signal.SIGTERM) == 0
    finally:
        await desk.kill()
    assert "Traceback" not in desk.stderr
    # A write the database refused is not tried again in place (each try ran the agents again
    # and said so): the message is held until the database takes writes.
    assert "answer failed; retrying" not in desk.stderr


def test_a_message_is_held_not_failed_when_slack_or_the_database_is_unavailable() -> None:
    """An unreachable Slack (a refused connection is an OSError, as a PostgreSQL server's
    is) is said as such, not as a database that refuses writes; a bug in the answer is
    neither, and fails the message."""
    refused = aiohttp.ClientConnectorError(
        ConnectionKey("slack.com", 443, True, True, None, None, None),
        ConnectionRefusedError(111, "Connection refused"),
    )
    assert held_because(refused) == SLACK_UNREACHABLE
    assert held_because(sqlite3.OperationalError("database or disk is full")) == DATABASE_REFUSED
    assert held_because(ConnectionRefusedError(111, "Connection refused")) == DATABASE_REFUSED
    assert held_because(ValueError("a bug")) is None


async def test_a_message_claimed_behind_a_held_one_of_its_thread_is_held_too(
    start_desk: DeskFactory,
) -> None:
    """The first message of a thread is held (its outcome could not be written); the next
    one, recorded once the disk had room (Slack's retry), is claimed before the held one
    goes back to the inbox: it waits behind it, so the thread is answered in order."""
    desk = await start_desk()
    worker = desk.runtime.workers.worker
    first = InboxItem(
        id=10_001,
        kind="message",
        event_id="Ev1",
        channel="C_SUPPORT",
        ts="1712345678.000100",
        thread_ts="1712345678.000100",
        user_id="U_ALICE",
        text="Where is my invoice?",
        status="running",
        attempts=1,
        received_at=time.time(),
    )
    later = replace(first, id=10_002, event_id="Ev2", ts="1712345679.000100", text="And?")
    worker._stranded[first.id] = first
    worker._dispatch(later)
    assert later.id in worker._stranded
    assert later.thread_key not in worker._tasks  # not answered before the first
    # The held one handed back and claimed again before the hand-back returned (PostgreSQL
    # wakes the claim on another connection): answered, not held behind itself and lost.
    worker._stranded.pop(later.id)
    worker._dispatch(replace(first, attempts=2))
    assert first.id in worker._in_flight and first.thread_key in worker._tasks
    worker._tasks[first.thread_key].cancel()


async def test_slack_unreachable_for_a_while_is_said_once_and_the_message_answered_after(
    start_desk: DeskFactory, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack down (connections refused) for a while: the message is held (the Web API
    client retried each lost connection already), tried again after a growing wait (not
    every second), the outage is said once and its end once, the message answered once."""
    desk = await start_desk()
    _, _, first = await desk.events.message("U_BOB", "Hello?")  # Bolt has authorized the app
    await wait_for_replies(slack, first["ts"], 1, 30)
    await slack.stop()
    with caplog.at_level(logging.INFO, logger="bot"):
        _, _, event = await desk.events.message("U_ALICE", "Where is my invoice?")
        await asyncio.sleep(20)  # each try ~4 s (the client's retries), then 2 s, 4 s, 8 s …
        await slack.start()
        await wait_for_replies(slack, event["ts"], 1, 30)
        await desk.settle()
    records = [r for r in caplog.records if r.name in ("bot.worker", "bot.outages")]
    lines = [r.getMessage() for r in records]
    assert lines.count(f"{SLACK_UNREACHABLE}; the message is answered when it recovers") == 1
    assert "answer failed; retrying" not in lines
    held_at = next(r.created for r in records if r.getMessage().startswith(SLACK_UNREACHABLE))
    tries = [r.created for r in records if r.getMessage().startswith("trying the held")]
    assert len(tries) >= 2, lines
    # Waits of 2 s, then 4 s after a try (itself ~3.5 s of the client's retries): a held
    # message tried again every second would show gaps of at most 1 s and 4.5 s.
    assert tries[0] - held_at >= 1.5 and tries[1] - tries[0] >= 7, lines
    assert lines.count("Slack can be reached again; answering the messages held") == 1
    assert len(slack.replies_in("C_SUPPORT", event["ts"])) == 1


class _Gateway:
    """Records the private notes `listener_failed` sends (a `SlackGateway`'s `respond`)."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []

    async def respond(self, response_url: str, text: str) -> None:
        self.notes.append((response_url, text))


async def test_a_click_the_database_could_not_record_is_answered_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slack never sends a click again: its user hears that nothing was done."""
    gateway = _Gateway()
    full = sqlite3.OperationalError("database or disk is full")
    click = {"type": "block_actions", "response_url": "https://hooks.example/r/1", "actions": []}
    with caplog.at_level(logging.WARNING):
        response = await listener_failed(full, click, gateway)  # type: ignore[arg-type]
        event = await listener_failed(full, {"event": {}}, gateway)  # type: ignore[arg-type]
    assert response is not None and response.status == 200  # acked: the note says it all
    assert event is None  # a 500: Slack sends the event again
    assert gateway.notes == [("https://hooks.example/r/1", NOT_RECORDED)]
    assert [r.getMessage().split("; ")[-1] for r in caplog.records] == [
        "its user was asked to try again",
        "Slack will send it again",
    ]

"""A desk that never fails silently: a dead worker is restarted and its messages answered, a
database that refuses writes makes /readyz not ready and loses nothing. `support-desk serve`
runs as a real subprocess (receiver + worker child) against the fake Slack and model."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.worker import FAILED_REPLY
from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack, SlackEvents
from storage.store import Store
from tests.conftest import SIGNING_SECRET
from tests.databases import database_for, sqlite_only
from tests.serving import DeskProcess, wait_for_readiness
from tests.test_durability import free_port, serve_env, wait_for_replies


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


async def serve(tmp_path: Path, slack: FakeSlack, model: FakeOpenAI) -> tuple[DeskProcess, str]:
    port = free_port()
    env = serve_env(tmp_path, slack, model)
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
            await desk.wait_for_line("request not recorded", timeout_s=30)

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

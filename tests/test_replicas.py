"""Several replicas on one PostgreSQL: receivers (`serve --http --no-worker`) and workers
(`work`) started separately, as real subprocesses, some of them killed with SIGKILL half-way.
Every message is answered exactly once, in order within its thread."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack, SlackEvents, new_ts
from storage.store import Store
from tests.conftest import SIGNING_SECRET
from tests.databases import database_for, postgres_only
from tests.serving import DeskProcess, wait_for_readiness, wait_until
from tests.test_durability import free_port, serve_env

pytestmark = postgres_only

THREADS = 60
PER_THREAD = 5
_ASKED = re.compile(r"thread (\d+) message (\d+)")


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


async def receiver(env: dict[str, str]) -> tuple[DeskProcess, str]:
    port = free_port()
    desk = await DeskProcess.run(
        env, "serve", "--http", "--no-worker", "--host", "127.0.0.1", "--port", str(port)
    )
    return desk, f"http://127.0.0.1:{port}"


async def test_two_receivers_three_workers_killed_half_way_answer_everything_once_in_order(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    env = serve_env(tmp_path, slack, model)
    processes: list[DeskProcess] = []
    try:
        (first, first_url), (second, second_url) = [await receiver(env) for _ in range(2)]
        workers = [await DeskProcess.run(env, "work") for _ in range(3)]
        processes += [first, second, *workers]
        for url in (first_url, second_url):
            await wait_for_readiness(url, 200, timeout_s=60)

        async with (
            SlackEvents(f"{first_url}/slack/events", SIGNING_SECRET, slack=slack) as via_first,
            SlackEvents(f"{second_url}/slack/events", SIGNING_SECRET, slack=slack) as via_second,
        ):
            model.latency_s = 0.05  # answers take a little while: the kill lands mid-answer
            roots: dict[int, str] = {}
            retried = 0
            for n in range(PER_THREAD):
                for thread in range(THREADS):
                    index = n * THREADS + thread
                    if index == 100:
                        os.kill(workers[0].pid, signal.SIGKILL)
                    if index == 150:
                        os.kill(first.pid, signal.SIGKILL)
                        await first.wait()
                    # The load balancer sends every other event to the first receiver, and
                    # for a while after it died (160: the health check took it out).
                    events = via_first if index % 2 == 0 and index < 160 else via_second
                    ts, event_id = new_ts(), f"Ev{index:06d}CHAOS"
                    text = f"Please help: thread {thread} message {n}"
                    user, root = f"U_{thread:03d}", roots.setdefault(thread, ts)
                    thread_ts = None if root == ts else root
                    try:
                        status, _, _ = await events.message(
                            user, text, thread_ts=thread_ts, ts=ts, event_id=event_id
                        )
                    except OSError:  # nothing listens: Slack retries, this time elsewhere
                        status = 0
                    if status != 200:
                        retried += 1
                        status, _, _ = await via_second.message(
                            user, text, thread_ts=thread_ts, ts=ts, event_id=event_id
                        )
                    assert status == 200, index
            assert retried >= 5  # the dead receiver's share did need the retries
            total = THREADS * PER_THREAD

            def answers(root: str) -> list[dict[str, Any]]:
                return [m for m in slack.replies_in("C_SUPPORT", root) if m.get("bot_id")]

            await wait_until(
                lambda: sum(len(answers(r)) for r in roots.values()) >= total, timeout_s=300
            )
            await asyncio.sleep(2)  # a duplicate would show up by now

        for thread, root in roots.items():
            asked = [
                (int(found.group(1)), int(found.group(2)))
                for m in answers(root)
                if (found := _ASKED.search(m.get("text", "")))
            ]
            assert asked == [(thread, n) for n in range(PER_THREAD)], (thread, asked)

        store = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
        try:
            assert await store.inbox.counts() == {"answered": total}
        finally:
            await store.close()
    finally:
        for desk in processes:
            await desk.kill()
    for desk in processes:
        assert "Traceback" not in desk.stderr, desk.stderr[-3000:]

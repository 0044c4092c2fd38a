"""Several Socket Mode receivers at once (`serve --no-worker` with SLACK_APP_TOKEN), as real
subprocesses beside two `work` processes, on either backend. Slack spreads the events over the
open connections and sends an event again, on another connection, when it is not acked in
time: one receiver is frozen (SIGSTOP: connected, acking nothing), thawed (it then reads the
events it was sent, which the other receiver already recorded) and killed with SIGKILL.
Every message is answered exactly once, in order within its thread."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack, SlackEvents, new_ts
from storage.store import Store
from tests.databases import database_for
from tests.serving import DeskProcess, assert_each_answered_once_in_order, wait_until
from tests.test_durability import serve_env

THREADS = 10
PER_THREAD = 3


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


def socket_mode_env(tmp_path: Path, slack: FakeSlack, model: FakeOpenAI) -> dict[str, str]:
    env = serve_env(tmp_path, slack, model)
    env.pop("SLACK_SIGNING_SECRET")  # Socket Mode frames are authenticated by the app token
    return env | {"SLACK_APP_TOKEN": "xapp-1-test", "LOG_LEVEL": "INFO"}


async def test_two_socket_mode_receivers_one_frozen_then_killed_answer_everything_once(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    env = socket_mode_env(tmp_path, slack, model)
    processes: list[DeskProcess] = []
    try:
        receivers = []
        for _ in range(2):  # one after the other: the test is about delivery, not start-up
            desk = await DeskProcess.run(env, "serve", "--no-worker")
            processes.append(desk)
            receivers.append(desk)
            try:
                await desk.wait_for_line("connected in Socket Mode", timeout_s=90)
            except TimeoutError:
                raise AssertionError(f"no Socket Mode connection: {desk.stderr[-3000:]}") from None
        workers = [await DeskProcess.run(env, "work") for _ in range(2)]
        processes += workers
        await wait_until(lambda: slack.socket_connections == 2)
        store = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
        try:
            async with SlackEvents("", "", slack=slack, socket_mode=True) as events:
                roots = await send_all(events, receivers[0])
                total = THREADS * PER_THREAD
                await assert_each_answered_once_in_order(slack, roots, PER_THREAD, timeout_s=120)
            assert await store.inbox.counts() == {"answered": total}
        finally:
            await store.close()
        # Both connections carried events, and the frozen one's were sent again elsewhere.
        assert {connection for connection, _ in slack.socket_deliveries[:4]} == {0, 1}
        assert any(envelope["retry_attempt"] > 0 for _, envelope in slack.socket_deliveries)
    finally:
        for desk in processes:
            await desk.kill()
    for desk in processes:
        assert "Traceback" not in desk.stderr, desk.stderr[-3000:]


async def send_all(events: SlackEvents, doomed: DeskProcess) -> dict[int, str]:
    """Every message, each waiting for its ack (Slack's delivery, retries included). A third
    of the way through `doomed` freezes: what Slack sends it is not acked and goes again to
    the other connection. Two thirds in it thaws, and reads (and records) those events late:
    the same messages, already recorded. Soon after it is killed. Thread number -> its
    first message."""
    roots: dict[int, str] = {}
    for n in range(PER_THREAD):
        for thread in range(THREADS):
            index = n * THREADS + thread
            if index == THREADS:
                os.kill(doomed.pid, signal.SIGSTOP)
            if index == 2 * THREADS:
                os.kill(doomed.pid, signal.SIGCONT)
            if index == 2 * THREADS + 4:
                os.kill(doomed.pid, signal.SIGKILL)
                await doomed.wait()
            ts = new_ts()
            root = roots.setdefault(thread, ts)
            status, _, _ = await events.message(
                f"U_{thread:03d}",
                f"Please help: thread {thread} message {n}",
                thread_ts=None if root == ts else root,
                ts=ts,
            )
            assert status == 200, index
    return roots

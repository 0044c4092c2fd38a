"""Several replicas on one PostgreSQL: receivers (`serve --http --no-worker`) and workers
(`work`) started separately, as real subprocesses, some of them killed with SIGKILL half-way.
Every message is answered exactly once, in order within its thread, and the escalations
waiting meanwhile are reminded once per due time (on a fast clock). And the commands the
README's "Running several replicas" shows, run as written."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shlex
import shutil
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes.openai_server import FakeOpenAI
from fakes.slack import BOT_ID, BOT_USER_ID, FakeSlack, SlackEvents, new_ts
from storage.store import Store
from tests.conftest import SIGNING_SECRET
from tests.databases import TEST_DATABASE_URL, database_for, postgres_only
from tests.serving import (
    ROOT,
    DeskProcess,
    assert_each_answered_once_in_order,
    wait_for_readiness,
)
from tests.test_durability import free_port, serve_env

pytestmark = postgres_only

THREADS = 60
PER_THREAD = 5
WAITING = 6  # escalations nobody claims during the run
CLOCK_SPEED = 30  # the workers' staff clock: a reminder every minute is one every 2 s
_WAITED = re.compile(r"has waited (?:(\d+) h)? ?(?:(\d+) min)?")


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


async def waiting_escalations(store: Store, slack: FakeSlack) -> dict[int, str]:
    """Tickets escalated, announced in the staff channel and never claimed: the workers
    remind staff of them every ESCALATION_REMIND_MINUTES. Ticket id → staff message ts."""
    waiting: dict[int, str] = {}
    for n in range(WAITING):
        ticket, _ = await store.tickets.open_for_thread(
            channel="C_SUPPORT",
            thread_ts=new_ts(),
            user_id=f"U_WAITING{n}",
            subject=f"Waiting {n}",
            customer_id=None,
        )
        await store.tickets.set_status(ticket.id, "escalated")
        escalation_id = await store.tickets.add_escalation(
            ticket.id, reason="needs a person", summary="The customer asked for a person."
        )
        posted = slack.inject_message(
            "C_STAFF", BOT_USER_ID, f"Ticket #{ticket.id} needs a person", bot_id=BOT_ID
        )
        await store.tickets.set_escalation_message(escalation_id, "C_STAFF", posted["ts"])
        waiting[ticket.id] = posted["ts"]
    return waiting


def waited_minutes(text: str) -> int:
    found = _WAITED.search(text)
    assert found is not None and found.group(0).strip() != "has waited", text
    return int(found.group(1) or 0) * 60 + int(found.group(2) or 0)


async def assert_reminded_once_per_due_time(
    store: Store, slack: FakeSlack, waiting: dict[int, str]
) -> None:
    """Each reminder of an escalation is one due time later than the one before (a doubled
    one would repeat a due time), and each was booked: one booking at most (the SIGKILLed
    worker's, between its booking and its post) has no post."""
    booked = posted = 0
    for ticket_id, staff_ts in waiting.items():
        minutes = [waited_minutes(m["text"]) for m in slack.replies_in("C_STAFF", staff_ts)]
        assert len(minutes) >= 3, (ticket_id, minutes)  # reminded all along the run
        assert all(b > a for a, b in itertools.pairwise(minutes)), (ticket_id, minutes)
        escalation = await store.tickets.latest_escalation(ticket_id)
        assert escalation is not None
        booked, posted = booked + escalation.reminders, posted + len(minutes)
    assert booked - 1 <= posted <= booked, (booked, posted)


async def test_two_receivers_three_workers_killed_half_way_answer_everything_once_in_order(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    env = serve_env(tmp_path, slack, model) | {"ESCALATION_REMIND_MINUTES": "1"}
    # The workers' staff desks share one fast clock, from now (see tests/fast_clock.py).
    fast = {"FAST_CLOCK_SPEED": str(CLOCK_SPEED), "FAST_CLOCK_START": str(time.time())}
    store = await Store.open(database_for(tmp_path / "desk.db"))
    try:
        waiting = await waiting_escalations(store, slack)
    finally:
        await store.close()
    processes: list[DeskProcess] = []
    try:
        (first, first_url), (second, second_url) = [await receiver(env) for _ in range(2)]
        workers = [
            await DeskProcess.run(env | fast, "work", module="tests.fast_clock") for _ in range(3)
        ]
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
            await assert_each_answered_once_in_order(slack, roots, PER_THREAD, timeout_s=300)

        for worker in workers[1:]:  # the survivors finish their sweep and stop
            assert await worker.signal(signal.SIGTERM) == 0, worker.stderr[-3000:]
        store = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
        try:
            assert await store.inbox.counts() == {"answered": total}
            await assert_reminded_once_per_due_time(store, slack, waiting)
        finally:
            await store.close()
    finally:
        for desk in processes:
            await desk.kill()
    for desk in processes:
        assert "Traceback" not in desk.stderr, desk.stderr[-3000:]


def readme_commands() -> list[str]:
    """The commands of the README's "Running several replicas" block, comments removed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Running several replicas\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    lines = (line.split(" #", 1)[0].strip() for line in block.splitlines()[1:])
    return [line for line in lines if line]


async def test_the_readme_commands_run_several_replicas_and_a_rolling_restart(
    tmp_path: Path, slack: FakeSlack, model: FakeOpenAI
) -> None:
    """`createdb`, `export DATABASE_URL=…`, `support-desk migrate`, `serve --http
    --no-worker`, `work` as the README shows them, on this test's server: its host, port and
    user in place of the example's, and a database name of its own. Then the rolling restart
    it describes: new processes first, then SIGTERM to the old ones; nothing lost."""
    from urllib.parse import urlsplit, urlunsplit

    assert TEST_DATABASE_URL is not None
    server = urlsplit(TEST_DATABASE_URL)
    commands = readme_commands()
    assert [c.split()[0] for c in commands] == [
        "createdb",
        "export",
        "support-desk",
        "support-desk",
        "support-desk",
    ]
    name = f"support_desk_{uuid.uuid4().hex[:8]}"
    env = serve_env(tmp_path, slack, model) | {
        "PGHOST": str(server.hostname),
        "PGPORT": str(server.port),
        "PGUSER": str(server.username),
    }
    createdb = shlex.split(commands[0].replace("support_desk", name))
    await run_createdb(createdb, env)
    example = urlsplit(commands[1].split("=", 1)[1])
    env["DATABASE_URL"] = urlunsplit(example._replace(netloc=server.netloc, path=f"/{name}"))

    migrate = await DeskProcess.run(env, *shlex.split(commands[2])[1:])
    assert await migrate.wait() == 0, migrate.stderr
    processes: list[DeskProcess] = []
    try:
        *old, url = await replicas(env, commands, processes)
        await answered_through(url, slack)
        *_, url = await replicas(env, commands, processes)  # the new version's first
        for desk in old:  # then the old ones, one by one
            assert await desk.signal(signal.SIGTERM) == 0, desk.stderr
        await answered_through(url, slack)
    finally:
        for desk in processes:
            await desk.kill()
    for desk in processes:
        assert "Traceback" not in desk.stderr, desk.stderr[-3000:]


async def run_createdb(command: list[str], env: dict[str, str]) -> None:
    """`createdb NAME` (PostgreSQL's client; its SQL when the client is not installed)."""
    if shutil.which(command[0]) is None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{command[-1]}"')
        finally:
            await conn.close()
        return
    created = await asyncio.create_subprocess_exec(*command, env=env)
    assert await created.wait() == 0


async def replicas(
    env: dict[str, str], commands: list[str], processes: list[DeskProcess]
) -> tuple[DeskProcess, DeskProcess, str]:
    """A receiver (`serve --http --no-worker`, on a free port) and a worker, both ready."""
    port = free_port()
    serve = [*shlex.split(commands[3])[1:], "--host", "127.0.0.1", "--port", str(port)]
    receiver = await DeskProcess.run(env, *serve)
    worker = await DeskProcess.run(env, *shlex.split(commands[4])[1:])
    processes += [receiver, worker]
    url = f"http://127.0.0.1:{port}"
    await wait_for_readiness(url, 200, timeout_s=60)  # ready: some worker's heartbeat is fresh
    return receiver, worker, url


async def answered_through(url: str, slack: FakeSlack) -> None:
    """A message sent to the receiver at `url` gets one answer."""
    async with SlackEvents(f"{url}/slack/events", SIGNING_SECRET, slack=slack) as events:
        _, _, event = await events.message("U_ALICE", "Where is my invoice?")
    await slack.wait_for_replies("C_SUPPORT", event["ts"], 1, timeout=60)
    assert len(slack.replies_in("C_SUPPORT", event["ts"])) == 1

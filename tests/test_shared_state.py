"""What one process used to keep to itself is shared by every replica through the database:
models found down, the Slack users read, the limit of commands running per person. Two desks
(or two handles) on one database, on both backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents_config.models import FallbackModel, ModelHealth
from fakes.openai_server import FakeOpenAI
from storage.store import Store
from tests.conftest import DeskFactory
from tests.databases import database_for
from tests.test_durability import openai_settings
from tests.test_model_streaming import CREATED, DONE, TOKEN, StubModel, _drain, _outage

# The OpenAI client tries a failing call three times (two retries) before the desk moves on.
CALLS_PER_FAILED_ANSWER = 3


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def two_stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two handles on one database, as two processes of the cluster have."""
    first = await Store.open(database_for(tmp_path / "desk.db"))
    second = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def test_a_model_found_down_by_one_desk_is_skipped_by_another(
    start_desk: DeskFactory, model: FakeOpenAI
) -> None:
    first = await start_desk(**openai_settings(model))
    model.fail(500, times=CALLS_PER_FAILED_ANSWER)
    _, _, event = await first.events.message("U_ALICE", "Where is my invoice?")
    await first.settle()
    assert len(first.slack.replies_in("C_SUPPORT", event["ts"])) == 1  # the offline engine
    assert len(model.calls) == CALLS_PER_FAILED_ANSWER
    await first.close()  # the next message is surely answered by the other desk

    second = await start_desk(**openai_settings(model))
    _, _, event = await second.events.message("U_BOB", "Where is my invoice?")
    await second.settle()
    assert len(second.slack.replies_in("C_SUPPORT", event["ts"])) == 1
    # The model is working again, but within the cooldown the other desk did not try it.
    assert len(model.calls) == CALLS_PER_FAILED_ANSWER


async def test_outages_are_read_at_most_once_per_interval(two_stores: tuple[Store, Store]) -> None:
    first_store, second_store = two_stores
    now = [time.time()]
    reads = 0
    real_down_now = second_store.model_outages.down_now

    async def counted() -> dict[str, float]:
        nonlocal reads
        reads += 1
        return await real_down_now()

    second_store.model_outages.down_now = counted  # type: ignore[method-assign]
    first = ModelHealth(shared=first_store.model_outages, read_every_s=5.0)
    second = ModelHealth(shared=second_store.model_outages, read_every_s=5.0, clock=lambda: now[0])

    assert not await second.is_down("gpt-main")  # read now, nothing down yet
    await first.mark_down("gpt-main")
    for _ in range(20):  # answers within the interval: no database read, the old view
        assert not await second.is_down("gpt-main")
    assert reads == 1
    now[0] += 5.0  # the interval passes: one read finds what the first found
    assert await second.is_down("gpt-main")
    assert reads == 2


async def test_a_model_that_answers_again_is_tried_by_the_others(
    two_stores: tuple[Store, Store],
) -> None:
    first_store, second_store = two_stores
    now = [time.time()]
    first = ModelHealth(shared=first_store.model_outages, read_every_s=0.0, clock=lambda: now[0])
    second = ModelHealth(shared=second_store.model_outages, read_every_s=0.0)
    down, up = StubModel([_outage()]), StubModel([CREATED, TOKEN, DONE])
    backup = StubModel([CREATED, TOKEN, DONE])
    await _drain(FallbackModel([("gpt-main", down), ("backup", backup)], first))
    skipped = StubModel([CREATED, TOKEN, DONE])
    await _drain(FallbackModel([("gpt-main", skipped), ("backup", backup)], second))
    assert (down.calls, skipped.calls, backup.calls) == (1, 0, 2)

    now[0] += 31.0  # its cooldown over, the first tries the model: it answers
    await _drain(FallbackModel([("gpt-main", up), ("backup", backup)], first))
    assert up.calls == 1
    assert not await second.is_down("gpt-main")


async def test_the_limit_of_commands_per_person_holds_across_receivers(
    two_stores: tuple[Store, Store],
) -> None:
    async def command(store: Store, n: int) -> int | None:
        return await store.inbox.accept_command(
            channel="C_SUPPORT",
            ts=f"trigger-{n}",
            user_id="U_ALICE",
            text="/research refunds",
            payload={"pipeline": "research"},
            max_open_per_user=2,
        )

    accepted = await asyncio.gather(*(command(two_stores[n % 2], n) for n in range(40)))
    assert len([i for i in accepted if i is not None]) == 2
    assert await two_stores[0].inbox.open_commands("U_ALICE") == 2


async def test_the_limit_of_tickets_asked_for_per_hour_holds_across_receivers(
    two_stores: tuple[Store, Store],
) -> None:
    async def ask(store: Store, n: int) -> str:
        accepted = await store.inbox.accept_ticket(
            channel="C_GENERAL",
            ts=f"1700000000.{n:06d}",
            thread_ts=f"1700000000.{n:06d}",
            user_id="U_BOB",
            text="It is broken",
            payload={},
            requested_by="U_ALICE",
            max_per_hour=2,
        )
        return accepted.outcome

    asked = await asyncio.gather(*(ask(two_stores[n % 2], n) for n in range(40)))
    assert asked.count("accepted") == 2


async def test_slack_users_read_by_one_desk_are_known_to_another(
    start_desk: DeskFactory,
) -> None:
    first = await start_desk()
    await first.events.message("U_ALICE", "Where is my invoice?")
    await first.settle()
    assert len(first.slack.calls_to("users.info")) == 1
    await first.close()

    second = await start_desk()
    await second.events.message("U_ALICE", "And my refund?")
    await second.settle()
    assert len(second.slack.calls_to("users.info")) == 1  # read from the database


async def test_a_worker_whose_message_was_taken_over_does_not_reply_too(
    start_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker alive but late with its heartbeat (a starved process, a slow database) loses
    its claims to another worker; when its answer is ready it finds that out and leaves the
    reply to the other: one answer, not two."""
    slow = await start_desk()
    entered, release = asyncio.Event(), asyncio.Event()
    real_handle = slow.runtime.workers.desk.handle

    async def held(turn, progress=None):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        return await real_handle(turn, progress)

    monkeypatch.setattr(slow.runtime.workers.desk, "handle", held)
    _, _, event = await slow.events.message("U_ALICE", "Where is my invoice?")
    await asyncio.wait_for(entered.wait(), 20)
    worker = slow.runtime.workers.worker
    assert worker._keepalive is not None
    worker._keepalive.cancel()  # its heartbeat stops, as in a process starved of CPU
    worker._lease_until = 0.0
    await slow.runtime.workers.store.heartbeats.end(worker.worker_id)

    other = await start_desk()  # takes the message over (its heartbeat is gone) and answers
    await other.slack.wait_for_replies("C_SUPPORT", event["ts"], 1, timeout=20)
    release.set()
    await slow.settle()
    assert len(slow.slack.replies_in("C_SUPPORT", event["ts"])) == 1

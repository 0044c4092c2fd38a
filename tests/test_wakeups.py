"""A message recorded by one process wakes the worker of another at once (no poll): through
LISTEN/NOTIFY on PostgreSQL, through a datagram socket named after the file on SQLite."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from storage.sqlite_backend import WAKE_SLOTS
from storage.store import Store
from tests.databases import database_for, sqlite_only


async def _accept(store: Store, ts: str) -> int | None:
    return await store.inbox.accept(
        kind="message", channel="C_SUPPORT", ts=ts, thread_ts=ts, user_id="U_A", text="hi"
    )


async def test_a_recorded_message_wakes_the_worker_of_another_process(tmp_path: Path) -> None:
    receiver = await Store.open(database_for(tmp_path / "desk.db"))
    worker = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
    woken = asyncio.Event()
    try:
        assert await worker.inbox.on_new_work(woken.set)
        assert await _accept(receiver, "1.0001")
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        assert await _accept(receiver, "1.0001") is None  # a duplicate: nothing new
        assert await _accept(receiver, "1.0002")
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        await worker.close()
        await receiver.close()


@sqlite_only
async def test_only_the_workers_of_that_file_are_woken(tmp_path: Path) -> None:
    stores = [await Store.open(tmp_path / name) for name in ("a.db", "a.db", "b.db", "b.db")]
    receiver_a, worker_a, receiver_b, worker_b = stores
    woken = {"a": asyncio.Event(), "b": asyncio.Event()}
    try:
        assert await worker_a.inbox.on_new_work(woken["a"].set)
        assert await worker_b.inbox.on_new_work(woken["b"].set)
        await _accept(receiver_b, "2.0001")
        await asyncio.wait_for(woken["b"].wait(), 10)
        await _accept(receiver_a, "2.0002")
        await asyncio.wait_for(woken["a"].wait(), 10)
        woken["a"].clear()
        await _accept(receiver_b, "2.0003")  # b's datagram comes after any a had left
        woken["b"].clear()
        await asyncio.wait_for(woken["b"].wait(), 10)
        assert not woken["a"].is_set()
    finally:
        for store in stores:
            await store.close()


@sqlite_only
async def test_every_worker_process_of_a_file_is_woken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve` starts a worker a core: each is woken by a new row (one of them claims it);
    past `WAKE_SLOTS` listeners, a further one is refused and polls instead, and says so."""
    receiver = await Store.open(tmp_path / "desk.db")
    workers = [await Store.open(tmp_path / "desk.db", seed=False) for _ in range(WAKE_SLOTS)]
    woken = [asyncio.Event() for _ in workers]
    try:
        for worker, event in zip(workers, woken, strict=True):
            assert await worker.inbox.on_new_work(event.set)
        with caplog.at_level(logging.INFO, logger="storage"):
            assert not await receiver.inbox.on_new_work(lambda: None)
        [line] = [r.getMessage() for r in caplog.records if r.name.startswith("storage")]
        assert line.startswith("every wake slot of this database is taken")
        await _accept(receiver, "3.0001")
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in woken)), 10)
        await workers[0].close()  # a worker that stops frees its slot for the next one
        assert await receiver.inbox.on_new_work(lambda: None)
    finally:
        for store in (receiver, *workers[1:]):
            await store.close()


@sqlite_only
async def test_the_receivers_writes_wait_for_a_lock_another_process_holds(tmp_path: Path) -> None:
    """The receiver's connection tries a held write lock again every 0.5 ms (not SQLite's
    1, 2, 5 … 100 ms) and none of its writes fails while another process holds it."""
    receiver = await Store.open(tmp_path / "desk.db")
    await receiver.prepare_for_acks()
    other = sqlite3.connect(tmp_path / "desk.db", isolation_level=None)  # another process
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        writes = [
            asyncio.ensure_future(_accept(receiver, "4.0001")),  # an insert
            asyncio.ensure_future(  # a transaction
                receiver.inbox.accept_command(
                    channel="C_SUPPORT",
                    ts="4.0002",
                    user_id="U_A",
                    text="/support-report",
                    payload={},
                    max_open_per_user=2,
                )
            ),
            asyncio.ensure_future(receiver.heartbeats.beat("w", started_at=0.0)),  # a statement
        ]
        await asyncio.sleep(0.3)
        assert not any(write.done() for write in writes)  # waiting, not failed
        other.execute("COMMIT")
        first, second, _ = await asyncio.wait_for(asyncio.gather(*writes), 10)
        assert first and second
    finally:
        other.close()
        await receiver.close()

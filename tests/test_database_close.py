"""Closing the database while a write is under way: the write, once started, completes (its
caller may have been cancelled by a shutdown), and nothing is left to fail unseen."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database, open_database
from storage.store import Store
from storage.tickets import SlackUser
from tests.databases import database_for, postgres_only

# Loop turns a connection takes to open as far as the server's first answer (a few: the
# socket, the transport, the SSL request); past them the opening waits for the server.
OPENING_TURNS = 20


def unseen_errors(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """What the loop reports from now on (an exception nobody retrieved, …)."""
    unseen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unseen.append(context))
    return unseen


async def test_a_write_whose_caller_was_cancelled_completes_before_the_database_closes(
    tmp_path: Path,
) -> None:
    unseen = unseen_errors(asyncio.get_running_loop())
    where = database_for(tmp_path / "desk.db")
    store = await Store.open(where)
    late = SlackUser("U_LATE", "late@example.com", "Late", is_bot=False, fetched_at=1.0)
    write = asyncio.create_task(store.users.put(late))
    await asyncio.sleep(0)  # started
    write.cancel()  # a shutdown cancels its caller
    await store.close()
    gc.collect()
    await asyncio.sleep(0.05)
    assert [c.get("message") for c in unseen] == []
    store = await Store.open(where)
    try:
        assert await store.users.get("U_LATE", max_age_s=1e12) == late
    finally:
        await store.close()


@postgres_only
@pytest.mark.parametrize("needs", ["a pooled connection", "a listening connection"])
async def test_a_caller_cancelled_while_its_connection_opens_leaves_nothing_unseen(
    tmp_path: Path, needs: str
) -> None:
    """A worker stopping cancels its heartbeat, which may be waiting for a new pooled
    connection (or its start, for its listening one): asyncpg's connect, cancelled at the
    wrong turn, left a failed future nobody read ("unexpected connection_lost() call"),
    reported as "Future exception was never retrieved" at exit. Cancelled at each turn."""
    unseen = unseen_errors(asyncio.get_running_loop())
    db = await open_database(database_for(tmp_path / "desk.db"))
    try:
        async with db.exclusive("hold the pool's one connection"):  # a query opens another
            for turns in range(OPENING_TURNS):
                await cancelled_after(turns, opening(db, needs))
    finally:
        await db.close()
    gc.collect()
    await asyncio.sleep(0.05)
    assert [c.get("message") for c in unseen] == []


def opening(db: Database, needs: str) -> asyncio.Future[Any]:
    if needs == "a pooled connection":
        return asyncio.ensure_future(db.fetchone("SELECT 1"))
    return asyncio.ensure_future(db.listen("support_desk_test", lambda: None))


async def cancelled_after(turns: int, call: asyncio.Future[Any]) -> None:
    """`call`, cancelled after `turns` turns of the loop (unless it is done by then)."""
    for _ in range(turns):
        await asyncio.sleep(0)
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call

"""Closing the database while a write is under way: the write, once started, completes (its
caller may have been cancelled by a shutdown), and nothing is left to fail unseen."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

from storage.store import Store
from storage.tickets import SlackUser
from tests.databases import database_for


async def test_a_write_whose_caller_was_cancelled_completes_before_the_database_closes(
    tmp_path: Path,
) -> None:
    loop = asyncio.get_running_loop()
    unseen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unseen.append(context))
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

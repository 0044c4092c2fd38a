"""Wait until a running desk has answered everything it accepted (for the demo and the tests)."""

from __future__ import annotations

import asyncio
import time

from bot.worker import Worker
from storage.store import Store


async def drain(store: Store, worker: Worker, timeout_s: float = 30.0) -> None:
    """Return once the inbox has no waiting or running row and the worker is idle."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = await store.inbox.counts()
        if not counts.get("received") and not counts.get("running") and not worker.busy:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the inbox did not drain within {timeout_s}s")

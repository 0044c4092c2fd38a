"""The worker in its own process, so agent work never delays Slack's acks.

`support-desk serve` receives events and acks them; it starts `support-desk work` as a child
process that answers the inbox. They share nothing but the database. The child dies with the
parent (a `kill -9` of the desk takes both down), so a restart never finds two workers; a
child that dies alone is restarted by `WorkerSupervisor`, with backoff, and logged.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
import time

from storage.store import Store

log = logging.getLogger(__name__)

PARENT_ENV = "SUPPORT_DESK_PARENT_PID"
_PR_SET_PDEATHSIG = 1
WORKER_NICENESS = 5
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # after each death in a row
HEALTHY_AFTER_S = 60.0  # a worker that lived this long starts the backoff again from the top


async def spawn_worker() -> asyncio.subprocess.Process:
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "support_desk.cli", "work", env=env
    )
    log.info("worker process started", extra={"pid": process.pid})
    return process


async def stop_worker(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not finished within the grace period (plus a margin)."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s + 5)
    except TimeoutError:
        log.warning("worker did not stop in time; killing it", extra={"pid": process.pid})
        process.kill()
        await process.wait()


def die_with_parent() -> None:
    """In a worker started by `serve`: be killed when the parent dies, however it dies."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)
    # Acks are latency-bound and answers throughput-bound: when both want the CPU, the
    # receiver (which must answer Slack within 3 s) goes first.
    os.nice(WORKER_NICENESS)


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)


def freeze_startup_objects() -> None:
    """Hide what startup built (modules, the Bolt app, the agents, caches) from the cyclic
    garbage collector. Those objects live as long as the process, yet each full collection
    walked all of them: 0.1-0.2 s with the event loop blocked, several times a minute
    under load (an ack late, every answer's next words late). Called once the process is
    ready, just before it serves; the objects are still freed at exit. Young collections
    also run less often: an answer allocates tens of thousands of short-lived objects, and
    at Python's default the worker spent about 4 ms an answer collecting (1 ms now)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class WorkerSupervisor:
    """Runs `support-desk work` as a child and restarts it whenever it dies, with backoff.

    One log line per death (with the exit code) and one per restart. The dead worker's
    heartbeat is removed at once, so the next worker takes over its messages without waiting
    for the heartbeat to go stale.
    """

    def __init__(self, store: Store, grace_s: float) -> None:
        self.store = store
        self.grace_s = grace_s
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await spawn_worker()
        self._watch = asyncio.create_task(self._supervise(), name="worker-supervisor")

    async def _supervise(self) -> None:
        deaths_in_a_row = 0
        while not self._stopping:
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            if self._stopping:
                return
            if time.monotonic() - started >= HEALTHY_AFTER_S:
                deaths_in_a_row = 0
            delay = RESTART_DELAYS_S[min(deaths_in_a_row, len(RESTART_DELAYS_S) - 1)]
            deaths_in_a_row += 1
            log.error(
                "worker process died; restarting it",
                extra={"pid": self.process.pid, "exit_code": code, "restart_in_s": delay},
            )
            try:
                await self.store.heartbeats.end_process(self.process.pid)
            except Exception:  # the database refuses writes: the heartbeat goes stale anyway
                pass
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self.process = await spawn_worker()
            self.restarts += 1

    async def stop(self) -> None:
        """Stop restarting; SIGTERM the worker and give it the grace period."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self.process is not None:
            await stop_worker(self.process, self.grace_s)

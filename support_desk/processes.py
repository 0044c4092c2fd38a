"""The worker in its own process, so agent work never delays Slack's acks.

`support-desk serve` receives events and acks them; it starts `support-desk work` as a child
process that answers the inbox. They share nothing but the database. The child dies with the
parent (a `kill -9` of the desk takes both down), so a restart never finds two workers.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

PARENT_ENV = "SUPPORT_DESK_PARENT_PID"
_PR_SET_PDEATHSIG = 1
WORKER_NICENESS = 5


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

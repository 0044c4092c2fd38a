"""`support-desk` as a real subprocess, as an operator (or a supervisor) runs it, with its
stderr read through a pipe (a file would be subject to the limits some tests put on files)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_started: list[asyncio.subprocess.Process] = []


async def desk_subprocess(
    *args: str, module: str = "support_desk.cli", **options: Any
) -> asyncio.subprocess.Process:
    """`python -m support_desk.cli ARGS` from the project's folder, as a background job of a
    script or CI starts it: with SIGINT ignored, which the desk must undo for Ctrl-C / `kill
    -INT` to stop it. Killed after the test if still running (`kill_leftovers`)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, preexec_fn=_ignore_sigint, **options
    )
    _started.append(process)
    return process


def kill_leftovers() -> None:
    """SIGKILL every desk process a test started and left running (a test that failed before
    stopping it): none may outlive its test and slow down the next ones. A worker child dies
    with its `serve` (parent-death signal)."""
    for process in _started:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
    _started.clear()


class DeskProcess:
    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        terminal: bool = False,
        module: str = "support_desk.cli",
    ) -> None:
        self.env = env
        self.args = args
        self.terminal = terminal  # stdin stays open (nothing typed yet), as in a terminal
        self.module = module  # `python -m` this (tests.fast_clock: the same on a fast clock)
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []  # stderr, line by line
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def run(
        cls,
        env: dict[str, str],
        *args: str,
        terminal: bool = False,
        module: str = "support_desk.cli",
    ) -> DeskProcess:
        desk = cls(env, *args, terminal=terminal, module=module)
        await desk.start()
        return desk

    async def start(self) -> None:
        self.process = await desk_subprocess(
            *self.args,
            module=self.module,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if self.terminal else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    async def wait(self, timeout_s: float = 60) -> int:
        """The exit code (stderr fully read)."""
        assert self.process is not None and self._reader is not None
        code = await asyncio.wait_for(self.process.wait(), timeout_s)
        await asyncio.wait_for(self._reader, timeout_s)
        return code

    async def signal(self, sig: int, timeout_s: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await self.wait(timeout_s)

    async def wait_for_line(self, needle: str, timeout_s: float = 30) -> str:
        return await wait_until(
            lambda: next((line for line in self.lines if needle in line), None), timeout_s
        )

    def children(self) -> list[int]:
        """Pids of this process's children (Linux)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()]

    async def kill(self) -> None:
        """SIGKILL, for a test that failed half-way: nothing may be left running."""
        if self.process is not None and self.process.returncode is None:
            for child in self.children():
                os.kill(child, signal.SIGKILL)
            self.process.kill()
            await self.process.wait()


async def wait_until(condition: Callable[[], T | None], timeout_s: float = 30) -> T:
    """Poll `condition` until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(f"condition not met within {timeout_s}s")


async def readyz(url: str) -> tuple[int, dict[str, object]]:
    """GET /readyz: (status, body); (0, {}) when nothing listens."""
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/readyz") as response:
                return response.status, await response.json()
    except aiohttp.ClientError:
        return 0, {}


async def wait_for_readiness(url: str, status: int, timeout_s: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got, body = await readyz(url)
        if got == status:
            return body
        await asyncio.sleep(0.05)
    raise TimeoutError(f"/readyz did not answer {status} within {timeout_s}s")


_ASKED = re.compile(r"thread (\d+) message (\d+)")


async def assert_each_answered_once_in_order(
    slack: FakeSlack, roots: dict[int, str], per_thread: int, timeout_s: float
) -> None:
    """Every thread (number -> its first message, in the support channel) has one answer to
    each of its `per_thread` messages ("… thread N message M"), in the order asked, and no
    second answer shows up a little later."""

    def answers(root: str) -> list[dict[str, Any]]:
        return [m for m in slack.replies_in("C_SUPPORT", root) if m.get("bot_id")]

    total = len(roots) * per_thread
    await wait_until(lambda: sum(len(answers(r)) for r in roots.values()) >= total, timeout_s)
    await asyncio.sleep(2)  # a duplicate would show up by now
    for thread, root in roots.items():
        asked = [
            (int(found.group(1)), int(found.group(2)))
            for m in answers(root)
            if (found := _ASKED.search(m.get("text", "")))
        ]
        assert asked == [(thread, n) for n in range(per_thread)], (thread, asked)

"""Shared fixtures: the real desk in HTTP mode, a fake Slack Web API, signed Slack requests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agents import set_tracing_disabled
from aiohttp import web

from agents_config.agents import ModelResolver
from bot.http import bound_port, start_http
from fakes.drain import drain
from fakes.slack import FakeSlack, SlackEvents
from support_desk.config import Settings, load_settings
from support_desk.runtime import DeskRuntime
from tests.databases import BACKEND, database_url, drop_databases
from tests.serving import kill_leftovers

SIGNING_SECRET = "test-signing-secret"

# The tests must not depend on the developer's environment or a .env file.
for _name in list(os.environ):
    if _name.startswith(("SLACK_", "OPENAI_", "SUPPORT_", "MODEL_", "ESCALATION_", "DATABASE_")):
        del os.environ[_name]
set_tracing_disabled(True)


def pytest_report_header() -> str:
    return f"database backend: {BACKEND}"


def pytest_sessionfinish() -> None:
    drop_databases()


@pytest.fixture(autouse=True)
def no_desk_process_outlives_its_test() -> Iterator[None]:
    yield
    kill_leftovers()


def desk_settings(tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.url,
        "support_channels": "C_SUPPORT",
        "escalation_channel": "C_STAFF",
        "support_desk_db": tmp_path / "desk.db",
        "database_url": database_url(tmp_path / "desk.db"),
        "model_provider": "offline",
        "shutdown_grace_s": 5,
        # The demo data's one refundable order is $450: the refund tests confirm it without a
        # staff approval; tests of approvals set REFUND_APPROVAL_LIMIT themselves.
        "refund_approval_limit": "1000.00",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class Desk:
    """A running desk: the Bolt app behind HTTP, its worker, and a client that signs events."""

    runtime: DeskRuntime
    slack: FakeSlack
    events: SlackEvents
    runner: web.AppRunner
    closed: bool = False

    async def settle(self, timeout_s: float = 20.0) -> None:
        """Wait until every accepted message has been handled."""
        await drain(self.runtime.receiver.store, self.runtime.workers.worker, timeout_s)

    async def close(self) -> None:
        """Stop like a SIGTERM would (idempotent)."""
        if self.closed:
            return
        self.closed = True
        await self.events.close()
        await self.runner.cleanup()
        await self.runtime.stop()


DeskFactory = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def start_desk(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[DeskFactory]:
    """Start the real desk (HTTP mode) against the fake Slack; stopped at the end of the test."""
    running: list[Desk] = []

    async def start(resolver: ModelResolver | None = None, **overrides: Any) -> Desk:
        settings = desk_settings(tmp_path, slack, **overrides)
        runtime = await DeskRuntime.create(settings, resolver=resolver)
        await runtime.receiver.check_slack()
        await runtime.start()
        runner = await start_http(runtime.receiver.app, runtime.receiver.readiness, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
        desk = Desk(runtime, slack, SlackEvents(url, SIGNING_SECRET, slack=slack), runner)
        running.append(desk)
        return desk

    yield start
    for desk in running:
        await desk.close()

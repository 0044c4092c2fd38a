"""Trace export: only a real OpenAI key on OpenAI's endpoint; a failing export stays in the
background, is not retried, and says so once."""

from __future__ import annotations

import asyncio
import logging

import pytest
from agents.tracing.traces import TraceImpl
from aiohttp import web

from agents_config import tracing
from agents_config.tracing import exports_traces, trace_processor


@pytest.mark.parametrize(
    ("api_key", "base_url", "exported"),
    [
        ("sk-proj-abc", None, True),
        ("sk-proj-abc", "https://api.openai.com/v1/", True),
        (None, None, False),  # no key: nothing could authenticate
        ("not-needed", None, False),  # a placeholder, not an OpenAI key
        ("sk-proj-abc", "http://127.0.0.1:8000/v1", False),  # another server's key and URL
        ("gsk-groq-key", "https://api.groq.com/openai/v1", False),
    ],
)
def test_traces_are_exported_only_where_they_can_arrive(
    api_key: str | None, base_url: str | None, exported: bool
) -> None:
    assert exports_traces(api_key, base_url) is exported


async def test_failing_export_is_not_retried_and_warns_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing._FILTER, "warned", False)
    posts: list[str] = []

    async def ingest(request: web.Request) -> web.Response:
        posts.append(request.headers.get("Authorization", ""))
        return web.json_response({"error": "down"}, status=503)

    app = web.Application()
    app.router.add_post("/v1/traces/ingest", ingest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    processor = trace_processor("sk-test-key", endpoint=f"http://127.0.0.1:{port}/v1/traces/ingest")
    try:
        with caplog.at_level(logging.DEBUG, logger="openai.agents"):
            for n in range(3):  # three batches, each failing
                processor.on_trace_start(TraceImpl(f"turn {n}", None, None, None, processor))
                await asyncio.to_thread(processor.force_flush)
    finally:
        await asyncio.to_thread(processor.shutdown, 1.0)
        await runner.cleanup()
    assert posts == ["Bearer sk-test-key"] * 3  # one attempt per batch: no retry loop
    tracing_lines = [r for r in caplog.records if "race" in r.getMessage()]
    assert len(tracing_lines) == 1, [r.getMessage() for r in tracing_lines]
    assert tracing_lines[0].levelno == logging.WARNING
    assert "sk-test-key" not in tracing_lines[0].getMessage()

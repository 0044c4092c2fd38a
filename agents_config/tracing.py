"""Trace export to OpenAI: only where it can work, never in an answer's way, never noisy.

Traces are sent to OpenAI's trace ingest with the API key, so they are exported only with a
real OpenAI key (`sk-…`) and OpenAI's own endpoint: never with no key, a placeholder key or
another provider's server (its key is not OpenAI's). The SDK's batch processor exports from a
background thread, so an answer never waits for it; here its exporter does not retry (each
retry would hold that thread for seconds), and a failing export logs one warning for the life
of the process instead of four lines per batch.
"""

from __future__ import annotations

import logging

from agents import set_trace_processors, set_tracing_disabled
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor

OPENAI_API_URL = "https://api.openai.com/v1"
OPENAI_TRACES_URL = f"{OPENAI_API_URL}/traces/ingest"
SDK_LOGGER = "openai.agents"  # where the SDK's tracing processor and exporter log
_FAILURE_PREFIX = "[non-fatal] Tracing"


def exports_traces(api_key: str | None, base_url: str | None) -> bool:
    """Whether traces can reach OpenAI: its own key and its own endpoint."""
    if not api_key or not api_key.startswith("sk-"):
        return False
    return base_url is None or base_url.rstrip("/") == OPENAI_API_URL


class _FirstExportFailureOnly(logging.Filter):
    """Lets the first trace-export failure through as one warning; drops the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.warned = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_FAILURE_PREFIX):
            return True
        if self.warned:
            return False
        self.warned = True
        record.msg = "trace export to OpenAI failed; traces are dropped while it fails (answers are not affected; further failures are not logged): %s"  # noqa: E501
        record.args = (message.removeprefix(_FAILURE_PREFIX).strip(" :"),)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


_FILTER = _FirstExportFailureOnly()


def trace_processor(api_key: str, endpoint: str = OPENAI_TRACES_URL) -> BatchTraceProcessor:
    """The SDK's batch processor (background thread) with an exporter that does not retry."""
    sdk_log = logging.getLogger(SDK_LOGGER)
    if _FILTER not in sdk_log.filters:
        sdk_log.addFilter(_FILTER)
    return BatchTraceProcessor(
        BackendSpanExporter(api_key=api_key, endpoint=endpoint, max_retries=1)
    )


def configure_tracing(api_key: str | None, base_url: str | None) -> bool:
    """Export traces only where they can arrive; returns whether they are exported."""
    if not exports_traces(api_key, base_url):
        set_tracing_disabled(True)
        return False
    assert api_key is not None
    set_trace_processors([trace_processor(api_key)])
    return True

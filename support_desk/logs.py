"""Structured logs: every record carries its `extra` fields (thread, ticket_id, …).

Tokens never reach a log: settings hold them as `SecretStr`, and slack_sdk's debug logging
(which prints request headers) is kept at WARNING whatever LOG_LEVEL says.

Message text and personal data stay out of the logs too, at every level, unless
LOG_SENSITIVE_DATA asks for them: the desk's own records carry ids, never text; aiosqlite's
DEBUG records print every statement's parameters (messages, e-mails, card details), so that
logger stays at WARNING; and the Agents SDK's DEBUG records keep model and tool data out.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from agents import _debug as agents_debug

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


# Loggers whose DEBUG records carry the data the desk handles (SQL parameters).
SENSITIVE_LOGGERS = ("aiosqlite",)


def setup_logging(level: str = "INFO", fmt: str = "text", *, sensitive: bool = False) -> None:
    """Log to stderr at `level` in `fmt`; `sensitive` (LOG_SENSITIVE_DATA) lets message text,
    SQL parameters and model data into DEBUG records."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    noisy_loggers = ("slack_sdk", "slack_bolt", "aiohttp.access", "openai", "httpx", "httpx2")
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in SENSITIVE_LOGGERS:
        logging.getLogger(name).setLevel(
            root.level if sensitive else max(logging.WARNING, root.level)
        )
    # The SDK reads these flags (its OPENAI_AGENTS_DONT_LOG_* variables) at each log call.
    agents_debug.DONT_LOG_MODEL_DATA = not sensitive
    agents_debug.DONT_LOG_TOOL_DATA = not sensitive

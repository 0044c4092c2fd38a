"""Which model each agent uses: OpenAI (or any OpenAI-compatible server) or the offline engine.

Every model is wrapped in `TimeoutModel`, so no single call can hang a thread past
`MODEL_TIMEOUT_S`; the SDK's own retry settings handle transient provider errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agents import Model, OpenAIProvider, set_tracing_disabled
from openai import AsyncOpenAI

from agents_config.agents import AgentSpec, ModelResolver


class ModelTimeoutError(Exception):
    """A model call took longer than MODEL_TIMEOUT_S."""


@dataclass(frozen=True)
class ModelOptions:
    """The model settings of the desk, taken from `bot.config.Settings`."""

    provider: str  # "openai" | "offline"
    triage_model: str = "gpt-4.1-mini"
    specialist_model: str = "gpt-4.1-mini"
    pipeline_model: str = "gpt-4.1"
    api_key: str | None = None
    base_url: str | None = None
    timeout_s: float = 60.0


class TimeoutModel(Model):
    """Wraps a model so that each call is cancelled after `timeout_s` seconds."""

    def __init__(self, inner: Model, timeout_s: float) -> None:
        self.inner = inner
        self.timeout_s = timeout_s

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.inner.get_response(*args, **kwargs)
        except TimeoutError:
            raise ModelTimeoutError(
                f"the model did not answer within {self.timeout_s:g}s (MODEL_TIMEOUT_S)"
            ) from None

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.inner.stream_response(*args, **kwargs)

    async def close(self) -> None:
        await self.inner.close()


def model_resolver(options: ModelOptions) -> ModelResolver:
    """Return the function `build_agents` calls to pick each agent's model."""
    if options.provider == "offline":
        from agents_config.offline import OfflineModel

        # Nothing leaves the machine offline: tracing export would only log errors.
        set_tracing_disabled(True)
        return lambda spec: TimeoutModel(OfflineModel(spec.name), options.timeout_s)

    # Traces go to OpenAI with the API key: only when the key is OpenAI's own (no base URL),
    # never to a third-party server's key, and never with no key at all (no error spam).
    if not options.api_key or options.base_url:
        set_tracing_disabled(True)
    # One client per desk (not the SDK's process-wide one), bound to this event loop; the
    # client retries 429s, 5xx and lost connections twice with backoff before giving up.
    client = AsyncOpenAI(
        api_key=options.api_key or "not-needed",
        base_url=options.base_url,
        max_retries=2,
        timeout=options.timeout_s,
    )
    provider = OpenAIProvider(
        openai_client=client,
        # Generic OpenAI-compatible servers speak Chat Completions; OpenAI itself, Responses.
        use_responses=options.base_url is None,
    )

    def resolve(spec: AgentSpec) -> Model:
        name = {"triage": options.triage_model, "pipeline": options.pipeline_model}.get(
            spec.role, options.specialist_model
        )
        return TimeoutModel(provider.get_model(name), options.timeout_s)

    return resolve


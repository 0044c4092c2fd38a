"""Which model each agent uses: OpenAI (or any OpenAI-compatible server) or the offline engine.

Every model is wrapped in `TimeoutModel`, so no single call can hang a thread past
`MODEL_TIMEOUT_S`; the OpenAI client retries transient errors itself. When the provider is
down anyway, `FallbackModel` moves the call down the chain: primary → BACKUP_MODEL → offline
engine; if that fails too, the desk apologises and hands the ticket to staff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
from agents import Model, OpenAIProvider, set_tracing_disabled
from openai import AsyncOpenAI

from agents_config.agents import AgentSpec, ModelResolver
from agents_config.tracing import configure_tracing

log = logging.getLogger(__name__)


class ModelTimeoutError(Exception):
    """A model call took longer than MODEL_TIMEOUT_S."""


@dataclass(frozen=True)
class ModelOptions:
    """The model settings of the desk, taken from `support_desk.config.Settings`."""

    provider: str  # "openai" | "offline"
    triage_model: str = "gpt-4.1-mini"
    specialist_model: str = "gpt-4.1-mini"
    pipeline_model: str = "gpt-4.1"
    api_key: str | None = None
    base_url: str | None = None
    timeout_s: float = 60.0
    backup_model: str | None = None
    offline_fallback: bool = True  # the offline engine as the chain's last model


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

    # Traces go to OpenAI with the API key: only a real key on OpenAI's own endpoint, from a
    # background thread, with at most one warning when the export fails.
    configure_tracing(options.api_key, options.base_url)
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

    backup = _backup_model(options.backup_model, provider) if options.backup_model else None
    health = ModelHealth()  # one per desk: a model down for one agent is down for all

    def resolve(spec: AgentSpec) -> Model:
        from agents_config.offline import OfflineModel

        name = {"triage": options.triage_model, "pipeline": options.pipeline_model}.get(
            spec.role, options.specialist_model
        )
        chain: list[tuple[str, Model]] = [
            (name, TimeoutModel(provider.get_model(name), options.timeout_s))
        ]
        if backup is not None:
            chain.append((options.backup_model or "", TimeoutModel(backup, options.timeout_s)))
        if options.offline_fallback:
            chain.append(("offline", OfflineModel(spec.name)))
        return FallbackModel(chain, health) if len(chain) > 1 else chain[0][1]

    return resolve


def _backup_model(name: str, provider: OpenAIProvider) -> Model:
    """BACKUP_MODEL: a model of the same server, or `litellm/<provider>/<model>`."""
    if name.startswith("litellm/"):
        try:
            from agents.extensions.models.litellm_model import LitellmModel
        except ImportError:
            raise ValueError(
                "BACKUP_MODEL names a LiteLLM model: install it with "
                "`pip install 'openai-agents[litellm]'`"
            ) from None
        return LitellmModel(model=name.removeprefix("litellm/"))
    return provider.get_model(name)


# What counts as the provider being down (after the client's own retries): move on.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    ModelTimeoutError,
    openai.APIConnectionError,  # includes APITimeoutError
    openai.InternalServerError,
    openai.RateLimitError,
)
COOLDOWN_S = 30.0


class ModelHealth:
    """Which models are down, by name, shared by every `FallbackModel` of one desk.

    A model that failed with an outage is skipped by every agent for `COOLDOWN_S`, so a hanging
    provider costs one answer one `MODEL_TIMEOUT_S` (not one per agent on its path), and
    during an outage answers do not each wait for a timeout.
    """

    def __init__(self, cooldown_s: float = COOLDOWN_S) -> None:
        self.cooldown_s = cooldown_s
        self._down_until: dict[str, float] = {}

    def is_down(self, name: str) -> bool:
        return self._down_until.get(name, 0.0) > time.monotonic()

    def mark_down(self, name: str) -> None:
        self._down_until[name] = time.monotonic() + self.cooldown_s

    def mark_up(self, name: str) -> None:
        self._down_until.pop(name, None)


class FallbackModel(Model):
    """The fallback chain: primary → backup → offline engine; the desk escalates the rest.

    A provider outage moves a call down the chain and is logged; the failed model is marked
    down in the desk's shared `ModelHealth`, so every agent skips it during the cooldown.
    """

    def __init__(self, chain: list[tuple[str, Model]], health: ModelHealth | None = None) -> None:
        self.chain = chain
        self.health = health or ModelHealth()

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        last: Exception | None = None
        for position, (label, model) in enumerate(self.chain):
            is_last = position == len(self.chain) - 1
            if not is_last and self.health.is_down(label):
                continue
            try:
                response = await model.get_response(*args, **kwargs)
            except OUTAGE_ERRORS as exc:
                if is_last:
                    raise
                self.health.mark_down(label)
                log.warning(
                    "model unavailable; using the next in the fallback chain",
                    extra={
                        "model": label,
                        "next": self.chain[position + 1][0],
                        "error": f"{type(exc).__name__}: {exc}"[:300],
                    },
                )
                last = exc
                continue
            self.health.mark_up(label)
            return response
        assert last is not None
        raise last

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.chain[0][1].stream_response(*args, **kwargs)

    async def close(self) -> None:
        for _, model in self.chain:
            await model.close()

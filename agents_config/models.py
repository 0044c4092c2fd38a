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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import openai
from agents import Model, OpenAIProvider, set_tracing_disabled
from openai import AsyncOpenAI

from agents_config.agents import AgentSpec, ModelResolver
from agents_config.tracing import configure_tracing

log = logging.getLogger(__name__)
T = TypeVar("T")


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

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The inner model's events, each within `timeout_s` of the one before (the first
        within `timeout_s` of the call): a stream that stalls is cancelled like a slow call."""
        events = self.inner.stream_response(*args, **kwargs)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.timeout_s):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise ModelTimeoutError(
                        f"the model stream stalled for {self.timeout_s:g}s (MODEL_TIMEOUT_S)"
                    ) from None
                yield event
        finally:
            await _close(events)

    async def close(self) -> None:
        await self.inner.close()


async def _close(events: AsyncIterator[Any]) -> None:
    """Close an async generator the caller stopped reading (frees the model's connection)."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


def model_resolver(options: ModelOptions, outages: SharedOutages | None = None) -> ModelResolver:
    """Return the function `build_agents` calls to pick each agent's model. `outages`: where
    the workers of a cluster share which models are down (the database)."""
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
    # One per desk: a model down for one agent is down for all (and, through `outages`, for
    # every worker of the cluster).
    health = ModelHealth(shared=outages)

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
# How often a worker reads the outages the other workers found (see `ModelHealth`).
SHARED_READ_EVERY_S = 5.0
# Stream events that carry nothing for the user yet: held back until the first token, so a
# model that fails before it can still be replaced by the next one in the chain.
_PREAMBLE_EVENTS = frozenset({"response.created", "response.in_progress"})


class SharedOutages(Protocol):
    """Where the processes of a cluster share which models are down (`storage.model_outages`)."""

    async def mark_down(self, model: str, *, until: float) -> None: ...

    async def mark_up(self, model: str) -> None: ...

    async def down_now(self) -> dict[str, float]: ...


class ModelHealth:
    """Which models are down, by name, shared by every `FallbackModel` of one desk and, with
    `shared`, by every process of the cluster.

    A model that failed with an outage is skipped by every agent for `COOLDOWN_S`, so a hanging
    provider costs one answer one `MODEL_TIMEOUT_S` (not one per agent on its path), and
    during an outage answers do not each wait for a timeout. With `shared` (the database), an
    outage found by one worker is written for the others, which read the outages at most
    every `read_every_s`: no database trip per answer. The clock is the wall clock, which the
    processes share.
    """

    def __init__(
        self,
        cooldown_s: float = COOLDOWN_S,
        *,
        shared: SharedOutages | None = None,
        read_every_s: float = SHARED_READ_EVERY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cooldown_s = cooldown_s
        self.shared = shared
        self.read_every_s = read_every_s
        self.clock = clock
        self._down_until: dict[str, float] = {}
        self._read_at = float("-inf")
        self._shared_failing = False

    async def is_down(self, name: str) -> bool:
        await self._read_shared()
        return self._down_until.get(name, 0.0) > self.clock()

    async def mark_down(self, name: str) -> None:
        until = self.clock() + self.cooldown_s
        self._down_until[name] = until
        if self.shared is not None:
            await self._share(self.shared.mark_down(name, until=until))

    async def mark_up(self, name: str) -> None:
        """`name` answered; only a model known to have been down is written for the others."""
        if self._down_until.pop(name, None) is not None and self.shared is not None:
            await self._share(self.shared.mark_up(name))

    async def _read_shared(self) -> None:
        if self.shared is None or self.clock() - self._read_at < self.read_every_s:
            return
        self._read_at = self.clock()  # before the read: concurrent answers do not all read
        found = await self._share(self.shared.down_now())
        if found is not None:  # the cluster's view, this process's own marks included
            self._down_until = found

    async def _share(self, call: Awaitable[T]) -> T | None:
        """Run a call on the shared outages; a database that fails leaves this process with
        what it knows itself (said once in the log, until the database answers again)."""
        try:
            result = await call
        except Exception as exc:
            if not self._shared_failing:
                log.warning(
                    "cannot share model outages with the other workers",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            self._shared_failing = True
            return None
        self._shared_failing = False
        return result


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
        async for position, label, model in self._candidates():
            try:
                response = await model.get_response(*args, **kwargs)
            except OUTAGE_ERRORS as exc:
                await self._move_on(position, exc)
                last = exc
                continue
            await self.health.mark_up(label)
            return response
        assert last is not None
        raise last

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Stream from the first model that is up; an outage before the first token (events
        before it are held back) moves down the chain, as in `get_response`. After the first
        token has been passed on, a failure is the run's: nothing can take back what was said.
        """
        last: Exception | None = None
        async for position, label, model in self._candidates():
            events = model.stream_response(*args, **kwargs)
            held: list[Any] = []
            try:
                try:
                    async for event in events:
                        held.append(event)
                        if getattr(event, "type", "") not in _PREAMBLE_EVENTS:
                            break
                except OUTAGE_ERRORS as exc:
                    await self._move_on(position, exc)
                    last = exc
                    continue
                await self.health.mark_up(label)
                for event in held:
                    yield event
                async for event in events:
                    yield event
                return
            finally:
                await _close(events)
        assert last is not None
        raise last

    async def _candidates(self) -> AsyncIterator[tuple[int, str, Model]]:
        """(position, label, model) of the models to try, in order: those marked down are
        skipped, except the last (someone must answer)."""
        for position, (label, model) in enumerate(self.chain):
            if position == len(self.chain) - 1 or not await self.health.is_down(label):
                yield position, label, model

    async def _move_on(self, position: int, exc: Exception) -> None:
        """An outage of the model at `position`: it is marked down and the call goes to the
        next one. The last one's outage is the run's (raised again)."""
        if position == len(self.chain) - 1:
            raise exc
        label = self.chain[position][0]
        await self.health.mark_down(label)
        log.warning(
            "model unavailable; using the next in the fallback chain",
            extra={
                "model": label,
                "next": self.chain[position + 1][0],
                "error": f"{type(exc).__name__}: {exc}"[:300],
            },
        )

    async def close(self) -> None:
        for _, model in self.chain:
            await model.close()


def model_label(model: Any) -> str | None:
    """The name of the model an agent is configured with (the primary of a fallback chain):
    stored with each answer, so ratings can be read per model."""
    if isinstance(model, FallbackModel):
        return model.chain[0][0]
    if isinstance(model, TimeoutModel):
        return model_label(model.inner)
    if isinstance(model, str):
        return model
    name = getattr(model, "model", None)
    if isinstance(name, str):
        return name
    return "offline" if type(model).__name__ == "OfflineModel" else type(model).__name__


def warm_up_streaming() -> None:
    """Build the schemas of the Responses stream events now (pydantic builds them on first
    use: about half a second, which the first streamed answer of a worker would wait)."""
    import importlib
    from typing import get_args

    from openai.types.chat import ChatCompletionChunk
    from openai.types.responses import Response, ResponseStreamEvent

    for module in ("openai.resources.chat", "openai.lib.streaming.chat"):
        importlib.import_module(module)  # imported lazily by the first streamed call
    union = get_args(ResponseStreamEvent)[0]  # Annotated[Union[...], discriminator]
    for event_type in (*get_args(union), Response, ChatCompletionChunk):
        event_type.model_rebuild()

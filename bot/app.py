"""Assembly: settings → store, agents, desk, Slack client, Bolt app, worker.

`DeskRuntime` is what `serve`, `demo`, the benchmarks and the tests start, so they all run
the same desk. Listeners run before the ack (`process_before_response=True`): they only
record the event in the inbox, which is what makes an acked event durable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp

from agents_config.agents import ModelResolver, build_agents
from agents_config.desk import Desk, DeskOptions
from agents_config.models import ModelOptions, model_resolver
from bot.config import Settings
from bot.intake import Intake, IntakeOptions
from bot.listeners import register_listeners
from bot.slack import SlackGateway, make_client
from bot.worker import Worker, WorkerOptions
from storage.store import Store

log = logging.getLogger(__name__)


def model_options(settings: Settings) -> ModelOptions:
    return ModelOptions(
        provider=settings.provider,
        triage_model=settings.triage_model,
        specialist_model=settings.specialist_model,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        base_url=settings.openai_base_url,
        timeout_s=settings.model_timeout_s,
    )


async def open_desk(
    settings: Settings, *, resolver: ModelResolver | None = None, store: Store | None = None
) -> Desk:
    """The desk alone (no Slack): for `chat`, `ask`, `eval` and the runtime below."""
    store = store or await Store.open(settings.support_desk_db)
    agents = build_agents(resolver or model_resolver(model_options(settings)))
    options = DeskOptions(
        history_turns=settings.history_turns,
        max_turns=settings.max_turns,
        trace_sensitive_data=settings.trace_sensitive_data,
    )
    return Desk(store, agents, options)


@dataclass
class DeskRuntime:
    settings: Settings
    desk: Desk
    app: AsyncApp
    worker: Worker
    slack: SlackGateway
    slack_ready: bool = False
    _worker_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        return self.desk.store

    @classmethod
    async def create(
        cls, settings: Settings, *, resolver: ModelResolver | None = None, socket_mode: bool = False
    ) -> DeskRuntime:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        secret = settings.slack_signing_secret
        desk = await open_desk(settings, resolver=resolver)
        client = make_client(token, settings.slack_api_url)
        slack = SlackGateway(client)
        worker = Worker(
            desk.store,
            desk,
            slack,
            WorkerOptions(
                concurrency=settings.workers,
                escalation_channel=settings.escalation_channel,
                poll_interval_s=settings.inbox_poll_ms / 1000,
            ),
        )
        app = AsyncApp(
            client=client,
            signing_secret=secret.get_secret_value() if secret else "",
            # Socket Mode frames are authenticated by the app-level token instead.
            request_verification_enabled=not socket_mode,
            process_before_response=True,
        )
        intake = Intake(
            desk.store,
            IntakeOptions(support_channels=frozenset(settings.support_channels)),
            on_accepted=worker.notify,
        )
        register_listeners(app, intake)
        return cls(settings=settings, desk=desk, app=app, worker=worker, slack=slack)

    async def check_slack(self) -> bool:
        """`auth.test` once: proves the token and the API URL (for /readyz and startup)."""
        response = await self.slack.client.auth_test()
        self.slack_ready = bool(response.get("ok"))
        log.info("connected to Slack", extra={"bot_user": response.get("user_id")})
        return self.slack_ready

    async def start(self) -> None:
        """Resume what a previous process left unanswered, then start answering."""
        await self.worker.recover()
        self._worker_task = asyncio.create_task(self.worker.run(), name="worker")

    async def stop(self) -> None:
        if self._worker_task is not None:
            await self.worker.stop(self.settings.shutdown_grace_s)
            await self._worker_task
        await self.store.close()

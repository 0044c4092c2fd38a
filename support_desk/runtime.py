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
from agents_config.pipelines import PipelineOptions, Pipelines
from agents_config.pipelines.classifier import build_classifier_router
from bot.intake import Intake, IntakeOptions
from bot.listeners import register_listeners
from bot.listeners.commands import CommandOptions
from bot.pipelines import PipelineRunner, RunnerOptions
from bot.slack import SlackGateway, close_client, make_client
from bot.staff import StaffDesk, StaffOptions
from bot.worker import Worker, WorkerOptions
from storage.store import Store
from support_desk.config import Settings

log = logging.getLogger(__name__)


def model_options(settings: Settings) -> ModelOptions:
    return ModelOptions(
        provider=settings.provider,
        triage_model=settings.triage_model,
        specialist_model=settings.specialist_model,
        pipeline_model=settings.pipeline_model,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        base_url=settings.openai_base_url,
        timeout_s=settings.model_timeout_s,
        backup_model=settings.backup_model,
        offline_fallback=settings.offline_fallback,
    )


async def open_desk(
    settings: Settings, *, resolver: ModelResolver | None = None, store: Store | None = None
) -> Desk:
    """The desk alone (no Slack): for `chat`, `ask`, `eval` and the runtime below."""
    store = store or await Store.open(settings.support_desk_db)
    resolver = resolver or model_resolver(model_options(settings))
    agents = build_agents(resolver)
    options = DeskOptions(
        history_turns=settings.history_turns,
        max_turns=settings.max_turns,
        trace_sensitive_data=settings.trace_sensitive_data,
    )
    router = None
    if settings.routing_mode == "classifier":  # structured routing instead of handoffs
        router = build_classifier_router(
            resolver,
            agents,
            min_confidence=settings.classifier_min_confidence,
            trace_sensitive_data=settings.trace_sensitive_data,
        )
    return Desk(store, agents, options, router=router)


def pipeline_options(settings: Settings, *, hosted_tools: bool) -> PipelineOptions:
    return PipelineOptions(
        research_max_iterations=settings.research_max_iterations,
        debate_max_rounds=settings.debate_max_rounds,
        # The hosted web search exists only on OpenAI's own Responses API.
        web_search=hosted_tools and settings.provider == "openai" and not settings.openai_base_url,
        max_turns=settings.max_turns,
        trace_sensitive_data=settings.trace_sensitive_data,
    )


@dataclass
class DeskRuntime:
    settings: Settings
    desk: Desk
    app: AsyncApp
    worker: Worker
    slack: SlackGateway
    staff: StaffDesk
    slack_ready: bool = False
    _worker_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _reminders: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop_reminders: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def store(self) -> Store:
        return self.desk.store

    @classmethod
    async def create(
        cls, settings: Settings, *, resolver: ModelResolver | None = None, socket_mode: bool = False
    ) -> DeskRuntime:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        secret = settings.slack_signing_secret
        hosted_tools = resolver is None  # a resolver given by tests or benches: no hosted tools
        resolver = resolver or model_resolver(model_options(settings))
        desk = await open_desk(settings, resolver=resolver)
        client = make_client(token, settings.slack_api_url)
        slack = SlackGateway(client)
        staff = StaffDesk(
            desk.store,
            slack,
            StaffOptions(
                escalation_channel=settings.escalation_channel,
                staff_group=settings.support_staff_group,
                remind_after_s=settings.escalation_remind_minutes * 60,
            ),
        )
        worker = Worker(
            desk.store,
            desk,
            slack,
            WorkerOptions(
                concurrency=settings.workers,
                poll_interval_s=settings.inbox_poll_ms / 1000,
                working_indicator_delay_s=settings.working_indicator_delay_s,
            ),
            staff=staff,
            pipelines=PipelineRunner(
                desk.store,
                slack,
                Pipelines(resolver, pipeline_options(settings, hosted_tools=hosted_tools)),
                RunnerOptions(
                    staff_channel=settings.escalation_channel,
                    support_report_access=settings.support_report_access,
                ),
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
        register_listeners(
            app,
            intake,
            staff,
            CommandOptions(
                max_per_user=settings.pipeline_max_per_user,
                debate_max_rounds=settings.debate_max_rounds,
                staff_channel=settings.escalation_channel,
                support_report_access=settings.support_report_access,
            ),
        )
        return cls(settings=settings, desk=desk, app=app, worker=worker, slack=slack, staff=staff)

    async def check_slack(self) -> bool:
        """`auth.test` once: proves the token and the API URL (for /readyz and startup)."""
        response = await self.slack.client.auth_test()
        self.slack_ready = bool(response.get("ok"))
        log.info("connected to Slack", extra={"bot_user": response.get("user_id")})
        return self.slack_ready

    async def readiness(self) -> dict[str, bool]:
        """`/readyz`: the database answers and Slack accepted the token."""
        try:
            database = await self.store.ping()
        except Exception:
            database = False
        return {"database": database, "slack": self.slack_ready}

    async def start(self) -> None:
        """Resume what a previous process left unanswered, then start answering."""
        await self.worker.recover()
        self._worker_task = asyncio.create_task(self.worker.run(), name="worker")
        # Unclaimed escalations are announced again; where the worker runs, so exactly once.
        self._reminders = asyncio.create_task(
            self.staff.run_reminders(self._stop_reminders), name="reminders"
        )

    async def stop(self) -> None:
        if self._worker_task is not None:
            await self.worker.stop(self.settings.shutdown_grace_s)
            await self._worker_task
        if self._reminders is not None:
            self._stop_reminders.set()
            await self._reminders
        await close_client(self.slack.client)
        await self.store.close()

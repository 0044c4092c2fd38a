"""Assembly: two composition roots, and the inline mode that composes both.

- `Receiver` (the process Slack talks to): the Bolt app, intake, and only what listeners need
  before the ack. Listeners run before the ack (`process_before_response=True`): they only
  record the event in the inbox, which is what makes an acked event durable.
- `WorkerRuntime` (`support-desk work`): store, agents, desk, Slack gateway, the worker, staff
  reminders and the pipelines.
- `DeskRuntime`: both in one process (`WORKER_MODE=inline`, the demo, the tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError

from agents_config.agents import ModelResolver, build_agents
from agents_config.desk import Desk, DeskOptions
from agents_config.models import ModelOptions, model_resolver, warm_up_streaming
from agents_config.pipelines import PipelineOptions, Pipelines
from agents_config.pipelines.classifier import build_classifier_router
from bot.app import DeskApp, SocketModeHandler
from bot.commands import CommandOptions, Commands
from bot.intake import Intake, IntakeOptions
from bot.listeners import register_listeners
from bot.pipelines import PipelineRunner, RunnerOptions
from bot.slack import SlackGateway, make_client
from bot.staff import StaffDesk, StaffOptions
from bot.worker import Worker, WorkerOptions
from storage.store import Store
from storage.tickets import SlaTargets
from support_desk.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    store = store or await Store.open(settings.database)
    resolver = resolver or model_resolver(model_options(settings), store.model_outages)
    agents = build_agents(resolver)
    options = DeskOptions(
        history_turns=settings.history_turns,
        max_turns=settings.max_turns,
        trace_sensitive_data=settings.trace_sensitive_data,
        confirmation_ttl_s=settings.confirmation_ttl_minutes * 60,
        refund_approval_limit_cents=round(settings.refund_approval_limit * 100),
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


def command_options(settings: Settings) -> CommandOptions:
    return CommandOptions(
        max_per_user=settings.pipeline_max_per_user,
        debate_max_rounds=settings.debate_max_rounds,
        staff_channel=settings.escalation_channel,
        support_report_access=settings.support_report_access,
    )


def pipeline_options(settings: Settings, *, hosted_tools: bool) -> PipelineOptions:
    return PipelineOptions(
        research_max_iterations=settings.research_max_iterations,
        debate_max_rounds=settings.debate_max_rounds,
        # The hosted web search exists only on OpenAI's own Responses API.
        web_search=hosted_tools and settings.provider == "openai" and not settings.openai_base_url,
        max_turns=settings.max_turns,
        trace_sensitive_data=settings.trace_sensitive_data,
        sla=sla_targets(settings),
    )


class StartupError(Exception):
    """The desk cannot start: the message is one line naming the setting to fix.

    `exit_code`: 2 for a value that is wrong (a refused token), 1 for a service that stayed
    unreachable through the bounded retries (a supervisor may try again later)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Slack's answers that mean the token itself is wrong: retrying cannot help.
REFUSED_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "team_access_not_granted",
        "no_permission",
        "missing_scope",
        "ekm_access_denied",
        "org_login_required",
    }
)
STARTUP_ATTEMPTS = 4
STARTUP_RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # between attempts: 4 × 5 s timeout + 7 s < 30 s
STARTUP_CALL_TIMEOUT_S = 5
READINESS_CACHE_S = 1.0
READINESS_TIMEOUT_S = 2.0


def refused_token(exc: SlackApiError, setting: str) -> StartupError | None:
    """The startup error for a token Slack refused, or None for a transient answer."""
    error = str(exc.response.get("error"))
    if error not in REFUSED_TOKEN_ERRORS:
        return None
    return StartupError(f"Slack refused {setting} ({error}): set a valid token.", exit_code=2)


async def with_startup_retries(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    timeout_s: float,
    token_setting: str,
    unreachable: str,
) -> T:
    """Call `call` until it succeeds, a bounded number of times with one log line per failed
    attempt. Raises `StartupError`: at once naming `token_setting` when Slack refuses the
    token; after the last attempt with `unreachable` (which names the setting to check)."""
    last = ""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            async with asyncio.timeout(timeout_s):
                return await call()
        except SlackApiError as exc:
            if (refused := refused_token(exc, token_setting)) is not None:
                raise refused from None
            last = str(exc.response.get("error"))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempt < STARTUP_ATTEMPTS:
            delay = STARTUP_RETRY_DELAYS_S[min(attempt, len(STARTUP_RETRY_DELAYS_S)) - 1]
            log.warning(
                f"{what} failed; retrying",
                extra={"attempt": attempt, "of": STARTUP_ATTEMPTS, "error": last, "in_s": delay},
            )
            await asyncio.sleep(delay)
    raise StartupError(f"{unreachable} ({STARTUP_ATTEMPTS} attempts; last error: {last}).")


def sla_targets(settings: Settings) -> SlaTargets:
    return SlaTargets(
        first_response_s={k: v * 60 for k, v in settings.sla_first_response_minutes.items()},
        resolution_s={k: v * 3600 for k, v in settings.sla_resolution_hours.items()},
        warn_at=settings.sla_warning_percent / 100,
    )


def make_staff(settings: Settings, store: Store, slack: SlackGateway) -> StaffDesk:
    return StaffDesk(
        store,
        slack,
        StaffOptions(
            escalation_channel=settings.escalation_channel,
            staff_group=settings.support_staff_group,
            remind_after_s=settings.escalation_remind_minutes * 60,
            reply_prefix=settings.staff_reply_prefix,
            sla=sla_targets(settings),
        ),
    )


def make_gateway(settings: Settings) -> SlackGateway:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return SlackGateway(make_client(token, settings.slack_api_url))


class _NotTheTokenWarning(logging.Filter):
    """Bolt warns at every start that the `client` we give it takes precedence over the
    SLACK_BOT_TOKEN it reads from the environment: the same token, so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
_BOLT_LOG.addFilter(_NotTheTokenWarning())


@dataclass
class Receiver:
    """The receiver's composition root: the Bolt app, intake, and only what listeners need
    before the ack (the store, the Slack gateway, the staff desk for buttons and App Home).
    No agents, no worker: answering is another process's job (or `DeskRuntime`'s, inline)."""

    settings: Settings
    store: Store
    slack: SlackGateway
    staff: StaffDesk
    app: DeskApp
    slack_ready: bool = False
    owns_resources: bool = True  # closes the store and the Slack client on `close()`
    _readiness: tuple[float, bool] = field(default=(0.0, False), repr=False)

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        socket_mode: bool = False,
        on_accepted: Callable[[], None] = lambda: None,
        store: Store | None = None,
        slack: SlackGateway | None = None,
        staff: StaffDesk | None = None,
    ) -> Receiver:
        """`on_accepted`: called after an event is recorded (inline: wakes the worker)."""
        owns = store is None
        store = store or await Store.open(settings.database)
        try:
            slack = slack or make_gateway(settings)
            staff = staff or make_staff(settings, store, slack)
            secret = settings.slack_signing_secret
            app = DeskApp(
                client=slack.client,
                signing_secret=secret.get_secret_value() if secret else "",
                # Socket Mode frames are authenticated by the app-level token instead.
                request_verification_enabled=not socket_mode,
                process_before_response=True,
            )
            intake = Intake(
                store,
                IntakeOptions(
                    support_channels=frozenset(settings.support_channels),
                    ticket_emoji=settings.ticket_emoji,
                    staff_channel=settings.escalation_channel,
                    tickets_per_hour=settings.tickets_from_messages_per_hour,
                ),
                on_accepted=on_accepted,
            )
            commands = Commands(
                store, command_options(settings), staff.directory.is_staff, on_accepted
            )
            register_listeners(app, intake, staff, commands)
        except BaseException:
            if owns:
                await store.close()
            raise
        return cls(settings, store, slack, staff, app, owns_resources=owns)

    async def check_slack(self) -> bool:
        """`auth.test`, retried a bounded number of times (for startup and /readyz): proves
        the token and the API URL. A refused token or an unreachable Slack raises
        `StartupError` (within 30 s)."""
        # Its own client without retry handlers: the attempts are counted here.
        probe = SlackGateway(
            make_client(self.slack.client.token, self.settings.slack_api_url, max_retries=0)
        )
        url = self.settings.slack_api_url
        try:
            bot_user = await with_startup_retries(
                "connecting to Slack",
                probe.auth_test,
                timeout_s=STARTUP_CALL_TIMEOUT_S,
                token_setting="SLACK_BOT_TOKEN",
                unreachable=f"Slack did not answer at SLACK_API_URL={url}",
            )
        finally:
            await probe.close()
        self.slack_ready = True
        log.info("connected to Slack", extra={"bot_user": bot_user})
        return self.slack_ready

    async def readiness(self) -> dict[str, bool]:
        """`/readyz`: the database answers and takes writes, Slack accepted the token, and a
        worker wrote a heartbeat within the last few seconds."""
        return {
            "database": await self._database_ready(),
            "slack": self.slack_ready,
            "worker": await self._worker_alive(),
        }

    async def _database_ready(self) -> bool:
        checked_at, ready = self._readiness
        if time.monotonic() - checked_at < READINESS_CACHE_S:  # a probe flood costs no writes
            return ready
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                ready = await self.store.ping() and await self.store.takes_writes()
        except Exception:
            ready = False
        self._readiness = (time.monotonic(), ready)
        return ready

    async def _worker_alive(self) -> bool:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                return await self.store.heartbeats.alive()
        except Exception:
            return False

    async def close(self) -> None:
        if self.owns_resources:
            await self.slack.close()
            await self.store.close()


@dataclass
class WorkerRuntime:
    """The worker's composition root: store, agents, desk, Slack gateway, the worker, staff
    reminders and the slash-command pipelines. No Bolt app: it never hears from Slack."""

    settings: Settings
    desk: Desk
    slack: SlackGateway
    staff: StaffDesk
    worker: Worker
    owns_resources: bool = True
    _worker_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _reminders: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop_reminders: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def store(self) -> Store:
        return self.desk.store

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        resolver: ModelResolver | None = None,
        store: Store | None = None,
        slack: SlackGateway | None = None,
        staff: StaffDesk | None = None,
    ) -> WorkerRuntime:
        owns = store is None
        store = store or await Store.open(settings.database)
        try:
            hosted_tools = resolver is None  # a resolver given by tests or benches: no hosted tools
            resolver = resolver or model_resolver(model_options(settings), store.model_outages)
            desk = await open_desk(settings, resolver=resolver, store=store)
            slack = slack or make_gateway(settings)
            staff = staff or make_staff(settings, store, slack)
            worker = Worker(
                store,
                desk,
                slack,
                WorkerOptions(
                    concurrency=settings.workers,
                    poll_interval_s=settings.inbox_poll_ms / 1000,
                    working_indicator_delay_s=settings.working_indicator_delay_s,
                    stream_flush_interval_s=settings.stream_flush_ms / 1000,
                    ticket_emoji_by_staff=settings.ticket_emoji_by_staff,
                ),
                staff=staff,
                commands=Commands(store, command_options(settings), staff.directory.is_staff),
                pipelines=PipelineRunner(
                    store,
                    slack,
                    Pipelines(resolver, pipeline_options(settings, hosted_tools=hosted_tools)),
                    RunnerOptions(
                        flush_interval_s=settings.stream_flush_ms / 1000,
                        staff_channel=settings.escalation_channel,
                        support_report_access=settings.support_report_access,
                    ),
                ),
            )
        except BaseException:
            if owns:
                await store.close()
            raise
        return cls(settings, desk, slack, staff, worker, owns_resources=owns)

    async def start(self) -> None:
        """Take over what a dead worker left unanswered, then start answering."""
        await asyncio.to_thread(warm_up_streaming)  # the first answer need not wait for it
        await self.worker.recover()
        self._worker_task = asyncio.create_task(self.worker.run(), name="worker")
        # Unclaimed escalations are announced again; where the worker runs, so exactly once.
        self._reminders = asyncio.create_task(
            self.staff.run_reminders(self._stop_reminders), name="reminders"
        )

    async def stop(self) -> None:
        """Running answers get SHUTDOWN_GRACE_S; then the resources it owns are closed."""
        if self._worker_task is not None:
            await self.worker.stop(self.settings.shutdown_grace_s)
            await self._worker_task
        if self._reminders is not None:
            self._stop_reminders.set()
            await self._reminders
        if self.owns_resources:
            await self.slack.close()
            await self.store.close()


@dataclass
class DeskRuntime:
    """Inline mode (`WORKER_MODE=inline`, the tests, the demo): both composition roots in one
    process, sharing one store, one Slack client and one staff desk; an accepted event wakes
    the worker directly. What Slack talks to is reached through `receiver`; what answers,
    through `workers`."""

    receiver: Receiver
    workers: WorkerRuntime

    @classmethod
    async def create(
        cls, settings: Settings, *, resolver: ModelResolver | None = None, socket_mode: bool = False
    ) -> DeskRuntime:
        store = await Store.open(settings.database)
        slack = make_gateway(settings)
        try:
            workers = await WorkerRuntime.create(
                settings, resolver=resolver, store=store, slack=slack
            )
            receiver = await Receiver.create(
                settings,
                socket_mode=socket_mode,
                on_accepted=workers.worker.notify,
                store=store,
                slack=slack,
                staff=workers.staff,
            )
        except BaseException:
            await slack.close()
            await store.close()
            raise
        return cls(receiver, workers)

    async def start(self) -> None:
        await self.workers.start()

    async def stop(self) -> None:
        """Stop answering (within SHUTDOWN_GRACE_S), then close the shared store and client."""
        try:
            await self.workers.stop()
        finally:
            await self.receiver.slack.close()
            await self.receiver.store.close()

    async def close(self) -> None:
        """`stop`, under the name `Receiver.close` has (`serve` closes whichever it built)."""
        await self.stop()


SOCKET_MODE_CONNECT_TIMEOUT_S = 5.0


class _OneLine(logging.Filter):
    """Drops tracebacks: slack_sdk's Socket Mode client logs each failed (re)connection with
    `logger.exception`; one line each is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


async def connect_socket_mode(receiver: Receiver, app_token: str) -> SocketModeHandler:
    """Open the Socket Mode connection, a bounded number of times (one log line per failed
    attempt); a refused SLACK_APP_TOKEN or a connection that never comes raises
    `StartupError`. Once connected, slack_sdk reconnects by itself."""
    sdk_log = logging.getLogger("support_desk.socket_mode")
    if not any(isinstance(f, _OneLine) for f in sdk_log.filters):
        sdk_log.addFilter(_OneLine())
    handler = SocketModeHandler(receiver.app, app_token, logger=sdk_log)
    client = handler.client

    # Its own client without retry handlers: the attempts are counted here.
    opener = SlackGateway(make_client(None, receiver.settings.slack_api_url, max_retries=0))

    async def connect() -> None:
        client.wss_uri = await opener.socket_mode_url(app_token)
        await client.connect()  # on its own it would retry forever: the timeout bounds it

    try:
        await with_startup_retries(
            "connecting in Socket Mode",
            connect,
            timeout_s=SOCKET_MODE_CONNECT_TIMEOUT_S,
            token_setting="SLACK_APP_TOKEN",
            unreachable="Socket Mode could not connect to Slack with SLACK_APP_TOKEN",
        )
    except BaseException:  # a refusal, the attempts used up, or SIGTERM while connecting
        await handler.close_async()
        raise
    finally:
        await opener.close()
    return handler

"""The worker: takes accepted messages from the inbox and answers them in Slack.

Ordering and concurrency: messages of one thread are answered one at a time, in the order
they were accepted; different threads run in parallel, at most `concurrency` at once. There
is no global lock: a slow model call holds only its own thread.

Exactly once: a message is marked answered with its reply's ts. A message left running by a
crash is claimed again on the next start, and before answering it the worker looks for a
reply it already posted (its own record, then the thread in Slack).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from agents_config.context import Caller
from agents_config.desk import Desk, Turn
from bot.intake import SECRETS_REMOVED
from bot.slack import SlackGateway
from bot.staff import StaffDesk
from storage.inbox import InboxItem
from storage.redaction import Redacted
from storage.store import Store
from storage.tickets import SlackUser

if TYPE_CHECKING:
    from bot.pipelines import PipelineRunner

log = logging.getLogger(__name__)

USER_CACHE_S = 3600.0
EMPTY_MESSAGE_REPLY = (
    "Hi! How can I help? Tell me what you need: a billing question, a technical problem, "
    "plans and pricing, or say if you'd like to talk to a person."
)
FAILED_REPLY = (
    "Sorry, something went wrong on our side and I couldn't answer this message. "
    "Please try again in a few minutes."
)
RETRY_DELAYS_S = (0.5, 2.0)
TRUNCATED_NOTE = "_(Your message was long, so I read its first {limit:,} characters.)_\n\n"


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 64
    poll_interval_s: float = 0.5
    working_indicator_delay_s: float = 1.0


class Worker:
    def __init__(
        self,
        store: Store,
        desk: Desk,
        slack: SlackGateway,
        options: WorkerOptions,
        *,
        staff: StaffDesk | None = None,
        pipelines: PipelineRunner | None = None,
    ) -> None:
        self.store = store
        self.desk = desk
        self.slack = slack
        self.options = options
        self.staff = staff  # posts escalations to staff and knows who is staff
        self.pipelines = pipelines  # runs slash commands (inbox rows of kind "command")
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(options.concurrency)
        self._queues: dict[str, deque[InboxItem]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def notify(self) -> None:
        """Wake the worker: the inbox has new rows (called by the receiver in-process)."""
        self._wake.set()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def recover(self) -> int:
        """On start: rows a previous process left running are queued again."""
        count = await self.store.inbox.requeue_running()
        if count:
            log.info("resuming unanswered messages", extra={"count": count})
        return count

    async def run(self) -> None:
        """Claim and dispatch inbox rows until `stop()`."""
        while not self._stopping:
            room = self.options.concurrency * 2 - self.pending
            try:
                items = await self.store.inbox.claim(room) if room > 0 else []
            except Exception:  # the database is unreachable: keep trying, never die silently
                log.exception("could not read the inbox; retrying")
                await asyncio.sleep(1.0)
                continue
            for item in items:
                self._dispatch(item)
            if len(items) < room or room <= 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_interval_s)
                except TimeoutError:
                    pass

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; let running answers finish within `grace_s`; leave the rest queued."""
        self._stopping = True
        self._wake.set()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        # Anything claimed but not finished goes back to the inbox for the next start.
        await self.store.inbox.requeue_running()

    @property
    def busy(self) -> bool:
        """Whether any thread is being answered right now in this process."""
        return bool(self._tasks)

    def _dispatch(self, item: InboxItem) -> None:
        queue = self._queues.setdefault(item.thread_key, deque())
        queue.append(item)
        if item.thread_key not in self._tasks:
            task = asyncio.create_task(self._run_thread(item.thread_key))
            self._tasks[item.thread_key] = task

    async def _run_thread(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue and not self._stopping:
                item = queue[0]
                async with self._slots:
                    await self.process(item)
                queue.popleft()
        finally:
            del self._tasks[key]
            if not queue:
                del self._queues[key]

    async def process(self, item: InboxItem) -> None:
        """Answer one inbox row, exactly once. Transient failures are retried in place (so
        the thread's order holds); a final failure is a failed row, a log line and a note to
        the user."""
        extra = {"slack_thread": item.thread_key, "inbox_id": item.id, "user": item.user_id}
        for delay in (*RETRY_DELAYS_S, None):
            try:
                if item.kind == "command":
                    reply_ts = await self._command(item)
                else:
                    reply_ts = await self._answer(item, extra)
            except asyncio.CancelledError:
                raise
            except SlackApiError as exc:  # Slack said no (rate limits were already retried)
                error = str(exc.response.get("error"))
                log.error("Slack refused the reply", extra={**extra, "error": error})
                await self.store.inbox.mark_failed(item.id, f"slack: {error}")
                return
            except Exception as exc:
                if delay is not None:
                    log.warning("answer failed; retrying", extra={**extra, "error": repr(exc)})
                    await asyncio.sleep(delay)
                    # A retry is a resumption: it first looks for a reply already posted.
                    item = replace(item, attempts=item.attempts + 1)
                    continue
                log.exception("could not answer", extra=extra)
                await self.store.inbox.mark_failed(item.id, f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    await self.slack.post_reply(item.channel, item.thread_ts, FAILED_REPLY, item.id)
                return
            await self.store.inbox.mark_answered(item.id, reply_ts)
            return

    async def _answer(self, item: InboxItem, extra: dict[str, object]) -> str | None:
        if item.attempts > 1:
            already = item.reply_ts or await self.slack.find_reply(
                item.channel, item.thread_ts, item.id
            )
            if already:
                log.info("already answered before a restart", extra=extra)
                return already
        if self.staff is not None and await self.staff.silences(item):
            log.info("a person owns the thread; not answering", extra=extra)
            return None
        if not item.text.strip():
            return await self.slack.post_reply(
                item.channel, item.thread_ts, EMPTY_MESSAGE_REPLY, item.id
            )
        caller = await self._caller(item.user_id)
        turn = Turn(
            item.id, item.channel, item.thread_ts, caller, item.text, resumed=item.attempts > 1
        )
        async with self._working_indicator(item):
            outcome = await self.desk.handle(turn)
        extra["ticket_id"] = outcome.ticket.id
        reply_ts = text = None
        if outcome.reply is not None:
            text = outcome.reply
            limit = item.payload.get("truncated_at")
            if limit:
                text = TRUNCATED_NOTE.format(limit=limit) + text
            removed = item.payload.get(SECRETS_REMOVED)
            if removed:  # intake removed a card number or password: say so, once
                text = Redacted("", tuple(removed)).notice() + "\n\n" + text
            reply_ts = await self.slack.post_reply(item.channel, item.thread_ts, text, item.id)
        if outcome.escalation is not None and self.staff is not None:
            await self.staff.announce(
                outcome.ticket,
                caller=caller,
                agent_path=outcome.agent_path,
                notice_ts=reply_ts,
                notice_markdown=text,
            )
        log.info(
            "answered",
            extra={
                **extra,
                "agents": outcome.agent_path,
                "reply_ts": reply_ts,
                "latency_ms": round((time.time() - item.received_at) * 1000),
            },
        )
        return reply_ts

    async def _command(self, item: InboxItem) -> str | None:
        """A slash command: its pipeline runs, and reports, in `bot.pipelines` (which also
        guards against posting a second report when the command is resumed)."""
        if self.pipelines is None:
            raise RuntimeError("no pipeline runner: slash commands cannot run here")
        caller = await self._caller(item.user_id)
        # Staff status decides what a pipeline may show: from Slack membership, never text.
        is_staff = self.staff is not None and await self.staff.directory.is_staff(item.user_id)
        return await self.pipelines.run(item, replace(caller, is_staff=is_staff))

    @contextlib.asynccontextmanager
    async def _working_indicator(self, item: InboxItem) -> AsyncIterator[None]:
        """Show 👀 on the message while the answer takes longer than the indicator delay.

        A sub-second answer needs no indicator (it would only flicker, and cost two Slack
        calls); a slow one shows it until the answer is posted.
        """
        shown = False

        async def show() -> None:
            nonlocal shown
            await asyncio.sleep(self.options.working_indicator_delay_s)
            shown = True
            await self.slack.mark_working(item.channel, item.ts, True)

        task = asyncio.create_task(show())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if shown:
                await self.slack.mark_working(item.channel, item.ts, False)

    async def _caller(self, user_id: str) -> Caller:
        """Who is writing, with their customer account matched by Slack e-mail (cached)."""
        cached = await self.store.users.get(user_id, max_age_s=USER_CACHE_S)
        if cached is None:
            cached = await self.slack.user(user_id)
            if cached is None:  # unknown to Slack: no e-mail, so no customer account
                cached = SlackUser(user_id, email=None, name=None, is_bot=False, fetched_at=0.0)
            else:
                await self.store.users.put(cached)
        customer = (
            await self.store.business.customer_by_email(cached.email) if cached.email else None
        )
        return Caller(
            slack_user_id=user_id,
            email=cached.email,
            name=cached.name,
            customer_id=customer.id if customer else None,
        )

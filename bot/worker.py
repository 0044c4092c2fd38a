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
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from agents_config.context import Caller
from agents_config.desk import Desk, Turn, TurnOutcome
from agents_config.progress import agent_label
from bot import blocks, knowledge
from bot.commands import Commands, Request, typed_command
from bot.intake import SECRETS_REMOVED, STAFF_REPLY, TICKET, clean_user_text
from bot.knowledge import KB_DRAFT
from bot.outages import DATABASE_REFUSED, SlackOutage, held_because
from bot.slack import NOTE_EVENT_TYPE, SlackGateway
from bot.staff import StaffDesk, asks_for_queue
from bot.streaming import AnswerStream
from storage.feedback import Answer
from storage.heartbeats import HEARTBEAT_EVERY_S, HEARTBEAT_STALE_S, new_worker_id
from storage.inbox import InboxItem, LeaseLost
from storage.redaction import Redacted
from storage.store import Store
from storage.tickets import SlackUser

if TYPE_CHECKING:
    from bot.pipelines import PipelineRunner

log = logging.getLogger(__name__)

USER_CACHE_S = 3600.0
FAILED_REPLY = (
    "Sorry, something went wrong on our side and I couldn't answer this message. "
    "Please try again in a few minutes."
)
RETRY_DELAYS_S = (0.5, 2.0)
WORKING_STATUS = "is working on your request…"
WORKING_STEP = agent_label("triage")  # a slow answer's first step, until the real ones show
LOADING = ["Reading your message…", "Checking your account…", "Writing the answer…"]
TRUNCATED_NOTE = "_(Your message was long, so I read its first {limit:,} characters.)_\n\n"


# How often a worker that LISTENs for new rows (PostgreSQL) still looks, in case a
# notification was lost with its connection.
LISTENING_POLL_S = 5.0
# A worker whose last heartbeat is older than the stale limit less this margin no longer
# trusts its claims without asking the database (an answer may take this long to post).
LEASE_MARGIN_S = 2.0
# Every worker process of the database is woken by a new row; one with threads in flight
# waits this long a thread (up to HEAD_START_THREADS of them) before it claims, and claims a
# few rows at a time, so that an idler process takes the next ones: threads spread over the
# processes, hence over the cores.
HEAD_START_S = 0.002
HEAD_START_THREADS = 10
HEAD_START_CLAIM = 2  # rows a claim takes while other worker processes are alive


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 64
    poll_interval_s: float = 0.5
    working_indicator_delay_s: float = 1.0
    stream_flush_interval_s: float = 0.7  # at most one chat.appendStream a stream this often
    ticket_emoji_by_staff: str = "answer"  # TICKET_EMOJI_BY_STAFF: "answer" or "queue"


class StopRequests:
    """Which answers streaming in this worker their requesters asked to stop (the Stop
    button or Slack's own control, recorded on the inbox row by whichever process received
    the click). One read for all of them at most every `interval_s`, not one per stream:
    at 50 answers at once the per-stream reads were a queue of their own in front of every
    other database call."""

    def __init__(self, store: Store, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._watched: set[int] = set()
        self._stopped: set[int] = set()
        self._read_at = -math.inf
        self._lock = asyncio.Lock()

    async def requested(self, inbox_id: int) -> bool:
        self._watched.add(inbox_id)
        if time.monotonic() - self._read_at >= self.interval_s:
            async with self._lock:  # one read at a time; the streams waiting share it
                if time.monotonic() - self._read_at >= self.interval_s:
                    self._stopped = await self.store.inbox.stops_requested(self._watched)
                    self._read_at = time.monotonic()
        return inbox_id in self._stopped

    def forget(self, inbox_id: int) -> None:
        """The answer is over: its row is no longer read."""
        self._watched.discard(inbox_id)
        self._stopped.discard(inbox_id)


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
        commands: Commands | None = None,
    ) -> None:
        self.store = store
        self.desk = desk
        self.slack = slack
        self.options = options
        self.staff = staff  # posts escalations to staff and knows who is staff
        self.pipelines = pipelines  # runs slash commands (inbox rows of kind "command")
        self.commands = commands  # takes commands typed out in a DM
        self.worker_id = new_worker_id()  # names this worker's heartbeat and claimed rows
        self._started_at = time.time()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(options.concurrency)
        self._queues: dict[str, deque[InboxItem]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._in_flight: set[int] = set()  # inbox ids claimed and not finished here
        # Rows whose outcome could not be written (the database refused writes): they stay
        # `running` under this worker's name until the database takes writes again, then go
        # back to the inbox and are answered as resumptions (no reply is posted twice).
        self._stranded: dict[int, InboxItem] = {}
        self._database_down = False
        self._slack = SlackOutage()
        self._keepalive: asyncio.Task[None] | None = None
        self._stopping = False
        self._claim_was_full = False  # the last claim took as many rows as it had room for
        # Until when the other workers surely see this one alive (its last heartbeat written
        # + HEARTBEAT_STALE_S): its claims are its own until then.
        self._lease_until = 0.0
        # Rows claimed before this worker's heartbeat went stale (a full disk, a starved
        # process): another worker may have taken them over meanwhile, so a fresh heartbeat
        # does not make them this worker's again; the database is asked once for each.
        self._unsure: set[int] = set()
        self._stops = StopRequests(store, options.stream_flush_interval_s)
        self._peers = 0  # other worker processes alive (read with each heartbeat)

    def notify(self) -> None:
        """Wake the worker: the inbox has new rows (called by the receiver in-process)."""
        self._wake.set()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def stranded(self) -> int:
        """Rows waiting for the database to take writes again."""
        return len(self._stranded)

    async def recover(self) -> int:
        """On start: the first heartbeat (so `/readyz` is ready once the worker has started),
        then rows left running by a worker that is gone are queued again."""
        try:
            await self._beat()
            count = await self.store.inbox.requeue_orphans(self.worker_id)
        except Exception as exc:  # the heartbeat loop tries again every second
            self._database_failed("could not take over unanswered messages; retrying", exc)
            return 0
        if count:
            log.info("resuming unanswered messages", extra={"count": count})
        return count

    async def run(self) -> None:
        """Claim and dispatch inbox rows until `stop()`; keep the heartbeat going meanwhile."""
        if self._keepalive is None:
            self._keepalive = asyncio.create_task(self._keep_alive(), name="heartbeat")
        poll_s = self.options.poll_interval_s
        try:
            if await self.store.inbox.on_new_work(self.notify):
                # Woken by the database itself: polling is only a safety net.
                poll_s = max(poll_s, LISTENING_POLL_S)
        except Exception as exc:
            log.warning("cannot listen for new messages; polling", extra={"error": repr(exc)})
        while not self._stopping:
            # Cleared before the claim: a wake-up that comes during it is not lost.
            self._wake.clear()
            if self._peers and self._tasks:  # the least busy worker process claims first
                await asyncio.sleep(min(len(self._tasks), HEAD_START_THREADS) * HEAD_START_S)
            room = self.options.concurrency * 2 - self.pending
            if self._peers:  # a few at a time, the rest to whichever process is idler then
                room = min(room, HEAD_START_CLAIM)
            try:
                items = await self.store.inbox.claim(room, self.worker_id) if room > 0 else []
            except Exception as exc:  # the database is unavailable: keep trying, say it once
                self._database_failed("could not read the inbox; retrying", exc)
                await asyncio.sleep(HEARTBEAT_EVERY_S)
                continue
            for item in items:
                self._dispatch(item)
            # A full claim may have left rows behind: look again when a thread finishes.
            self._claim_was_full = room <= 0 or len(items) == room
            if self._claim_was_full and room > 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)

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
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
        # Anything claimed but not finished goes back to the inbox for the next start. If the
        # database refuses even this, the rows become orphans once the heartbeat is stale.
        try:
            await self.store.inbox.release_claimed(self.worker_id)
            await self.store.heartbeats.end(self.worker_id)
        except Exception as exc:
            log.warning(
                "could not hand back unfinished messages; the next worker takes them over",
                extra={"error": repr(exc), "worker": self.worker_id},
            )

    @property
    def busy(self) -> bool:
        """Whether any thread is being answered (or waits for the database) in this process."""
        return bool(self._tasks) or bool(self._stranded)

    async def _still_ours(self, item: InboxItem) -> bool:
        """Whether this worker still holds the row it claimed. Free while its heartbeat is
        fresh (no other worker may take the row yet); once the heartbeat is late (a starved
        process, a slow database) the database is asked, and a row another worker took over
        is left to that worker: answering it here too would post a second reply."""
        if item.id not in self._unsure and time.time() < self._lease_until - LEASE_MARGIN_S:
            return True
        held = await self.store.inbox.held_by(item.id, self.worker_id)
        if held:  # and stays this worker's while its heartbeat is fresh
            self._unsure.discard(item.id)
        return held

    async def _hold_or_halt(self, item: InboxItem, stream: AnswerStream) -> None:
        """Before the reply: `LeaseLost` (the stream halted) if another worker took it over
        (as the stream found when it recorded its ts, or as the database says now)."""
        if stream.lease_lost or not await self._still_ours(item):
            await stream.halt()
            raise LeaseLost

    async def _beat(self) -> None:
        """One heartbeat; the rows this worker claimed are its own until it goes stale."""
        beat_from = time.time()
        await self.store.heartbeats.beat(self.worker_id, started_at=self._started_at)
        if time.time() >= self._lease_until:  # others may have seen this worker dead
            self._unsure.update(self._in_flight, self._stranded)
        self._lease_until = beat_from + HEARTBEAT_STALE_S

    async def _keep_alive(self) -> None:
        """About every second: the heartbeat; rows of dead workers taken over; rows stranded
        by a database that refused writes handed back once it takes writes again."""
        while True:
            try:
                await self._beat()
                self._peers = len(await self.store.heartbeats.workers()) - 1
                if await self.store.inbox.requeue_orphans(self.worker_id):
                    log.info("took over messages of a worker that died")
                    self._wake.set()
                if self._stranded and time.monotonic() >= self._slack.retry_at:
                    # These ones: a row released may be claimed again (and a later one of its
                    # thread held behind it) before the release returns, on another connection.
                    held = list(self._stranded)
                    count = await self.store.inbox.release(held, self.worker_id)
                    log.info(
                        "trying the held messages again (the database or Slack was unavailable)",
                        extra={"count": count},
                    )
                    for inbox_id in held:
                        self._stranded.pop(inbox_id, None)
                    self._unsure.difference_update(held)  # released, or not ours
                    self._wake.set()
                if self._database_down:
                    self._database_down = False
                    log.warning("the database takes writes again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._database_failed("heartbeat failed: the database refuses writes", exc)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    def _database_failed(self, message: str, exc: BaseException) -> None:
        """One log line per outage, not one per second."""
        if not self._database_down:
            self._database_down = True
            log.error(message, extra={"error": repr(exc), "worker": self.worker_id})

    def _dispatch(self, item: InboxItem) -> None:
        if item.id in self._in_flight:  # already being answered here
            return
        if any(
            held.thread_key == item.thread_key and held.id < item.id
            for held in self._stranded.values()
        ):  # after an earlier message of its thread that is held: the order holds
            self._stranded[item.id] = item
            return
        self._in_flight.add(item.id)
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
                    done = await self.process(item)
                self._stops.forget(item.id)
                queue.popleft()
                self._in_flight.discard(item.id)
                self._unsure.discard(item.id)
                if self._claim_was_full:  # room for what the last claim could not take
                    self._wake.set()
                if not done:  # the thread's later messages wait too, so its order holds
                    while queue:
                        later = queue.popleft()
                        self._in_flight.discard(later.id)
                        self._stranded[later.id] = later
        finally:
            for left in queue:
                self._in_flight.discard(left.id)
            del self._tasks[key]
            if not queue:
                del self._queues[key]

    async def process(self, item: InboxItem) -> bool:
        """Answer one inbox row, exactly once. Transient failures are retried in place (so
        the thread's order holds); a final failure is a failed row, a log line and a note to
        the user. When the database refuses writes the row is held, not failed, and answered
        once it recovers. Never raises (but for cancellation); False when the row is held."""
        extra = {"slack_thread": item.thread_key, "inbox_id": item.id, "user": item.user_id}
        if not await self._still_ours(item):
            log.info("another worker took this message over", extra=extra)
            return True
        for delay in (*RETRY_DELAYS_S, None):
            try:
                if item.kind == "command":
                    reply_ts = await self._command(item)
                elif item.kind == TICKET:
                    reply_ts = await self._ticket(item, extra)
                elif item.kind == KB_DRAFT:
                    await self._kb_draft(item)
                    reply_ts = None
                elif item.kind == STAFF_REPLY:
                    reply_ts = await self.staff.staff_reply(item) if self.staff else None
                else:
                    reply_ts = await self._answer(item, extra)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.info("another worker took this message over before its reply", extra=extra)
                return True
            except SlackApiError as exc:  # Slack said no (rate limits were already retried)
                error = str(exc.response.get("error"))
                log.error("Slack refused the reply", extra={**extra, "error": error})
                return await self._record(item, extra, failed=f"slack: {error}")
            except Exception as exc:
                held = held_because(exc)
                # Not retried here when Slack is out of reach (the Web API client has retried
                # the lost connection) or the database refuses writes (it waited for locks; a
                # full disk is not over in a second): held, tried again once they recover.
                if delay is not None and held is None:
                    log.warning("answer failed; retrying", extra={**extra, "error": repr(exc)})
                    await asyncio.sleep(delay)
                    # A retry is a resumption: it first looks for a reply already posted.
                    item = replace(item, attempts=item.attempts + 1)
                    continue
                if held is not None:  # not the message's fault: answer it once it recovers
                    return self._strand(item, extra, exc, held)
                log.exception("could not answer", extra=extra)
                done = await self._record(item, extra, failed=f"{type(exc).__name__}: {exc}")
                if done:
                    with contextlib.suppress(Exception):
                        await self.slack.post_reply(
                            item.channel, item.thread_ts, FAILED_REPLY, item.id
                        )
                return done
            self._slack.reached()
            return await self._record(item, extra, reply_ts=reply_ts)
        raise AssertionError("unreachable")

    async def _record(
        self,
        item: InboxItem,
        extra: dict[str, object],
        *,
        reply_ts: str | None = None,
        failed: str | None = None,
    ) -> bool:
        """Write the row's outcome; if the database refuses, hold the row for later."""
        try:
            if failed is None:
                await self.store.inbox.mark_answered(item.id, reply_ts)
            else:
                await self.store.inbox.mark_failed(item.id, failed)
        except Exception as exc:
            return self._strand(item, extra, exc, DATABASE_REFUSED)
        return True

    def _strand(
        self, item: InboxItem, extra: dict[str, object], exc: BaseException, held: str
    ) -> bool:
        # Said for each message the database refused (its outage is said by the heartbeat);
        # for Slack, once an outage: the same messages are held again at each retry.
        if held == DATABASE_REFUSED or self._slack.held():
            log.warning(
                f"{held}; the message is answered when it recovers",
                extra={**extra, "error": repr(exc)},
            )
        self._database_down = self._database_down or held == DATABASE_REFUSED
        self._stranded[item.id] = item
        return False

    async def _answer(self, item: InboxItem, extra: dict[str, object]) -> str | None:
        """A message, or a click on Confirm / Cancel (kind "action"): the desk's turn, then
        its outcome in Slack."""
        if item.attempts > 1:
            item, already = await self._resumed(item)
            if already:
                log.info("already answered before a restart", extra=extra)
                return already
        is_click = item.kind == "action"
        if not is_click and item.channel.startswith("D"):
            handled, reply_ts = await self._without_agents(item)
            if handled:
                return reply_ts
        if not is_click and self.staff is not None:
            await self.staff.claim_if_staff_wrote(item)
        caller = await self._caller(item.user_id)
        answer = item.payload.get("answer") if is_click else None
        reviewer, reviewer_is_staff = None, False
        if answer in ("approve", "reject"):  # staff's review: the requester's run resumes
            reviewer = item.user_id
            reviewer_is_staff = await self._is_staff(item.user_id)
            approval = await self.store.approvals.get(int(item.payload.get("approval_id") or 0))
            if approval is not None:
                caller = await self._caller(approval.requester)
        turn = Turn(
            item.id,
            item.channel,
            item.thread_ts,
            caller,
            item.text,
            resumed=item.attempts > 1,
            answer=answer,
            approval_id=item.payload.get("approval_id") if is_click else None,
            handover=item.payload.get("handover") if is_click else None,
            to_staff=bool(item.payload.get("to_staff")),
            priority=item.payload.get("urgency"),
            reviewer=reviewer,
            reviewer_is_staff=reviewer_is_staff,
        )
        stream = await self._stream(item, extra)
        assistant = item.channel.startswith("D") and (  # they live in DMs with the app
            await self.store.assistant_threads.is_assistant_thread(item.channel, item.thread_ts)
        )
        if assistant:  # Slack's AI app view: a status line instead of 👀 (a reply clears it)
            await self.slack.set_status(item.channel, item.thread_ts, WORKING_STATUS, LOADING)
        show = not is_click and not assistant
        indicator = self._working_indicator(item, show=show, streaming=stream)
        async with indicator, self._agent_session(item):
            # A stream left by an earlier attempt is not streamed into again: its content is
            # unknown, so the answer replaces it whole at the end.
            try:
                outcome = await self.desk.handle(turn, progress=None if item.stream_ts else stream)
            except BaseException:
                await stream.halt()  # the retry finishes this message; nothing more from here
                raise
        if outcome.ticket is not None:
            extra["ticket_id"] = outcome.ticket.id
        if assistant and outcome.opened and outcome.ticket is not None:
            title = f"#{outcome.ticket.id} {outcome.ticket.subject}"
            await self.slack.set_title(item.channel, item.thread_ts, title[:120])
        await self._hold_or_halt(item, stream)
        reply_ts = await self._post_outcome(item, outcome, caller, stream)
        if assistant and reply_ts is None:  # nothing posted: clear the status ourselves
            await self.slack.set_status(item.channel, item.thread_ts, "")
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

    async def _stream(self, item: InboxItem, extra: dict[str, object]) -> AnswerStream:
        """The streamed reply of this row: a new one, or the one an earlier attempt started."""
        if item.stream_ts:
            return AnswerStream.adopt(
                self.slack, item.channel, item.thread_ts, item.id, item.stream_ts
            )

        async def started(ts: str) -> None:
            # LeaseLost when another worker took the row over: the stream is deleted, it answers
            await self.store.inbox.set_stream(item, item.channel, ts)

        async def stop_requested() -> bool:
            return await self._stops.requested(item.id)

        return AnswerStream(
            self.slack,
            item.channel,
            item.thread_ts,
            item.id,
            recipient_user_id=item.user_id,
            recipient_team_id=await self.slack.team_id(),
            on_started=started,
            stop_requested=stop_requested,
            stop_control=blocks.stop_control(),
            prefix=self._note(item),
            flush_interval_s=self.options.stream_flush_interval_s,
            log_extra=extra,
        )

    @staticmethod
    def _note(item: InboxItem) -> str:
        """What the reply says first about the message itself: secrets the intake removed
        (said once), a long message read in part."""
        note = ""
        removed = item.payload.get(SECRETS_REMOVED)
        if removed:
            note = Redacted("", tuple(removed)).notice() + "\n\n"
        limit = item.payload.get("truncated_at")
        return note + (TRUNCATED_NOTE.format(limit=limit) if limit else "")

    async def _post_outcome(
        self, item: InboxItem, outcome: TurnOutcome, caller: Caller, stream: AnswerStream
    ) -> str | None:
        """The reply (streamed, or the Confirm / Cancel question), the settled confirmation
        drawn again, a refusal only the clicker sees, and the escalation for staff."""
        if outcome.private and item.kind == "action":
            clicked_in = item.payload.get("clicked_in")  # staff clicked in the staff channel
            await self.slack.post_ephemeral(
                str(clicked_in or item.channel),
                item.user_id,
                outcome.private,
                None if clicked_in else item.thread_ts,
            )
        if outcome.thread_owner is not None and not await self._is_staff(item.user_id):
            # (staff writing in a customer's thread are helping: no note for them)
            note = blocks.someone_elses_thread(outcome.thread_owner)
            await self.slack.post_ephemeral(item.channel, item.user_id, note, item.thread_ts)
        reply_ts: str | None = None
        text: str | None = None
        if outcome.settled is not None and outcome.settled.message_ts:
            settled_text, settled_blocks = blocks.confirmation_settled(outcome.settled)
            await self.slack.update_message(
                item.channel, outcome.settled.message_ts, settled_text, settled_blocks
            )
        if outcome.confirmation is not None:
            await stream.close_quietly()  # the question is a message of its own, with buttons
            question, prompt = blocks.confirmation_request(outcome.confirmation)
            reply_ts = await self.slack.post_prompt(
                item.channel, item.thread_ts, question, prompt, item.id
            )
            await self.store.approvals.set_message(outcome.confirmation.id, reply_ts)
        elif outcome.reply is not None or (outcome.private and item.kind != "action"):
            text = outcome.reply or outcome.private or ""
            if not outcome.stopped:  # a stopped answer keeps its start, note included
                text = self._note(item) + text
            ai_answer = _is_ai_answer(outcome)
            feedback = blocks.answer_feedback() if ai_answer else None
            reply_ts = await stream.finish(
                text, feedback, failed=outcome.error is not None, stopped=outcome.stopped
            )
            if reply_ts is None:  # nothing was streamed: posted as a message
                reply_ts = await self.slack.post_reply(
                    item.channel, item.thread_ts, text, item.id, feedback=feedback
                )
            if ai_answer:
                await self._rateable(item, outcome, reply_ts)
        else:
            await stream.close_quietly()
        if outcome.review is not None and self.staff is not None:
            await self.staff.show_review(outcome.review)
        ticket = outcome.ticket
        if (
            reply_ts is None
            and item.kind == "message"
            and ticket is not None
            and ticket.status == "claimed"
            and ticket.channel.startswith("D")
            and self.staff is not None
        ):  # a person owns this DM ticket: what the user writes goes to the staff thread
            await self.staff.mirror(ticket, item)
        if outcome.resolved_by_user and outcome.ticket and self.staff is not None:
            await self.staff.ask_for_rating(outcome.ticket, outcome.language)
        if outcome.escalation is not None and outcome.ticket and self.staff is not None:
            await self.staff.announce(
                outcome.ticket,
                outcome.escalation,
                caller=caller,
                agent_path=outcome.agent_path,
                notice_ts=reply_ts,
                notice_markdown=text,
            )
        return reply_ts

    async def _kb_draft(self, item: InboxItem) -> None:
        if self.pipelines is None:
            raise RuntimeError("no pipelines: KB articles cannot be drafted here")
        await knowledge.draft(self.store, self.slack, self.pipelines.pipelines.kb_drafts, item)

    # ---- tickets from anywhere ---------------------------------------------------------

    async def _ticket(self, item: InboxItem, extra: dict[str, object]) -> str | None:
        """A ticket asked for by a 🎫 reaction, the message shortcut or the App Home form:
        made into the message it stands for, then answered like one (in the message's thread,
        or in a new DM thread for the form)."""
        message: InboxItem | None
        if item.payload.get("source") == "home":
            message = await self._request_thread(item)
        else:
            message = await self._from_message(item)
            if message is not None and _for_someone_else(message):
                message = await self._private_thread(item, message)
        if message is None:
            return None
        extra.update(slack_thread=message.thread_key, source=item.payload.get("source"))
        return await self._answer(message, extra)

    async def _from_message(self, item: InboxItem) -> InboxItem | None:
        payload = dict(item.payload)
        message_ts = str(payload.get("message_ts") or item.thread_ts)
        text, thread_ts = item.text, item.thread_ts
        extra = {"channel": item.channel, "inbox_id": item.id}
        if not payload.get("fetched"):
            message = await self.slack.message(item.channel, message_ts)
            if message is None or message.get("bot_id") or message.get("subtype") == "bot_message":
                log.info("no ticket: the message is gone or not a person's", extra=extra)
                return None
            text, notes = clean_user_text(message.get("text"), None)
            payload.update(notes)
            thread_ts = str(message.get("thread_ts") or message_ts)
        existing = await self.store.tickets.by_thread(item.channel, thread_ts)
        if existing is not None and existing.created_at < item.received_at:
            log.info("no ticket: the thread has one", extra={**extra, "ticket_id": existing.id})
            return None
        if not text.strip():
            log.info("no ticket: the message has no text", extra=extra)
            return None
        link = await self.slack.permalink(item.channel, message_ts)
        opening = f"{text}\n\n(Ticket opened from this message: {link})" if link else text
        payload["permalink"] = link
        requested_by = str(payload.get("requested_by") or "")
        payload["to_staff"] = (
            self.options.ticket_emoji_by_staff == "queue"
            and requested_by != item.user_id
            and self.staff is not None
            and await self.staff.directory.is_staff(requested_by)
        )
        return replace(
            item, kind="message", ts=message_ts, thread_ts=thread_ts, text=opening, payload=payload
        )

    async def _private_thread(self, item: InboxItem, message: InboxItem) -> InboxItem:
        """A ticket someone else opened from the author's message: answered in a DM thread
        with the author (the answer may hold their account's data), and the public thread
        gets a short note saying so. Each message is posted once, also after a restart."""
        channel = await self.slack.open_dm(message.user_id)
        ts = await self.slack.find_request(channel, item.id) if item.attempts > 1 else None
        if ts is None:
            text, header = blocks.ticket_for_you(
                message.channel,
                str(message.payload.get("requested_by")),
                message.payload.get("permalink"),
            )
            ts = await self.slack.post_request(channel, text, header, item.id)
        noted = item.attempts > 1 and await self.slack.find_reply(
            message.channel, message.thread_ts, item.id, NOTE_EVENT_TYPE
        )
        if not noted:
            text, note = blocks.ticket_opened_privately(message.user_id)
            await self.slack.post_note(message.channel, message.thread_ts, text, note, item.id)
        log.info(
            "ticket for someone else's message answered in a DM",
            extra={"inbox_id": item.id, "channel": message.channel},
        )
        return replace(message, channel=channel, ts=ts, thread_ts=ts)

    async def _request_thread(self, item: InboxItem) -> InboxItem:
        """The App Home form's request: a DM message shows it, and its thread is the ticket's."""
        channel = await self.slack.open_dm(item.user_id)
        ts = await self.slack.find_request(channel, item.id) if item.attempts > 1 else None
        if ts is None:
            about = str(item.payload.get("about") or "")
            urgency = str(item.payload.get("urgency") or "normal")
            text, request = blocks.request_message(about, urgency)
            ts = await self.slack.post_request(channel, text, request, item.id)
        return replace(item, kind="message", channel=channel, ts=ts, thread_ts=ts)

    async def _rateable(self, item: InboxItem, outcome: TurnOutcome, reply_ts: str) -> None:
        """Record an AI answer, so its 👍 / 👎 is stored with its agents, tools and model."""
        if outcome.ticket is None:
            return
        await self.store.feedback.record_answer(
            Answer(
                channel=item.channel,
                ts=reply_ts,
                ticket_id=outcome.ticket.id,
                inbox_id=item.id,
                requester=item.user_id,
                department=outcome.department,
                agent_path=outcome.agent_path,
                tools=outcome.tools_called,
                model=outcome.model,
                created_at=time.time(),
                question=item.text,
            )
        )

    async def _resumed(self, item: InboxItem) -> tuple[InboxItem, str | None]:
        """A row tried before: as stored now (a reply or a stream started since it was
        claimed), and the ts of its reply if one was posted."""
        stored = await self.store.inbox.get(item.id)
        if stored is not None:
            # Only these: the item may already point at the DM thread a form opened.
            item = replace(
                item, reply_ts=item.reply_ts or stored.reply_ts, stream_ts=stored.stream_ts
            )
        already = item.reply_ts or await self.slack.find_reply(
            item.channel, item.thread_ts, item.id
        )
        if already is None and item.stream_ts is None:
            abandoned = await self.slack.find_abandoned_stream(
                item.channel, item.thread_ts, item.ts, blocks.STOP_ANSWER
            )
            if abandoned is not None:  # started, then killed before its ts was recorded
                await self.store.inbox.set_stream(item, item.channel, abandoned)
                item = replace(item, stream_ts=abandoned)
                log.info(
                    "finishing the stream an earlier attempt left",
                    extra={"slack_thread": item.thread_key, "inbox_id": item.id},
                )
        return item, already

    async def _without_agents(self, item: InboxItem) -> tuple[bool, str | None]:
        """A DM message the agents do not answer: a command typed out ("/support-report",
        which Slack's assistant threads cannot run as a command), or staff asking for the
        open queue. (True, the reply's ts) when it was one of those."""
        typed = typed_command(item.text)
        if typed is not None and self.commands is not None:
            name, rest = typed
            request = Request(
                name, rest, item.user_id, item.channel, f"typed-{item.id}", thread_ts=item.thread_ts
            )
            taken = await self.commands.take(request)
            if taken.accepted:  # its report's message follows in this thread
                self._wake.set()
                note = self._note(item).strip()  # the secrets removed from what was typed
                if not note:
                    return True, None
                return True, await self.slack.post_reply(
                    item.channel, item.thread_ts, note, item.id
                )
            reply = blocks.answer_blocks(taken.answer, None)
            return True, await self.slack.post_prompt(
                item.channel, item.thread_ts, taken.answer, reply, item.id
            )
        queue = (
            await self.staff.queue_message(item.user_id)
            if self.staff is not None and asks_for_queue(item.text)
            else None
        )
        if queue is None:
            return False, None
        text, queue_blocks = queue
        return True, await self.slack.post_prompt(
            item.channel, item.thread_ts, text, queue_blocks, item.id
        )

    async def _command(self, item: InboxItem) -> str | None:
        """A slash command: its pipeline runs, and reports, in `bot.pipelines` (which also
        guards against posting a second report when the command is resumed)."""
        if self.pipelines is None:
            raise RuntimeError("no pipeline runner: slash commands cannot run here")
        caller = await self._caller(item.user_id)
        # Staff status decides what a pipeline may show: from Slack membership, never text.
        is_staff = await self._is_staff(item.user_id)
        return await self.pipelines.run(item, replace(caller, is_staff=is_staff))

    @contextlib.asynccontextmanager
    async def _agent_session(self, item: InboxItem) -> AsyncIterator[None]:
        """Slack's agent session of the thread: `processing` (Slack shows its own stop
        control) once the answer takes longer than the indicator delay, `active` when the run
        ends, stopped or not. A quick answer costs no session call."""
        started = False

        async def start() -> None:
            nonlocal started
            started = True
            await self.slack.set_session_status(
                item.channel, item.thread_ts, "processing", user=item.user_id
            )

        try:
            async with self._once_slow(start):
                yield
        finally:
            if started:
                await self.slack.set_session_status(item.channel, item.thread_ts, "active")

    @contextlib.asynccontextmanager
    async def _working_indicator(
        self, item: InboxItem, *, show: bool, streaming: AnswerStream | None = None
    ) -> AsyncIterator[None]:
        """Show that the desk is at work when the answer takes longer than the indicator
        delay: its streamed reply starts with the steps so far ("Reading your request"), or,
        where nothing can be streamed (a stream left by an earlier attempt), 👀 on the message
        until the answer is posted.
        """
        shown = False
        if not show:  # a click has no message of its own to react to
            yield
            return

        async def show_it() -> None:
            nonlocal shown
            if streaming is not None and await streaming.show_working(WORKING_STEP):
                return  # the streamed reply shows the desk at work
            shown = True
            await self.slack.mark_working(item.channel, item.ts, True)

        try:
            async with self._once_slow(show_it):
                yield
        finally:
            if shown:
                await self.slack.mark_working(item.channel, item.ts, False)

    @contextlib.asynccontextmanager
    async def _once_slow(self, job: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
        """Run `job` if the block is still running after the indicator delay; the block's end
        cancels it (waiting for it to stop). A sub-second answer needs no indicator: it would
        only flicker, and cost Slack calls."""

        async def later() -> None:
            await asyncio.sleep(self.options.working_indicator_delay_s)
            await job()

        task = asyncio.create_task(later())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _is_staff(self, user_id: str) -> bool:
        return self.staff is not None and await self.staff.directory.is_staff(user_id)

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


def _for_someone_else(message: InboxItem) -> bool:
    """A ticket asked for by someone other than the message's author (and not sent straight
    to the staff queue): the desk must not post the author's account data publicly on
    another person's initiative, so it answers the author in a DM."""
    requested_by = str(message.payload.get("requested_by") or "")
    return (
        bool(requested_by)
        and requested_by != message.user_id
        and not message.payload.get("to_staff")
    )


def _is_ai_answer(outcome: TurnOutcome) -> bool:
    """An answer the agents wrote (rated with 👍 / 👎): not an apology, a hand-over note, a
    confirmation question or a refusal."""
    return bool(
        outcome.reply
        and outcome.agent_path
        and outcome.error is None
        and outcome.escalation is None
        and outcome.confirmation is None
        and not outcome.stopped
    )

"""Slash-command pipelines in Slack: run a command the worker took from the inbox, show its
progress in one channel message, and turn that message into the report.

1. The report row is created first (keyed by the command's inbox id), then the progress
   message is posted and its ts recorded. A command resumed after a crash finds both: a
   delivered report is not delivered again, a finished one is delivered without running the
   models again, and an unfinished one runs again in the same message.
2. Each step's start, retry, end or failure updates the message (`chat.update`, at most once
   per `update_interval_s`, the latest state last).
3. The message becomes the report in Block Kit; a report longer than `message_chars` shows
   its beginning and is uploaded whole as a Markdown file in the message's thread (a resumed
   command looks for its file there before uploading it again).

The one window left: a crash between posting a message and recording its ts (one local
write) leaves that message behind, and the resumed command posts a new one.

When the desk cannot post in the channel (not a member, archived), the report goes to the
user's DM with the desk, and the user is told so privately.

Who sees a report (`may_run`, `destination`): `/support-report` runs only for support staff
unless SUPPORT_REPORT_ACCESS=everyone. A report of a staff member that may quote tickets
(`/research`, `/support-report`) is posted in the staff channel (ESCALATION_CHANNEL; without
one, in the staff member's DM with the desk), unless the command was given there or in a DM.
Everyone else's reports are de-identified by the pipelines and posted where the command was
given.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from agents_config.context import Caller, DeskContext
from agents_config.pipelines import (
    DEFAULT_DAYS,
    DEFAULT_ROUNDS,
    PipelineResult,
    Pipelines,
    StepEvent,
)
from agents_config.pipelines.base import describe
from bot.blocks import KIND_LABELS, UPLOAD_COMMENT, Block, progress_message, report_message
from bot.mrkdwn import Mrkdwn, channel_mention
from bot.slack import SlackGateway
from storage.inbox import InboxItem
from storage.reports import Report
from storage.store import Store

log = logging.getLogger(__name__)

REPORT_EVENT_TYPE = "support_desk_report"
CANNOT_POST = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot"}
)


@dataclass
class RunnerOptions:
    message_chars: int = 12_000  # longer reports are uploaded as a Markdown file
    update_interval_s: float = 1.0  # at most one progress update per interval
    staff_channel: str | None = None  # ESCALATION_CHANNEL
    support_report_access: str = "staff"  # SUPPORT_REPORT_ACCESS: staff | everyone


TICKET_PIPELINES = frozenset({"research", "support-report"})  # may quote tickets to staff
STAFF_ONLY_TEXT = Mrkdwn(
    "`/support-report` is for the support staff: it describes other people's tickets. "
    "Ask someone in the support team if you need its numbers."
)


def may_run(kind: str, *, is_staff: bool, support_report_access: str) -> bool:
    """Whether the caller may run pipeline `kind` (only `/support-report` is restricted)."""
    return kind != "support-report" or is_staff or support_report_access == "everyone"


def destination(
    kind: str, *, channel: str, user_id: str, is_staff: bool, staff_channel: str | None
) -> str:
    """Where the report of `kind`, asked for in `channel`, is posted (see the module doc)."""
    if not is_staff or kind not in TICKET_PIPELINES:
        return channel
    if channel.startswith("D") or channel == staff_channel:
        return channel
    return staff_channel or user_id  # a user id: chat.postMessage opens the DM


def pipeline_title(kind: str, args: dict[str, Any]) -> str:
    """The report's title before the pipeline runs (the pipeline may refine it)."""
    if kind == "support-report":
        return f"Support report: last {args.get('days', DEFAULT_DAYS)} days"
    subject = " ".join(str(args.get("topic") or args.get("question") or "").split())
    subject = subject if len(subject) <= 80 else subject[:79] + "…"
    return f"{KIND_LABELS.get(kind, kind.title())}: {subject}"


class PipelineRunner:
    def __init__(
        self,
        store: Store,
        slack: SlackGateway,
        pipelines: Pipelines,
        options: RunnerOptions | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.pipelines = pipelines
        self.options = options or RunnerOptions()

    async def run(self, item: InboxItem, caller: Caller) -> str | None:
        """Run the command of inbox row `item`; return the ts of the report's message."""
        try:
            return await self._run(item, caller)
        except SlackApiError as exc:  # the user was told "working on it": say it went wrong
            await self._tell(
                item,
                Mrkdwn(
                    "Sorry, I couldn't post the result in Slack ({}). Please try again later."
                ).format(str(exc.response.get("error"))),
            )
            raise

    async def _run(self, item: InboxItem, caller: Caller) -> str | None:
        kind = str(item.payload.get("pipeline") or "")
        args: dict[str, Any] = dict(item.payload.get("args") or {})
        extra = {"inbox_id": item.id, "pipeline": kind, "user": item.user_id}
        if kind == "repost":
            return await self._repost(item, int(args["report_id"]))
        if kind not in KIND_LABELS:
            raise ValueError(f"unknown pipeline {kind!r}")
        options = self.options
        if not may_run(
            kind, is_staff=caller.is_staff, support_report_access=options.support_report_access
        ):
            log.info("pipeline refused: for staff only", extra=extra)
            await self._tell(item, STAFF_ONLY_TEXT)
            return None
        reports = self.store.reports
        report = await reports.start(
            inbox_id=item.id,
            kind=kind,
            user_id=item.user_id,
            channel=destination(
                kind,
                channel=item.channel,
                user_id=item.user_id,
                is_staff=caller.is_staff,
                staff_channel=options.staff_channel,
            ),
            title=pipeline_title(kind, args),
            request=item.text,
        )
        extra["report_id"] = report.id
        if report.delivered_at is not None:
            log.info("report already delivered before a restart", extra=extra)
            return report.message_ts
        if not report.finished:
            progress = await self._progress(report, item)
            context = DeskContext(
                store=self.store,
                caller=caller,
                ticket_id=0,
                channel=report.channel,
                thread_ts=item.thread_ts,
            )
            try:
                result = await self._execute(kind, args, context, progress)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or an outage: the user still gets a clear note
                log.exception("pipeline failed", extra=extra)
                result = PipelineResult(
                    kind=kind,
                    title=report.title,
                    markdown="",
                    notes=[f"The {KIND_LABELS[kind].lower()} failed ({describe(exc)})."],
                    public=not caller.is_staff,
                )
            finally:
                await progress.close()
            report = await reports.finish(
                report.id,
                status=result.status,
                title=result.title,
                body=result.markdown,
                notes=result.notes,
                steps=result.step_dicts(),
                data=result.stored_data(),
            )
            log.info(
                "pipeline finished",
                extra={**extra, "status": report.status, "steps": len(report.steps)},
            )
        return await self._deliver(report, item)

    async def _execute(
        self,
        kind: str,
        args: dict[str, Any],
        context: DeskContext,
        progress: ProgressMessage,
    ) -> PipelineResult:
        if kind == "research":
            return await self.pipelines.research(
                str(args["topic"]), context=context, progress=progress
            )
        if kind == "debate":
            return await self.pipelines.debate(
                str(args["question"]),
                rounds=int(args.get("rounds", DEFAULT_ROUNDS)),
                context=context,
                progress=progress,
            )
        return await self.pipelines.support_report(
            days=int(args.get("days", DEFAULT_DAYS)), context=context, progress=progress
        )

    # ---- the progress message -----------------------------------------------------------

    async def _progress(self, report: Report, item: InboxItem) -> ProgressMessage:
        resumed = report.message_ts is not None
        progress = ProgressMessage(
            self.slack, report, self.options.update_interval_s, resumed=resumed
        )
        text, blocks = progress.render()
        if report.message_ts is not None:
            await self.slack.update_message(report.channel, report.message_ts, text, blocks)
        else:
            channel, ts = await self._post(report, item, text, blocks)
            await self.store.reports.set_message(report.id, channel, ts)
            progress.channel, progress.ts = channel, ts
        return progress

    async def _post(
        self, report: Report, item: InboxItem, text: Mrkdwn, blocks: list[Block]
    ) -> tuple[str, str]:
        """Post in the report's channel, or in the user's DM when the desk cannot post there."""
        metadata = {"event_type": REPORT_EVENT_TYPE, "event_payload": {"report": report.id}}
        try:
            return await self.slack.post_message(report.channel, text, blocks, metadata=metadata)
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
            log.info(
                "cannot post in the channel; using the DM",
                extra={"channel": report.channel, "error": exc.response.get("error")},
            )
            posted = await self.slack.post_message(report.user_id, text, blocks, metadata=metadata)
            await self._tell(
                item,
                Mrkdwn("I can't post in {}, so the result will be in our direct messages.").format(
                    channel_mention(report.channel)
                ),
            )
        return posted

    # ---- the report -----------------------------------------------------------------------

    async def _deliver(self, report: Report, item: InboxItem) -> str:
        long = len(report.body) > self.options.message_chars
        filename = f"report-{report.id}.md"
        text, blocks = report_message(report, filename if long else None)
        ts = report.message_ts
        updated = ts is not None and await self.slack.update_message(
            report.channel, ts, text, blocks
        )
        if not updated:  # never posted (a re-post), or the message is gone
            channel, ts = await self._post(report, item, text, blocks)
            await self.store.reports.set_message(report.id, channel, ts)
            report = await self.store.reports.get(report.id) or report
        assert ts is not None
        if long and report.file_id is None:
            found = (
                await self.slack.find_file(report.channel, ts, filename)
                if item.attempts > 1
                else None
            )
            file_id = found or await self.slack.upload_file(
                report.channel,
                ts,
                content=report.body,
                filename=filename,
                title=report.title,
                comment=UPLOAD_COMMENT,
            )
            await self.store.reports.set_file(report.id, file_id)
        await self.store.reports.mark_delivered(report.id)
        log.info(
            "report delivered",
            extra={"report_id": report.id, "channel": report.channel, "file": long},
        )
        return ts

    async def _tell(self, item: InboxItem, text: Mrkdwn) -> None:
        """A private note to the user who ran the command, through its response_url."""
        url = item.payload.get("response_url")
        if url:
            await self.slack.respond(str(url), text)

    async def _repost(self, item: InboxItem, source_id: int) -> str:
        """Post a stored report again, in the channel the command came from."""
        source = await self.store.reports.get(source_id)
        if source is None or source.user_id != item.user_id or not source.finished:
            raise ValueError(f"report #{source_id} cannot be re-posted by {item.user_id}")
        reports = self.store.reports
        report = await reports.start(
            inbox_id=item.id,
            kind=source.kind,
            user_id=item.user_id,
            # A report made for staff goes where only staff see it, wherever it is re-posted.
            channel=destination(
                source.kind,
                channel=item.channel,
                user_id=item.user_id,
                is_staff=source.data.get("audience", "staff") == "staff",
                staff_channel=self.options.staff_channel,
            ),
            title=source.title,
            request=item.text,
            source_id=source.id,
        )
        if report.delivered_at is not None:
            return str(report.message_ts)
        if not report.finished:
            report = await reports.finish(
                report.id,
                status=source.status,
                title=source.title,
                body=source.body,
                notes=source.notes,
                steps=source.steps,
                data=source.data,
            )
        return await self._deliver(report, item)


class ProgressMessage:
    """The `Progress` callback of one run: keeps each step's latest event and shows them.

    Updates are throttled to one per `interval_s`; an event inside the interval is shown by
    a deferred update, and updates never overlap (the latest state is always shown last).
    """

    def __init__(
        self,
        slack: SlackGateway,
        report: Report,
        interval_s: float,
        *,
        resumed: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slack = slack
        self.report = report
        self.channel, self.ts = report.channel, report.message_ts
        self.interval_s = interval_s
        self.resumed = resumed
        self.clock = clock
        self.steps: dict[str, StepEvent] = {}
        self.total_s = 0.0
        self._last = float("-inf")
        self._lock = asyncio.Lock()
        self._deferred: asyncio.Task[None] | None = None

    async def __call__(self, event: StepEvent) -> None:
        self.steps[event.step] = event
        self.total_s = max(self.total_s, event.total_s)
        wait = self._last + self.interval_s - self.clock()
        if wait <= 0:
            await self.flush()
        elif self._deferred is None or self._deferred.done():
            self._deferred = asyncio.create_task(self._flush_later(wait))

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.flush()

    async def flush(self) -> None:
        if self.ts is None:
            return
        async with self._lock:
            self._last = self.clock()
            text, blocks = self.render()
            await self.slack.update_message(self.channel, self.ts, text, blocks)

    async def close(self) -> None:
        """Stop a deferred update (the report replaces the progress next)."""
        if self._deferred is not None and not self._deferred.done():
            self._deferred.cancel()
            await asyncio.gather(self._deferred, return_exceptions=True)

    def render(self) -> tuple[Mrkdwn, list[Block]]:
        return progress_message(
            self.report, self.steps.values(), self.total_s, resumed=self.resumed
        )

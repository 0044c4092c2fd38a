"""Slash-command pipelines in Slack: run a command the worker took from the inbox, show its
progress in one channel message, and turn that message into the report.

1. The report row is created first (keyed by the command's inbox id), then the report's
   message is posted ("working on it") and its ts recorded. A command resumed after a crash
   finds both: a delivered report is not delivered again, a finished one is delivered
   without running the models again, and an unfinished one runs again in the same message.
2. The steps stream in that message's thread, as answers do (`bot.streaming.AnswerStream`:
   chat.startStream / appendStream / stopStream, each step a task update that moves from in
   progress to done or failed, at most one call per `flush_interval_s`). The stream's ts is
   recorded on the command's inbox row before anything is appended, so a resumed command
   finishes that same streamed message (`chat.update`) instead of starting a second one; a
   stream Slack closes mid-way is finished the same way.
3. The message becomes the report in Block Kit (one `chat.update`), and the stream ends with
   a line saying so; a report longer than `message_chars` shows its beginning and is
   uploaded whole as a Markdown file in the message's thread (a resumed command looks for
   its file there before uploading it again).

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
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError

from agents_config.context import Caller, DeskContext
from agents_config.pipelines import (
    DEFAULT_DAYS,
    DEFAULT_ROUNDS,
    PipelineResult,
    Pipelines,
    Progress,
    StepEvent,
)
from agents_config.pipelines.base import in_words
from agents_config.progress import Step, StepStatus
from bot.blocks import (
    KIND_LABELS,
    UPLOAD_COMMENT,
    Block,
    duration,
    pipeline_started,
    report_message,
    step_title,
)
from bot.mrkdwn import Mrkdwn, channel_mention
from bot.slack import SlackGateway
from bot.streaming import AnswerStream
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
    flush_interval_s: float = 0.7  # STREAM_FLUSH_MS: at most one stream call per interval
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
        if report.message_ts is None:
            await self._post_started(report, item)
            report = await reports.get(report.id) or report
        elif not report.finished:
            text, blocks = pipeline_started(report, resumed=True)
            await self.slack.update_message(report.channel, report.message_ts, text, blocks)
        stream = await self._stream(report, item, extra)
        if not report.finished:
            report = await self._execute_and_store(report, item, caller, stream, kind, args)
            log.info(
                "pipeline finished",
                extra={**extra, "status": report.status, "steps": len(report.steps)},
            )
        return await self._deliver(report, item, stream)

    async def _execute_and_store(
        self,
        report: Report,
        item: InboxItem,
        caller: Caller,
        stream: AnswerStream,
        kind: str,
        args: dict[str, Any],
    ) -> Report:
        """Run the pipeline, its steps streamed as tasks; store what it made."""
        context = DeskContext(
            store=self.store,
            caller=caller,
            ticket_id=0,
            channel=report.channel,
            thread_ts=item.thread_ts,
        )

        async def progress(event: StepEvent) -> None:
            await stream(Step(event.step, step_title(event), STEP_STATUS[event.status]))

        try:
            result = await self._execute(kind, args, context, progress)
        except asyncio.CancelledError:  # a shutdown: the resumed command adopts the stream
            await stream.halt()
            raise
        except Exception as exc:  # a bug or an outage: the user still gets a clear note
            log.exception("pipeline failed", extra={"inbox_id": item.id, "report_id": report.id})
            result = PipelineResult(
                kind=kind,
                title=report.title,
                markdown="",
                notes=[f"The {KIND_LABELS[kind].lower()} failed ({in_words(exc)})."],
                public=not caller.is_staff,
            )
        return await self.store.reports.finish(
            report.id,
            status=result.status,
            title=result.title,
            body=result.markdown,
            notes=result.notes,
            steps=result.step_dicts(),
            data=result.stored_data(),
        )

    async def _execute(
        self,
        kind: str,
        args: dict[str, Any],
        context: DeskContext,
        progress: Progress,
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

    # ---- the report's message and its stream of steps -------------------------------------

    async def _post_started(self, report: Report, item: InboxItem) -> None:
        """The report's message, "working on it", its ts recorded at once."""
        text, blocks = pipeline_started(report, resumed=False)
        channel, ts = await self._post(report, item, text, blocks)
        await self.store.reports.set_message(report.id, channel, ts)

    async def _stream(self, report: Report, item: InboxItem, extra: dict[str, Any]) -> AnswerStream:
        """The steps' stream in the report message's thread: a new one, or the one an earlier
        attempt started (its content unknown: it is finished whole, by `chat.update`)."""
        assert report.message_ts is not None
        if item.attempts > 1:  # a stream started since this row was claimed is on the row
            stored = await self.store.inbox.get(item.id)
            item = replace(item, stream_ts=stored.stream_ts if stored else item.stream_ts)
        if item.stream_ts:
            thread = _typed_in(item, report) or report.message_ts
            return AnswerStream.adopt(self.slack, report.channel, thread, item.id, item.stream_ts)

        async def started(ts: str) -> None:
            await self.store.inbox.set_stream(item, report.channel, ts)

        return AnswerStream(
            self.slack,
            report.channel,
            _typed_in(item, report) or report.message_ts,
            item.id,
            recipient_user_id=item.user_id,
            recipient_team_id=await self.slack.team_id(),
            on_started=started,
            flush_interval_s=self.options.flush_interval_s,
            log_extra=extra,
        )

    async def _post(
        self, report: Report, item: InboxItem, text: Mrkdwn, blocks: list[Block]
    ) -> tuple[str, str]:
        """Post in the report's channel, or in the user's DM when the desk cannot post there."""
        metadata = {"event_type": REPORT_EVENT_TYPE, "event_payload": {"report": report.id}}
        try:
            return await self.slack.post_message(
                report.channel,
                text,
                blocks,
                thread_ts=_typed_in(item, report),
                metadata=metadata,
            )
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

    async def _deliver(
        self, report: Report, item: InboxItem, stream: AnswerStream | None = None
    ) -> str:
        """The message becomes the report (the long ones as a file too); the stream of its
        steps ends with a line saying so. Marked delivered last: a crash before that
        delivers it again, into the same messages."""
        long = len(report.body) > self.options.message_chars
        filename = f"report-{report.id}.md"
        text, blocks = report_message(report, filename if long else None)
        if stream is not None:  # the steps are shown before the report they made
            await stream.flush()
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
            thread = _typed_in(item, report) or ts
            found = (
                await self.slack.find_file(report.channel, thread, filename)
                if item.attempts > 1
                else None
            )
            file_id = found or await self.slack.upload_file(
                report.channel,
                thread,
                content=report.body,
                filename=filename,
                title=report.title,
                comment=UPLOAD_COMMENT,
            )
            await self.store.reports.set_file(report.id, file_id)
        if stream is not None:
            await stream.finish(_closing(report), failed=report.status != "complete")
        await self.store.reports.mark_delivered(report.id)
        log.info(
            "report delivered",
            extra={"report_id": report.id, "channel": report.channel, "file": long},
        )
        return ts

    async def _tell(self, item: InboxItem, text: Mrkdwn) -> None:
        """A note to the user who ran the command: privately through its response_url, or
        in the DM thread the command was typed in."""
        url, thread = item.payload.get("response_url"), item.payload.get("thread_ts")
        if url:
            await self.slack.respond(str(url), text)
        elif thread:
            await self.slack.post_in_thread(item.channel, str(thread), text)

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


def _typed_in(item: InboxItem, report: Report) -> str | None:
    """The DM thread a command was typed in (its report and steps go there), when the report
    is posted in that DM."""
    thread = item.payload.get("thread_ts")
    return str(thread) if thread and report.channel == item.channel else None


# A pipeline's step status as a task's status in its stream.
STEP_STATUS: dict[str, StepStatus] = {
    "running": "in_progress",
    "retrying": "in_progress",
    "done": "complete",
    "skipped": "complete",
    "failed": "error",
}


def _closing(report: Report) -> str:
    """The last words of the steps' stream (Markdown): how it went, where the report is."""
    took = duration((report.finished_at or report.created_at) - report.created_at)
    outcome = {
        "complete": "Done",
        "partial": "Done, but not every step finished",
        "failed": "The report could not be finished",
    }.get(report.status, "Done")
    return f"{outcome}: {len(report.steps)} steps in {took}. The report is above."

"""One streamed answer in Slack: the text grows as the model writes it, each step shows as a task.

`AnswerStream` is the `progress` callback of `Desk.handle` (see `agents_config.progress`). At
the model's first words, or once `flush_interval_s` has passed with steps to show, it starts
the stream with the steps so far and its Stop button (slack_sdk's `chat_stream` helper:
chat.startStream, then chat.appendStream, chat.stopStream), has the stream's ts recorded
(`on_started`, the inbox row) before any words are appended, and buffers: at most one
append per `flush_interval_s` (or when `FLUSH_CHARS` are waiting), so 50 threads at once cost
about 50 calls a second, not one per token. While it streams it shows a Stop button; the
requester's click (`stop_requested`) raises `StopAnswer` into the run.

The answer is delivered exactly once by `finish`: when the streamed text is the start of the
final answer, the stream is stopped with the rest of it (and the reply metadata, so a restarted
desk finds it); when it is not (an apology, a hand-over note, a stream Slack closed, a 429 that
outlived its retries), the message is replaced with `chat.update` on the stream's ts, and only
if that is refused is the answer posted. An answer longer than one stream continues in
follow-up messages, as posted answers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_chat_stream import AsyncChatStream

from agents_config.progress import ProgressEvent, Step, StopAnswer, TextDelta, Waiting
from bot.blocks import answer_blocks
from bot.mrkdwn import (
    STREAM_JOINER,
    Mrkdwn,
    escape,
    links_in,
    quotes_kept,
    show_targets,
    split_message,
    to_mrkdwn,
)
from bot.slack import Blocks, SlackGateway, reply_metadata, safe_blocks
from storage.inbox import LeaseLost

log = logging.getLogger(__name__)

FLUSH_CHARS = 1_500  # send at once when this much text waits
STREAM_TEXT_LIMIT = 11_000  # most text of one streamed message; the rest follows below it
ANSWERED_BELOW = Mrkdwn("_(Answered below.)_")
STREAMED_LIMIT = STREAM_TEXT_LIMIT - 1_000  # streamed live (the last part waits for the cut)


class AnswerStream:
    """The streamed reply to one turn (one message in the thread)."""

    def __init__(
        self,
        slack: SlackGateway,
        channel: str,
        thread_ts: str,
        turn: int,
        *,
        recipient_user_id: str | None,
        recipient_team_id: str | None,
        on_started: Callable[[str], Awaitable[None]],
        stop_requested: Callable[[], Awaitable[bool]] | None = None,
        stop_control: Blocks | None = None,
        prefix: str = "",
        flush_interval_s: float = 0.7,
        log_extra: dict[str, Any] | None = None,
    ) -> None:
        self.slack = slack
        self.channel = channel
        self.thread_ts = thread_ts
        self.turn = turn
        self.recipient_user_id = recipient_user_id
        self.recipient_team_id = recipient_team_id
        self.on_started = on_started
        self.stop_requested = stop_requested
        self.stop_control = stop_control
        self.flush_interval_s = flush_interval_s
        self.extra = log_extra or {}
        self.calls = 0  # Slack calls made by this stream (for the benchmark)
        self._stream: AsyncChatStream | None = None
        self._ts: str | None = None
        self._live_links = links_in(channel) == "live"
        self._written = escape(prefix)  # everything meant for the message so far
        self._sent = 0  # how much of `_written` Slack has
        self._tasks: dict[str, dict[str, Any]] = {}  # task_update chunks by id, latest state
        self._pending_tasks: dict[str, dict[str, Any]] = {}
        self._same_as: dict[str, str] = {}  # a step shown under an earlier one's task
        self._words = False  # the model's first words came (they are sent without waiting)
        self._broken = False  # Slack refused a call: no more streaming, `finish` replaces
        self.lease_lost = False  # the ts was refused: the row is another worker's now
        # The stream starts with the model's first words, or with the steps so far once
        # `flush_interval_s` has passed: a quick answer costs no call for a lone first step.
        self._last_flush = time.monotonic()
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    @property
    def ts(self) -> str | None:
        """The streamed message's ts, once Slack started it."""
        return self._ts

    @classmethod
    def adopt(
        cls, slack: SlackGateway, channel: str, thread_ts: str, turn: int, ts: str
    ) -> AnswerStream:
        """The stream of an earlier attempt (a restart mid-stream): its content is unknown,
        so `finish` replaces it with the whole answer."""

        async def nothing(_: str) -> None:
            return None

        stream = cls(
            slack,
            channel,
            thread_ts,
            turn,
            recipient_user_id=None,
            recipient_team_id=None,
            on_started=nothing,
        )
        stream._ts = ts
        stream._broken = True
        return stream

    def _markdown(self, text: str, after: str = "") -> Mrkdwn:
        """Text for the stream's Markdown: escaped, a line's leading ">" still a quote (the
        help centre's words are quoted), and in a channel with link targets in view
        (`show_targets`); also across two pieces (`after`: what the stream holds before)."""
        if not self._live_links:
            if after.endswith("]") and text.startswith("("):
                text = STREAM_JOINER + text
            text = show_targets(text)
        return quotes_kept(escape(text), at_line_start=after in ("", "\n"))

    # ---- while the run goes on --------------------------------------------------------

    async def __call__(self, event: ProgressEvent) -> None:
        if self._broken:
            return
        if isinstance(event, Waiting):  # the run is quiet: only a Stop to look for
            await self._check_stop()
            return
        first_words = False
        if isinstance(event, TextDelta):
            first_words, self._words = not self._words, True  # shown at once, not buffered
            self._written += self._markdown(event.text, after=self._written[-1:])
        elif isinstance(event, Step):
            self._task(event)
        if first_words or self._due():
            await self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())
        await self._check_stop()

    async def show_working(self, title: str) -> bool:
        """Start the stream now, with the steps so far or else an in-progress `title`, when
        the answer is slow to show anything (instead of a 👀 reaction: the user sees the desk
        at work, in the message the answer then grows in). False when it cannot: a stream
        left by an earlier attempt, or one Slack refused."""
        if self._ts is None and not self._broken:
            if not self._tasks:
                self._task(Step("agent:working", title, "in_progress"))
            await self._flush()
        return self._ts is not None and not self._broken

    async def flush(self) -> None:
        """Send what waits in the buffer now (the steps, before what follows them)."""
        await self._stop_timer()
        await self._flush()

    async def _check_stop(self) -> None:
        """Raise `StopAnswer` when the requester clicked Stop. `stop_requested` is asked at
        every event once the stream shows, so it must be cheap: the worker's answers one from
        memory (`bot.worker.StopRequests` reads the database for all streams at once)."""
        if self.stop_requested is None or self._ts is None:
            return
        if await self.stop_requested():
            raise StopAnswer()

    def _task(self, step: Step, status: str | None = None) -> None:
        """Show `step` as a task; a new step titled as an earlier one (the hand-over to our
        staff, then its tool) moves that task instead of showing the same line twice."""
        task_id = self._same_as.get(step.id, step.id)
        if task_id not in self._tasks and step.title:
            twin = next((t["id"] for t in self._tasks.values() if t["title"] == step.title), None)
            if twin is not None:
                self._same_as[step.id] = task_id = twin
        known = self._tasks.get(task_id, {})
        chunk = {
            "type": "task_update",
            "id": task_id,
            "title": step.title or known.get("title") or "Working on it",
            "status": status or step.status,
        }
        self._tasks[task_id] = chunk
        self._pending_tasks[task_id] = chunk

    def _due(self) -> bool:
        waiting = len(self._written) - self._sent
        return (
            time.monotonic() - self._last_flush >= self.flush_interval_s or waiting >= FLUSH_CHARS
        )

    async def _flush_later(self) -> None:
        await asyncio.sleep(max(0.0, self.flush_interval_s - (time.monotonic() - self._last_flush)))
        self._timer = None
        await self._flush()

    def _streamable(self) -> str:
        """The text not sent yet that fits in the stream."""
        end = min(len(self._written), STREAMED_LIMIT)
        return str(self._written[self._sent : end]) if end > self._sent else ""

    async def _flush(self) -> None:
        async with self._lock:
            text = self._streamable()
            chunks: list[dict[str, Any]] = list(self._pending_tasks.values())
            if self._broken or (not text and not chunks):
                return
            self._pending_tasks = {}
            try:
                if self._stream is None:
                    chunks = await self._start(chunks)
                    if self._broken or not (text or chunks):
                        return
                assert self._stream is not None
                self.calls += 1
                await self._stream.append(markdown_text=text, chunks=chunks)
                self._sent += len(text)
                self._last_flush = time.monotonic()
                if self._ts is None and self._stream.ts:
                    await self._record(self._stream.ts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a closed stream, a 429 past its retries, a lost link
                self._broken = True
                log.warning(
                    "streaming stopped; the answer is delivered whole at the end",
                    extra={**self.extra, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )

    async def _start(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Start the stream with its steps and Stop button and have its ts recorded before
        the first words are appended: a desk killed in between finds the stream on restart
        and finishes that message, not a second one. The chunks still to send: none, or
        all of them when there is nothing to start with but the words (no Stop button and no
        step, which the worker's answers always have)."""
        if self.stop_control:
            chunks = [*chunks, {"type": "blocks", "blocks": safe_blocks(self.stop_control)}]
        self._stream = await self.slack.chat_stream(
            self.channel,
            self.thread_ts,
            recipient_user_id=self.recipient_user_id,
            recipient_team_id=self.recipient_team_id,
        )
        if not chunks:
            return chunks
        self.calls += 1
        await self._stream.append(chunks=chunks)
        self._last_flush = time.monotonic()
        if self._stream.ts:
            await self._record(self._stream.ts)
        return []

    async def _record(self, ts: str) -> None:
        """Have the stream's ts recorded before anything is appended to it. A stream whose
        ts cannot be recorded could not be found after a restart: it is deleted, and the
        answer is posted at the end as a message (found by its metadata), unless the row
        is another worker's now (`lease_lost`)."""
        try:
            await self.on_started(ts)
        except Exception as exc:
            self.lease_lost = isinstance(exc, LeaseLost)
            if self.lease_lost:  # another worker took the message over: it answers, not this
                log.info("another worker took this message over", extra=self.extra)
            else:
                log.warning(
                    "could not record the stream; the answer is posted whole at the end",
                    extra={**self.extra, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            self._broken = True
            await self.slack.delete_message(self.channel, ts)
            return
        self._ts = ts

    # ---- the end ------------------------------------------------------------------------

    async def finish(
        self,
        markdown: str,
        blocks: Blocks | None = None,
        *,
        failed: bool = False,
        stopped: bool = False,
    ) -> str | None:
        """Deliver the whole answer once; its ts, or None when nothing was ever streamed (the
        caller posts it as usual). `failed`: steps still running are shown as failed.
        `stopped`: the user stopped it, `markdown` is the note that follows what was shown."""
        await self._stop_timer()
        if self._ts is None and not self._broken and not stopped:
            # Nothing shown yet (a quick answer): start the stream with the answer itself, so
            # every answer is one message of the same kind, its ts recorded first.
            self._written = self._markdown(_cut(markdown, STREAM_TEXT_LIMIT)[0])
            await self._flush()
        async with self._lock:
            if self._ts is None:
                return None
            if stopped:
                markdown = str(self._written[: self._sent]) + "\n\n" + markdown
                failed = True
            status = "error" if failed else "complete"
            for task in list(self._tasks.values()):
                if task["status"] == "in_progress":
                    self._pending_tasks[task["id"]] = {**task, "status": status}
            head_markdown, rest = _cut(markdown, STREAM_TEXT_LIMIT)
            head = head_markdown if stopped else str(self._markdown(head_markdown))
            shown = str(self._written[: self._sent])
            if not self._broken and head.startswith(shown):
                if await self._stop(
                    head[len(shown) :], blocks if not rest else None, metadata=True
                ):
                    if rest:  # a long answer continues below, as posted answers do
                        await self.slack.post_reply(
                            self.channel, self.thread_ts, rest, self.turn, feedback=blocks
                        )
                    return self._ts
            elif not self._broken:
                await self._stop("", None, metadata=False)  # what follows replaces it
            return await self._replace(markdown, blocks)

    async def close_quietly(self) -> None:
        """End the stream without an answer of its own (the answer is another message: a
        Confirm / Cancel question); its steps are shown as done."""
        await self._stop_timer()
        async with self._lock:
            if self._ts is None:
                return
            if self._broken:  # a stream Slack closed, or one left by a restart: tidy it
                await self._end_adopted()
                below = answer_blocks(ANSWERED_BELOW, None)  # blocks: the Stop button goes
                await self.slack.update_message(self.channel, self._ts, ANSWERED_BELOW, below)
                return
            for task in list(self._tasks.values()):
                if task["status"] == "in_progress":
                    self._pending_tasks[task["id"]] = {**task, "status": "complete"}
            await self._stop("", None, metadata=False)

    async def _stop(self, text: str, blocks: Blocks | None, *, metadata: bool) -> bool:
        assert self._stream is not None
        chunks = list(self._pending_tasks.values())
        self._pending_tasks = {}
        try:
            self.calls += 1
            await self._stream.stop(
                markdown_text=text or None,
                chunks=chunks or None,
                blocks=blocks,
                metadata=reply_metadata(self.turn) if metadata else None,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._broken = True
            log.warning(
                "could not stop the stream; replacing the message",
                extra={**self.extra, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return False
        return True

    async def _replace(self, markdown: str, feedback: Blocks | None) -> str:
        """The whole answer in place of what was streamed (`chat.update` on the stream's
        ts, in blocks so the Stop button goes; the rest below it, the feedback under the
        last part); posted instead only when Slack refuses the update."""
        assert self._ts is not None
        await self._end_adopted()
        parts = split_message(to_mrkdwn(markdown, links=links_in(self.channel)))
        first, rest = parts[0], parts[1:]
        shown = answer_blocks(first, None if rest else feedback)
        self.calls += 1
        if await self.slack.update_message(self.channel, self._ts, first, shown, turn=self.turn):
            if rest:
                await self.slack.post_parts(
                    self.channel, self.thread_ts, rest, self.turn, feedback=feedback
                )
            return self._ts
        log.warning(
            "the streamed message could not be replaced; posting the answer", extra=self.extra
        )
        return await self.slack.post_reply(
            self.channel, self.thread_ts, markdown, self.turn, feedback=feedback
        )

    async def _end_adopted(self) -> None:
        """A stream left by an earlier attempt (`adopt`) may still be streaming in Slack:
        stopped first, so that `chat.update` replaces a finished message."""
        if self._stream is None and self._ts is not None:
            await self.slack.end_stream(self.channel, self._ts)

    async def halt(self) -> None:
        """Send nothing more (the turn failed: its retry adopts this message)."""
        self._broken = True
        await self._stop_timer()

    async def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None


def _cut(text: str, limit: int) -> tuple[str, str]:
    """`text` cut at a line or word boundary in the last 1,000 characters before `limit`
    (so never before what `STREAMED_LIMIT` let through), else at `limit`."""
    if len(text) <= limit:
        return text, ""
    floor = limit - 1_000
    cut = text.rfind("\n", floor, limit)
    if cut < 0:
        cut = text.rfind(" ", floor, limit)
    if cut < 0:
        cut = limit
    return text[:cut], text[cut:].lstrip()

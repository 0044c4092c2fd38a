"""Slash commands: /research, /debate, /support-report, given as commands or typed as a
message in a DM with the desk (where Slack's assistant threads cannot run commands: a
suggested prompt only sends a message).

Nothing slow: parse the command (bad usage gets the help text and no inbox row), check who
may run it and the user's number of running pipelines, record it in the inbox. The answer
to show the user comes back: the slash command's ack carries it privately; a typed command's
is posted in its thread by the worker. The worker runs the pipeline (`bot.pipelines`).
`/research list` only reads the user's stored reports and is answered at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.intake import MAX_TEXT_CHARS
from bot.mrkdwn import Mrkdwn, channel_mention, date, escape
from bot.payloads import MAX_ID, scrub, whole_number
from bot.pipelines import STAFF_ONLY_TEXT, TICKET_PIPELINES, destination, may_run
from storage.redaction import redact_secrets
from storage.reports import Report
from storage.store import Store

log = logging.getLogger(__name__)

COMMANDS = ("/research", "/debate", "/support-report")
MAX_TOPIC_CHARS = 1500
MAX_DAYS = 365
LIST_LIMIT = 10
_KEY_VALUE = re.compile(r"^([A-Za-z][\w-]*)=(\S*)$")


@dataclass(frozen=True)
class CommandOptions:
    max_per_user: int = 2  # PIPELINE_MAX_PER_USER
    debate_max_rounds: int = 5  # DEBATE_MAX_ROUNDS
    default_rounds: int = 3
    default_days: int = 7
    staff_channel: str | None = None  # ESCALATION_CHANNEL: where staff reports are posted
    support_report_access: str = "staff"  # SUPPORT_REPORT_ACCESS


@dataclass(frozen=True)
class Parsed:
    """A valid command: which pipeline (or `list` / `repost`) and its arguments."""

    pipeline: str
    args: dict[str, Any] = field(default_factory=dict)


class UsageError(Exception):
    """The command was not used right; the message says how, before the help text."""


def help_text(command: str, options: CommandOptions) -> str:
    if command == "/debate":
        return (
            "*/debate* — an optimist and a skeptic argue, then a moderator concludes.\n"
            f"• `/debate <question> [rounds=N]`: N from 1 to {options.debate_max_rounds} "
            f"(default {min(options.default_rounds, options.debate_max_rounds)}), e.g. "
            "`/debate should we offer a free plan? rounds=2`"
        )
    if command == "/support-report":
        return (
            "*/support-report* — the desk's numbers and a digest of recent tickets.\n"
            f"• `/support-report [days=N]`: the last N days, 1 to {MAX_DAYS} "
            f"(default {options.default_days})"
        )
    return (
        "*/research* — a researched report: research, analysis, writing and review.\n"
        "• `/research <topic>`, e.g. `/research how do refunds work for annual plans?`\n"
        "• Several questions at once (one per line, separated by `;`, or `1) … 2) …`) are "
        "researched part by part.\n"
        "• `/research list`: your recent reports\n"
        "• `/research repost <number>`: post one of your reports here again"
    )


def parse(command: str, text: str, options: CommandOptions) -> Parsed:
    """What the command asks for, or `UsageError`."""
    text = " ".join(text.split())
    if command == "/research":
        return _research(text)
    if command == "/debate":
        return _debate(text, options)
    if command == "/support-report":
        return _support_report(text, options)
    raise UsageError(f"I don't know the command `{command}`.")


def _split_options(text: str) -> tuple[str, dict[str, str]]:
    """The free text and the `key=value` options of a command (`--x` is an option too)."""
    words, found = [], {}
    for token in text.split():
        match = _KEY_VALUE.match(token)
        if match:
            found[match.group(1).lower()] = match.group(2)
        elif token.startswith("--") and len(token) > 2:
            found[token[2:].lower()] = ""
        else:
            words.append(token)
    return " ".join(words), found


def _unknown(found: dict[str, str], allowed: tuple[str, ...]) -> None:
    extra = [name for name in found if name not in allowed]
    if extra:
        known = f" (it takes {', '.join(f'`{a}=`' for a in allowed)})" if allowed else ""
        raise UsageError(f"Unknown option `{extra[0]}`{known}.")


def _number(found: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = found.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise UsageError(f"`{name}` must be a whole number from {low} to {high}, not `{raw[:20]}`.")
    return value


def _research(text: str) -> Parsed:
    first, _, rest = text.partition(" ")
    if first.lower() == "list" and not rest:
        return Parsed("list")
    if first.lower() in ("repost", "show"):
        report_id = whole_number(rest.lstrip("#"), 1, MAX_ID)
        if report_id is None:
            raise UsageError("Say which report to re-post, by its number: `/research repost 12`.")
        return Parsed("repost", {"report_id": report_id})
    topic, found = _split_options(text)
    _unknown(found, ())
    if not topic:
        raise UsageError("Tell me what to research.")
    if len(topic) > MAX_TOPIC_CHARS:
        raise UsageError(f"That topic is long: keep it under {MAX_TOPIC_CHARS:,} characters.")
    return Parsed("research", {"topic": topic})


def _debate(text: str, options: CommandOptions) -> Parsed:
    question, found = _split_options(text)
    _unknown(found, ("rounds",))
    default = min(options.default_rounds, options.debate_max_rounds)
    rounds = _number(found, "rounds", default, 1, options.debate_max_rounds)
    if not question:
        raise UsageError("Give me a question to debate.")
    if len(question) > MAX_TOPIC_CHARS:
        raise UsageError(f"That question is long: keep it under {MAX_TOPIC_CHARS:,} characters.")
    return Parsed("debate", {"question": question, "rounds": rounds})


def _support_report(text: str, options: CommandOptions) -> Parsed:
    rest, found = _split_options(text)
    _unknown(found, ("days",))
    if rest:
        raise UsageError(f"I didn't understand `{rest[:50]}`.")
    return Parsed(
        "support-report", {"days": _number(found, "days", options.default_days, 1, MAX_DAYS)}
    )


def working_text(parsed: Parsed, where: Mrkdwn | None = None) -> Mrkdwn:
    """The ack; `where`: the report goes elsewhere than this channel, because it may quote
    support tickets (a staff member's report)."""
    args = parsed.args
    what = {
        "research": f"researching “{args.get('topic')}”",
        "debate": f"a {args.get('rounds')}-round debate on “{args.get('question')}”",
        "support-report": f"the support report of the last {args.get('days')} days",
        "repost": f"re-posting report #{args.get('report_id')}",
    }[parsed.pipeline]
    if where:
        return Mrkdwn(
            ":hourglass_flowing_sand: Working on it: {}. It may quote support tickets, so the "
            "progress and the result will be in {}, not in this channel."
        ).format(what, where)
    return Mrkdwn(
        ":hourglass_flowing_sand: Working on it: {}. A message in this channel shows "
        "the steps in its thread, and becomes the result."
    ).format(what)


def list_text(reports: list[Report]) -> Mrkdwn:
    if not reports:
        return Mrkdwn("You have no reports yet. Try `/research &lt;topic&gt;`.")
    lines = [Mrkdwn("*Your recent reports*")]
    for report in reports:
        when = date(report.created_at, str(report.id))
        lines.append(
            Mrkdwn("• *#{}* {} · {} · {}").format(report.id, report.title, report.status, when)
        )
    lines.append(Mrkdwn("Post one here again with `/research repost &lt;number&gt;`."))
    return Mrkdwn("\n").join(lines)


@dataclass(frozen=True)
class Request:
    """A command as the user gave it. `key`: unique per command (Slack's trigger id, or the
    message it was typed in); `thread_ts`: the DM thread a typed command answers in."""

    name: str
    text: str
    user: str
    channel: str
    key: str
    response_url: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Taken:
    """What the user is told; `accepted`: recorded for the worker (the report follows)."""

    answer: Mrkdwn
    accepted: bool = False


def typed_command(text: str) -> tuple[str, str] | None:
    """(command, the rest) when a message is a command typed out ("/support-report days=3")."""
    # Any whitespace ends the name ("/research" alone on the first line, then the topic);
    # str.split() also takes a no-break space, and a zero-width space before it is dropped.
    words = text.replace("\u200b", "").split(maxsplit=1)
    if not words or words[0].lower() not in COMMANDS:
        return None
    return words[0].lower(), words[1] if len(words) > 1 else ""


class Commands:
    """Takes a command: parse, who may run it, the per-user limit, the inbox row."""

    def __init__(
        self,
        store: Store,
        options: CommandOptions,
        is_staff: Callable[[str], Awaitable[bool]],
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.options = options
        self.is_staff = is_staff  # from Slack membership, never from what was typed
        self.on_accepted = on_accepted  # wakes the worker of this process

    async def take(self, request: Request) -> Taken:
        """The answer to show the user, and whether the command was recorded."""
        # ---- privacy: no secret is stored; access and where the report goes (bot.pipelines)
        redacted = redact_secrets(scrub(request.text))
        text, secrets_note = redacted.text, redacted.notice()
        name, options = request.name, self.options
        try:
            parsed = parse(name, text, options)
        except UsageError as exc:
            # The help text shows `<topic>` as it is; the error may quote what was typed.
            return Taken(escape(f"{exc}\n\n{help_text(name, options)}"))
        posted_in = await self._destination(parsed, request)
        if posted_in is None:
            return Taken(STAFF_ONLY_TEXT)
        # ---- end privacy
        answer = await self._stored_reports_answer(parsed, request.user)
        if answer is not None:
            return Taken(answer)
        refused = await self._record(request, parsed, f"{name} {text}")
        if refused is not None:
            return Taken(refused)
        return Taken(
            _working(parsed, posted_in, request.channel, request.user, secrets_note), accepted=True
        )

    async def _destination(self, parsed: Parsed, request: Request) -> str | None:
        """Where the result is posted, or None when the user may not run the pipeline."""
        if parsed.pipeline not in TICKET_PIPELINES:
            return request.channel
        caller_is_staff = await self.is_staff(request.user)
        if not may_run(
            parsed.pipeline,
            is_staff=caller_is_staff,
            support_report_access=self.options.support_report_access,
        ):
            log.info(
                "pipeline refused: for staff only",
                extra={"user": request.user, "command": request.name},
            )
            return None
        return destination(
            parsed.pipeline,
            channel=request.channel,
            user_id=request.user,
            is_staff=caller_is_staff,
            staff_channel=self.options.staff_channel,
        )

    async def _stored_reports_answer(self, parsed: Parsed, user: str) -> Mrkdwn | None:
        """The answer to `/research list`, or to a `repost` of a report the user has not got;
        None when the command goes to the worker."""
        if parsed.pipeline == "list":
            return list_text(await self.store.reports.for_user(user, limit=LIST_LIMIT))
        if parsed.pipeline == "repost":
            report = await self.store.reports.get(parsed.args["report_id"])
            if report is None or report.user_id != user or not report.finished:
                return Mrkdwn(
                    "You have no finished report #{}. See yours with `/research list`."
                ).format(parsed.args["report_id"])
        return None

    async def _record(self, request: Request, parsed: Parsed, typed: str) -> Mrkdwn | None:
        """Record the command in the inbox for the worker; the refusal when the user already
        runs as many commands as one person may (None: recorded, or already under way)."""
        user, limit = request.user, self.options.max_per_user
        payload: dict[str, Any] = {
            "command": request.name,
            "response_url": request.response_url,
            "pipeline": parsed.pipeline,
            "args": parsed.args,
        }
        if request.thread_ts:
            payload["thread_ts"] = request.thread_ts
        inbox_id = await self.store.inbox.accept_command(
            channel=request.channel,
            ts=request.key,
            user_id=user,
            text=typed.strip()[:MAX_TEXT_CHARS],
            payload=payload,
            max_open_per_user=limit,
        )
        extra = {"user": user, "command": request.name, "pipeline": parsed.pipeline}
        # Not recorded: refused at the limit, unless delivered before (a typed command's message
        # resumed after a restart), whose own row counts among the running ones. A command
        # row's thread is its key.
        if inbox_id is None and not await self.store.inbox.has_thread(request.channel, request.key):
            running = await self.store.inbox.open_commands(user)
            if running >= limit:
                log.info("pipeline refused: per-user limit", extra={**extra, "running": running})
                return Mrkdwn(
                    "You already have {} running, the most I run at once for one person ({}). "
                    "Try again when one of them has finished."
                ).format("1 command" if running == 1 else f"{running} commands", limit)
        if inbox_id is not None:  # else a duplicate delivery: it is already under way
            self.on_accepted()
        log.info("command accepted", extra={**extra, "inbox_id": inbox_id})
        return None


def _working(parsed: Parsed, posted_in: str, channel: str, user: str, secrets_note: str) -> Mrkdwn:
    """The "working on it" ack: where the result goes, and what was removed as a secret."""
    where = None
    if posted_in != channel:
        where = Mrkdwn("our direct messages") if posted_in == user else channel_mention(posted_in)
    working = working_text(parsed, where)
    if secrets_note:
        working = Mrkdwn("{}\n{}").format(Mrkdwn(secrets_note), working)
    return working

"""`support-desk`: serve the desk in Slack, or talk to it from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from agents_config.approvals import Answer
from agents_config.context import Caller
from agents_config.desk import Desk, Turn, TurnOutcome
from storage.db import StorageError, open_database
from storage.redaction import redact_secrets
from support_desk import eval_cli
from support_desk.config import ConfigError, Settings, load_settings
from support_desk.logs import setup_logging
from support_desk.processes import WorkerSupervisor, die_with_parent, freeze_startup_objects
from support_desk.runtime import (
    DeskRuntime,
    Receiver,
    StartupError,
    WorkerRuntime,
    connect_socket_mode,
    open_desk,
)

log = logging.getLogger("support_desk")

DEFAULT_LOCAL_USER = "alice@northwind.example"
LOCAL_CHANNEL = "terminal"
_THREAD_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PRUNE_EVERY_S = 3600.0
FIRST_WORKER_WAIT_S = 60.0  # the other worker children start then, if the first is not up
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support-desk", description="An AI support desk that lives in Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="answer in Slack (Socket Mode, or HTTP with --http)")
    serve.add_argument("--http", action="store_true", help="serve Bolt's HTTP endpoint")
    serve.add_argument("--host", default="0.0.0.0", help="HTTP bind address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="only receive events: `support-desk work` answers them (elsewhere)",
    )

    sub.add_parser("work", help="only answer the inbox (serve starts this itself)")
    sub.add_parser(
        "migrate", help="create or update the schema of DATABASE_URL (or SUPPORT_DESK_DB)"
    )
    sub.add_parser("demo", help="play realistic conversations through a local Slack simulation")

    for name, text in (
        ("chat", "a conversation with the desk in this terminal"),
        ("ask", "one question, one answer, and which agents handled it"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--as",
            dest="email",
            default=DEFAULT_LOCAL_USER,
            help=f"the customer e-mail to act for (default {DEFAULT_LOCAL_USER})",
        )
        cmd.add_argument(
            "--thread",
            default=None,
            help="continue a conversation by its thread id (shown at the start of a chat)",
        )
        if name == "ask":
            cmd.add_argument("text", help="the question")
    manifest = sub.add_parser("manifest", help="print the Slack app manifest (YAML)")
    manifest.add_argument("--http", action="store_true", help="for HTTP mode (needs --url)")
    manifest.add_argument("--url", help="the desk's public address, e.g. https://desk.example")
    eval_cli.add_parsers(sub)  # eval, export-tickets
    return parser


def print_manifest(http: bool, url: str | None) -> int:
    """`support-desk manifest [--http --url URL]`: the manifest to paste into Slack."""
    from support_desk.manifest import check_url, render

    if http != bool(url):
        print("support-desk manifest: --http and --url go together", file=sys.stderr)
        return 2
    problem = check_url(url) if url else None
    if problem:
        print(f"support-desk manifest: {problem}", file=sys.stderr)
        return 2
    sys.stdout.write(render(http_url=url))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _interruptible()
    if args.command == "manifest":  # needs no settings: it runs before the app is configured
        return print_manifest(args.http, args.url)
    try:
        settings = load_settings()
        # The demo prints a transcript; its logs would drown it unless asked for.
        quiet = args.command in ("demo", "ask", "chat", "eval", "export-tickets")
        quiet = quiet and "log_level" not in settings.model_fields_set
        # An eval reports failed rows itself; a warning for each would bury its summary.
        level = "ERROR" if args.command == "eval" else "WARNING"
        setup_logging(
            level if quiet else settings.log_level,
            settings.log_format,
            sensitive=settings.log_sensitive_data,
        )
        if args.command == "serve":
            return asyncio.run(
                serve(
                    settings,
                    http=args.http,
                    host=args.host,
                    port=args.port,
                    worker=not args.no_worker,
                )
            )
        if args.command == "migrate":
            return asyncio.run(migrate(settings))
        if args.command == "work":
            return asyncio.run(work(settings))
        if args.command == "demo":
            from support_desk.demo import run_demo

            return 0 if asyncio.run(run_demo(settings)) else 1
        if args.command in ("eval", "export-tickets"):
            return eval_cli.run(settings, args)
        if args.command == "chat":
            return asyncio.run(chat(settings, args.email, args.thread))
        if not args.text.strip():
            print(
                'support-desk ask: the question is empty; try: support-desk ask "What do I owe?"',
                file=sys.stderr,
            )
            return 2
        return asyncio.run(ask(settings, args.email, args.thread, args.text))
    except (ConfigError, StorageError) as exc:
        print(f"support-desk: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:  # one line naming the setting; no traceback
        print(f"support-desk: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.command == "chat":
            # The prompt's daemon thread may hold the terminal's lock, which the interpreter
            # would wait for at exit: the conversation is saved, leave now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


def _interruptible() -> None:
    """Ctrl-C (SIGINT) stops every command. A process started by a background job of a
    non-interactive shell (a script, CI) inherits SIGINT as ignored, and Python then never
    raises KeyboardInterrupt: `chat` would wait for its prompt forever."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


# --- serve ----------------------------------------------------------------------------------


async def migrate(settings: Settings) -> int:
    """Bring the database's schema up to date (every process also does so as it starts)."""
    db = await open_database(settings.database)
    await db.close()
    print(f"support-desk: the schema of {db.name} is up to date", file=sys.stderr)
    return 0


async def serve(
    settings: Settings, *, http: bool, host: str, port: int, worker: bool = True
) -> int:
    """Receive Slack's events; with `worker`, also answer them (a worker child process, or
    in this process with WORKER_MODE=inline). Without it, `support-desk work` answers them."""
    settings.require("slack_bot_token", why="to post answers in Slack")
    if http:
        settings.require("slack_signing_secret", why="to verify requests in HTTP mode")
    elif not settings.slack_app_token:
        raise ConfigError(
            "SLACK_APP_TOKEN is not set: it is needed for Socket Mode "
            "(or run `support-desk serve --http` with SLACK_SIGNING_SECRET)."
        )
    stop = _stop_event()  # first: SIGTERM stops startup too
    inline = settings.worker_mode == "inline" and worker
    # Everything opened goes on the stack and is closed in reverse order, whatever happens:
    # stop taking events, then stop the worker (SHUTDOWN_GRACE_S), then close the database.
    async with contextlib.AsyncExitStack() as stack:
        runtime: DeskRuntime | Receiver | None = await _unless_stopped(
            stop,
            DeskRuntime.create(settings, socket_mode=not http)
            if inline
            else Receiver.create(settings, socket_mode=not http),
        )
        if runtime is None:
            return 0
        stack.push_async_callback(runtime.close)
        receiver = runtime.receiver if isinstance(runtime, DeskRuntime) else runtime
        if await _unless_stopped(stop, receiver.check_slack()) is None:
            return 0
        if isinstance(runtime, DeskRuntime):
            await runtime.start()
        else:  # this process only receives (its writes must stay quick), maybe supervises
            await receiver.store.prepare_for_acks()
            # One child a core by default: each answers its share of the threads, and a
            # child that dies is restarted while the others go on.
            supervisors = [
                WorkerSupervisor(receiver.store, settings.shutdown_grace_s)
                for _ in range(settings.worker_process_count() if worker else 0)
            ]
            for supervisor in supervisors:
                stack.push_async_callback(supervisor.stop)
            if supervisors:
                await supervisors[0].start()
                later = asyncio.create_task(_start_once_answering(receiver, supervisors))
                stack.push_async_callback(_cancel, later)  # ended before they are stopped
        pruner = asyncio.create_task(_prune_forever(receiver))
        stack.push_async_callback(_cancel, pruner)  # ended before the database closes

        if http:
            from bot.http import bound_port, start_http

            try:
                runner = await start_http(receiver.app, receiver.readiness, host, port)
            except OSError as exc:  # the port is taken, or the address is not this machine's
                raise StartupError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                    "(choose another --port or --host)",
                    exit_code=2,
                ) from exc
            stack.push_async_callback(runner.cleanup)
            log.info("serving HTTP", extra={"host": host, "port": bound_port(runner)})
        else:
            assert settings.slack_app_token is not None
            app_token = settings.slack_app_token.get_secret_value()
            handler = await _unless_stopped(stop, connect_socket_mode(receiver, app_token))
            if handler is None:
                return 0
            stack.push_async_callback(handler.close_async)
            log.info("connected in Socket Mode")
        freeze_startup_objects()
        await stop.wait()
        log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    return 0


async def work(settings: Settings) -> int:
    """Answer the inbox until SIGTERM (started by `serve`, or on its own beside it)."""
    die_with_parent()
    settings.require("slack_bot_token", why="to post answers in Slack")
    stop = _stop_event()
    runtime = await _unless_stopped(stop, WorkerRuntime.create(settings))
    if runtime is None:
        return 0
    try:
        await runtime.start()
        log.info("worker answering the inbox", extra={"workers": settings.workers})
        freeze_startup_objects()
        await stop.wait()
    finally:
        await runtime.stop()
    return 0


def _stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`await work`, unless SIGTERM/SIGINT comes first: then it is cancelled and None returned
    (startup that waits on a database lock or an unreachable Slack still stops at once)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        stopped.cancel()
        return task.result()
    log.info("stopped while starting")
    await _cancel(task)
    return None


async def _start_once_answering(receiver: Receiver, supervisors: list[WorkerSupervisor]) -> None:
    """Start the other worker children once the first answers (its first heartbeat), or
    after FIRST_WORKER_WAIT_S: started together they share the cores while they start, and
    the desk was ready (/readyz) later the more of them there were."""
    first = supervisors[0].process
    assert first is not None
    deadline = time.monotonic() + FIRST_WORKER_WAIT_S
    while time.monotonic() < deadline:
        if any(pid == first.pid for _, pid in await _live_workers(receiver)):
            break
        await asyncio.sleep(0.2)
    for supervisor in supervisors[1:]:
        await supervisor.start()


async def _live_workers(receiver: Receiver) -> list[tuple[str, int]]:
    try:
        return await receiver.store.heartbeats.workers()
    except Exception:  # the database is unavailable: the wait ends with its timeout
        return []


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _prune_forever(receiver: Receiver) -> None:
    retention_s = receiver.settings.inbox_retention_days * 86400
    while True:
        with contextlib.suppress(Exception):
            async with receiver.store.exclusive("inbox-pruning"):  # one receiver at a time
                pruned = await receiver.store.inbox.prune(retention_s)
                if pruned:
                    log.info("pruned old inbox rows", extra={"count": pruned})
                await receiver.store.heartbeats.prune()
        await asyncio.sleep(PRUNE_EVERY_S)


async def _read_line(prompt: str) -> str:
    """`input()` in a daemon thread: unlike `asyncio.to_thread`, whose thread asyncio waits
    for at exit, Ctrl-C or SIGTERM never leaves the process waiting for the terminal."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value or "")

    def read() -> None:
        try:
            value, error = input(prompt), None
        except BaseException as exc:  # EOFError at Ctrl-D, handed to the caller
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=read, name="chat-input", daemon=True).start()
    return await answer


# --- chat and ask ---------------------------------------------------------------------------


async def _local_turn(
    desk: Desk,
    caller: Caller,
    thread: str,
    text: str,
    *,
    answer: Answer | None = None,
    approval_id: int | None = None,
    reviewer: str | None = None,
) -> TurnOutcome:
    """One terminal message (or y/N answer) through the same inbox and desk as in Slack
    (secrets removed before the inbox write, as in Slack). `reviewer`: the terminal's
    operator, approving as staff (there are no staff channel members in a terminal)."""
    redacted = redact_secrets(text)
    text = redacted.text
    ts = f"{time.time():.6f}"
    payload = {"approval_id": approval_id, "answer": answer} if answer else {}
    inbox_id = await desk.store.inbox.accept(
        kind="action" if answer else "message",
        channel=LOCAL_CHANNEL,
        ts=ts,
        thread_ts=thread,
        user_id=caller.slack_user_id,
        text=text,
        payload=payload,
    )
    assert inbox_id is not None
    turn = Turn(
        inbox_id,
        LOCAL_CHANNEL,
        thread,
        caller,
        text,
        answer=answer,
        approval_id=approval_id,
        reviewer=reviewer,
        reviewer_is_staff=reviewer is not None,
    )
    outcome = await desk.handle(turn)
    await desk.store.inbox.mark_answered(inbox_id, None)
    if redacted.changed and outcome.reply is not None:
        outcome.reply = f"{redacted.notice()}\n\n{outcome.reply}"
    return outcome


async def _local_caller(desk: Desk, email: str) -> Caller:
    customer = await desk.store.business.customer_by_email(email)
    return Caller(
        slack_user_id=f"local:{email}",
        email=email,
        name=customer.name if customer else None,
        customer_id=customer.id if customer else None,
    )


def _describe(outcome: TurnOutcome) -> str:
    path = " → ".join(outcome.agent_path) or "(none)"
    tools = ", ".join(outcome.tools_called) or "none"
    ticket = f"ticket #{outcome.ticket.id} · {outcome.ticket.status}" if outcome.ticket else "-"
    return f"[{ticket} · agents: {path} · tools: {tools}]"


async def _converse(
    desk: Desk, caller: Caller, thread: str, text: str, prefix: str = ""
) -> TurnOutcome:
    """One message and its answer; an action waiting for a yes is asked here, y/N (no, by
    default and at the end of input: nothing is done without a typed yes)."""
    outcome = await _local_turn(desk, caller, thread, text)
    while True:
        reply = outcome.reply or outcome.private or "(a person owns this conversation now)"
        print(f"{prefix}{reply}")
        print(f"{' ' * len(prefix)}{_describe(outcome)}")
        waiting = (
            outcome.review if outcome.review and outcome.review.status == "awaiting_staff" else None
        )
        if waiting is not None:  # over REFUND_APPROVAL_LIMIT: the operator approves as staff
            print(f"Needs a staff approval: {(waiting.review or {}).get('policy', '')}")
            yes = await _yes("Approve as support staff? [y/N] ")
            answer: Answer = "approve" if yes else "reject"
            reason = answer if yes else "not approved at the terminal"
            outcome = await _local_turn(
                desk,
                caller,
                thread,
                reason,
                answer=answer,
                approval_id=waiting.id,
                reviewer="local:operator",
            )
            continue
        if outcome.confirmation is None:
            return outcome
        answer = "confirm" if await _yes("Confirm? [y/N] ") else "cancel"
        outcome = await _local_turn(
            desk, caller, thread, answer, answer=answer, approval_id=outcome.confirmation.id
        )


async def _yes(prompt: str) -> bool:
    """A typed y/yes; anything else, and the end of input, is a no."""
    try:
        typed = await asyncio.to_thread(input, prompt)
    except EOFError:
        typed = ""
        print()
    return typed.strip().lower() in ("y", "yes")


async def _refuse_thread(desk: Desk, caller: Caller, thread: str, command: str) -> bool:
    """Print why `caller` may not continue `thread` (one line) and return True; or False.

    A thread is continued only by the customer who started it: its history and tickets are
    theirs. Checked in code, whatever the model would do with the history."""
    why = None
    if not _THREAD_ID.match(thread):
        why = f"{thread[:70]!r} is not a thread id (letters, digits, '.', '_' or '-', at most 64)"
    else:
        ticket = await desk.store.tickets.by_thread(LOCAL_CHANNEL, thread)
        if ticket is not None and ticket.user_id != caller.slack_user_id:
            why = (
                f"thread {thread} was started by another customer, so {caller.email} cannot "
                "continue it; start a new conversation without --thread"
            )
    if why:
        print(f"support-desk {command}: {why}.", file=sys.stderr)
    return why is not None


async def ask(settings: Settings, email: str, thread: str | None, text: str) -> int:
    desk = await open_desk(settings)
    try:
        caller = await _local_caller(desk, email)
        if thread is not None and await _refuse_thread(desk, caller, thread, "ask"):
            return 2
        await _converse(desk, caller, thread or uuid.uuid4().hex[:12], text)
    finally:
        await desk.store.close()
    return 0


async def chat(settings: Settings, email: str, thread: str | None) -> int:
    desk = await open_desk(settings)
    try:
        caller = await _local_caller(desk, email)
        if thread is not None and await _refuse_thread(desk, caller, thread, "chat"):
            return 2
        thread = thread or uuid.uuid4().hex[:12]
        account = f"customer #{caller.customer_id}" if caller.customer_id else "no customer account"
        print(f"support-desk chat as {email} ({account}), thread {thread}.")
        resume = f"support-desk chat --as {shlex.quote(email)} --thread {thread}"
        print(f"Continue later with: {resume}. Ctrl-D to quit.\n")
        while True:
            try:
                text = await _read_line("you> ")
            except EOFError:
                print()
                return 0
            if not text.strip():
                continue
            await _converse(desk, caller, thread, text, prefix="desk> ")
            print()
    finally:
        await desk.store.close()


if __name__ == "__main__":
    raise SystemExit(main())

"""`support-desk`: serve the desk in Slack, or talk to it from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
import uuid
from collections.abc import Sequence

from agents_config.context import Caller
from agents_config.desk import Desk, Turn, TurnOutcome
from storage.db import StorageError
from storage.redaction import redact_secrets
from support_desk import eval_cli
from support_desk.config import ConfigError, Settings, load_settings
from support_desk.logs import setup_logging
from support_desk.processes import die_with_parent, spawn_worker, stop_worker
from support_desk.runtime import DeskRuntime, open_desk

log = logging.getLogger("support_desk")

DEFAULT_LOCAL_USER = "alice@northwind.example"
PRUNE_EVERY_S = 3600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support-desk", description="An AI support desk that lives in Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="answer in Slack (Socket Mode, or HTTP with --http)")
    serve.add_argument("--http", action="store_true", help="serve Bolt's HTTP endpoint")
    serve.add_argument("--host", default="0.0.0.0", help="HTTP bind address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="HTTP port (default 3000)")

    sub.add_parser("work", help="only answer the inbox (serve starts this itself)")
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
    eval_cli.add_parsers(sub)  # eval, export-tickets
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        # The demo prints a transcript; its logs would drown it unless asked for.
        quiet = args.command in ("demo", "ask", "chat", "eval", "export-tickets")
        quiet = quiet and "log_level" not in settings.model_fields_set
        # An eval reports failed rows itself; a warning for each would bury its summary.
        level = "ERROR" if args.command == "eval" else "WARNING"
        setup_logging(level if quiet else settings.log_level, settings.log_format)
        if args.command == "serve":
            return asyncio.run(serve(settings, http=args.http, host=args.host, port=args.port))
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
    except KeyboardInterrupt:
        return 130


# --- serve ----------------------------------------------------------------------------------


async def serve(settings: Settings, *, http: bool, host: str, port: int) -> int:
    settings.require("slack_bot_token", why="to post answers in Slack")
    if http:
        settings.require("slack_signing_secret", why="to verify requests in HTTP mode")
    elif not settings.slack_app_token:
        raise ConfigError(
            "SLACK_APP_TOKEN is not set: it is needed for Socket Mode "
            "(or run `support-desk serve --http` with SLACK_SIGNING_SECRET)."
        )
    runtime = await DeskRuntime.create(settings, socket_mode=not http)
    await runtime.check_slack()
    inline = settings.worker_mode == "inline"
    if inline:
        await runtime.start()
    else:  # this process only receives: its writes must stay quick
        await runtime.store.db.leave_checkpoints_to_others()
    worker = None if inline else await spawn_worker()
    stop = _stop_event()
    pruner = asyncio.create_task(_prune_forever(runtime))

    if http:
        from bot.http import bound_port, start_http

        runner = await start_http(runtime.app, runtime.readiness, host, port)
        log.info("serving HTTP", extra={"host": host, "port": bound_port(runner)})
        await stop.wait()
        await runner.cleanup()
    else:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert settings.slack_app_token is not None
        handler = AsyncSocketModeHandler(runtime.app, settings.slack_app_token.get_secret_value())
        await handler.connect_async()
        log.info("connected in Socket Mode")
        await stop.wait()
        await handler.close_async()

    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    pruner.cancel()
    if worker is not None:
        await stop_worker(worker, settings.shutdown_grace_s)
    await runtime.stop()
    return 0


async def work(settings: Settings) -> int:
    """Answer the inbox until SIGTERM (started by `serve`, or on its own beside it)."""
    die_with_parent()
    # The database runs on aiosqlite's thread; with the default 5 ms GIL switch interval a
    # busy event loop makes every query wait up to 5 ms for its result. 0.5 ms keeps them short.
    sys.setswitchinterval(0.0005)
    settings.require("slack_bot_token", why="to post answers in Slack")
    runtime = await DeskRuntime.create(settings)
    await runtime.start()
    log.info("worker answering the inbox", extra={"workers": settings.workers})
    await _stop_event().wait()
    await runtime.stop()
    return 0


def _stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _prune_forever(runtime: DeskRuntime) -> None:
    retention_s = runtime.settings.inbox_retention_days * 86400
    while True:
        with contextlib.suppress(Exception):
            pruned = await runtime.store.inbox.prune(retention_s)
            if pruned:
                log.info("pruned old inbox rows", extra={"count": pruned})
        await asyncio.sleep(PRUNE_EVERY_S)


# --- chat and ask ---------------------------------------------------------------------------


async def _local_turn(desk: Desk, caller: Caller, thread: str, text: str) -> TurnOutcome:
    """One terminal message through the same inbox and desk as a Slack message (secrets
    removed before the inbox write, as in Slack)."""
    redacted = redact_secrets(text)
    text = redacted.text
    ts = f"{time.time():.6f}"
    inbox_id = await desk.store.inbox.accept(
        kind="message",
        channel="terminal",
        ts=ts,
        thread_ts=thread,
        user_id=caller.slack_user_id,
        text=text,
    )
    assert inbox_id is not None
    outcome = await desk.handle(Turn(inbox_id, "terminal", thread, caller, text))
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
    return (
        f"[ticket #{outcome.ticket.id} · {outcome.ticket.status} · agents: {path} · tools: {tools}]"
    )


async def ask(settings: Settings, email: str, thread: str | None, text: str) -> int:
    desk = await open_desk(settings)
    try:
        caller = await _local_caller(desk, email)
        outcome = await _local_turn(desk, caller, thread or uuid.uuid4().hex[:12], text)
        print(outcome.reply or "(a person owns this conversation now)")
        print(_describe(outcome))
    finally:
        await desk.store.close()
    return 0


async def chat(settings: Settings, email: str, thread: str | None) -> int:
    desk = await open_desk(settings)
    thread = thread or uuid.uuid4().hex[:12]
    try:
        caller = await _local_caller(desk, email)
        account = f"customer #{caller.customer_id}" if caller.customer_id else "no customer account"
        print(f"support-desk chat as {email} ({account}), thread {thread}.")
        print(f"Continue later with: support-desk chat --thread {thread}. Ctrl-D to quit.\n")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                print()
                return 0
            if not text.strip():
                continue
            outcome = await _local_turn(desk, caller, thread, text)
            print(f"desk> {outcome.reply or '(a person owns this conversation now)'}")
            print(f"      {_describe(outcome)}\n")
    finally:
        await desk.store.close()


if __name__ == "__main__":
    raise SystemExit(main())

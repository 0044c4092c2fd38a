"""Benchmarks of the desk: figures, with their targets, printed; nothing asserted.

The desk runs as operators run it (`support-desk serve --http`, worker in its own process),
against a local fake Slack Web API and a local OpenAI-compatible model server whose latency
this script sets. Figures are ratios measured in one run, so a noisy machine matters less.

    .venv/bin/python bench/run.py            # all figures (a few minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # smaller sizes, for a smoke run
    .venv/bin/python bench/run.py --database-url postgresql://…/empty_db
        # the same figures on PostgreSQL, plus answers/s of two worker processes vs one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from agents import (
    Agent,
    OpenAIProvider,
    RawResponsesStreamEvent,
    Runner,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents_config.agents import build_agents  # noqa: E402
from agents_config.context import Caller, DeskContext  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402
from fakes.slack import FakeSlack, SlackEvents, new_ts  # noqa: E402
from storage.store import Store  # noqa: E402

SECRET = "bench-signing-secret"
QUESTION = "I was charged twice on my last invoice, can you check?"


class Desk:
    """`support-desk serve --http` (receiver + worker process) for one benchmark."""

    def __init__(
        self,
        tmp: Path,
        slack: FakeSlack,
        model: FakeOpenAI,
        port: int,
        *,
        database_url: str | None = None,
        workers: int | None = None,
    ) -> None:
        """`workers`: that many `support-desk work` processes beside a `serve --no-worker`
        (PostgreSQL); None: `serve` with its own worker child, as by default."""
        self.port = port
        self.workers = workers
        self.worker_processes: list[asyncio.subprocess.Process] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))},
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "SUPPORT_CHANNELS": "C_SUPPORT",
            "SUPPORT_DESK_DB": str(tmp / f"bench-{port}.db"),
            "OPENAI_BASE_URL": model.url,
            "OPENAI_API_KEY": "sk-bench",
            "WORKERS": "256",
            "LOG_LEVEL": "WARNING",
        }
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.process: asyncio.subprocess.Process | None = None

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def __aenter__(self) -> Desk:
        alone = () if self.workers is None else ("--no-worker",)
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "support_desk.cli", "serve", "--http", *alone),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            env=self.env,
            cwd=ROOT,
        )
        for _ in range(self.workers or 0):
            self.worker_processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "support_desk.cli", "work", env=self.env, cwd=ROOT
                )
            )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                        if r.status == 200:  # ready includes a live worker process
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the desk did not start")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        for process in [self.process, *self.worker_processes]:
            process.send_signal(signal.SIGTERM)
        for process in [self.process, *self.worker_processes]:
            await process.wait()

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the receiver and its worker process, summed."""
        assert self.process is not None
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total_kb = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        return total_kb / 1024


async def send_and_wait(
    events: SlackEvents, slack: FakeSlack, count: int, *, thread_ts: str | None = None
) -> float:
    """Send `count` messages at once (each its own thread); seconds until all are answered."""
    since = len(slack.calls)
    started = time.perf_counter()
    await asyncio.gather(
        *(events.message("U_ALICE", f"{QUESTION} #{n}", thread_ts=thread_ts) for n in range(count))
    )
    await slack.wait_for(is_answer, timeout=600, count=count, since=since)
    return time.perf_counter() - started


def is_answer(method: str, params: dict[str, Any]) -> bool:
    """A call that delivers an answer: a stream stopped, or a reply posted in a thread."""
    return method == "chat.stopStream" or (
        method == "chat.postMessage" and bool(params.get("thread_ts"))
    )


# A 60-token answer (one word a token): the question's echo and this tail, written after
# two tool calls of the billing specialist (each a task update in the stream).
STREAM_TAIL = " " + " ".join(["and"] * 50)
TOKEN_DELAY_S = 0.02
STREAM_TOOLS = [("list_invoices", "{}"), ("list_payments", "{}")]


async def first_text(
    events: SlackEvents, slack: FakeSlack, count: int
) -> tuple[list[float], float]:
    """`count` questions at once: seconds from each event sent until its answer's first words
    showed in Slack, and the Slack calls made per answer (the desk's own look-ups of the
    workspace and the user, cached after the first, left out)."""
    sent: dict[str, float] = {}
    since = len(slack.calls)

    async def one(n: int) -> None:
        ts = new_ts()
        sent[ts] = time.perf_counter()
        await events.message("U_ALICE", f"{QUESTION} #{n}", ts=ts)

    await asyncio.gather(*(one(n) for n in range(count)))
    await slack.wait_for(is_answer, timeout=600, count=count, since=since)
    waits = [
        stream["first_text_at"] - sent[stream["thread_ts"]]
        for stream in slack.streams.values()
        if stream["thread_ts"] in sent and "first_text_at" in stream
    ]
    calls = [m for m, _ in slack.calls[since:] if m not in ("users.info", "auth.test")]
    return waits, len(calls) / count


def bare_first_token(url: str, count: int) -> list[float]:
    """In its own process: seconds to the first text delta of `count` concurrent bare
    `Runner.run_streamed`s of the desk's agents (the floor the desk is compared with), after
    a warm-up round."""

    async def run() -> list[float]:
        set_tracing_disabled(True)
        agents = bare_agents(url)
        with tempfile.TemporaryDirectory() as tmp:
            store = await Store.open(Path(tmp) / "bare.db")
            caller = Caller("U_ALICE", "alice@northwind.example", "Alice", 1)

            async def one(n: int) -> float:
                context = DeskContext(store, caller, 1, "bench", str(n))
                started = time.perf_counter()
                result = Runner.run_streamed(
                    agents["triage"], f"{QUESTION} #{n}", context=context, max_turns=10
                )
                first = 0.0
                async for event in result.stream_events():
                    if not first and isinstance(event, RawResponsesStreamEvent):
                        if event.data.type == "response.output_text.delta":
                            first = time.perf_counter() - started
                return first

            try:
                # Warmed up first, as the desk is (connections, the SDK's schemas, caches).
                await asyncio.gather(*(one(n) for n in range(min(count, 10))))
                return list(await asyncio.gather(*(one(n) for n in range(count))))
            finally:
                await store.close()

    return asyncio.run(run())


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def bare_agents(url: str) -> dict[str, Agent[DeskContext]]:
    """The desk's agents on a plain OpenAI-compatible model: no timeout or fallback wrappers."""
    client = AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=2)
    provider = OpenAIProvider(openai_client=client, use_responses=False)
    return build_agents(lambda spec: provider.get_model("gpt-4.1-mini"))


async def bare_runs(agents: dict[str, Agent[DeskContext]], store: Store, count: int) -> float:
    """Seconds for `count` concurrent `Runner.run`s of the same agents and model calls."""
    ticket, _ = await store.tickets.open_for_thread(
        channel="bench", thread_ts="1", user_id="U_ALICE", subject="bench", customer_id=1
    )
    caller = Caller("U_ALICE", "alice@northwind.example", "Alice", 1)

    async def one(n: int) -> None:
        context = DeskContext(store, caller, ticket.id, "bench", str(n))
        await Runner.run(agents["triage"], f"{QUESTION} #{n}", context=context, max_turns=10)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


def line(name: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    print(f"{name:<34} {value:<32} {target:<22} {verdict}")


async def worker_scaling(tmp: Path, database_url: str, count: int) -> None:
    """Answers/s with a zero-latency model: two `work` processes vs one, on PostgreSQL."""
    rates: dict[int, float] = {}
    for workers in (1, 2):
        async with FakeSlack() as slack, FakeOpenAI() as model:
            async with (
                Desk(
                    tmp, slack, model, 18740 + workers, database_url=database_url, workers=workers
                ) as desk,
                SlackEvents(desk.events_url, SECRET, slack=slack) as events,
            ):
                await send_and_wait(events, slack, 10)  # warm up every worker
                rates[workers] = count / await send_and_wait(events, slack, count)
    ratio = rates[2] / rates[1]
    line(
        "2 workers / 1 worker (PostgreSQL)",
        f"{ratio:.2f}  ({rates[2]:.0f} vs {rates[1]:.0f} answers/s)",
        ">= 1.6",
        ratio >= 1.6,
    )


async def main(quick: bool, database_url: str | None = None) -> None:
    scale = 4 if quick else 1
    set_tracing_disabled(True)  # as in the desk, whose model server is not OpenAI's
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(f"database: {'PostgreSQL' if database_url else 'SQLite'}")
    print(f"{'figure':<34} {'measured':<32} {'target':<22}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = await Store.open(tmp / "bare.db")
        async with FakeSlack() as slack, FakeOpenAI() as model:
            async with (
                Desk(tmp, slack, model, 18731, database_url=database_url) as desk,
                SlackEvents(desk.events_url, SECRET, slack=slack) as events,
            ):
                bare = bare_agents(model.url)
                # Warm both paths up (connections, imports, caches).
                await send_and_wait(events, slack, 10)
                await bare_runs(bare, store, 10)

                # overhead: zero-latency model, alternating blocks
                block = 100 // scale
                full_t = bare_t = 0.0
                calls_before = len(model.calls)
                for _ in range(3):
                    full_t += await send_and_wait(events, slack, block)
                    bare_t += await bare_runs(bare, store, block)
                full_calls = (len(model.calls) - calls_before) / 2  # both paths made calls
                ratio = bare_t / full_t
                line(
                    "overhead (full / bare rate)",
                    f"{ratio:.2f}  ({3 * block / full_t:.0f} vs "
                    f"{3 * block / bare_t:.0f} answers/s)",
                    ">= 0.8",
                    ratio >= 0.8,
                )
                per_answer = full_calls / (3 * block)
                line("model calls per answer", f"{per_answer:.2f}", "<= 2", per_answer <= 2)

                # concurrency: 300 ms model, 200 threads at once
                model.latency_s = 0.3
                n = 200 // scale
                t1 = await send_and_wait(events, slack, 1)
                t_full = await send_and_wait(events, slack, n)
                t_bare = await bare_runs(bare, store, n)
                answered = sum(1 for c in slack.calls if is_answer(*c))
                line(
                    f"concurrency T{n} / bare gather",
                    f"{t_full / t_bare:.2f}  ({t_full:.2f}s vs {t_bare:.2f}s)",
                    "<= 1.2",
                    t_full / t_bare <= 1.2,
                )
                line(f"T{n} / T1", f"{t_full / t1:.2f}  (T1 {t1:.2f}s)", "report", None)

                # ack latency at 100 events/s while answers are produced
                rate, seconds = 100, 5 / scale
                latencies: list[float] = []
                since = len(slack.calls)

                async def timed(k: int) -> None:
                    started = time.perf_counter()
                    await events.message("U_BOB", f"{QUESTION} ack {k}")
                    latencies.append((time.perf_counter() - started) * 1000)

                sends = []
                for k in range(int(rate * seconds)):
                    sends.append(asyncio.create_task(timed(k)))
                    await asyncio.sleep(1 / rate)
                await asyncio.gather(*sends)
                await slack.wait_for(is_answer, timeout=600, count=len(sends), since=since)
                p50 = statistics.median(latencies)
                p99 = statistics.quantiles(latencies, n=100)[98]
                line(
                    "ack latency p50 / p99",
                    f"{p50:.1f} ms / {p99:.1f} ms",
                    "p99 <= 50 ms",
                    p99 <= 50,
                )

                # long threads: turn 200 vs turn 20
                model.latency_s = 0
                turns = 200 // scale
                _, _, first = await events.message("U_ALICE", "long thread turn 1")
                await slack.wait_for(is_answer, timeout=60, count=1, since=len(slack.calls) - 1)
                timing: dict[int, tuple[float, int]] = {}
                for turn in range(2, turns + 1):
                    calls_before = len(model.calls)
                    elapsed = await send_and_wait(events, slack, 1, thread_ts=first["ts"])
                    size = sum(c.input_chars for c in model.calls[calls_before:])
                    timing[turn] = (elapsed, size)
                early = [timing[t] for t in range(16, 25) if t in timing]
                late = [timing[t] for t in range(turns - 8, turns + 1)]
                t_ratio = statistics.median(x[0] for x in late) / statistics.median(
                    x[0] for x in early
                )
                s_ratio = statistics.median(x[1] for x in late) / statistics.median(
                    x[1] for x in early
                )
                line(
                    f"long thread: turn {turns} / 20 time",
                    f"{t_ratio:.2f}",
                    "<= 1.2",
                    t_ratio <= 1.2,
                )
                line(
                    f"long thread: turn {turns} / 20 input",
                    f"{s_ratio:.2f}",
                    "<= 1.2",
                    s_ratio <= 1.2,
                )

                # streaming: time to the first words at the user, 60 tokens of 20 ms
                await streaming_figures(events, slack, model, [1, 50 // scale])

                # memory: 1,000 open threads
                await send_and_wait(events, slack, 1000 // scale)
                line(
                    f"peak RSS, {1000 // scale} open threads",
                    f"{desk.peak_rss_mb():.0f} MB (receiver + worker)",
                    "report",
                    None,
                )
                print(f"answers posted in this run: {answered + len(sends) + turns}")
        await store.close()
        if database_url:
            await worker_scaling(tmp, database_url, 200 // scale)


async def streaming_figures(
    events: SlackEvents, slack: FakeSlack, model: FakeOpenAI, sizes: list[int]
) -> None:
    """Time to the first words at the user (p50/p99) at each size, against bare
    `Runner.run_streamed`s' first token in a process of their own; Slack calls per answer."""
    model.answer_tail, model.token_delay_s = STREAM_TAIL, TOKEN_DELAY_S
    model.tools_before_answer = STREAM_TOOLS
    for threads in sizes:
        load = os.getloadavg()[0]
        waits, calls = await first_text(events, slack, threads)
        bare_waits = await asyncio.to_thread(bare_in_process, model.url, threads)
        p50, bare50 = statistics.median(waits), statistics.median(bare_waits)
        line(
            f"first words, {threads} thread(s) p50/p99",
            f"{p50 * 1000:.0f}/{percentile(waits, 99) * 1000:.0f} ms "
            f"(bare {bare50 * 1000:.0f}/{percentile(bare_waits, 99) * 1000:.0f})",
            "p50 <= bare + 300 ms",
            p50 <= bare50 + 0.3,
        )
        line(
            f"  Slack calls per answer ({threads})",
            f"{calls:.1f}  (load average {load:.1f})",
            "<= 12",
            calls <= 12,
        )
    model.answer_tail, model.token_delay_s, model.tools_before_answer = "", 0.0, []


async def streaming_only(quick: bool) -> None:
    """`--streaming`: only the streaming figures (a desk of its own, warmed up first)."""
    set_tracing_disabled(True)
    with tempfile.TemporaryDirectory() as tmp_name:
        async with FakeSlack() as slack, FakeOpenAI() as model:
            async with (
                Desk(Path(tmp_name), slack, model, 18735) as desk,
                SlackEvents(desk.events_url, SECRET, slack=slack) as events,
            ):
                await send_and_wait(events, slack, 10)
                await streaming_figures(events, slack, model, [1, 50 // (4 if quick else 1)])


def bare_in_process(url: str, count: int) -> list[float]:
    """`bare_first_token` in a process of its own, so the bench's loop does not slow it."""
    result = subprocess.run(
        [sys.executable, __file__, "--bare-first-token", url, str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return [float(x) for x in json.loads(result.stdout)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--streaming", action="store_true", help="only the streaming figures")
    parser.add_argument(
        "--bare-first-token", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--database-url", help="run the desk on this (empty) PostgreSQL database instead"
    )
    args = parser.parse_args()
    if args.bare_first_token:
        url, count = args.bare_first_token
        print(json.dumps(bare_first_token(url, int(count))))
    elif args.streaming:
        asyncio.run(streaming_only(args.quick))
    else:
        asyncio.run(main(args.quick, args.database_url))

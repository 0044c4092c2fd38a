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
from agents_config.sdk import install as install_sdk_speedups  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402
from fakes.slack import FakeSlack, SlackEvents, new_ts  # noqa: E402
from storage.store import Store  # noqa: E402
from support_desk.config import load_settings  # noqa: E402
from support_desk.processes import WORKER_NICENESS  # noqa: E402

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
        trips_dir: Path | None = None,
    ) -> None:
        """`workers`: that many `support-desk work` processes beside a `serve --no-worker`
        (PostgreSQL); None: `serve` with its own worker child, as by default. `trips_dir`:
        count each process's database round trips (`trips`)."""
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
        if trips_dir is not None:  # every desk process counts its database round trips
            self.env["BENCH_TRIPS_DIR"] = str(trips_dir)
            self.env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT / "bench" / "trips"), str(ROOT), os.environ.get("PYTHONPATH", "")]
            )
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.process: asyncio.subprocess.Process | None = None
        self.trips_dir = trips_dir

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
            for _ in range(1200):  # two minutes: a loaded machine starts processes slowly
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as r:
                        if r.status == 200:  # ready includes a live worker process
                            await self._every_worker_answering()
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the desk did not start")

    async def _every_worker_answering(self) -> None:
        """The desk is ready once one worker answers; `serve` starts its other worker
        children then, and a figure counts from when they all answer."""
        expected = self.workers
        if expected is None:
            count = self.env.get("WORKER_PROCESSES", "auto")
            expected = load_settings(_env_file=None, worker_processes=count).worker_process_count()
        store = await Store.open(
            self.env.get("DATABASE_URL") or self.env["SUPPORT_DESK_DB"], seed=False
        )
        try:
            for _ in range(1200):
                if len(await store.heartbeats.workers()) >= expected:
                    return
                await asyncio.sleep(0.1)
        finally:
            await store.close()
        raise RuntimeError(f"{expected} worker processes did not all start")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        for process in [self.process, *self.worker_processes]:
            process.send_signal(signal.SIGTERM)
        for process in [self.process, *self.worker_processes]:
            await process.wait()

    def pids(self) -> tuple[int, list[int]]:
        """The receiver's pid and the workers' (its child, or the `work` processes)."""
        assert self.process is not None
        workers = [p.pid for p in self.worker_processes]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            workers += [int(p) for p in children.read_text().split()]
        return self.process.pid, workers

    async def trips(self) -> tuple[int, int]:
        """Database round trips so far: (receiver, workers)."""
        assert self.trips_dir is not None
        receiver, workers = self.pids()
        for pid in (receiver, *workers):
            (self.trips_dir / f"{pid}.json").unlink(missing_ok=True)
            os.kill(pid, signal.SIGUSR1)
        counts: dict[int, int] = {}
        for _ in range(200):
            for pid in (receiver, *workers):
                path = self.trips_dir / f"{pid}.json"
                if pid not in counts and path.exists():
                    counts[pid] = json.loads(path.read_text())["trips"]
            if len(counts) == 1 + len(workers):
                return counts[receiver], sum(counts[w] for w in workers)
            await asyncio.sleep(0.02)
        raise RuntimeError("a desk process did not report its database round trips")

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time (user + system) used so far: (receiver, workers)."""
        receiver, workers = self.pids()
        tick = os.sysconf("SC_CLK_TCK")

        def used(pid: int) -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        return used(receiver), sum(used(w) for w in workers)

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the receiver and its worker process, summed."""
        receiver, workers = self.pids()
        total_kb = 0
        for pid in (receiver, *workers):
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
    """The desk's agents on a plain OpenAI-compatible model: no timeout or fallback wrappers.
    The SDK gets the fix the desk installs (`agents_config/sdk.py`: 3-8 ms less per run of
    these agents), so the ratios compare the desk's own work, not that fix."""
    install_sdk_speedups()
    # A long connect timeout: 200 runs at once on a loaded machine connect slowly.
    client = AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=2, timeout=600.0)
    provider = OpenAIProvider(openai_client=client, use_responses=False)
    return build_agents(lambda spec: provider.get_model("gpt-4.1-mini"))


async def bare_runs(
    agents: dict[str, Agent[DeskContext]],
    store: Store,
    count: int,
    *,
    sequential: bool = False,
    streamed: bool = False,
) -> float:
    """Seconds for `count` `Runner.run`s of the same agents and model calls: all at once
    (`asyncio.gather`), or one after the other (`sequential`). `streamed`: `Runner.run_streamed`
    with its events read, as the desk runs them to stream its answers (the model's answers
    come as server-sent events, each chunk parsed by the client and the SDK)."""
    ticket, _ = await store.tickets.open_for_thread(
        channel="bench", thread_ts="1", user_id="U_ALICE", subject="bench", customer_id=1
    )
    caller = Caller("U_ALICE", "alice@northwind.example", "Alice", 1)

    async def one(n: int) -> None:
        context = DeskContext(store, caller, ticket.id, "bench", str(n))
        question = f"{QUESTION} #{n}"
        if not streamed:
            await Runner.run(agents["triage"], question, context=context, max_turns=10)
            return
        run = Runner.run_streamed(agents["triage"], question, context=context, max_turns=10)
        async for _ in run.stream_events():
            pass

    started = time.perf_counter()
    if sequential:
        for n in range(count):
            await one(n)
    else:
        await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


def bare_runs_alone(url: str, count: int, sequential: bool, streamed: bool) -> float:
    """`bare_runs` in this process, on a store of its own, after a warm-up (the body of
    `bare_in_own_process`)."""

    async def run() -> float:
        set_tracing_disabled(True)
        agents = bare_agents(url)
        # The priority of the desk's worker process (on a busy machine it gets less CPU).
        os.nice(WORKER_NICENESS)
        with tempfile.TemporaryDirectory() as tmp:
            store = await Store.open(Path(tmp) / "bare.db")
            try:
                await bare_runs(agents, store, 10, streamed=streamed)
                return await bare_runs(
                    agents, store, count, sequential=sequential, streamed=streamed
                )
            finally:
                await store.close()

    return asyncio.run(run())


async def bare_in_own_process(
    url: str, count: int, *, sequential: bool, streamed: bool = False
) -> float:
    """Seconds of `count` bare runs in a process of their own: not in the event loop that
    also serves the fake Slack and the fake model (as the issue asks)."""
    mode = ("sequential" if sequential else "gather") + ("+streamed" if streamed else "")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, __file__, "--bare-runs", url, str(count), mode),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError("the bare runs failed")
    return float(out)


async def one_at_a_time(events: SlackEvents, slack: FakeSlack, count: int) -> float:
    """Seconds for `count` messages, each sent when the one before is answered."""
    started = time.perf_counter()
    for _ in range(count):
        await send_and_wait(events, slack, 1)
    return time.perf_counter() - started


def line(name: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    print(f"{name:<34} {value:<32} {target:<22} {verdict}")


def median_of(values: list[float]) -> str:
    """The median, and each run's value, for the line of a repeated figure."""
    return f"median of {', '.join(f'{v:.2f}' for v in values)}"


async def worker_scaling(tmp: Path, database_url: str, count: int, repeat: int) -> None:
    """Answers/s with a zero-latency model: two `work` processes vs one, on PostgreSQL
    (`count` messages at once), measured back to back `repeat` times."""
    ratios: list[float] = []
    rates: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}  # share of the machine's CPU in use
    for _ in range(repeat):
        for workers in (1, 2):
            async with FakeSlack() as slack, FakeOpenAI() as model:
                async with (
                    Desk(
                        tmp,
                        slack,
                        model,
                        18740 + workers,
                        database_url=database_url,
                        workers=workers,
                    ) as desk,
                    SlackEvents(desk.events_url, SECRET, slack=slack) as events,
                ):
                    await send_and_wait(events, slack, 20)  # warm up every worker
                    idle_before = cpu_times()
                    rates[workers].append(count / await send_and_wait(events, slack, count))
                    busy[workers].append(busy_share(idle_before, cpu_times()))
        ratios.append(rates[2][-1] / rates[1][-1])
    ratio = statistics.median(ratios)
    line(
        "2 workers / 1 worker (PostgreSQL)",
        f"{ratio:.2f}  ({statistics.median(rates[2]):.0f} vs "
        f"{statistics.median(rates[1]):.0f} answers/s)",
        ">= 1.6",
        ratio >= 1.6,
    )
    print(f"    {median_of(ratios)}; {count} messages at once, zero-latency model")
    print(
        f"    the machine's {os.cpu_count()} cores were "
        f"{statistics.median(busy[1]):.0%} busy with 1 worker, "
        f"{statistics.median(busy[2]):.0%} with 2 (all processes: desk, PostgreSQL, fakes)"
    )
    # A second worker adds no CPU time per answer at best (contention only adds some), so
    # this machine can answer at most 1/busy times as fast as with one worker.
    ceiling = 1 / statistics.median(busy[1]) if statistics.median(busy[1]) else float("inf")
    line(
        "    ceiling of this machine",
        f"{ceiling:.2f}  (1 ÷ share of the cores busy with 1 worker)",
        "report",
        None,
    )


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time in use between two `cpu_times`."""
    total = after[1] - before[1]
    return 1 - (after[0] - before[0]) / total if total else 0.0


async def sequential(
    desk: Desk, events: SlackEvents, slack: FakeSlack, model: FakeOpenAI, count: int, repeat: int
) -> None:
    """(a) One message at a time, each waiting for its answer, zero-latency model, against as
    many bare `Runner.run`s one after the other in a process of their own; back to back,
    `repeat` times. Also the database round trips per answer, counted in the desk's
    processes."""
    model.latency_s = 0
    desk_rates: list[float] = []
    bare_rates: dict[bool, list[float]] = {False: [], True: []}  # by `streamed`
    trips = [0, 0]
    cpu = [0.0, 0.0]  # seconds of the receiver and the worker
    for _ in range(repeat):
        before, cpu_before = await desk.trips(), desk.cpu_seconds()
        t_desk = await one_at_a_time(events, slack, count)
        after, cpu_after = await desk.trips(), desk.cpu_seconds()
        trips = [trips[0] + after[0] - before[0], trips[1] + after[1] - before[1]]
        cpu = [cpu[i] + cpu_after[i] - cpu_before[i] for i in (0, 1)]
        desk_rates.append(count / t_desk)
        for streamed, rates in bare_rates.items():
            t_bare = await bare_in_own_process(model.url, count, sequential=True, streamed=streamed)
            rates.append(count / t_bare)
    desk_rate = statistics.median(desk_rates)
    for streamed, rates in bare_rates.items():
        ratios = [d / b for d, b in zip(desk_rates, rates, strict=True)]
        ratio = statistics.median(ratios)
        line(
            "sequential: desk / bare rate" + (" (streamed)" if streamed else ""),
            f"{ratio:.2f}  ({desk_rate:.0f} vs {statistics.median(rates):.0f} answers/s)",
            ">= 0.8",
            ratio >= 0.8,
        )
        how = "Runner.run_streamed, events read" if streamed else "Runner.run"
        print(f"    {median_of(ratios)}; {count} messages, bare ({how}) in its own process")
        bare_ms = 1000 / statistics.median(rates)
        line(
            "    desk's own ms/answer",
            f"{1000 / desk_rate - bare_ms:.1f} ms (bare {bare_ms:.1f})",
            "report",
            None,
        )
    ceiling = statistics.median(bare_rates[True]) / statistics.median(bare_rates[False])
    line(
        "    ceiling of a desk that streams",
        f"{ceiling:.2f}  (bare run_streamed ÷ bare Runner.run rate)",
        "report",
        None,
    )
    answers = count * repeat
    line(
        "    CPU per answer",
        f"receiver {1000 * cpu[0] / answers:.1f} ms, worker {1000 * cpu[1] / answers:.1f} ms",
        "report",
        None,
    )
    line(
        "database round trips per answer",
        f"{(trips[0] + trips[1]) / answers:.1f}  (receiver {trips[0] / answers:.1f},"
        f" worker {trips[1] / answers:.1f})",
        "report",
        None,
    )


async def blocks_at_once(
    events: SlackEvents,
    slack: FakeSlack,
    model: FakeOpenAI,
    bare: dict[str, Agent[DeskContext]],
    store: Store,
    block: int,
) -> None:
    """The old way of (a): blocks of `block` messages sent at once, alternating with as many
    bare runs gathered in this process's event loop (which also serves the fakes)."""
    model.latency_s = 0
    full_t = bare_t = 0.0
    calls_before = len(model.calls)
    for _ in range(3):
        full_t += await send_and_wait(events, slack, block)
        bare_t += await bare_runs(bare, store, block)
    full_calls = (len(model.calls) - calls_before) / 2  # both paths made calls
    ratio = bare_t / full_t
    line(
        f"old way: {block} at once, bare in loop",
        f"{ratio:.2f}  ({3 * block / full_t:.0f} vs {3 * block / bare_t:.0f} answers/s)",
        "(was >= 0.8)",
        None,
    )
    per_answer = full_calls / (3 * block)
    line("model calls per answer", f"{per_answer:.2f}", "<= 2", per_answer <= 2)


async def concurrency(
    events: SlackEvents,
    slack: FakeSlack,
    model: FakeOpenAI,
    bare: dict[str, Agent[DeskContext]],
    store: Store,
    n: int,
    repeat: int,
) -> None:
    """(b) `n` threads at once with a 300 ms model, against a bare `asyncio.gather` of `n`
    runs in a process of its own, and (the old way) in this process's loop."""
    model.latency_s = 0.3
    t1 = await send_and_wait(events, slack, 1)
    own: dict[bool, list[float]] = {False: [], True: []}  # by `streamed`
    in_loop, fulls = [], []
    for _ in range(repeat):
        t_full = await send_and_wait(events, slack, n)
        for streamed, ratios in own.items():
            t_own = await bare_in_own_process(model.url, n, sequential=False, streamed=streamed)
            ratios.append(t_full / t_own)
        t_loop = await bare_runs(bare, store, n)
        fulls.append(t_full)
        in_loop.append(t_full / t_loop)
    floor = statistics.median(own[False]) / statistics.median(own[True])
    line(
        f"    floor of a desk that streams ({n})",
        f"{floor:.2f}  (bare run_streamed ÷ bare Runner.run time)",
        "report",
        None,
    )
    for streamed, ratios in own.items():
        ratio = statistics.median(ratios)
        line(
            f"{n} at once / bare gather" + (" (streamed)" if streamed else ""),
            f"{ratio:.2f}  (desk {statistics.median(fulls):.2f}s)",
            "<= 1.2",
            ratio <= 1.2,
        )
        how = "Runner.run_streamed" if streamed else "Runner.run"
        print(f"    {median_of(ratios)}; 300 ms model, bare ({how}) in its own process")
    line(
        f"old way: {n} at once / bare in loop",
        f"{statistics.median(in_loop):.2f}",
        "(was <= 1.2)",
        None,
    )
    line(f"T{n} / T1", f"{statistics.median(fulls) / t1:.2f}  (T1 {t1:.2f}s)", "report", None)
    model.latency_s = 0


async def ack_latency(events: SlackEvents, slack: FakeSlack, rate: int, seconds: float) -> int:
    """(d) Ack latency of messages sent at `rate` a second while they are answered (with the
    model's latency as set). Returns how many were sent."""
    latencies: list[float] = []
    since = len(slack.calls)

    async def timed(k: int) -> None:
        started = time.perf_counter()
        await events.message("U_BOB", f"{QUESTION} ack {k}")
        latencies.append((time.perf_counter() - started) * 1000)

    sends = []
    started = time.perf_counter()
    for k in range(int(rate * seconds)):
        # on a schedule, not after fixed sleeps: a late tick does not lower the rate
        await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
        sends.append(asyncio.create_task(timed(k)))
    await asyncio.gather(*sends)
    await slack.wait_for(is_answer, timeout=600, count=len(sends), since=since)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    line(
        f"ack latency at {rate}/s p50 / p99",
        f"{p50:.1f} ms / {p99:.1f} ms",
        "p99 <= 50 ms",
        p99 <= 50,
    )
    return len(sends)


async def long_thread(events: SlackEvents, slack: FakeSlack, model: FakeOpenAI, turns: int) -> None:
    """Turn `turns` of one thread against turn 20: time and model input size."""
    model.latency_s = 0
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
    t_ratio = statistics.median(x[0] for x in late) / statistics.median(x[0] for x in early)
    s_ratio = statistics.median(x[1] for x in late) / statistics.median(x[1] for x in early)
    line(f"long thread: turn {turns} / 20 time", f"{t_ratio:.2f}", "<= 1.2", t_ratio <= 1.2)
    line(f"long thread: turn {turns} / 20 input", f"{s_ratio:.2f}", "<= 1.2", s_ratio <= 1.2)


async def main(
    quick: bool, database_url: str | None = None, *, core: bool = False, repeat: int = 3
) -> None:
    scale = 4 if quick else 1
    set_tracing_disabled(True)  # as in the desk, whose model server is not OpenAI's
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"database: {'PostgreSQL' if database_url else 'SQLite'}")
    print(f"{'figure':<34} {'measured':<32} {'target':<22}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = await Store.open(tmp / "bare.db")
        try:
            await _figures(tmp, store, scale, database_url, core, repeat)
        finally:
            await store.close()  # its thread would keep a failed run from exiting
        if database_url:
            await worker_scaling(tmp, database_url, 200 // scale, repeat)


async def _figures(
    tmp: Path, store: Store, scale: int, database_url: str | None, core: bool, repeat: int
) -> None:
    """The figures of one desk (`main`)."""
    (tmp / "trips").mkdir()
    async with FakeSlack() as slack, FakeOpenAI() as model:
        async with (
            Desk(
                tmp, slack, model, 18731, database_url=database_url, trips_dir=tmp / "trips"
            ) as desk,
            SlackEvents(desk.events_url, SECRET, slack=slack) as events,
        ):
            bare = bare_agents(model.url)
            # Warm both paths up (connections, imports, caches).
            await send_and_wait(events, slack, 10)
            await bare_runs(bare, store, 10)
            await sequential(desk, events, slack, model, 100 // scale, repeat)
            await blocks_at_once(events, slack, model, bare, store, 100 // scale)
            await concurrency(events, slack, model, bare, store, 200 // scale, repeat)
            model.latency_s = 0.3
            await ack_latency(events, slack, 100, 5 / scale)
            model.latency_s = 0
            if not core:
                await long_thread(events, slack, model, 200 // scale)
                await streaming_figures(events, slack, model, [1, 50 // scale], repeat)
                # memory: 1,000 open threads
                await send_and_wait(events, slack, 1000 // scale)
                line(
                    f"peak RSS, {1000 // scale} open threads",
                    f"{desk.peak_rss_mb():.0f} MB (receiver + worker)",
                    "report",
                    None,
                )


async def streaming_figures(
    events: SlackEvents, slack: FakeSlack, model: FakeOpenAI, sizes: list[int], repeat: int
) -> None:
    """Time to the first words at the user (p50/p99) at each size, against bare
    `Runner.run_streamed`s' first token in a process of their own, back to back `repeat`
    times (the run with the median margin over bare is shown); Slack calls per answer."""
    model.answer_tail, model.token_delay_s = STREAM_TAIL, TOKEN_DELAY_S
    model.tools_before_answer = STREAM_TOOLS
    for threads in sizes:
        load = os.getloadavg()[0]
        runs = []
        for _ in range(repeat):
            waits, calls = await first_text(events, slack, threads)
            bare_waits = await asyncio.to_thread(bare_in_process, model.url, threads)
            margin = statistics.median(waits) - statistics.median(bare_waits)
            runs.append((margin, waits, bare_waits, calls))
        margin, waits, bare_waits, calls = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
        p50, bare50 = statistics.median(waits), statistics.median(bare_waits)
        line(
            f"first words, {threads} thread(s) p50/p99",
            f"{p50 * 1000:.0f}/{percentile(waits, 99) * 1000:.0f} ms "
            f"(bare {bare50 * 1000:.0f}/{percentile(bare_waits, 99) * 1000:.0f})",
            "p50 <= bare + 300 ms",
            margin <= 0.3,
        )
        margins = ", ".join(f"{run[0] * 1000:+.0f}" for run in runs)
        print(f"    p50 - bare p50 of {len(runs)} runs, in order: {margins} ms")
        line(
            f"  Slack calls per answer ({threads})",
            f"{calls:.1f}  (load average {load:.1f})",
            "<= 12",
            calls <= 12,
        )
    model.answer_tail, model.token_delay_s, model.tools_before_answer = "", 0.0, []


async def streaming_only(quick: bool, repeat: int) -> None:
    """`--streaming`: only the streaming figures (a desk of its own, warmed up first)."""
    set_tracing_disabled(True)
    with tempfile.TemporaryDirectory() as tmp_name:
        async with FakeSlack() as slack, FakeOpenAI() as model:
            async with (
                Desk(Path(tmp_name), slack, model, 18735) as desk,
                SlackEvents(desk.events_url, SECRET, slack=slack) as events,
            ):
                await send_and_wait(events, slack, 10)
                sizes = [1, 50 // (4 if quick else 1)]
                await streaming_figures(events, slack, model, sizes, repeat)


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
        "--bare-runs", nargs=3, metavar=("URL", "COUNT", "MODE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--database-url", help="run the desk on this (empty) PostgreSQL database instead"
    )
    parser.add_argument(
        "--core",
        action="store_true",
        help="only the per-answer figures (sequential, concurrency, ack latency, workers)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="back-to-back repetitions of each ratio (median)"
    )
    args = parser.parse_args()
    if args.bare_first_token:
        url, count = args.bare_first_token
        print(json.dumps(bare_first_token(url, int(count))))
    elif args.bare_runs:
        url, count, mode = args.bare_runs
        print(
            bare_runs_alone(
                url,
                int(count),
                sequential=mode.startswith("sequential"),
                streamed=mode.endswith("+streamed"),
            )
        )
    elif args.streaming:
        asyncio.run(streaming_only(args.quick, args.repeat))
    else:
        asyncio.run(main(args.quick, args.database_url, core=args.core, repeat=args.repeat))

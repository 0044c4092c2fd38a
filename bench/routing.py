"""Routing and answer figures on dev and test, and the time `eval` takes for 2,000 rows.

Runs the shipped labelled data through the desk on the offline engine, exactly as
`support-desk eval` does (same agents, tools, rows spread over processes), and prints:

- per split (dev: tuned on; test: held out): accuracy, escalation precision and recall,
  clarify precision and recall, and the answer set's right tool and right article;
- the wall time of 2,000 rows (the test split repeated), beside its target (< 30 s).

    .venv/bin/python bench/routing.py               # about a minute on 2 cores
    .venv/bin/python bench/routing.py --rows 500    # a quicker timing
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents import set_tracing_disabled  # noqa: E402

from agents_config.evaluation import (  # noqa: E402
    ANSWER_SPLITS,
    SPLITS,
    EvalRun,
    load_examples,
    run_sharded,
)
from support_desk.config import load_settings  # noqa: E402
from support_desk.eval_cli import desk_factory, eval_settings  # noqa: E402

TIMED_ROWS = 2000
TARGET_S = 30.0


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def clarify_recall(run: EvalRun) -> float | None:
    wanted = [r for r in run.rows if r.example.dept == "clarify"]
    return sum(r.predicted == "clarify" for r in wanted) / len(wanted) if wanted else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=TIMED_ROWS, help="rows to time")
    parser.add_argument("--processes", type=int, default=max(1, min(os.cpu_count() or 1, 4)))
    args = parser.parse_args()
    set_tracing_disabled(True)
    cores = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{cores} cores ({platform.machine()}), Python {platform.python_version()}, "
        f"load average {load}; offline engine, {args.processes} processes × concurrency 8"
    )
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        settings = eval_settings(
            load_settings(_env_file=None), db=Path(tmp) / "unused.db", router=None, model=None
        )
        desks = desk_factory(settings, Path(tmp))
        header = (
            f"{'split':6} {'rows':>5} {'accuracy':>9} {'esc. prec.':>10} {'esc. rec.':>9} "
            f"{'clar. prec.':>11} {'clar. rec.':>10} {'answers':>7} {'tool':>6} {'article':>7}"
        )
        print(header)
        for split in ("dev", "test"):
            routing = asyncio.run(
                run_sharded(desks, load_examples(SPLITS[split]), processes=args.processes)
            )
            answers = asyncio.run(
                run_sharded(desks, load_examples(ANSWER_SPLITS[split]), processes=1)
            )
            r, a = routing.scores, answers.scores
            print(
                f"{split:6} {r.total:>5} {pct(r.accuracy):>9} {pct(r.escalation_precision):>10} "
                f"{pct(r.escalation_recall):>9} {pct(r.clarify_precision):>11} "
                f"{pct(clarify_recall(routing)):>10} {a.total:>7} {pct(a.tool_accuracy):>6} "
                f"{pct(a.article_accuracy):>7}"
            )
        base = load_examples(SPLITS["test"])
        rows = [
            replace(base[i % len(base)], id=f"{base[i % len(base)].id}#{i}")
            for i in range(args.rows)
        ]
        timed = asyncio.run(run_sharded(desks, rows, processes=args.processes))
        verdict = "met" if timed.elapsed_s < TARGET_S * args.rows / TIMED_ROWS else "NOT met"
        print(
            f"{args.rows} rows (the test split repeated): {timed.elapsed_s:.1f} s "
            f"({1000 * timed.elapsed_s / args.rows:.1f} ms a row) · target < "
            f"{TARGET_S * args.rows / TIMED_ROWS:.0f} s: {verdict}"
        )


if __name__ == "__main__":
    main()

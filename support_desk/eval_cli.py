"""`support-desk eval` and `support-desk export-tickets`: measure routing, print the result.

`eval` opens one desk on a throwaway database (a temporary file with the demo data) and sends
every row of a labelled set through it, concurrently, in this one process
(`agents_config.evaluation`). Exit codes: 0 ok; 1 accuracy below `--min-accuracy`, a
tool-policy violation, or no row answered at all; 2 bad usage or input (the message names
the line).

`export-tickets` writes the desk's resolved tickets of the last N days as such a labelled set:
the message that opened each one and its department (staff's correction when there is one).
With `--unhelpful` it writes the AI answers rated 👎 in the last N days instead: the message
each one answered, labelled with the department staff corrected its ticket to, or unlabelled
(for a person to label; the desk's route beside it). Neither has user or channel ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from agents import set_tracing_disabled

from agents_config.desk import Desk
from agents_config.evaluation import (
    ANSWER_SPLITS,
    ATTACK_SET,
    DEFAULT_CALLER,
    DEPARTMENTS,
    SHIPPED_SET,
    SPLITS,
    DeskFactory,
    EvalInputError,
    EvalRun,
    Example,
    RowResult,
    load_examples,
    run_sharded,
    slowest,
)
from storage.feedback import UnhelpfulAnswer
from storage.redaction import without_slack_links
from storage.store import Store
from storage.tickets import LabelledTicket
from support_desk.config import ConfigError, Settings
from support_desk.runtime import open_desk

MISROUTED_SHOWN = 15


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fraction(raw: str) -> float:
    """0.9, or 90%."""
    text = raw.strip()
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r} (use 0.9 or 90%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (or 0% and 100%): {raw!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The `eval` and `export-tickets` subcommands of `support-desk`."""
    _add_eval_parser(sub)
    _add_export_parser(sub)


def _add_eval_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="measure routing on a labelled set of support requests")
    _add_eval_run_options(ev)
    _add_eval_scope_options(ev)


def _add_eval_run_options(ev: argparse.ArgumentParser) -> None:
    """What is evaluated and how: the data, the model, the routing mode, the parallelism."""
    source = ev.add_mutually_exclusive_group()
    source.add_argument(
        "--file",
        type=Path,
        default=None,
        help="JSONL ({id, text, dept}) or CSV (text, department, optional id); "
        "default: the held-out test split shipped with the desk",
    )
    source.add_argument(
        "--split",
        choices=tuple(SPLITS),
        default=None,
        help="a split of the shipped labelled data (default test: never used for tuning)",
    )
    ev.add_argument(
        "--model",
        default=None,
        help="evaluate this OpenAI model (triage and specialists) instead of the "
        "offline engine; needs OPENAI_API_KEY or OPENAI_BASE_URL",
    )
    ev.add_argument(
        "--router",
        choices=("handoffs", "classifier"),
        default=None,
        help="routing mode (default: ROUTING_MODE)",
    )
    ev.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        help="rows answered at the same time in each process (default 8)",
    )
    ev.add_argument(
        "--processes",
        type=_positive_int,
        default=None,
        help="worker processes, each with its own copy of the demo data (default: one per "
        "CPU core, at most 4, for the offline engine; 1 with --model)",
    )


def _add_eval_scope_options(ev: argparse.ArgumentParser) -> None:
    """What else is sent, as whom, and what is reported (and when the run fails)."""
    ev.add_argument(
        "--no-answers",
        action="store_true",
        help="skip the labelled answer set (right tool, right article) that runs beside a "
        "shipped split",
    )
    ev.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON object per row on stdout; the summary on stderr",
    )
    ev.add_argument(
        "--min-accuracy",
        type=_fraction,
        default=None,
        metavar="X",
        help="exit 1 when the accuracy is below X (0.9 or 90%%)",
    )
    ev.add_argument(
        "--as",
        dest="email",
        default=DEFAULT_CALLER,
        help=f"the customer every row is asked as (default {DEFAULT_CALLER})",
    )
    ev.add_argument(
        "--slowest",
        type=_positive_int,
        default=5,
        help="how many of the slowest rows to list (default 5)",
    )
    ev.add_argument(
        "--attacks",
        action="store_true",
        help="also send the shipped attack set (prompt injection, jailbreaks, requests for "
        "other customers' data): the guardrails should stop every one of them",
    )


def _add_export_parser(sub: Any) -> None:
    ex = sub.add_parser(
        "export-tickets", help="write resolved tickets as a labelled set for `eval --file`"
    )
    ex.add_argument(
        "--days",
        type=_positive_int,
        default=30,
        help="tickets resolved (with --unhelpful: answers rated 👎) in the last N days "
        "(default 30)",
    )
    ex.add_argument(
        "--unhelpful",
        action="store_true",
        help="export the AI answers rated 👎 (the message each answered) instead of tickets",
    )
    ex.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write (.csv for CSV, else JSONL); default: stdout (JSONL)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    command = "eval" if args.command == "eval" else "export-tickets"
    try:
        if args.command == "eval":
            source = args.file or (SPLITS[args.split] if args.split else SHIPPED_SET)
            examples = load_examples(source)
            if args.attacks:
                examples += load_examples(ATTACK_SET)
            return asyncio.run(evaluate(settings, args, source, examples))
        if args.unhelpful:
            return export_unhelpful(settings, args.days, args.out)
        return export_tickets(settings, args.days, args.out)
    except EvalInputError as exc:
        print(f"support-desk {command}: {exc}", file=sys.stderr)
        return 2


# --- eval -------------------------------------------------------------------------------------


def eval_settings(
    settings: Settings, *, db: Path, router: str | None, model: str | None
) -> Settings:
    """The settings of the throwaway desk: offline unless `model` is given."""
    update: dict[str, Any] = {
        "support_desk_db": db,
        "database_url": None,  # a throwaway SQLite file, whatever the desk itself uses
        "routing_mode": router or settings.routing_mode,
        # Measure exactly the model asked for: no BACKUP_MODEL, and no offline engine quietly
        # answering for a model that is down (those rows fail and are counted as errors).
        "backup_model": None,
        "offline_fallback": False,
        "model_provider": "offline",
    }
    if model is not None:
        if not (settings.openai_api_key or settings.openai_base_url):
            raise ConfigError(
                "--model needs OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible "
                "server); without --model the offline engine is evaluated."
            )
        update.update(model_provider="openai", triage_model=model, specialist_model=model)
    return settings.model_copy(update=update)


def engine_name(settings: Settings) -> str:
    if settings.provider == "offline":
        return "offline engine"
    where = settings.openai_base_url or "OpenAI"
    return f"model {settings.triage_model} ({where})"


def answer_set(args: argparse.Namespace, source: Path) -> Path | None:
    """The answer set that runs beside a shipped split (the same split), or None (a file of
    your own, `--no-answers`, or the train split, which has no answer set)."""
    if getattr(args, "no_answers", False):
        return None
    split = next((name for name, path in SPLITS.items() if path == source), None)
    return ANSWER_SPLITS.get(split) if split else None


def processes_for(args: argparse.Namespace) -> int:
    if getattr(args, "processes", None) is not None:
        return int(args.processes)
    if args.model is not None:
        return 1  # a real model waits on the network: concurrency is enough
    return max(1, min(os.cpu_count() or 1, 4))


def desk_factory(settings: Settings, folder: Path) -> DeskFactory:
    """Opens desks for `run_sharded`: each on its own new database in `folder` (the demo
    data, seeded on open; never one an earlier run wrote to), with these settings."""

    @contextlib.asynccontextmanager
    async def fresh_desk(shard: int) -> AsyncIterator[Desk]:
        db = folder / f"eval-{shard}-{uuid.uuid4().hex[:12]}.db"
        store = await Store.open(db)
        try:
            yield await open_desk(
                settings.model_copy(update={"support_desk_db": db, "database_url": None}),
                store=store,
            )
        finally:
            await store.close()

    return fresh_desk


async def evaluate(
    settings: Settings, args: argparse.Namespace, source: Path, examples: list[Example]
) -> int:
    if args.min_accuracy is not None and not any(e.dept for e in examples):
        raise EvalInputError(f"{source}: --min-accuracy needs labelled rows, and none has one")
    answers_source = answer_set(args, source)
    answers = load_examples(answers_source) if answers_source else []
    set_tracing_disabled(True)  # hundreds of eval runs would bury the real traces
    out = sys.stdout
    report = sys.stderr if args.jsonl else sys.stdout
    progress = _Progress(len(examples), enabled=not args.jsonl and sys.stderr.isatty())

    def on_row(row: RowResult) -> None:
        if args.jsonl:
            try:
                out.write(json.dumps(row.as_json(), ensure_ascii=False) + "\n")
                out.flush()
            except BrokenPipeError:  # `| head`: the reader left; the run still finishes
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        progress.tick()

    processes = processes_for(args)
    with tempfile.TemporaryDirectory(prefix="support-desk-eval-") as tmp:
        local = eval_settings(
            settings, db=Path(tmp) / "eval.db", router=args.router, model=args.model
        )

        fresh_desk = desk_factory(local, Path(tmp))
        try:
            run_ = await run_sharded(
                fresh_desk,
                examples,
                processes=processes,
                caller_email=args.email,
                concurrency=args.concurrency,
                on_row=on_row,
            )
            answers_run = None
            if answers:
                answers_run = await run_sharded(
                    fresh_desk,
                    answers,
                    processes=1,  # a few dozen rows: a second process would not pay off
                    caller_email=args.email,
                    concurrency=args.concurrency,
                    on_row=None,  # --jsonl lists the rows of the set asked for
                    thread_prefix="answers",
                )
        finally:
            progress.done()
    header = (
        f"{len(examples)} rows from {source} · {engine_name(local)} · router "
        f"{local.routing_mode} · {processes} process{'es' if processes > 1 else ''} × "
        f"concurrency {args.concurrency} · {run_.elapsed_s:.1f} s"
    )
    report.write(
        format_summary(run_, header, slowest_count=args.slowest, show_predictions=not args.jsonl)
    )
    code = exit_code(run_, args.min_accuracy, report)
    if run_.scores.tool_rows or run_.scores.article_rows:  # a --file with answer-set rows
        report.write("\n" + format_answers(run_, source))
    if answers_run is not None and answers_source is not None:
        report.write("\n" + format_answers(answers_run, answers_source))
        code = max(code, exit_code(answers_run, None, report))
    return code


def format_answers(run_: EvalRun, source: Path) -> str:
    """The answer set's figures: right tool, right article, and the rows that missed."""
    scores = run_.scores
    lines = [
        f"Answer set: {scores.total} rows from {source} · {run_.elapsed_s:.1f} s",
        f"  right tool     {_pct(scores.tool_accuracy):>6}  ({scores.right_tools} of "
        f"{scores.tool_rows} rows used every expected tool)",
        f"  right article  {_pct(scores.article_accuracy):>6}  ({scores.right_articles} of "
        f"{scores.article_rows} rows cite the expected help-centre article)",
        f"  tool-policy violations: {len(run_.violations)}",
    ]
    lines += [f"    {v.row_id or '?'}  {v.kind}: {v.detail}" for v in run_.violations]
    missed = [r for r in run_.rows if r.right_tool is False or r.right_article is False]
    for row in missed[:MISROUTED_SHOWN]:
        wanted = []
        if row.right_tool is False:
            wanted.append(
                f"tools {', '.join(row.example.tools or ())} (ran: "
                f"{', '.join(row.tools) or 'none'})"
            )
        if row.right_article is False:
            wanted.append(f"article {row.example.article}")
        lines.append(
            f"  {row.example.id}  wanted {'; '.join(wanted)}  {_excerpt(row.example.text, 50)}"
        )
    return "\n".join(lines) + "\n"


def exit_code(run_: EvalRun, min_accuracy: float | None, report: IO[str]) -> int:
    scores = run_.scores
    failures = []
    if min_accuracy is not None and (scores.accuracy or 0.0) < min_accuracy:
        failures.append(
            f"accuracy {_pct(scores.accuracy)} is below --min-accuracy {_pct(min_accuracy)}"
        )
    if run_.violations:
        failures.append(f"{len(run_.violations)} tool-policy violation(s)")
    if scores.total and scores.errors == scores.total:
        failures.append("no row was answered: every run failed")
    for failure in failures:
        report.write(f"FAIL: {failure}\n")
    return 1 if failures else 0


class _Progress:
    """A "12/272 rows" counter on a terminal's stderr while a long (real-model) run goes on."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.count, self.enabled = total, 0, enabled
        self._last = 0.0

    def tick(self) -> None:
        self.count += 1
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.2 or self.count == self.total):
            self._last = now
            sys.stderr.write(f"\r{self.count}/{self.total} rows")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.count:
            sys.stderr.write("\r" + " " * 24 + "\r")
            sys.stderr.flush()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _excerpt(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _table(
    header: list[str], rows: list[list[str]], *, numeric: bool = True, indent: str = "  "
) -> list[str]:
    """Aligned columns; with `numeric`, every column but the first is right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(c).rjust(w) if numeric and i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def format_summary(
    run_: EvalRun, header: str, *, slowest_count: int = 5, show_predictions: bool = True
) -> str:
    """The readable report of a run: accuracy per department, confusion matrix, escalations,
    clarifying questions, tool-policy violations and the slowest rows."""
    lines = [f"Routing eval: {header}", ""]
    if run_.scores.labelled:
        lines += _labelled_lines(run_)
        lines += _misrouted_lines(run_)
    else:
        lines += _unlabelled_lines(run_, show_predictions)
    lines += _common_lines(run_, slowest_count)
    return "\n".join(lines) + "\n"


def _labelled_lines(run_: EvalRun) -> list[str]:
    """Accuracy per department, the confusion matrix, escalation and clarify precision."""
    scores = run_.scores
    rows = [
        [d.department, str(d.rows), str(d.correct), _pct(d.accuracy)] for d in scores.departments
    ]
    rows.append(["all", str(scores.labelled), str(scores.correct), _pct(scores.accuracy)])
    lines = _table(["department", "rows", "correct", "accuracy"], rows)
    if scores.labelled < scores.total:
        lines.append(f"  ({scores.total - scores.labelled} unlabelled rows not scored)")
    columns = scores.predicted_columns
    matrix = [
        [label, *(str(scores.confusion[label][c]) for c in columns)]
        for label in DEPARTMENTS
        if label in scores.confusion
    ]
    lines += ["", "Confusion matrix (rows: label, columns: predicted)"]
    lines += _table(["label", *columns], matrix)
    lines += [
        "",
        f"Escalations: {scores.escalated} of {scores.labelled} labelled rows · precision "
        f"{_pct(scores.escalation_precision)} ({scores.escalated_human} labelled human) · "
        f"recall {_pct(scores.escalation_recall)} (of {scores.human} labelled human)",
        f"Clarify precision: {_pct(scores.clarify_precision)} "
        f"({scores.predicted_clarify_right} of {scores.predicted_clarify} rows kept to ask "
        "a question were labelled clarify)",
    ]
    return lines


def _misrouted_lines(run_: EvalRun) -> list[str]:
    """The first `MISROUTED_SHOWN` labelled rows sent to the wrong department."""
    misrouted = [r for r in run_.rows if r.correct is False]
    if not misrouted:
        return []
    lines = ["", f"Misrouted rows ({len(misrouted)}):"]
    lines += [
        f"  {r.example.id}  {r.example.dept} → {r.predicted or 'error'}  "
        f"({' → '.join(r.agents) or 'no agent'})  {_excerpt(r.example.text, 60)}"
        for r in misrouted[:MISROUTED_SHOWN]
    ]
    if len(misrouted) > MISROUTED_SHOWN:
        lines.append(f"  … and {len(misrouted) - MISROUTED_SHOWN} more (--jsonl lists every row)")
    return lines


def _unlabelled_lines(run_: EvalRun, show_predictions: bool) -> list[str]:
    """Without labels: the predictions per department (and per row), and the escalations."""
    predicted = {d: sum(1 for r in run_.rows if r.predicted == d) for d in DEPARTMENTS}
    lines = [
        "No labels: predictions only. " + " · ".join(f"{d} {n}" for d, n in predicted.items() if n)
    ]
    if show_predictions:
        lines += _table(
            ["id", "predicted", "agents", "text"],
            [
                [
                    r.example.id,
                    r.predicted or "error",
                    " → ".join(r.agents) or "-",
                    _excerpt(r.example.text, 50),
                ]
                for r in run_.rows
            ],
            numeric=False,
        )
    escalated = sum(1 for r in run_.rows if r.escalated)
    lines += ["", f"Escalations: {escalated} of {run_.scores.total} rows"]
    return lines


def _common_lines(run_: EvalRun, slowest_count: int) -> list[str]:
    """Labelled or not: clarifying questions, guardrails, tool policy, errors, slowest rows."""
    scores = run_.scores
    lines = [
        f"Clarifying questions: {scores.clarifying} of {scores.total} rows "
        f"({_pct(scores.clarifying_share)})"
    ]
    lines += _guardrail_lines(run_)
    lines.append(f"Tool-policy violations: {len(run_.violations)}")
    lines += [f"  {v.row_id or '?'}  {v.kind}: {v.detail}" for v in run_.violations]
    if scores.errors:
        first = next(r for r in run_.rows if r.error)
        lines.append(f"Errors: {scores.errors} rows (first, {first.example.id}: {first.error})")
    if run_.rows and slowest_count:
        lines += ["", "Slowest rows:"]
        lines += [
            f"  {r.example.id}  {r.latency_ms:8.1f} ms  {_excerpt(r.example.text)}"
            for r in slowest(run_.rows, slowest_count)
        ]
    return lines


def _guardrail_lines(run_: EvalRun) -> list[str]:
    """Guardrail trips: false positives on ordinary rows, and the attacks stopped."""
    scores = run_.scores
    trips = sum(1 for r in run_.rows if r.guardrail)
    lines = [
        f"Guardrails: {trips} trips · false positives {scores.false_positives} of "
        f"{scores.ordinary} ordinary rows ({_pct(scores.false_positive_share)})"
        + (
            f" · attacks stopped {scores.attacks_stopped} of {scores.attacks}"
            if scores.attacks
            else ""
        )
    ]
    lines += [
        f"  false positive {r.example.id} ({r.guardrail}): {_excerpt(r.example.text, 60)}"
        for r in run_.rows
        if r.false_positive
    ]
    lines += [
        f"  not stopped {r.example.id}: {_excerpt(r.example.text, 60)}"
        for r in run_.rows
        if r.example.attack and not r.guardrail
    ]
    return lines


# --- export-tickets ---------------------------------------------------------------------------


async def _resolved_tickets(path: str, days: int) -> list[LabelledTicket]:
    store = await Store.open(path, seed=False)
    try:
        return await store.tickets.resolved_since(time.time() - days * 86400)
    finally:
        await store.close()


async def _unhelpful_answers(path: str, days: int) -> list[UnhelpfulAnswer]:
    store = await Store.open(path, seed=False)
    try:
        return await store.feedback.unhelpful_since(time.time() - days * 86400)
    finally:
        await store.close()


def _database(settings: Settings) -> str:
    path = settings.support_desk_db
    if settings.database_url is None and not Path(path).exists():
        raise EvalInputError(f"SUPPORT_DESK_DB={path} does not exist: no tickets to export")
    return settings.database


def _write_rows(rows: list[dict[str, Any]], out: Path | None, columns: dict[str, str]) -> None:
    """JSONL (or CSV for a .csv `out`, with `columns`: JSON key → CSV column) to `out` or
    stdout, in the format `eval --file` reads."""
    as_csv = out is not None and out.suffix.lower() == ".csv"
    with out.open("w", encoding="utf-8", newline="") if out else _stdout() as stream:
        if as_csv:
            writer = csv.writer(stream)
            writer.writerow(list(columns.values()))
            for row in rows:
                writer.writerow(_csv_cell(row.get(key)) for key in columns)
        else:
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return " → ".join(value) if isinstance(value, list) else str(value)


def export_tickets(settings: Settings, days: int, out: Path | None) -> int:
    tickets = asyncio.run(_resolved_tickets(_database(settings), days))
    empty = [t for t in tickets if not t.text.strip()]
    tickets = [t for t in tickets if t.text.strip()]
    rows = [
        {"id": f"ticket-{t.id}", "text": without_slack_links(t.text), "dept": t.department}
        for t in tickets
    ]
    _write_rows(rows, out, {"id": "id", "text": "text", "dept": "department"})
    corrected = sum(1 for t in tickets if t.corrected)
    unlabelled = sum(1 for t in tickets if t.department is None)
    notes = [f"{corrected} corrected by staff"]
    if unlabelled:
        notes.append(f"{unlabelled} without a department (unlabelled rows)")
    if empty:
        notes.append(f"{len(empty)} left out: no text ({', '.join(f'#{t.id}' for t in empty)})")
    print(
        f"Exported {len(rows)} tickets resolved in the last {days} days to "
        f"{out or 'stdout'} ({'; '.join(notes)}).",
        file=sys.stderr,
    )
    return 0


def export_unhelpful(settings: Settings, days: int, out: Path | None) -> int:
    """The answers rated 👎 as `eval` rows: `dept` is staff's correction of the ticket's
    department, or null (the row is unlabelled: a person labels it); `desk_dept` and
    `desk_agents` say where the desk sent it (`eval` ignores them)."""
    answers = asyncio.run(_unhelpful_answers(_database(settings), days))
    empty = sum(1 for a in answers if not a.text.strip())
    answers = [a for a in answers if a.text.strip()]
    rows = [
        {
            "id": f"answer-{a.inbox_id}",
            "text": without_slack_links(a.text),
            "dept": a.label,
            "desk_dept": a.desk_department,
            "desk_agents": a.agent_path,
        }
        for a in answers
    ]
    columns = {"id": "id", "text": "text", "dept": "department", "desk_dept": "desk_department"}
    _write_rows(rows, out, {**columns, "desk_agents": "desk_agents"})
    labelled = sum(1 for a in answers if a.label is not None)
    notes = [f"{labelled} labelled by staff's correction, {len(rows) - labelled} unlabelled"]
    if empty:
        notes.append(f"{empty} left out: no text")
    print(
        f"Exported {len(rows)} answers rated 👎 in the last {days} days to "
        f"{out or 'stdout'} ({'; '.join(notes)}).",
        file=sys.stderr,
    )
    return 0


class _stdout:  # a context manager that leaves stdout open
    def __enter__(self) -> IO[str]:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()

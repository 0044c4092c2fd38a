"""`support-desk eval` and `export-tickets`: labelled sets in, routing scores out, through the
real desk in one process; tool-policy audit; labels from staff corrections."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel, assistant_message

from agents_config import evaluation
from agents_config.agents import build_agents
from agents_config.desk import Desk, DeskOptions
from agents_config.evaluation import (
    SHIPPED_SET,
    EvalInputError,
    Example,
    load_examples,
    run_eval,
)
from agents_config.tools import refunds
from fakes.openai_server import FakeOpenAI
from fakes.slack import control
from storage.store import Store
from support_desk import eval_cli
from support_desk.cli import main
from support_desk.config import load_settings
from tests.conftest import DeskFactory, desk_settings
from tests.databases import database_for
from tests.scripting import call, handoff, scripted, tool_output
from tests.test_staff import action_ids, block_text, click, escalation_steps, staff_message

# Rows the offline engine routes right, one or more per department.
SAMPLE = [
    {
        "id": "a1",
        "text": "I was charged twice for invoice INV-2001, can you check?",
        "dept": "billing",
    },
    {"id": "a2", "text": "good morning", "dept": "clarify"},
    {"id": "a3", "text": "I want to talk to a human please", "dept": "human"},
    {
        "id": "a4",
        "text": "The API returns 500 errors on every call since this morning",
        "dept": "tech",
    },
    {"id": "a5", "text": "How much does the Business plan cost per month?", "dept": "sales"},
    {"id": "a6", "text": "Can I get a refund for ORD-1001?", "dept": "billing"},
]
ROW_KEYS = {
    "guardrail",  # why a guardrail stopped the row (None: it did not)
    "attack",  # the row is labelled an attack
    "id",
    "predicted",
    "expected",
    "agents",
    "tools",
    "escalated",
    "clarifying_question",
    "latency_ms",
    "error",
    "right_tool",
    "right_article",
}


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads `.env` from the working directory: not a developer's own here."""
    monkeypatch.chdir(tmp_path)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def eval_main(*argv: str) -> int:
    return main(["eval", *argv])


# --- reading labelled sets --------------------------------------------------------------------


def test_jsonl_and_csv_give_the_same_rows(tmp_path: Path) -> None:
    jsonl = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {"id": "r1", "text": "Refund ORD-1001, please", "dept": "billing"},
            {"id": 2, "text": "the app, it crashes\nwhen I log in", "dept": "Tech"},
            {"id": "r3", "text": "hello"},  # unlabelled
        ],
    )
    csv_file = tmp_path / "set.csv"
    csv_file.write_text(
        "\ufeffID,Text,Department\n"  # Excel's BOM, capitalised headers
        'r1,"Refund ORD-1001, please",billing\n'
        '2,"the app, it crashes\nwhen I log in",tech\n'
        "\n"
        "r3,hello,\n",
        encoding="utf-8",
    )
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text("text;department\nRefund ORD-1001, please;billing\n", encoding="utf-8")

    from_jsonl, from_csv = load_examples(jsonl), load_examples(csv_file)
    assert [(e.id, e.text, e.dept) for e in from_jsonl] == [
        ("r1", "Refund ORD-1001, please", "billing"),
        ("2", "the app, it crashes\nwhen I log in", "tech"),
        ("r3", "hello", None),
    ]
    assert [(e.id, e.text, e.dept) for e in from_csv] == [
        (e.id, e.text, e.dept) for e in from_jsonl
    ]
    assert [e.line for e in from_csv] == [2, 3, 6]  # a quoted newline spans two lines
    [row] = load_examples(semicolons)
    assert (row.id, row.text, row.dept) == ("line-2", "Refund ORD-1001, please", "billing")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "a.jsonl",
            '{"id": "1", "text": "hi", "dept": "billing"}\n'
            '{"id": "2", "text": "refund", "dept": "finance"}\n',
            "a.jsonl line 2: unknown department 'finance'",
        ),
        (
            "a.jsonl",
            '{"id": "1", "text": "hi"}\n\n{"id": "2", "text": "   "}\n',
            "a.jsonl line 3: empty text",
        ),
        (
            "a.jsonl",
            '{"id": "1", "text": "hi"}\n{"id": "2", "text": "oops"\n',
            "a.jsonl line 2: not valid JSON",
        ),
        ("a.jsonl", '["text", "billing"]\n', "a.jsonl line 1: expected a JSON object"),
        ("a.jsonl", '{"id": "1", "dept": "tech"}\n', 'a.jsonl line 1: no "text"'),
        (
            "a.jsonl",
            '{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n',
            "a.jsonl line 2: duplicate id 'x' (first on line 1)",
        ),
        ("a.jsonl", "\n\n", "a.jsonl: no rows"),
        ("a.csv", "question,department\nhi,billing\n", "a.csv line 1: the header has no `text`"),
        (
            "a.csv",
            "text,department\nhi,billing\nrefund,billing,extra\n",
            "a.csv line 3: expected 2 fields",
        ),
        (
            "a.csv",
            "text,department\nhi,billing\nmy card,payments\n",
            "a.csv line 3: unknown department 'payments'",
        ),
        ("a.csv", "id,text,department\n1,,billing\n", "a.csv line 2: empty text"),
    ],
)
def test_bad_input_is_an_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalInputError) as raised:
        load_examples(path)
    assert message in str(raised.value)

    assert eval_main("--file", str(path)) == 2  # nothing is run, nothing skipped
    err = capsys.readouterr().err
    assert err.startswith("support-desk eval: ") and message in err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_main("--file", str(tmp_path / "missing.jsonl")) == 2
    assert "cannot read" in capsys.readouterr().err
    unlabelled = write_jsonl(tmp_path / "u.jsonl", [{"id": "1", "text": "hello"}])
    assert eval_main("--file", str(unlabelled), "--min-accuracy", "0.9") == 2
    assert "--min-accuracy needs labelled rows" in capsys.readouterr().err
    assert eval_main("--model", "gpt-4.1-mini", "--file", str(unlabelled)) == 2
    assert "--model needs OPENAI_API_KEY" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_option:
        eval_main("--min-accuracy", "1.5")
    assert bad_option.value.code == 2


# --- output and exit codes --------------------------------------------------------------------


def test_jsonl_output_one_object_per_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "sample.jsonl", SAMPLE)
    assert eval_main("--file", str(path), "--jsonl", "--concurrency", "3") == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in SAMPLE]  # input order
    assert all(set(r) == ROW_KEYS for r in rows)
    by_id = {r["id"]: r for r in rows}
    assert by_id["a3"]["agents"] == ["triage", "fallback"] and by_id["a3"]["escalated"]
    assert "escalate_to_human" in by_id["a3"]["tools"]
    assert by_id["a2"]["predicted"] == "clarify" and by_id["a2"]["clarifying_question"]
    assert by_id["a5"]["agents"] == ["triage", "sales"] and by_id["a5"]["tools"]
    assert all(r["predicted"] == r["expected"] for r in rows)
    assert all(isinstance(r["latency_ms"], float) and r["error"] is None for r in rows)
    # The summary goes to stderr, so stdout stays machine-readable.
    assert "Routing eval: 6 rows" in err and "Confusion matrix" in err
    assert "Tool-policy violations: 0" in err and "Slowest rows:" in err


def test_readable_summary_and_min_accuracy_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", SAMPLE)
    assert eval_main("--file", str(good), "--min-accuracy", "90%", "--router", "handoffs") == 0
    out = capsys.readouterr().out
    assert "offline engine · router handoffs" in out
    assert "  all            6        6    100.0%" in out
    assert "Escalations: 1 of 6 labelled rows · precision 100.0%" in out
    assert "recall 100.0% (of 1 labelled human)" in out
    assert "Clarifying questions: 1 of 6 rows (16.7%)" in out

    wrong = [{**row, "dept": "sales"} if row["dept"] == "tech" else row for row in SAMPLE]
    wrong[1] = {**wrong[1], "dept": "billing"}  # "good morning" is not billing
    path = write_jsonl(tmp_path / "wrong.jsonl", wrong)
    assert eval_main("--file", str(path), "--min-accuracy", "0.9") == 1
    out = capsys.readouterr().out
    assert "  all            6        4     66.7%" in out
    assert "Misrouted rows (2):" in out and "a4  sales → tech" in out
    assert "FAIL: accuracy 66.7% is below --min-accuracy 90.0%" in out
    assert eval_main("--file", str(path), "--min-accuracy", "0.6") == 0


def test_unlabelled_rows_print_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "unlabelled.csv"
    path.write_text("text\nhow much is the Pro plan?\nhello there\n", encoding="utf-8")
    assert eval_main("--file", str(path), "--router", "classifier") == 0
    out = capsys.readouterr().out
    assert "No labels: predictions only. sales 1 · clarify 1" in out
    assert "line-2  sales      classifier → sales" in out
    assert "Confusion matrix" not in out


def test_shipped_set_offline(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole shipped set (≥ 200 varied rows, humans and clarifications among them)."""
    examples = load_examples(SHIPPED_SET)
    assert len(examples) >= 200
    assert {e.dept for e in examples} == set(evaluation.DEPARTMENTS)
    assert eval_main("--jsonl") == 0  # no violation, no failed row
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(examples) and not any(r["error"] for r in rows)
    accuracy = sum(r["predicted"] == r["expected"] for r in rows) / len(rows)
    assert accuracy >= 0.85, err  # README reports the measured figure
    assert "Tool-policy violations: 0" in err  # its speed is bench/routing.py's to print


# --- one process, concurrency, a real model's API -----------------------------------------------


async def test_whole_file_runs_in_one_desk_concurrently_with_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--model` through an OpenAI-compatible server (local, slow): one desk for all rows,
    answered at the same time."""
    opened: list[object] = []
    real_open_desk = eval_cli.open_desk

    async def counting_open_desk(*args: Any, **kwargs: Any) -> Desk:
        desk = await real_open_desk(*args, **kwargs)
        opened.append(desk)
        return desk

    monkeypatch.setattr(eval_cli, "open_desk", counting_open_desk)
    rows = [
        {"id": f"m{i}", "text": text, "dept": dept}
        for i, (text, dept) in enumerate(
            [
                ("my invoice is wrong", "billing"),
                ("the api returns an error", "tech"),
                ("how much is the pro plan", "sales"),
            ]
            * 4
        )
    ]
    path = write_jsonl(tmp_path / "model.jsonl", rows)
    async with FakeOpenAI(latency_s=0.25) as model:
        settings = load_settings(
            _env_file=None, openai_base_url=model.url, support_desk_db=tmp_path / "unused.db"
        )
        args = argparse.Namespace(
            model="fake-model",
            router="handoffs",
            concurrency=12,
            jsonl=True,
            min_accuracy=0.9,
            email="alice@northwind.example",
            slowest=3,
        )
        code = await eval_cli.evaluate(settings, args, path, load_examples(path))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(opened) == 1  # one desk, one process, for the whole file
    assert len(model.calls) >= 2 * len(rows)  # triage and a specialist for each row
    # Rows are answered at the same time (each call waits 0.25 s at the model), not in turn.
    assert model.most_in_flight >= 6, model.most_in_flight
    assert "model fake-model" in err and "concurrency 12" in err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["predicted"] for r in results] == [r["dept"] for r in rows]
    assert not (tmp_path / "unused.db").exists()  # a throwaway database, not the desk's


# --- tool-policy violations -------------------------------------------------------------------


async def _scripted_run(
    tmp_path: Path, examples: list[Example], *steps: Any
) -> tuple[evaluation.EvalRun, ScriptedModel]:
    model, resolver = scripted(*steps)
    store = await Store.open(database_for(tmp_path / "scripted.db"))
    try:
        desk = Desk(store, build_agents(resolver), DeskOptions())
        return await run_eval(desk, examples, concurrency=1), model
    finally:
        await store.close()


def _refund_steps(order_id: str, reply: str) -> list[Any]:
    return [
        handoff("billing_specialist"),
        handoff("refund_processor"),
        call("issue_refund", {"order_id": order_id, "reason": "not needed"}),
        [assistant_message(reply)],
    ]


async def test_violating_scripted_run_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refund tool that lost its 30-day rule, and a reply with another customer's data
    (which the output guardrail stops: the row counts as a guardrail trip, not a leak)."""
    monkeypatch.setattr(refunds, "REFUND_WINDOW_DAYS", 90)  # the tool drifts; the audit not
    examples = [Example("v1", "Please refund ORD-1004", "billing", 1)]
    run, _ = await _scripted_run(
        tmp_path,
        examples,
        *_refund_steps(
            "ORD-1004",
            "Refunded. By the way, Bob Martin (bob@contoso.example) still owes INV-2005.",
        ),
    )
    assert [r.tools for r in run.rows] == [["issue_refund"]]
    kinds = sorted((v.row_id, v.kind) for v in run.violations)
    assert kinds == [("v1", "refund outside the window")]
    [row] = run.rows
    assert row.guardrail == "another customer's data" and row.false_positive
    assert "bob@contoso.example" not in (row.reply or "")
    assert eval_cli.exit_code(run, None, _Sink()) == 1  # a violation fails the run


async def test_policy_kept_and_user_given_ids_are_not_violations(tmp_path: Path) -> None:
    examples = [
        Example("c1", "Please refund ORD-1004", "billing", 1),
        Example("c2", "what is pay 3003? my bank shows it", "billing", 2),
    ]
    run, model = await _scripted_run(
        tmp_path,
        examples,
        *_refund_steps("ORD-1004", "That order is outside the 30-day window."),
        handoff("billing_specialist"),
        [assistant_message("I couldn't find PAY-3003 on your account.")],
    )
    assert tool_output(model, "issue_refund").startswith("Refund not issued")  # policy held
    assert run.violations == []
    assert [r.predicted for r in run.rows] == ["billing", "billing"]


class _Sink:
    def write(self, text: str) -> int:
        return len(text)


# --- export-tickets ---------------------------------------------------------------------------


async def test_export_labels_follow_staff_correction(
    start_desk: DeskFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, resolver = scripted(*escalation_steps())
    desk = await start_desk(resolver)
    store = desk.runtime.receiver.store
    opening = (
        "I want to talk to a human please: our invoice INV-2001 lists 32 seats but we "
        "only have 20 people, and this has been going on for three months now, which is "
        "a lot of money for a company our size."
    )
    assert len(opening) > 120  # longer than the ticket's subject
    _, _, event = await desk.events.message("U_ALICE", opening)
    await desk.settle()
    ticket = await store.tickets.by_thread("C_SUPPORT", event["ts"])
    assert ticket is not None and ticket.status == "escalated" and ticket.department == "human"
    message = staff_message(desk)
    assert "ticket_department" in action_ids(message)

    await click(desk, "U_DAVE", "ticket_department", f"{ticket.id}:billing", message)
    assert "Only support staff" in desk.slack.responses[-1]["text"]  # not staff
    unchanged = await store.tickets.get(ticket.id)
    assert unchanged is not None and unchanged.corrected_department is None

    await click(desk, "U_ERIN", "ticket_department", f"{ticket.id}:billing", message)
    corrected = staff_message(desk)
    assert "billing (corrected; the desk said human)" in block_text(corrected)
    select = control(corrected, "ticket_department")
    assert select["initial_option"]["value"] == f"{ticket.id}:billing"
    *_, event_row = await store.tickets.events(ticket.id)
    assert (event_row.status, event_row.actor) == ("department", "U_ERIN")
    assert event_row.note == "department corrected: human → billing"
    await click(desk, "U_ERIN", "ticket_resolve", str(ticket.id), message)

    settings = desk_settings(tmp_path, desk.slack)
    out = tmp_path / "labels.jsonl"
    monkeypatch.setenv("SUPPORT_DESK_DB", str(tmp_path / "none.db"))
    assert await asyncio.to_thread(main, ["export-tickets", "--days", "1", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    capsys.readouterr()
    # The command runs its own event loop (as `support-desk export-tickets` does).
    assert await asyncio.to_thread(eval_cli.export_tickets, settings, 1, out) == 0
    assert "Exported 1 tickets resolved in the last 1 days" in capsys.readouterr().err
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row == {"id": f"ticket-{ticket.id}", "text": opening, "dept": "billing"}
    assert "U_ALICE" not in out.read_text() and "C_SUPPORT" not in out.read_text()

    as_csv = tmp_path / "labels.csv"
    assert await asyncio.to_thread(eval_cli.export_tickets, settings, 1, as_csv) == 0
    [example] = load_examples(as_csv)  # the export reads back as an eval set
    assert (example.id, example.text, example.dept) == (f"ticket-{ticket.id}", opening, "billing")


async def test_model_that_is_down_fails_rows_instead_of_falling_back_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real-model eval measures that model: no offline engine answers in its place."""
    path = write_jsonl(tmp_path / "one.jsonl", SAMPLE[:1])
    async with FakeOpenAI() as model:
        model.fail(500, times=100)
        settings = load_settings(_env_file=None, openai_base_url=model.url, model_timeout_s=5)
        args = argparse.Namespace(
            model="fake-model",
            router="handoffs",
            concurrency=12,
            jsonl=False,
            min_accuracy=None,
            email="alice@northwind.example",
            slowest=1,
        )
        code = await eval_cli.evaluate(settings, args, path, load_examples(path))
    out = capsys.readouterr().out
    assert code == 1
    assert "Errors: 1 rows (first, a1: InternalServerError" in out
    assert "FAIL: no row was answered: every run failed" in out
    assert "offline engine" not in out

"""A closing thanks gets a short reply and nothing else; a thanks with a request is routed.

Through the real desk (`Desk.handle`, the offline engine, the demo data), on sitting H's rows
(`tests/closing_thanks.txt`: bare closings, not a department;
`agents_config/data/sources/team_h_thanks*.txt`: a thanks that carries a request, labelled by
department; the first rows of each were written before the rule, the later ones after it:
see their comments). The Slack side (a rating asked for, nothing posted to staff) is in
tests/test_thanks_closes.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents_config.agents import AGENT_SPECS
from agents_config.closing import closing_of
from agents_config.desk import Desk, TurnOutcome
from tests.test_answers import Thread, desk  # noqa: F401 (`desk`: a fixture)

HERE = Path(__file__).resolve().parent
CLOSINGS = HERE / "closing_thanks.txt"
SOURCES = HERE.parent / "agents_config" / "data" / "sources"
WITH_A_REQUEST = (SOURCES / "team_h_thanks.txt", SOURCES / "team_h_thanks_later.txt")
# The desk's closing replies start with one of these (en, es, de, fr, pt, it, ja).
OPENERS = re.compile(
    r"^(?:You're welcome!|Glad that's sorted!|¡De nada!|¡Me alegro|Gern geschehen!|"
    r"Schön, dass|Avec plaisir !|Ravi que|De nada!|Que bom|Prego!|Bene, felice|"
    r"どういたしまして|解決してよかった)"
)


def closings() -> list[str]:
    lines = CLOSINGS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def thanks_with_a_request() -> list[tuple[str, str]]:
    """(text, department) of every row of the source files."""
    rows, department = [], ""
    for path in WITH_A_REQUEST:
        for line in path.read_text(encoding="utf-8").splitlines():
            heading = re.fullmatch(r"##\s+(\w+)", line.strip())
            if heading:
                department = heading.group(1)
            elif line.strip() and not line.startswith("#"):
                rows.append((line.strip().replace("\\n", "\n"), department))
    return rows


def assert_closing_reply(outcome: TurnOutcome) -> None:
    assert outcome.agent_path == [] and outcome.tools_called == []  # no agent, no specialist
    assert outcome.escalation is None and outcome.error is None
    assert OPENERS.match(outcome.reply or ""), outcome.reply
    assert "?" not in (outcome.reply or "")  # a closing, not another question


def test_the_rows_are_there_and_apart() -> None:
    rows, requests = closings(), thanks_with_a_request()
    assert len(rows) >= 90 and len(requests) >= 70
    assert {d for _, d in requests} == {"billing", "tech", "sales", "human", "clarify"}
    assert not set(rows) & {t for t, _ in requests}


async def test_a_closing_thanks_gets_a_short_reply_and_opens_no_ticket(desk: Desk) -> None:  # noqa: F811
    for number, text in enumerate(closings()):
        thread = Thread(desk, name=f"closing-{number}")
        outcome = await thread.say(text)
        assert_closing_reply(outcome)
        assert outcome.ticket is None and not outcome.opened, text
        assert await desk.store.tickets.by_thread("C1", thread.name) is None, text


async def test_a_thanks_with_a_request_is_routed_not_closed(desk: Desk) -> None:  # noqa: F811
    for number, (text, department) in enumerate(thanks_with_a_request()):
        outcome = await Thread(desk, name=f"request-{number}").say(text)
        assert outcome.ticket is not None and outcome.opened, text
        assert outcome.agent_path[:1] == ["triage"], text  # the agents answered it
        if department == "human":  # asked for a person, threatened, wrote several times
            assert outcome.ticket.status == "escalated", text


@pytest.mark.parametrize(
    ("text", "opener"),
    [
        ("gracias!", "¡De nada!"),
        ("merci beaucoup", "Avec plaisir !"),
        ("gracias, eso es todo", "¡De nada!"),
        ("danke, das war's", "Gern geschehen!"),
        ("thanks, that's all I needed", "You're welcome!"),
        ("obrigada, era só isso", "De nada!"),
        ("grazie mille", "Prego!"),
        ("ありがとうございました", "どういたしまして！"),
        ("perfect, that fixed it", "Glad that's sorted!"),
    ],
)
async def test_a_closing_after_an_answer_resolves_the_ticket_in_the_users_language(
    desk: Desk,  # noqa: F811
    text: str,
    opener: str,
) -> None:
    thread = Thread(desk)
    answered = await thread.say("how do I reset my password")
    assert answered.ticket is not None and answered.ticket.status == "answered"
    outcome = await thread.say(text)
    assert_closing_reply(outcome)
    assert (outcome.reply or "").startswith(opener)
    assert f"#{answered.ticket.id}" in (outcome.reply or "")
    assert outcome.resolved_by_user and outcome.ticket is not None
    assert outcome.ticket.status == "resolved"


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("thanks, but it still fails", None),
        ("thanks! also, can I get a refund for ORD-1001?", "billing"),
        ("gracias, pero sigue sin funcionar", None),
        ("thanks, I want to talk to a person", "human"),
    ],
)
async def test_a_thanks_with_a_request_in_a_thread_keeps_the_ticket_open(
    desk: Desk,  # noqa: F811
    text: str,
    department: str | None,
) -> None:
    thread = Thread(desk)
    await thread.say("how do I reset my password")
    outcome = await thread.say(text)
    assert outcome.agent_path[:1] == ["triage"] and not outcome.resolved_by_user
    assert outcome.ticket is not None and outcome.ticket.status != "resolved"
    if department == "human":
        assert outcome.ticket.status == "escalated"
    elif department is not None:
        assert outcome.department == department


async def test_a_closing_leaves_an_escalated_ticket_with_staff(desk: Desk) -> None:  # noqa: F811
    thread = Thread(desk)
    escalated = await thread.say("I want to talk to a person about my bill")
    assert escalated.ticket is not None and escalated.ticket.status == "escalated"
    outcome = await thread.say("ok, thank you!")
    assert_closing_reply(outcome)
    assert "a person will follow up" in (outcome.reply or "")
    assert outcome.ticket is not None and outcome.ticket.status == "escalated"


async def test_a_closing_does_not_reopen_a_resolved_ticket(desk: Desk) -> None:  # noqa: F811
    thread = Thread(desk)
    await thread.say("how do I reset my password")
    await thread.say("thanks, that solved it")
    outcome = await thread.say("thanks again!")
    assert_closing_reply(outcome)
    assert outcome.ticket is not None and outcome.ticket.status == "resolved"
    assert not outcome.resolved_by_user  # resolved once, one rating request


async def test_a_typed_yes_with_thanks_still_answers_the_confirmation(
    desk: Desk,  # noqa: F811
) -> None:
    """ "ok thanks" under a pending refund confirmation is the requester's yes (as before);
    a bare "thanks!" is no yes: the confirmation is closed and nothing is refunded."""
    thread = Thread(desk)
    asked = await thread.say("Can I get a refund for ORD-1001?")
    assert asked.confirmation is not None
    outcome = await thread.say("ok thanks")
    assert (outcome.reply or "").startswith("Thanks, confirmed.")

    other = Thread(desk, name="t2")
    asked = await other.say("Can I get a refund for ORD-1001?")
    assert asked.confirmation is not None
    outcome = await other.say("thanks!")
    assert_closing_reply(outcome)
    assert outcome.settled is not None and outcome.settled.status == "superseded"


@pytest.mark.parametrize(
    "text",
    [
        "thanks",
        "Thank you! :slightly_smiling_face:",
        "_thanks!_",
        "<@U0DESK> thanks a lot",
        "vielen Dank für Ihre Hilfe",
        "ok, merci pour la réponse",
        "legend, thanks!",  # a word of its own, no topic in it
        "you're a star, thanks",
    ],
)
def test_what_is_a_closing(text: str) -> None:
    assert closing_of(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "thanks, I need help",
        "thanks, what now",
        "thanks for the invoice, can you send the one for May too",
        "thanks, ORD-1001 please",
        "ty. refund pls",
        "gracias, necesito ayuda",
        "danke, aber geht immer noch nicht",
        "merci, et pour la facture ?",
        "obrigado, mas não funcionou",
        "grazie, ma non funziona",
        "ありがとう。でもまだエラーが出ます",
        "thanks for nothing",
        "no thanks",
        "thanks, quick question",  # content-free words ask for help
        "thanks, refund",  # a word of its own the router is sure of
        "cheers, webhooks",
    ],
)
def test_what_is_not_a_closing(text: str) -> None:
    assert closing_of(text) is None


def test_triage_tells_a_real_model_what_a_closing_gets() -> None:
    """For a closing the rule does not recognise, a real model's triage is told to answer it
    in a sentence and not to hand it to a person (the desk's code catches the rest)."""
    [triage] = [spec for spec in AGENT_SPECS if spec.name == "triage"]
    assert "only thanks you or ends the conversation" in triage.instructions
    assert "no hand-off" in triage.instructions

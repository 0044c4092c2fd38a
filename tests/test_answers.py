"""Answers that answer: the labelled answer set's floors, and each known bad answer of the
offline engine, fixed, through the real desk (agents, tools, demo data)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents_config.closing import closing_of
from agents_config.context import Caller
from agents_config.desk import Desk, Turn, TurnOutcome
from agents_config.evaluation import ANSWER_SPLITS, load_examples, run_eval
from agents_config.offline.answers import CLARIFYING_QUESTION, clarifying_question, language_of
from agents_config.offline.tools import error_codes
from storage.kb import query_terms
from storage.store import Store
from support_desk.config import load_settings
from support_desk.runtime import open_desk

ALICE = "alice@northwind.example"
CAROL = "carol@fabrikam.example"
TOOL_NAMES = re.compile(
    r"\b(?:list_payments|list_invoices|list_orders|investigate_payment|get_invoice|"
    r"check_duplicate_charges|search_knowledge_base|get_service_status|report_bug)\b"
)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    settings = load_settings(
        _env_file=None, support_desk_db=tmp_path / "desk.db", model_provider="offline"
    )
    store = await Store.open(settings.support_desk_db)
    try:
        yield await open_desk(settings, store=store)
    finally:
        await store.close()


class Thread:
    """One Slack-like thread of one customer, turn after turn."""

    def __init__(self, desk: Desk, email: str = ALICE, name: str = "t1") -> None:
        self.desk, self.email, self.name, self.turns = desk, email, name, 0

    async def say(self, text: str) -> TurnOutcome:
        customer = await self.desk.store.business.customer_by_email(self.email)
        assert customer is not None
        self.turns += 1
        caller = Caller(f"U_{self.email.split('@')[0].upper()}", self.email, None, customer.id)
        return await self.desk.handle(Turn(self.turns, "C1", self.name, caller, text))


async def ask(desk: Desk, text: str, email: str = ALICE) -> TurnOutcome:
    """A message in the asker's own thread (a thread is its requester's: another customer
    writing in it is not answered there)."""
    return await Thread(desk, email, name=f"t1-{email}").say(text)


# --- the labelled answer set ---------------------------------------------------------------


async def test_answer_set_floors_on_its_held_out_split(desk: Desk) -> None:
    """Right tool and right article on the answer set's test split (floors well under what the
    engine reaches on rows it was not tuned on: the goal is 90% on both; see the README for the
    figures), and on the dev split it was tuned on."""
    for split, floor in (("test", 0.7), ("dev", 0.85)):
        examples = load_examples(ANSWER_SPLITS[split])
        assert len(examples) >= 40 and all(e.expects_answer for e in examples)
        run = await run_eval(desk, examples, thread_prefix=f"answers-{split}")
        scores = run.scores
        assert run.violations == []
        assert scores.tool_accuracy is not None and scores.tool_accuracy >= floor, split
        assert scores.article_accuracy is not None and scores.article_accuracy >= floor, split


def test_answer_set_is_big_enough_and_split_without_overlap() -> None:
    dev, test = (load_examples(ANSWER_SPLITS[s]) for s in ("dev", "test"))
    assert len(dev) + len(test) >= 80
    assert not {e.text for e in dev} & {e.text for e in test}
    assert {e.dept for e in dev} == {e.dept for e in test} == {"billing", "tech", "sales"}


# --- the known bad answers ---------------------------------------------------------------


async def test_charged_twice_looks_for_a_duplicate_and_greets(desk: Desk) -> None:
    outcome = await ask(desk, "I was charged twice this month")
    reply = outcome.reply or ""
    assert "check_duplicate_charges" in outcome.tools_called
    assert reply.startswith("Hi")
    assert "duplicate charge" in reply and "found none" in reply  # looked for, ruled out
    assert "PAY-3002" in reply and "PAY-3001" in reply  # the charges it compared
    assert "nothing went wrong" not in reply


async def test_login_error_during_an_outage_gets_the_sign_in_article(desk: Desk) -> None:
    outcome = await ask(desk, "I get a login error, is there an outage?")
    reply = outcome.reply or ""
    assert outcome.tools_called[:1] == ["get_service_status"]
    assert "SSO login: operational" in reply
    assert "*Resetting your password*" in reply and "Mobile app" not in reply


async def test_an_unsure_article_model_is_believed_when_the_search_agrees(desk: Desk) -> None:
    """No word of "close my account for good" is in the cancellation article, but the article
    model's first choice is the search's first hit: two signals agree."""
    reply = (await ask(desk, "how do I close my account for good, we're moving")).reply or ""
    assert "*Cancelling your subscription*" in reply


async def test_a_question_about_incidents_gets_the_status_and_its_article(desk: Desk) -> None:
    outcome = await ask(desk, "how will I be told when you have an outage?")
    assert outcome.tools_called[:1] == ["get_service_status"]
    assert "*Service status and incidents*" in (outcome.reply or "")


async def test_a_401_gets_the_api_errors_article_not_rate_limits(desk: Desk) -> None:
    reply = (await ask(desk, "I'm getting a 401 from the API")).reply or ""
    assert "*API errors (401, 403, 404, 500) and request ids*" in reply
    assert "rate limit" not in reply.lower()


async def test_a_500_checks_status_and_asks_for_the_request_id_before_a_bug_report(
    desk: Desk,
) -> None:
    thread = Thread(desk)
    first = await thread.say("I get a 500 on an API call")
    reply = first.reply or ""
    assert "get_service_status" in first.tools_called and "report_bug" not in first.tools_called
    assert "API: operational" in reply
    assert "request id" in reply and "steps" in reply and "environment" in reply
    second = await thread.say("request id is req_91b2c3d4, GET /v1/tasks at 14:05 UTC")
    assert "report_bug" in second.tools_called
    assert re.search(r"Filed bug report BUG-\d+", second.reply or "")


async def test_a_500_with_its_request_id_files_one_bug_report_and_names_it(desk: Desk) -> None:
    """After the service status, the report is filed once: its details (the tools tried so
    far) change after the call, and that is no reason to file it again."""
    outcome = await ask(desk, "POST /v1/contacts returns 500 — request id req_8f2c91")
    [report] = await desk.store.business.bug_reports()
    assert outcome.tools_called.count("report_bug") == 1
    assert outcome.ticket is not None and report.ticket_id == outcome.ticket.id
    reply = outcome.reply or ""
    assert f"Filed bug report {report.id}" in reply and "already filed" not in reply


async def test_where_is_my_refund_shows_it_without_a_placeholder(desk: Desk) -> None:
    mine = (await ask(desk, "Where is my refund RF-4001?", CAROL)).reply or ""
    assert "ORD-1003" in mine and "refunded (RF-4001)" in mine
    assert "Which order" not in mine and "ORD-…" not in mine
    other = (await ask(desk, "Where is my refund RF-4001?")).reply or ""
    assert "I couldn't find RF-4001 on your account" in other
    assert "ORD-1003" not in other  # Carol's order stays Carol's


async def test_answers_name_no_internal_tools_nor_the_asked_id_as_an_example(
    desk: Desk,
) -> None:
    reply = (await ask(desk, "what happened to payment PAY-9999?", CAROL)).reply or ""
    assert "couldn't find a payment PAY-9999" in reply
    assert "PAY-3006" in reply  # Carol's own payments, to pick from
    assert not TOOL_NAMES.search(reply)
    assert "look like PAY-9999" not in reply and "looks like PAY-9999" not in reply


async def test_plan_question_gets_a_yes_or_no_first(desk: Desk) -> None:
    reply = (await ask(desk, "Does the Pro plan include SSO?")).reply or ""
    assert re.search(
        r"\n\nNo: the Pro plan doesn't include SSO \(SAML\)\. It is on the "
        r"Business and Enterprise plans\.",
        reply,
    )
    yes = (await ask(desk, "Does Business include an audit log?")).reply or ""
    assert "Yes: the Business plan includes Audit log." in yes


def test_kb_query_reads_contractions_as_one_word() -> None:
    assert query_terms("I can't sign in") == ["sign"]
    assert "t" not in query_terms("it doesn't load and won't sync")
    assert query_terms("the user's key") == ["user", "key"]


# --- conversations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "follow_up",
    ["was it paid?", "¿y esa ya está pagada?", "e essa já foi paga?", "ist diese schon bezahlt?"],
)
async def test_follow_up_uses_the_record_named_before(desk: Desk, follow_up: str) -> None:
    thread = Thread(desk, name=f"follow-up-{follow_up}")
    await thread.say("Can you show me invoice INV-2002?")
    outcome = await thread.say(follow_up)
    assert "get_invoice" in outcome.tools_called and "INV-2002" in (outcome.reply or "")


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("how do I reset my password?", ("Forgot password?", "reset link", "new password")),
        ("how do I turn on 2FA", ("Profile → Security", "QR code", "6-digit", "recovery codes")),
        ("how do I export all my data", ("Settings → Data → Export", "format", "Start", "7 days")),
    ],
)
async def test_a_how_to_quotes_the_articles_steps_whole_and_in_order(
    desk: Desk, text: str, steps: tuple[str, ...]
) -> None:
    reply = (await ask(desk, text)).reply or ""
    places = [reply.find(step) for step in steps]
    assert -1 not in places and places == sorted(places), reply


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("Combien je vous dois ?", "la réponse suit en anglais"),
        ("いくら支払う必要がありますか？", "以下は英語でのご案内です"),
        ("Quanto eu devo?", "a resposta segue em inglês"),
        ("Quanto devo pagare?", "la risposta segue in inglese"),
        ("¿Cuánto debo?", "le respondemos en inglés"),
        ("Wie viel schulde ich Ihnen?", "die Antwort folgt auf Englisch"),
    ],
)
async def test_how_much_do_i_owe_in_each_language_gets_the_balance(
    desk: Desk, text: str, note: str
) -> None:
    outcome = await ask(desk, text)
    assert outcome.tools_called == ["get_account_overview"], text
    assert note in (outcome.reply or "") and "Balance due: $249.00" in (outcome.reply or "")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("wir haben das schon zweimal versucht, Login geht nicht", "de"),
        ("Seit gestern kommt beim Export ein 500", "de"),
        ("c'est toujours cassé depuis hier ?", "fr"),
        ("o link tá demorando pra chegar", "pt"),
        ("vogliamo passare al piano annuale", "it"),
        ("¿me pueden mandar la factura otra vez?", "es"),
        ("請求書をもう一度送ってください", "ja"),
        ("we still can't log in since yesterday", "en"),
        ("Die Hard fan here: the app shows a blank page", "en"),
    ],
)
def test_the_requests_language_is_recognised(text: str, language: str) -> None:
    """The language the offline engine greets and asks in (and says it answers in English)."""
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("email", "first", "then", "tools"),
    [
        (
            CAROL,
            "Is ORD-1001 eligible for a refund?",
            "Why did my last payment fail?",
            "list_payments",
        ),
        (ALICE, "What about ORD-1003?", "ok, and what do I owe?", "get_account_overview"),
        (ALICE, "Is ORD-1004 eligible for a refund?", "what plan am I on?", "get_account_overview"),
        (ALICE, "Why did my last payment fail?", "And what do I owe now?", "get_account_overview"),
    ],
)
async def test_a_new_question_in_the_thread_is_not_read_as_the_previous_one(
    desk: Desk, email: str, first: str, then: str, tools: str
) -> None:
    """The previous message counts for a follow-up ("was it paid?"), not for a question with
    its own subject: it got the previous record again (another customer's id, once mistyped,
    then tripped the output guardrail and sent an innocent question to staff)."""
    thread = Thread(desk, email, name=f"new-question-{email}")
    await thread.say(first)
    outcome = await thread.say(then)
    assert outcome.tools_called[:1] == [tools], outcome.tools_called
    assert outcome.escalation is None and "check_refund_eligibility" not in outcome.tools_called


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hola, necesito ayuda", "¿Se trata de facturación"),
        ("Hallo, ich habe eine Frage", "Geht es um die Abrechnung"),
        ("bonjour", "S'agit-il de facturation"),
        ("こんにちは", "ご用件は"),
    ],
)
async def test_clarifying_question_in_the_users_language(desk: Desk, text: str, words: str) -> None:
    outcome = await ask(desk, text)
    assert outcome.agent_path == ["triage"]  # kept to ask, not routed
    assert words in (outcome.reply or "") and words in clarifying_question(text)


@pytest.mark.parametrize(
    ("text", "solved"),
    [
        ("thanks, that solved it", True),
        ("Thanks! That fixed it", True),
        ("works now, thank you", True),
        ("gracias, eso lo resolvió", True),
        ("Danke, das hat geholfen", True),
        ("merci, ça a marché", True),
        ("解決しました、ありがとうございます", True),
        ("that fixed it, my webhooks arrive again", True),
        ("thanks", False),  # a closing, not a statement that it is solved
        ("thanks, but it still fails", None),
        ("did that fix it?", None),
        ("that did not solve it", None),
        ("It solved nothing", None),
        ("thanks, that solved it. Now how do I export my data to CSV for the board?", None),
        ("that fixed it, also I'd like a refund for ORD-1003", None),
    ],
)
def test_what_closes_a_ticket(text: str, solved: bool | None) -> None:
    closing = closing_of(text)
    assert (closing.solved if closing else None) is solved


@pytest.mark.parametrize("text", ["*~_ _~*", "`` ``", "_ _", "~~ ** ~~", "> _*_*_"])
async def test_slack_markup_alone_gets_one_clarifying_question(desk: Desk, text: str) -> None:
    outcome = await ask(desk, text)
    assert outcome.agent_path == ["triage"] and outcome.tools_called == []
    assert CLARIFYING_QUESTION in (outcome.reply or "")


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("500 on /v2/export", "API errors (401, 403, 404, 500) and request ids"),
        ("the reports export gives me a 502 since this morning", "API errors (401, 403"),
        ("my webhook endpoint returns 500 and deliveries stop", "Webhooks not arriving"),
        ("how do I download my receipt", "Billing cycle and invoices"),
    ],
)
async def test_an_error_status_or_a_receipt_gets_its_article(
    desk: Desk, text: str, title: str
) -> None:
    """An HTTP error status is an error, not a how-to of the feature it hit (unless the
    feature's article speaks of that status: a webhook endpoint's 5xx); a receipt is an
    invoice."""
    reply = (await ask(desk, text)).reply or ""
    assert f"From the help centre, *{title}" in reply
    assert "Exporting your data" not in reply


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("500 on /v2/export", {"500"}),
        ("HTTP 401 with the new key, and a 429 after that", {"401", "429"}),
        ("I was charged $500 twice", set()),
        ("a refund of 450 EUR", set()),
        ("ORD-1500 never arrived", set()),
        ("GET /v2/404 is a valid path", set()),
        ("version 5.403.1", set()),
        ("we have 400 users", set()),
        ("volume discount for 500 seats?", set()),
        ("error 500 al exportar", {"500"}),
        ("getting 503s since noon", {"503"}),
    ],
)
def test_what_an_http_error_status_is(text: str, codes: set[str]) -> None:
    assert error_codes(text) == codes


async def test_a_typed_yes_confirms_the_pending_refund(desk: Desk) -> None:
    thread = Thread(desk)
    asked = await thread.say("Can I get a refund for ORD-1001?")
    assert asked.confirmation is not None
    done = await thread.say("yes please do it")
    # confirmed ($450 also needs a member of staff's approval: the desk's rule, not the text's)
    assert (done.reply or "").startswith("Thanks, confirmed.")


async def test_a_follow_up_names_another_order(desk: Desk) -> None:
    thread = Thread(desk)
    await thread.say("is ORD-1001 refundable?")
    outcome = await thread.say("what about ORD-1004?")
    assert "check_refund_eligibility" in outcome.tools_called
    assert "ORD-1004 is not eligible" in (outcome.reply or "")


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("¿Dónde está mi factura de noviembre?", "list_invoices"),
        ("返金をお願いします ORD-1001", "check_refund_eligibility"),
        ("Ich wurde diesen Monat doppelt belastet", "check_duplicate_charges"),
        ("need the PDF of invoice 2002 for our accountant", "get_invoice"),
    ],
)
async def test_requests_in_other_words_and_languages_reach_their_tool(
    desk: Desk, text: str, tool: str
) -> None:
    assert tool in (await ask(desk, text)).tools_called


# --- learnt tool and article choice (agents_config.offline.intents) ------------------------


async def test_a_question_about_unpaid_bills_lists_the_invoices(desk: Desk) -> None:
    """No keyword rule reads "bills we haven't paid" as the invoice list; the tool model does."""
    outcome = await ask(desk, "which bills haven't we paid yet")
    assert outcome.tools_called[:1] == ["list_invoices"]
    assert "INV-2003" in (outcome.reply or "")


async def test_a_decline_code_question_gets_the_declines_article_not_an_investigation(
    desk: Desk,
) -> None:
    outcome = await ask(
        desk, "our card issuer says the charge was rejected with code do_not_honor, what now"
    )
    assert outcome.tools_called == ["search_knowledge_base"]
    assert "*Failed payments and card declines*" in (outcome.reply or "")


def test_billing_hands_a_request_to_the_agent_holding_the_tool_it_calls_for() -> None:
    from agents_config.offline.intents import intent_holder

    billing = {"get_account_overview", "list_invoices", "get_invoice", "list_payments"}
    agents = {"refund_processor", "payment_investigator", "fallback"}
    assert intent_holder("my card payment got declined, why?", billing, agents) == (
        "payment_investigator"
    )
    assert intent_holder("I'd like my money back for ORD-1001", billing, agents) == (
        "refund_processor"
    )
    assert intent_holder("show me all our invoices", billing, agents) is None  # at hand


def test_the_answer_models_cover_every_article_and_are_fitted_on_dev_only() -> None:
    import json

    from agents_config.offline.intents import WEIGHTS_FILE, article_intent, load_models

    models = load_models()
    slugs = {p.stem for p in (Path(__file__).parent.parent / "storage" / "kb").glob("*.md")}
    assert set(models.articles.labels) == slugs == set(models.titles)
    for slug, title in models.titles.items():
        assert article_intent(title).label == slug  # each article recognised by its title
    meta = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))["tools"]["meta"]
    assert not any("test" in s or "holdout" in s for s in meta["trained_on"])


async def test_a_long_request_for_a_person_is_handed_over_without_a_tool_error(
    desk: Desk,
) -> None:
    """The escalation summary quotes a long request shortened (the tool takes at most 3,000
    characters; the whole message stays in the thread): the user never reads the tool's
    refusal."""
    outcome = await ask(desk, "Please let me talk to a person about my account. " * 70)
    assert outcome.tools_called.count("escalate_to_human") == 1
    assert outcome.ticket is not None and outcome.ticket.status == "escalated"
    assert "Not done" not in (outcome.reply or "") and "escalate_to_human" not in (
        outcome.reply or ""
    )


async def test_an_id_followed_by_japanese_without_a_space_is_read(desk: Desk) -> None:
    outcome = await ask(desk, "ORD-1001の返金はできますか？")
    assert "check_refund_eligibility" in outcome.tools_called
    assert "Which order is it about?" not in (outcome.reply or "")

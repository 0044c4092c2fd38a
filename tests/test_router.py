"""The offline router: shipped data and split, the trained classifier, the escalation signs,
follow-ups, and the answers' greeting, language note and intake questions. Uses the shipped
weights file only (no scikit-learn)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agents_config.approvals import typed_answer
from agents_config.evaluation import SPLITS, load_examples
from agents_config.offline.answers import intake_answer, language_note
from agents_config.offline.classifier import Prediction, cue_hits, features, load_model
from agents_config.offline.conversation import Conversation
from agents_config.offline.routing import decide, decide_in_context
from agents_config.routing import ROUTER_LABELS, TRIAGE_ROUTES, escalation_signs, routes_prompt

DATA = Path(__file__).resolve().parent.parent / "agents_config" / "data"


def _rows(split: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in SPLITS[split].read_text("utf-8").splitlines() if line]


def test_labelled_data_is_large_split_disjoint_and_sourced() -> None:
    parts = {name: _rows(name) for name in SPLITS}
    assert sum(len(rows) for rows in parts.values()) >= 1500
    texts = {
        name: {" ".join(r["text"].lower().split()) for r in rows} for name, rows in parts.items()
    }
    assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    assert not texts["train"] & texts["dev"]
    for rows in parts.values():  # stratified: every department in every part
        assert set(Counter(r["dept"] for r in rows)) == set(ROUTER_LABELS)
    readme = (DATA / "README.md").read_text("utf-8")
    for source in {r["source"] for rows in parts.values() for r in rows}:
        assert source in readme  # each source is named, with its licence
    for name in SPLITS:
        assert load_examples(SPLITS[name])  # readable by `eval`


def test_weights_match_the_declared_labels() -> None:
    model = load_model()
    assert model.labels == ROUTER_LABELS
    assert all(len(row) == len(ROUTER_LABELS) for row in model.weights.values())
    prediction = model.predict("I was charged twice this month")
    assert prediction.label == "billing"
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-9


def test_features_read_through_slack_markup_and_ids() -> None:
    marked = features("<@U0SUPPORT> see <https://bank.example/x|my statement> for ORD-1004")
    assert "w:statement" in marked and "w:ordid" in marked
    assert not any("u0support" in f or "bank" in f for f in marked)
    assert features("") == {"w:<empty>": 1.0}


def _decided(split: str) -> list[tuple[str, str]]:
    return [(r["dept"], decide(r["text"]).department) for r in _rows(split)]


def test_held_out_test_split_floors() -> None:
    """Floors that cannot flake (the model is deterministic); the README has the figures."""
    pairs = _decided("test")
    accuracy = sum(label == got for label, got in pairs) / len(pairs)
    human = [got for label, got in pairs if label == "human"]
    assert accuracy >= 0.85
    assert sum(got == "human" for got in human) / len(human) >= 0.90
    asked = [label for label, got in pairs if got == "clarify"]
    assert sum(label == "clarify" for label in asked) / len(asked) >= 0.85


def test_thresholds_ship_with_the_weights_and_a_doubtful_clarify_gives_way() -> None:
    """The model's own "clarify" label, below `clarify_min_confidence`, yields to its best
    department (content-free messages are caught before the model); a department below
    `min_confidence` is asked about."""
    model = load_model()
    assert model.meta["calibrated_by"].startswith("5-fold cross-validation on routing_train")
    assert 0 < model.min_confidence < model.clarify_min_confidence <= 1.01
    doubtful = Prediction(
        "clarify", 0.5, {"billing": 0.1, "tech": 0.3, "sales": 0.05, "human": 0.05, "clarify": 0.5}
    )
    assert model.department(doubtful) == Prediction("tech", 0.6, doubtful.probabilities)
    sure = Prediction("clarify", 0.95, {**doubtful.probabilities, "clarify": 0.95})
    if model.clarify_min_confidence <= 0.95:
        assert model.department(sure) is sure
    else:  # cross-validation chose never to take the model's own "clarify"
        assert model.department(sure).label == "tech"
    assert decide("soc2?").department == "sales"  # short, but it has a department
    assert decide("hi, anyone there?").department == "clarify"


def test_a_weak_human_guess_still_goes_to_a_person() -> None:
    """The model's "human", however unsure, is taken: a missed request for a person is the
    worst outcome, so no threshold gives it to a department."""
    model = load_model()
    weak = Prediction(
        "human", 0.3, {"billing": 0.28, "tech": 0.2, "sales": 0.12, "human": 0.3, "clarify": 0.1}
    )
    assert model.department(weak) is weak


@pytest.mark.parametrize(
    "text",
    [
        "hablar con una persona por favor",
        "ich möchte mit einem Menschen sprechen",
        "人間のオペレーターにつないでください",
        "je veux parler à un humain",
        "pls hooman",
        "not a bot. person please",
        "your agent was incredibly rude to me",
        "my lawyer will be in touch about the invoice",
        "this is the fourth time I'm writing about this refund",
        "I got charged twice, I've emailed 3 times already and no response",
        "I was promised a callback by a manager 3 days ago",
        "call back please",
        "何度も問い合わせているのに返事がない",
        "sent 4 messages, nobody replied",
        # repeated contacts, said as people say them, in each supported language
        "ya les escribí dos veces y nada",
        "Ich habe schon dreimal wegen der Rechnung angerufen",
        "j'ai déjà écrit trois fois à ce sujet",
        "vi ho già scritto due volte, nessuna risposta",
        "já mandei duas mensagens sobre isso",
        "これで3度目の問い合わせです",
        "following up again on my refund",
        # is anybody there; regulators and legal steps; what a member of staff did
        "is there anyone real reading these?",
        "we will take this to the CNIL",
        "rechtliche Schritte behalten wir uns vor",
        "the guy from your onboarding team was sarcastic on our call",
        "mis abogados se pondrán en contacto con ustedes",
        "Unser Anwalt wird sich bei Ihnen melden",
        "O atendente de vocês foi muito grosseiro comigo.",
    ],
)
def test_escalation_signs_send_to_a_person_in_any_language(text: str) -> None:
    assert escalation_signs(text)
    assert decide(text).department == "human"


@pytest.mark.parametrize(
    "text",
    [
        "talk to sales about 40 seats",
        "book a demo call",
        "payment failed again, third time this week",
        "SSO callback gives 403",  # a callback URL, not a call back
        "callbacks are arriving out of order",
        # an action repeated, not a contact: "N times" counts only with a verb of writing
        "hit 'forgot password' 3 times now, nothing in my inbox",
        "APIで500エラーが何度も出ます。何を伝えればいいですか？",
        "asked for the reset link 3 times, nothing came",
        # a lawyer or a legal team that needs something is not a threat
        "Our lawyer needs a copy of INV-2002",
        "our legal team wants your DPA before signing",
        # English legal words that are words of other languages
        "Le mot de passe est trop court ?",
        "Il cliente vuole cancellare le sue informazioni",
        "o sistema demora para processar cada evento",
        # a lawyer who needs something, in the other languages too
        "Soy abogada y necesito la factura INV-2003",
        "Ich bin Anwalt und brauche die Rechnung INV-2003",
        "弁護士です。請求書INV-2003が必要です",
    ],
)
def test_escalation_signs_leave_ordinary_requests_alone(text: str) -> None:
    assert not escalation_signs(text)


def test_issue_examples_route_to_their_department() -> None:
    assert decide("my account is locked").department == "tech"
    assert decide("forgot pw").department == "tech"
    assert decide("getting an error").department == "tech"
    assert decide("what would it take to get 40 people on this").department == "sales"
    assert decide("I was charged twice this month").department == "billing"
    assert decide("hi").department == "clarify"
    assert decide("my card payment keeps failing").department == "billing"


@pytest.mark.parametrize(
    "text",
    [
        "need some help pls",
        "Hallo, ich brauche kurz Hilfe",
        "Bonjour, j'ai un souci",
        "Ciao, una domanda veloce",
        "Oi, preciso de ajuda",
        "¿me pueden ayudar? tengo una duda",
        "助けてください",
        # "it still fails" names no topic, with a thanks or not (a payment that fails does)
        "it still fails",
        "thanks, but it still fails",
        "gracias, pero sigue sin funcionar",
        "merci mais ça ne marche toujours pas",
        "danke, aber es geht immer noch nicht",
    ],
)
def test_content_free_messages_are_asked_about_in_every_language(text: str) -> None:
    """Not handed to whichever department (often a person) has most of what little the
    classifier sees in them."""
    assert decide(text).department == "clarify"


def test_buying_and_owed_money_cues_tell_a_purchase_from_a_bill() -> None:
    assert cue_hits("can we pay by bank transfer if we sign a 2-year deal") == {"buying": 3}
    assert cue_hits("Vocês têm desconto para pagamento anual?") == {"buying": 2}
    assert cue_hits("we were charged for INV-2003 last month") == {"owned": 3}
    assert cue_hits("thinking of leaving, how do I cancel") == {}
    assert "q:buying" in features("quote for 30 seats please")
    assert decide("does paying yearly get us anything off").department == "sales"
    assert decide("Wir bräuchten ein Angebot für 30 Lizenzen, jährlich").department == "sales"


def test_follow_ups_take_the_threads_department() -> None:
    assert decide("yes please do it").department == "clarify"
    followed = decide_in_context("yes please do it", ["Can I get a refund for ORD-1001?"])
    assert followed.department == "billing"
    assert decide_in_context("hi", []).department == "clarify"


def test_prompt_criteria_include_the_escalation_signs() -> None:
    prompt = routes_prompt(TRIAGE_ROUTES)
    assert "Always hand off to `fallback`" in prompt
    assert "hablar con una persona" in prompt and "answer in the user's language" in prompt


def test_answers_greet_speak_the_language_and_ask_for_bug_details() -> None:
    assert language_note("me cobraron dos veces este mes").startswith("¡Hola!")
    assert language_note("Ich wurde diesen Monat doppelt belastet").startswith("Hallo!")
    assert language_note("返金をお願いします").startswith("お問い合わせ")
    assert language_note("I was charged twice") == ""
    assert language_note("Os meus dados são criptografados?").startswith("Olá!")
    assert language_note("ho ricevuto un doppio addebito").startswith("Ciao!")
    assert language_note("Posso ter um reembolso?").startswith("Olá!")  # not Spanish's
    assert language_note("Il login SSO con Okta non funziona").startswith("Ciao!")
    assert language_note("Recibo un error 429 de la API").startswith("¡Hola!")
    # English words other languages share, and names, are no sign of them
    for english in (
        "our infosec team sends a 200-question questionnaire",
        "Team Ho Chi Minh can't receive webhooks",
        "Our CEO Mario Rossi della Valle wants a demo",
        "Come on, the export is broken",
    ):
        assert language_note(english) == "", english
    first = intake_answer(Conversation(request="getting an error"), "tech") or ""
    assert first.startswith("Hi, thanks for reaching out!")
    assert "request id" in first and "environment" in first and "steps" in first
    later = intake_answer(Conversation(request="again", earlier=["error"]), "tech") or ""
    assert not later.startswith("Hi")
    assert intake_answer(Conversation(request="x"), "sales") is None


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes please do it", "confirm"),
        ("Yes please!", "confirm"),
        ("ok go ahead, thanks", "confirm"),
        ("sí, por favor", "confirm"),
        ("はい、お願いします", "confirm"),
        ("no, don't", "cancel"),
        ("nope, cancel it", "cancel"),
        ("yes, but which card?", None),
        ("no I want the refund", None),
        ("please refund ORD-1004 instead", None),
        ("not sure", None),
    ],
)
def test_a_typed_yes_or_no_in_the_users_words(text: str, answer: str | None) -> None:
    assert typed_answer(text) == answer


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("Me cobraron dos veces este mes", "billing"),
        ("Ich habe mein Passwort vergessen", "tech"),
        ("料金プランを教えてください", "sales"),
        ("Quiero hablar con una persona", "human"),
    ],
)
def test_requests_in_other_languages_reach_their_department(text: str, department: str) -> None:
    assert decide(text).department == department


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("it isn't working", "clarify"),
        ("still doesn't work", "clarify"),
        ("hi, it won't work", "clarify"),
        ("the app doesn't load", "tech"),
    ],
)
def test_a_negation_is_no_topic_but_its_object_is(text: str, department: str) -> None:
    assert decide(text).department == department

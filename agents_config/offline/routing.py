"""Routing without a model.

Triage: `decide`, the escalation signs and the trained classifier (`offline.classifier`).
Within a department (billing's sub-specialists) and for agents without a trained label: BM25
over the routing criteria of `agents_config.routing`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from agents.handoffs import Handoff

from agents_config.offline.classifier import RouterModel, classify, load_model, normalise
from agents_config.offline.text import (
    POINTING_BACK,
    VAGUE,
    asked_codes,
    content_stems,
    in_english,
    machine_codes,
    phrase,
    terms,
)
from agents_config.routing import (
    BILLING_ROUTES,
    CATEGORY_DEPARTMENTS,
    TRIAGE_ROUTES,
    Route,
    escalation_signs,
)
from storage.seed import packaged_articles

ROUTE_THRESHOLD = 0.5
PERSON_BOOST = 3.0  # an explicit request for a person outweighs any topic words
ROUTE_TABLES: tuple[tuple[Route, ...], ...] = (TRIAGE_ROUTES, BILLING_ROUTES)

# "talk to a human", "get me your manager", "a real person", "not a bot", "agent please".
PERSON_REQUEST = re.compile(
    r"\b(?:talk|speak|chat|connect|transfer|put|escalate|reach|call|get|need|want)\b"
    r"(?:\W+\w+){0,4}?\W+(?:human|person|people|someone|somebody|manager|supervisor|"
    r"representative|agent|staff|whoever|senior)\b"
    r"|\b(?:real|actual|live)\s+(?:person|human|people)|\bhuman\s+being"
    r"|\bnot\s+(?:a\s+|this\s+)?(?:bot|machine)|^\W*(?:human|agent|person|representative)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def _route_index(routes: tuple[Route, ...]) -> tuple[list[Counter[str]], dict[str, float], float]:
    """Each route as a BM25 "document": keywords (weight 2) and the words of its intents."""
    docs: list[Counter[str]] = []
    for route in routes:
        doc: Counter[str] = Counter()
        for keyword in route.keywords:
            doc[phrase(keyword)] += 2
        for intent in route.intents:
            doc.update(content_stems(intent))
        docs.append(doc)
    df = Counter(term for doc in docs for term in doc)
    n = len(docs)
    idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
    avgdl = sum(sum(doc.values()) for doc in docs) / max(n, 1)
    return docs, idf, avgdl


def route_scores(text: str, routes: Iterable[Route]) -> list[tuple[Route, float]]:
    """BM25 score of `text` against each route's criteria, best first (stable on ties).

    A route only matched by vague words scores 0; a request for a person adds PERSON_BOOST to
    the "human" route.
    """
    routes = tuple(routes)
    docs, idf, avgdl = _route_index(routes)
    found = terms(in_english(text), idf, id_nouns=True)
    k1, b = 1.2, 0.75
    scored: list[tuple[Route, float]] = []
    for route, doc in zip(routes, docs, strict=True):
        matched = found & doc.keys()
        length_norm = k1 * (1 - b + b * sum(doc.values()) / avgdl)
        score = sum(idf[t] * doc[t] * (k1 + 1) / (doc[t] + length_norm) for t in matched)
        if not matched - VAGUE:
            score = 0.0
        if route.department == "human" and PERSON_REQUEST.search(text):
            score += PERSON_BOOST
        scored.append((route, round(score, 4)))
    return sorted(scored, key=lambda pair: -pair[1])


def choose_route(text: str, routes: Iterable[Route]) -> Route | None:
    """The best route for `text`, or None when nothing reaches ROUTE_THRESHOLD (ask instead)."""
    best, score = route_scores(text, routes)[0]
    return best if score >= ROUTE_THRESHOLD else None


def matched_keywords(text: str, route: Route) -> list[str]:
    """The keywords of `route` that `text` contains (stemmed), sorted."""
    keywords = {phrase(k) for k in route.keywords}
    return sorted(terms(text, keywords) & keywords)


def route_of(handoff: Handoff) -> Route:
    for table in ROUTE_TABLES:
        for route in table:
            if route.agent == handoff.agent_name:
                return route
    # An agent without declared criteria: its handoff description is all we know.
    description = handoff.tool_description or handoff.agent_name
    return Route(handoff.agent_name, handoff.agent_name, description, (), (description,))


@dataclass(frozen=True)
class Decision:
    """Where triage sends a request: a department (`clarify`: ask one question), how sure the
    classifier is, and why (the escalation signs, or the classifier's top label)."""

    department: str
    confidence: float
    reason: str


# Words that carry no topic: greetings, politeness, "help", "a problem", "it doesn't work",
# "anyone there?" (in the supported languages). A short message made only of these is
# content-free, whatever the classifier makes of it: triage asks what it is about.
_NO_TOPIC = frozenset(
    """
    a an the i im me my we our us you u your ya yall it its this that these there here is are am
    be was do does did can could would will should may might have has had got get getting gotta
    hi hii hiya hey heya hello helo hallo hola olá ola bonjour salut ciao moin yo sup howdy
    good morning afternoon evening day night buenos buenas días dias tardes noches guten tag
    morgen abend bonsoir please pls plz thanks thank thx ty cheers ok okay k kk sure yes hmm um
    uh erm help helps helping heeelp halp assistance assist support ayuda ayudar hilfe aide
    aider question questions quick one sec second minute moment concern query ask asking
    problem problems issue issues trouble something thing stuff wrong off up weird strange odd
    broke broken break breaks work works working worked not doesnt dont didnt isnt wont cant
    fail fails failed failing
    gracias pero sigue sin funcionar todavía todavia aún aun danke aber immer noch merci mais
    toujours encore ça ne es obrigado obrigada mas ainda grazie ma ancora
    cannot again still same before anymore urgent asap emergency important now today right
    anyone anybody someone somebody around team guys folks everyone channel correct place who
    where what look looking check see need needs needed want wanted with about for to of on at
    from by and or but so just also really tengo un una problema pregunta necesito ich habe ein
    eine frage je jai une problème test testing ping wave anything any currently current
    having hm hmmm mhm meh ugh argh wtf omg sorry more happened happens happening aide svp ajuda
    aiuto socorro auxilio bitte por favor
    some any so confusing confused lost idk know dunno hoping hope wondering info
    information update updates news account going whats de as
    consulta duda rápida rapida algo funciona no puedes puede pueden podrían alguien hay mi
    cuenta ayudarme
    brauche brauchen kurz kurze problem etwas funktioniert nicht geht können könnt sie mir
    helfen jemand da konto
    souci soucis besoin petite petit rapide quelque chose marche pas fonctionne pouvez vous
    maider quelquun mon compte sil plaît plait
    oi preciso tenho um uma pergunta dúvida duvida não nao alguém alguem pode podem ajudar
    minha conta bom dia boa tarde tudo bem
    ho bisogno domanda veloce funziona non qualcuno potete aiutarmi buongiorno salve mio per
    favore
    """.split()
)
_NO_TOPIC_CJK = sorted(  # the longest first: "助けてください" before "助けて"
    (
        "こんにちは",
        "おはようございます",
        "こんばんは",
        "すみません",
        "質問があります",
        "質問",
        "ありがとうございます",
        "ありがとう",
        "お願いします",
        "助けて",
        "問題があります",
        "問題",
        "助けてください",
        "困っています",
        "聞きたいことがあります",
        "ちょっと",
        "動きません",
        "うまくいきません",
        "もしもし",
    ),
    key=len,
    reverse=True,
)
_NO_TOPIC_MAX_WORDS = 12
_TOKEN = re.compile(r"\w+(?:'\w+)?")
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def content_free(text: str) -> bool:
    """A short message with no topic at all ("hi, anyone there?", "it broke", "ayuda")."""
    lowered = _EMOJI_CODE.sub(" ", normalise(text))
    for phrase_ in _NO_TOPIC_CJK:
        lowered = lowered.replace(phrase_, " ")
    # "doesn't" is "doesnt" (a no-topic word), not "doesn": the clitic goes, the negation stays
    tokens = [
        re.sub(r"'(?:s|m|re|ve|ll|d)$|'", "", re.sub(r"n't$", "nt", t))
        for t in _TOKEN.findall(lowered)
        if _LETTER_OR_DIGIT.search(t)  # "_" of Slack markup ("*~_ _~*") is no word
    ]
    if len(tokens) > _NO_TOPIC_MAX_WORDS:
        return False
    return all(t in _NO_TOPIC for t in tokens)


def has_topic(text: str, sure: float = 0.6) -> bool:
    """Whether `text` is about something the desk handles: an escalation sign, words that ask
    for help ("a quick question": content-free, but a request), or a department the
    classifier is at least `sure` of. "legend" and "you're a star" have none."""
    if escalation_signs(text) or content_free(text):
        return True
    prediction = load_model().department(classify(text))
    return prediction.label != "clarify" and prediction.probability >= sure


_EXPLAINED = re.compile(r"^[-*]\s+([^:\n]+):", re.M)  # a list item's term: "- **expired_card**:"


@lru_cache(maxsize=1)
def explained_codes() -> dict[str, tuple[str, str]]:
    """The machine codes the shipped help centre explains, each in a list item of its own
    ("- **do_not_honor**: the bank declined…"), with the slug of that article and the
    department of its category. Read once, from the articles' files."""
    explained: dict[str, tuple[str, str]] = {}
    for article in packaged_articles():
        if article.category not in CATEGORY_DEPARTMENTS:
            continue
        for item in _EXPLAINED.findall(article.body):
            for code in machine_codes(item):
                explained.setdefault(code, (article.slug, CATEGORY_DEPARTMENTS[article.category]))
    return explained


# A question about a code the help centre explains is that article's department's, whatever
# words the classifier knows ("what does do_not_honor mean?" has none of billing's), unless
# the classifier is this sure of another ("SSO fails with error authentication_required").
CODE_OWNER_UNLESS = 0.9


def decide(text: str, model: RouterModel | None = None) -> Decision:
    """The offline router: the escalation signs of `agents_config.routing` first (they only
    ever send a request to a person), then a content-free message is asked about, then the
    classifier (the shipped one, or `model`: the training script's candidates); a department
    it is less than its `min_confidence` sure of becomes a clarifying question."""
    signs = escalation_signs(text)
    if signs:
        return Decision("human", 1.0, f"escalation signs: {', '.join(signs)}")
    if content_free(text):
        return Decision("clarify", 1.0, "no topic: greetings, help or trouble words only")
    model = model or load_model()
    prediction = model.department(classify(text) if model is load_model() else model.predict(text))
    owner = next((explained_codes()[c][1] for c in asked_codes(text) if c in explained_codes()), "")
    if owner and owner != prediction.label and prediction.probability < CODE_OWNER_UNLESS:
        return Decision(owner, 1.0, "asks about a code the help centre explains")
    if prediction.label != "clarify" and prediction.probability < model.min_confidence:
        return Decision(
            "clarify",
            1 - prediction.probability,
            f"not sure enough ({prediction.label} at {prediction.probability:.2f})",
        )
    return Decision(
        prediction.label,
        prediction.probability,
        f"classifier: {prediction.label} at {prediction.probability:.2f}",
    )


# "and when is it due?", "what about ORD-1004?", "ok and for Business?": a short message that
# continues the thread's request rather than starting a new one.
FOLLOW_UP = re.compile(
    r"^\W*(?:(?:and|also|plus|ok(?:ay)?|so|then|what about|how about|same (?:for|with)|"
    rf"and what about|the other|that one|this one|it|und|et|ed|{POINTING_BACK})\b|"
    r"(?:y|e)\s|それ|その)",
    re.IGNORECASE,
)
FOLLOW_UP_MAX_WORDS = 10


def decide_in_context(request: str, earlier: list[str]) -> Decision:
    """A follow-up ("what about ORD-1004?", "yes please do it") is routed with the thread:
    when the request alone is content-free, or is a short continuation ("and when is it
    due?") that shows no escalation sign, the previous user message decides."""
    decision = decide(request)
    if not earlier or (decision.department == "human" and escalation_signs(request)):
        return decision
    continuation = FOLLOW_UP.search(request) and len(request.split()) <= FOLLOW_UP_MAX_WORDS
    if decision.department != "clarify" and not continuation:
        return decision
    previous = decide(earlier[-1])
    if previous.department == "clarify":
        return decision
    return Decision(previous.department, previous.confidence, f"follow-up: {previous.reason}")

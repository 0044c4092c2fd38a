"""`OfflineModel`: a deterministic, rule-based stand-in for a language model.

It lets the whole desk run with no API key: the agents, handoffs, tools, guardrails and storage
are the real ones; only the "thinking" is replaced by transparent rules over the conversation:

1. Routing: the request is scored against the criteria of `agents_config.routing` (BM25 over
   keywords and intent words, with light stemming); the best route above a threshold wins.
2. Tools: a small table maps request words to preferred tools; arguments are read from the
   conversation (ids like ORD-1001, e-mails, amounts) and shaped by each tool's JSON schema.
3. Answers quote the tool outputs and always say that the offline engine wrote them.

Same input, same output: no randomness, no clock, no network.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agents import FunctionTool, Model, ModelResponse, ModelSettings, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.models.interface import ModelTracing
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from agents_config.routing import AGENT_DEPARTMENTS, BILLING_ROUTES, TRIAGE_ROUTES, Route

MARKER = "_(answered by the offline engine)_"
ROUTE_THRESHOLD = 0.5
PERSON_BOOST = 3.0  # an explicit request for a person outweighs any topic words
MAX_CALLS_PER_AGENT = 3
CLARIFYING_QUESTION = (
    "Happy to help! Is this about billing (an invoice, a payment or a refund), a technical "
    "problem, plans and pricing, or would you like to talk to a person?"
)
ROUTE_TABLES: tuple[tuple[Route, ...], ...] = (TRIAGE_ROUTES, BILLING_ROUTES)

# ---------------------------------------------------------------------------------------------
# Text normalisation

_WORD = re.compile(r"[a-z0-9]+")
_NOT = re.compile(r"n['’]t\b")
_STOPWORDS = frozenset(
    """a about am an and any are as asks at be been but by can could do does doing for from get
    got had has have how i im if in into is it its just me my no of on or our please so than
    that the their them then there these they this those to too up us was we were what when
    where which who why will with would you your wants considers makes other ca wo""".split()
)
# Words that say something is wrong, or that help is wanted, but not what about. They add to a
# route's score, but a route matched by such words alone is not taken ("it doesn't work").
_VAGUE_WORDS = (
    "problem issue wrong broken broke work working not help question thing something account "
    "someone somebody again still urgent asap weird update fix team product request order "
    "change set show cannot look stopped not_work"
)
# "talk to a human", "get me your manager", "a real person", "not a bot", "agent please".
_PERSON_REQUEST = re.compile(
    r"\b(?:talk|speak|chat|connect|transfer|put|escalate|reach|call|get|need|want)\b"
    r"(?:\W+\w+){0,4}?\W+(?:human|person|people|someone|somebody|manager|supervisor|"
    r"representative|agent|staff|whoever|senior)\b"
    r"|\b(?:real|actual|live)\s+(?:person|human|people)|\bhuman\s+being"
    r"|\bnot\s+(?:a\s+|this\s+)?(?:bot|machine)|^\W*(?:human|agent|person|representative)\b",
    re.IGNORECASE,
)


def stem(word: str) -> str:
    """Strip one common suffix, so charge/charged/charges and refund/refunds/refunded meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + keep
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # stopped -> stopp -> stop
    return word


def _words(text: str) -> list[str]:
    return _WORD.findall(_NOT.sub(" not", text.lower()).replace("'", "").replace("’", ""))


def _phrase(text: str) -> str:
    """All words of `text`, stemmed, stopwords kept: how multi-word keywords are matched."""
    return " ".join(stem(w) for w in _words(text))


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in _words(text) if w not in _STOPWORDS]


ID_PREFIXES = {"order": "ORD", "invoice": "INV", "payment": "PAY", "refund": "RF", "bug": "BUG"}
_ID = re.compile(rf"\b({'|'.join(ID_PREFIXES.values())})[-\s]?\d+\b", re.I)
_VAGUE = frozenset(_phrase(w.replace("_", " ")) for w in _VAGUE_WORDS.split())


def _terms(text: str, phrases: Iterable[str] = (), *, id_nouns: bool = False) -> set[str]:
    """The stems of `text` and the multi-word `phrases` it contains; with `id_nouns`, also the
    noun of each id in it (INV-2003 speaks of an invoice)."""
    padded = f" {_phrase(text)} "
    terms = set(content_stems(text)) | {p for p in phrases if " " in p and f" {p} " in padded}
    if id_nouns:
        by_prefix = {prefix: noun for noun, prefix in ID_PREFIXES.items()}
        terms |= {stem(by_prefix[m.upper()]) for m in _ID.findall(text)}
    return terms


# ---------------------------------------------------------------------------------------------
# Routing


@lru_cache(maxsize=64)
def _route_index(routes: tuple[Route, ...]) -> tuple[list[Counter[str]], dict[str, float], float]:
    """Each route as a BM25 "document": keywords (weight 2) and the words of its intents."""
    docs: list[Counter[str]] = []
    for route in routes:
        doc: Counter[str] = Counter()
        for keyword in route.keywords:
            doc[_phrase(keyword)] += 2
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
    terms = _terms(text, idf, id_nouns=True)
    k1, b = 1.2, 0.75
    scored: list[tuple[Route, float]] = []
    for route, doc in zip(routes, docs, strict=True):
        matched = terms & doc.keys()
        length_norm = k1 * (1 - b + b * sum(doc.values()) / avgdl)
        score = sum(idf[t] * doc[t] * (k1 + 1) / (doc[t] + length_norm) for t in matched)
        if not matched - _VAGUE:
            score = 0.0
        if route.department == "human" and _PERSON_REQUEST.search(text):
            score += PERSON_BOOST
        scored.append((route, round(score, 4)))
    return sorted(scored, key=lambda pair: -pair[1])


def choose_route(text: str, routes: Iterable[Route]) -> Route | None:
    """The best route for `text`, or None when nothing reaches ROUTE_THRESHOLD (ask instead)."""
    best, score = route_scores(text, routes)[0]
    return best if score >= ROUTE_THRESHOLD else None


def _route_of(handoff: Handoff) -> Route:
    for table in ROUTE_TABLES:
        for route in table:
            if route.agent == handoff.agent_name:
                return route
    # An agent without declared criteria: its handoff description is all we know.
    description = handoff.tool_description or handoff.agent_name
    return Route(handoff.agent_name, handoff.agent_name, description, (), (description,))


# ---------------------------------------------------------------------------------------------
# Reading the conversation


@dataclass
class Call:
    name: str
    arguments: dict[str, Any]
    call_id: str
    output: str | None = None


@dataclass
class Conversation:
    """What the model input says, seen from the current turn (since the latest user message)."""

    request: str = ""
    earlier: list[str] = field(default_factory=list)  # older user messages and thread summary
    path: list[str] = field(default_factory=list)  # agents handed to during this turn
    calls: list[Call] = field(default_factory=list)  # this turn's tool calls by this agent
    turn_calls: list[Call] = field(default_factory=list)  # all of this turn's tool calls

    @property
    def user_texts(self) -> list[str]:
        return [self.request, *reversed(self.earlier)]

    def with_context(self) -> str:
        """The request plus the previous user message, for follow-ups like "ORD-1001"."""
        return " ".join([self.request, *self.earlier[-1:]])

    def output_of(self, tool: str) -> str | None:
        return next((c.output for c in reversed(self.calls) if c.name == tool), None)


def _field(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (_field(part, "text") or _field(part, "refusal") or "" for part in content)
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)


def read_conversation(items: str | list[TResponseInputItem]) -> Conversation:
    if isinstance(items, str):
        return Conversation(request=items)
    conversation = Conversation()
    last_user = max(
        (i for i, item in enumerate(items) if _field(item, "role") == "user"), default=-1
    )
    pending: dict[str, Call] = {}
    for index, item in enumerate(items):
        role, kind = _field(item, "role"), _field(item, "type")
        if role in ("user", "system", "developer") and kind in (None, "message"):
            text = _text_of(_field(item, "content"))
            if index == last_user:
                conversation.request = text
            elif role == "user" or text.startswith("Summary of earlier"):
                conversation.earlier.append(text)
        elif index < last_user:
            continue
        elif kind == "function_call":
            call = Call(str(_field(item, "name")), _json_object(_field(item, "arguments")),
                        str(_field(item, "call_id")))
            pending[call.call_id] = call
            conversation.calls.append(call)
            conversation.turn_calls.append(call)
        elif kind == "function_call_output" and _field(item, "call_id") in pending:
            call = pending[_field(item, "call_id")]
            call.output = _text_of(_field(item, "output"))
            target = _json_object(call.output).get("assistant")
            if isinstance(target, str):  # the SDK's transfer message: a handoff happened
                conversation.path.append(target)
                conversation.turn_calls.remove(call)
                conversation.calls = []  # what came before belongs to the previous agent
    return conversation


def _json_object(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------
# Extracting tool arguments

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AMOUNT = re.compile(r"[$€£]\s?(\d+(?:[.,]\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s?(?:usd|eur|gbp|dollars)")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBER = re.compile(r"\b\d+\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Plans and service components the demo business names; tools match them case-insensitively.
_NAMED = re.compile(r"\b(Starter|Pro|Business|Enterprise|API|Dashboard|Webhooks?|SSO|Mobile|"
                    r"Email|Login)\b", re.I)
_PROBLEM = ("fail", "declin", "pend", "reject", "overdu", "open", "degrad", "outag", "error")
# Words that pick an enum value (priority, severity, ...) when the value itself is not said.
ENUM_HINTS: dict[str, tuple[str, ...]] = {
    "urgent": ("urgent", "asap", "immediately", "right now", "emergency"),
    "critical": ("outage", "data loss", "everyone", "security", "breach"),
    "high": ("lawyer", "legal", "complaint", "unacceptable", "cannot", "blocked", "crash"),
    "low": ("cosmetic", "typo", "minor", "when you can"),
}


def _ids(text: str, prefix: str) -> list[str]:
    return [f"{prefix}-{n}" for n in re.findall(rf"\b{prefix}[-\s]?(\d+)\b", text, re.I)]


def _id_from_outputs(prefix: str, calls: Sequence[Call], request: str) -> str | None:
    """The id of `prefix` on the tool-output line that best fits the request, problems first."""
    wanted = set(content_stems(request))
    best: tuple[float, str] | None = None
    for call in calls:
        for line in (call.output or "").splitlines():
            for found in _ids(line, prefix):
                stems = set(content_stems(line))
                score = len(wanted & stems) + 2 * any(s.startswith(_PROBLEM) for s in stems)
                if best is None or score > best[0]:
                    best = (score, found)
    return best[1] if best else None


def _pick_enum(values: Sequence[Any], text: str, default: Any = None, *, guess: bool = True
               ) -> Any:
    """The enum value named (or hinted at, see ENUM_HINTS) in `text`; else the default, or with
    `guess` a middle value such as "normal"."""
    terms = _terms(text, (_phrase(h) for hints in ENUM_HINTS.values() for h in hints))
    for value in values:
        if isinstance(value, str) and _phrase(value) in terms:
            return value
    for value in values:
        hints = ENUM_HINTS.get(str(value).lower(), ())
        if any(_phrase(h) in terms for h in hints):
            return value
    if default in values or not guess:
        return default
    middle = [v for v in values if str(v).lower() in ("normal", "medium")]
    return (middle or list(values))[0]


# The help centre's words for what users often say differently.
_QUERY_SYNONYMS = ((re.compile(r"\blog(?:g?ing|ged)?[\s-]?(?:in|on)\b|\blogins?\b"), "sign in"),)


def search_query(text: str) -> str:
    """A knowledge-base query from a request: its content words, in the help centre's terms
    ("can't log in with SSO" -> "sign sso"); the request itself if that leaves nothing."""
    lowered = text.lower()
    for pattern, replacement in _QUERY_SYNONYMS:
        lowered = pattern.sub(replacement, lowered)
    kept = [w for w in _words(lowered) if w not in _STOPWORDS and stem(w) not in _VAGUE]
    return " ".join(dict.fromkeys(kept)) or text.strip()


def _first_sentence(text: str, limit: int = 90) -> str:
    sentence = _SENTENCE.split(text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


@dataclass
class ArgContext:
    """Everything argument extraction may draw on for one call."""

    conversation: Conversation
    agent: str
    from_outputs: bool  # may ids come from earlier tool outputs (a drill-down)?

    def find_id(self, prefix: str) -> str | None:
        for text in self.conversation.user_texts:
            found = _ids(text, prefix)
            if found:
                return found[-1]
        if self.from_outputs:
            return _id_from_outputs(prefix, self.conversation.calls, self.conversation.request)
        return None

    def summary(self) -> str:
        lines = [f"Request: {self.conversation.request.strip()}"]
        lines += [f"Earlier: {t.strip()[:300]}" for t in self.conversation.earlier[-3:]]
        tried = [c.name for c in self.conversation.turn_calls]
        if len(self.conversation.path) > 1:
            lines.append(f"Routed: {' -> '.join(self.conversation.path)}")
        if tried:
            lines.append(f"Tools tried: {', '.join(tried)}")
        return "\n".join(lines)

    def reason(self) -> str:
        request = self.conversation.request
        if _PERSON_REQUEST.search(request):
            return "asked for a person"
        human = next(r for r in TRIAGE_ROUTES if r.department == "human")
        signs = sorted(_terms(request, (_phrase(k) for k in human.keywords))
                       & {_phrase(k) for k in human.keywords})
        if signs:
            return f"sensitive request ({', '.join(signs[:3])})"
        previous = [a for a in self.conversation.path if a != self.agent]
        if previous:
            return f"{previous[-1]} could not resolve it offline"
        return "needs a person"


def _value_for(name: str, schema: dict[str, Any], ctx: ArgContext) -> Any:
    """A value for parameter `name` from the conversation, or None if there is none."""
    lowered = name.lower()
    text = ctx.conversation.request
    if "enum" in schema:
        # An enum the user did not speak to keeps its default (e.g. "all components").
        said = " ".join(ctx.conversation.user_texts[:2])
        return _pick_enum(schema["enum"], said, schema.get("default"),
                          guess="default" not in schema)
    for noun, prefix in ID_PREFIXES.items():
        if lowered in (f"{noun}_id", f"{noun}id", f"{noun}_number", noun):
            return ctx.find_id(prefix)
    kind = schema.get("type")
    if lowered in ("email", "contact_email", "e_mail"):
        found = [m for t in ctx.conversation.user_texts for m in _EMAIL.findall(t)]
        return found[0] if found else None
    numbers = _NUMBER.findall(_ID.sub(" ", text))  # the numbers that are not part of ids
    if kind in ("integer", "number"):
        if "amount" in lowered:
            match = _AMOUNT.search(text.lower())
            return float((match.group(1) or match.group(2)).replace(",", ".")) if match else None
        return int(numbers[0]) if numbers else schema.get("default")
    if kind == "boolean":
        return schema.get("default", False)
    if "date" in lowered:
        dates = _DATE.findall(text)
        return dates[0] if dates else None
    if lowered in ("query", "question", "search", "q", "topic", "text", "keywords"):
        return search_query(text)
    if lowered in ("reason", "cause", "why"):
        return ctx.reason() if ctx.agent == "fallback" else _first_sentence(text, 200)
    if lowered in ("summary", "details", "description", "notes", "message", "context", "body"):
        return ctx.summary()
    if lowered in ("title", "subject", "headline"):
        return _first_sentence(text)
    if re.search(r"size|seats|users|people|count|quantity", lowered):
        return numbers[0] if numbers else schema.get("default")
    if "component" in lowered or "service" in lowered or "plan" in lowered:
        # plan_a / plan_b: the first and the second name mentioned
        second = bool(re.search(r"(_b|2|second|other)$", lowered))
        names = _NAMED.findall(text)
        return names[int(second)] if len(names) > int(second) else schema.get("default")
    return schema.get("default")


def fill_arguments(tool: FunctionTool, ctx: ArgContext) -> dict[str, Any] | None:
    """Arguments for `tool` that fit its schema, or None when a required one is unknown."""
    schema = tool.params_json_schema
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    arguments: dict[str, Any] = {}
    for name, prop in properties.items():
        prop = _resolve(prop, schema)
        value = _value_for(name, prop, ctx)
        if value is None and "default" in prop:
            value = prop["default"]
        if value is None:
            if name not in required:
                continue
            if _nullable(prop):
                arguments[name] = None
                continue
            return None
        arguments[name] = value
    return arguments


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` and flatten `anyOf: [X, null]` into X (remembering the null)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    options = schema.get("anyOf")
    if isinstance(options, list):
        concrete = [o for o in options if o.get("type") != "null"]
        if concrete:
            merged = {**_resolve(concrete[0], root), **{k: v for k, v in schema.items()
                                                       if k != "anyOf"}}
            merged["x-nullable"] = len(concrete) < len(options)
            return merged
    return schema


def _nullable(schema: dict[str, Any]) -> bool:
    return bool(schema.get("x-nullable")) or schema.get("type") == "null"


# ---------------------------------------------------------------------------------------------
# Which tool to call


@dataclass(frozen=True)
class ToolRule:
    """When to call a tool. Rules are tried in table order; the first usable one is called.

    `triggers`: request words that call for it (empty: always usable, e.g. the knowledge base as
    a last resort). `unless`: words that rule it out. `after`: only once that tool ran this turn
    and answered affirmatively (issue a refund after a positive eligibility check).
    `chain_from`: may also run after that tool, taking ids from its output (investigate the
    failed payment that `list_payments` showed). `ask`: when its id is missing, ask the user
    for it (otherwise another rule, such as a listing, may serve).
    """

    tool: str
    triggers: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    after: str | None = None
    chain_from: str | None = None
    offer: str | None = None  # said when `after` allowed it but the user did not ask for it
    ask: bool = False


_REFUND = ("refund", "money back", "reimburse", "return", "reverse", "eligible")
_PAYMENT_TROUBLE = ("declined", "failed", "pending", "twice", "double", "rejected", "bounced",
                    "insufficient", "not go through")
TOOL_RULES: tuple[ToolRule, ...] = (
    ToolRule("escalate_to_human"),
    ToolRule("check_refund_eligibility", _REFUND, ask=True),
    ToolRule("issue_refund", _REFUND, unless=("eligible", "eligibility", "whether", "how long"),
             after="check_refund_eligibility",
             offer="Reply “refund {order_id}” if you want me to issue the refund."),
    ToolRule("list_orders", ("order", "purchase", "bought")),
    ToolRule("investigate_payment", (*_PAYMENT_TROUBLE, "payment", "charge", "card"),
             chain_from="list_payments"),
    ToolRule("list_payments", (*_PAYMENT_TROUBLE, "payment", "paid", "pay", "card", "charge")),
    ToolRule("get_invoice", ("invoice", "bill", "receipt", "vat", "tax")),
    ToolRule("list_invoices", ("invoice", "bill", "receipt", "statement", "overdue", "unpaid")),
    ToolRule("get_account_overview", ("balance", "plan", "subscription", "account", "seat",
                                      "renewal", "owe", "due", "billing date")),
    ToolRule("get_service_status", ("down", "outage", "status", "slow", "degraded", "delay",
                                    "500", "502", "503", "not load", "incident")),
    ToolRule("report_bug", ("bug", "crash", "defect", "glitch")),
    ToolRule("request_demo", ("demo", "walkthrough", "meeting")),
    ToolRule("compare_plans", ("compare", "difference", "vs", "versus", "between")),
    ToolRule("list_plans", ("plan", "pricing", "price", "cost", "how much", "seat", "tier",
                            "cheaper", "trial", "feature")),
    ToolRule("search_knowledge_base"),
)
_GENERIC_VERBS = frozenset({"get", "list", "check", "search", "find", "create", "show", "fetch"})


def _rules_for(tools: dict[str, FunctionTool]) -> list[ToolRule]:
    """The table's rules for the tools at hand, plus a name-based rule for any unknown tool."""
    known = {rule.tool for rule in TOOL_RULES}
    extra = [
        ToolRule(name, tuple(w for w in name.split("_") if w not in _GENERIC_VERBS))
        for name in tools if name not in known
    ]
    return [rule for rule in TOOL_RULES if rule.tool in tools] + extra


def _weight(text: str, words: Iterable[str]) -> int:
    """How strongly `text` calls for something: matched words count 1, phrases 2."""
    phrases = [_phrase(w) for w in words]
    return sum(1 + (" " in p) for p in _terms(text, phrases) & set(phrases))


def _affirmative(output: str | None) -> bool:
    lowered = (output or "").lower()
    if re.search(r"\bnot\b[^.]{0,30}\b(eligible|refundable|possible|allowed)|ineligible|cannot|"
                 r"can't|already|outside|not found|no such|error|denied|refused", lowered):
        return False
    return bool(re.search(r"\beligible|can be refunded|refundable|\bok\b|\byes\b", lowered))


_HOW_TO = re.compile(r"^\W*(?:\w+\W+){0,2}?(?:how (?:do|can|should|to)|where (?:do|can))\b",
                     re.I)


def _general_question(text: str) -> bool:
    """A question about policy, not about the user's own case ("how long do refunds take?")."""
    return "?" in text and not re.search(r"\b(i|i'm|my|me|we|our|us)\b", text, re.I)


@dataclass
class Step:
    """What the agent does next: call a tool, or answer (with a question for a missing id)."""

    tool: FunctionTool | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None  # the kind of id the user should give ("order")


def next_step(agent: str, conversation: Conversation, tools: dict[str, FunctionTool]) -> Step:
    done = {(c.name, _key(c.arguments)) for c in conversation.turn_calls}
    called = {c.name for c in conversation.calls}
    if len(conversation.calls) >= MAX_CALLS_PER_AGENT:
        return Step()
    missing: str | None = None
    rules = _rules_for(tools)
    last_resort = [r for r in rules if not r.triggers]
    if not called and _HOW_TO.search(conversation.request):  # how-to: the help centre first
        step = _first_usable(last_resort, conversation, agent, tools)
        if step is not None:
            return step
    # The request alone first, then with the previous message (a follow-up like "ORD-1001").
    for text in dict.fromkeys([conversation.request, conversation.with_context()]):
        weights = {r.tool: _weight(text, r.triggers) for r in rules}
        for rule in sorted((r for r in rules if weights[r.tool]), key=lambda r: -weights[r.tool]):
            if rule.unless and _weight(conversation.request, rule.unless):
                continue
            if rule.after and not _affirmative(conversation.output_of(rule.after)):
                continue
            ctx = ArgContext(conversation, agent, from_outputs=rule.chain_from in called)
            arguments = fill_arguments(tools[rule.tool], ctx)
            if arguments is None:
                missing = missing or (_missing_id(tools[rule.tool], ctx) if rule.ask else None)
                continue
            follow_up = rule.after in called or rule.chain_from in called
            if (called and not follow_up) or (rule.tool, _key(arguments)) in done:
                continue  # after the first call, only calls that build on an output
            return Step(tools[rule.tool], arguments)
        if missing and not _general_question(conversation.request):
            return Step(missing=missing)
    if not called:  # the last resort (knowledge base; escalation for `fallback`)
        return _first_usable(last_resort, conversation, agent, tools) or Step()
    return Step()


def _first_usable(rules: Iterable[ToolRule], conversation: Conversation, agent: str,
                  tools: dict[str, FunctionTool]) -> Step | None:
    done = {(c.name, _key(c.arguments)) for c in conversation.turn_calls}
    for rule in rules:
        arguments = fill_arguments(tools[rule.tool], ArgContext(conversation, agent, False))
        if arguments is not None and (rule.tool, _key(arguments)) not in done:
            return Step(tools[rule.tool], arguments)
    return None


def _key(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True)


def _missing_id(tool: FunctionTool, ctx: ArgContext) -> str | None:
    properties = tool.params_json_schema.get("properties", {})
    for name in properties:
        for noun, prefix in ID_PREFIXES.items():
            if noun in name.lower() and ctx.find_id(prefix) is None:
                return noun
    return None


# ---------------------------------------------------------------------------------------------
# Writing answers

_NOTHING_FOUND = re.compile(
    r"^\W*no\b[\w\s-]{0,30}\b(?:articles?|results?|match(?:es)?)\b|nothing (?:found|matched)",
    re.I)


def _is_knowledge_tool(name: str) -> bool:
    return "knowledge" in name or name.startswith("search")


def _found_nothing(call: Call, request: str) -> bool:
    output = (call.output or "").strip()
    if not output or _NOTHING_FOUND.search(output):
        return True
    return _is_knowledge_tool(call.name) and _relevant_article(output, request) is None


def _relevant_article(output: str, request: str) -> str | None:
    """The search result's first article that fits the request: its title shares a word with
    it, or its text two. The search returns anything sharing one word, which is not enough."""
    wanted = set(content_stems(request)) - _VAGUE
    for article in re.split(r"\n\s*-{3,}\s*\n", output.strip()):
        title, _, body = article.strip().partition("\n")
        if wanted & set(content_stems(title)) or len(wanted & set(content_stems(body))) >= 2:
            return article
    return None


def _key_passage(output: str, request: str, sentences: int = 3) -> str:
    """The relevant article of a knowledge-base result: its title and the sentences closest
    to the request, in their original order."""
    wanted = set(content_stems(request)) - _VAGUE
    article = _relevant_article(output, request) or output
    lines = [ln.strip() for ln in article.splitlines() if ln.strip()]
    if not lines:
        return output.strip()
    title = re.sub(r"^(?:\[[^\]]*\]|[#*\-\d.\s]+|title:)\s*", "", lines[0], flags=re.I)
    body = [ln for ln in lines[1:] if not ln.startswith("#")]  # skip section headings
    candidates = [s.strip() for ln in body for s in _SENTENCE.split(ln) if len(s.strip()) > 20]
    ranked = sorted(range(len(candidates)),
                    key=lambda i: (-len(wanted & set(content_stems(candidates[i]))), i))
    chosen = [candidates[i] for i in sorted(ranked[:sentences])]
    return f"From the help centre, *{title.strip('*_ ')}*:\n" + "\n".join(f"> {s}" for s in chosen)


def _for_user(output: str) -> str:
    """Drop the tools' notes to the model ("Ask the user to confirm before issuing it.")."""
    return re.sub(r"(?:^|(?<=[.!?]) )[^.!?\n]*\bthe user\b[^.!?\n]*[.!?]", "", output).strip()


def _present(call: Call, request: str) -> str:
    output = _for_user((call.output or "").strip())
    if _is_knowledge_tool(call.name):
        return _key_passage(output, request)
    if call.name == "escalate_to_human":
        return output
    output = _focus(output, request)
    if len(output) > 1500:
        output = output[:1499].rstrip() + "…"
    title = call.name.replace("_", " ").capitalize()
    return f"*{title}*\n{output}"


def _focus(output: str, request: str) -> str:
    """Of a bulleted list, only the items naming what the request names ("the Business plan")."""
    named = {n.lower() for n in _NAMED.findall(request)}
    lines = output.splitlines()
    items = [ln for ln in lines if ln.startswith("- ")]
    hits = [ln for ln in items if {n.lower() for n in _NAMED.findall(ln[:40])} & named]
    if not hits or len(hits) == len(items):
        return output
    return "\n".join([ln for ln in lines if not ln.startswith("- ")] + hits)


def _signed(text: str) -> str:
    return f"{text.strip()}\n\n{MARKER}"


def compose_answer(conversation: Conversation, missing: str | None = None) -> str:
    """The final answer from this agent's tool outputs, or a question for a missing id."""
    question = ""
    if missing:
        prefix = ID_PREFIXES.get(missing, missing.upper())
        question = f"Which {missing} is it about? It looks like {prefix}-1234."
    names = {c.name for c in conversation.calls}
    # An output only read to find an id (list_payments before investigate_payment) is not shown.
    sources = {r.chain_from for r in TOOL_RULES if r.tool in names}
    useful = [c for c in conversation.calls
              if not _found_nothing(c, conversation.request) and c.name not in sources]
    for rule in TOOL_RULES:
        gate = next((c for c in conversation.calls if c.name == rule.after), None)
        if rule.offer and gate and rule.tool not in names and _affirmative(gate.output):
            question = question or rule.offer.format(**gate.arguments)
    if not useful and not question:
        return _signed("I can't help with this one offline: none of my tools or help-centre "
                       "articles cover it. Ask for a person and I'll hand it to our staff.")
    return _signed("\n\n".join([*(_present(c, conversation.request) for c in useful), question]))


# ---------------------------------------------------------------------------------------------
# Structured output (agents with an `output_type`)


@dataclass(frozen=True)
class Signals:
    """What a schema field may be filled from: the routing of the text and its quality."""

    text: str
    route: Route | None
    confidence: float
    reasoning: str
    quality: float
    feedback: str

    @classmethod
    def of(cls, text: str) -> Signals:
        scores = route_scores(text, TRIAGE_ROUTES)
        (top, s1), s2 = scores[0], scores[1][1]
        routed = s1 >= ROUTE_THRESHOLD
        matched = sorted(_terms(text, (_phrase(k) for k in top.keywords))
                         & {_phrase(k) for k in top.keywords})
        reasoning = (
            f"Routing criteria of {top.department} matched ({', '.join(matched[:5]) or 'intent'}"
            f"; score {s1:.2f} vs {s2:.2f})."
            if routed else "No routing criterion matched; a clarifying question is needed."
        )
        confidence = round(min(0.99, 0.5 + 0.5 * (s1 - s2) / (s1 + 1)), 2) if routed else 0.5
        quality, feedback = _quality(text)
        return cls(text, top if routed else None, confidence, reasoning, quality, feedback)


def _quality(draft: str) -> tuple[float, str]:
    """A rough, explainable quality score of a draft answer (length, structure, specifics)."""
    checks = {
        "a length between 40 and 1500 characters": 40 <= len(draft.strip()) <= 1500,
        "at least two sentences": len([s for s in _SENTENCE.split(draft) if s.strip()]) >= 2,
        "short paragraphs or a list": "\n" in draft.strip(),
        "concrete facts (ids, amounts, dates)": bool(re.search(r"\d", draft)),
        "no placeholders": not re.search(r"lorem|todo|xxx|\[[^\]]*\]", draft, re.I),
        "a finished last sentence": draft.strip().endswith((".", "!", "?", ")", "_")),
    }
    weights = (0.3, 0.15, 0.15, 0.15, 0.15, 0.1)
    score = round(sum(w for w, ok in zip(weights, checks.values(), strict=True) if ok), 2)
    lacking = [name for name, ok in checks.items() if not ok]
    feedback = "Looks complete." if not lacking else "Missing: " + "; ".join(lacking) + "."
    return score, feedback


_DEPARTMENT_FALLBACKS = ("clarify", "unknown", "other", "none", "general", "triage")


def structured_output(schema: dict[str, Any], text: str) -> Any:
    """A value valid against `schema`, filled deterministically from `text`."""
    return _fill(schema, schema, "", Signals.of(text))


def _fill(node: dict[str, Any], root: dict[str, Any], name: str, sig: Signals) -> Any:
    node = _resolve(node, root)
    lowered = name.lower()
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return _enum_value(node["enum"], sig, node.get("default"))
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {key: _fill(sub, root, key, sig) for key, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_fill(node.get("items", {}), root, name, sig)
                for _ in range(int(node.get("minItems", 0)))]
    if kind == "boolean":
        if "escalat" in lowered or "human" in lowered:
            return bool(sig.route and sig.route.department == "human")
        return sig.quality >= 0.6 if re.search(r"pass|ok|approv|accept|valid|good", lowered) \
            else bool(node.get("default", False))
    if kind in ("number", "integer"):
        return _number(node, lowered, sig, integer=kind == "integer")
    if kind == "null":
        return None
    if re.search(r"reason|rationale|explanation|why", lowered):
        return sig.reasoning
    if re.search(r"feedback|critique|suggestion|comment", lowered):
        return sig.feedback
    if re.search(r"department|category|agent|route", lowered) and sig.route:
        return sig.route.department if "agent" not in lowered else sig.route.agent
    return _first_sentence(sig.text, 200) if "title" in lowered else sig.text.strip()[:500]


def _enum_value(values: Sequence[Any], sig: Signals, default: Any) -> Any:
    names = {v for r in (*TRIAGE_ROUTES, *BILLING_ROUTES) for v in (r.department, r.agent)}
    if names & set(values):  # a routing field
        if sig.route:
            for value in values:
                if value in (sig.route.department, sig.route.agent):
                    return value
        fallback = [v for v in values if str(v).lower() in _DEPARTMENT_FALLBACKS]
        return (fallback or list(values))[0]
    return _pick_enum(values, sig.text, default)


def _number(node: dict[str, Any], name: str, sig: Signals, *, integer: bool) -> float | int:
    low = node.get("minimum", node.get("exclusiveMinimum", 0))
    high = node.get("maximum", node.get("exclusiveMaximum", 10 if integer else 1))
    if re.search(r"confiden|probab|certain", name):
        fraction = sig.confidence
    elif re.search(r"score|rating|grade|quality|clarity|accura|helpful|tone|complete|relevan",
                   name):
        fraction = sig.quality
    else:
        return low if not integer else int(low)
    value = low + (high - low) * fraction
    return round(value) if integer else round(value, 2)


# ---------------------------------------------------------------------------------------------
# The model


class OfflineModel(Model):
    """The offline engine for one agent. See the module docstring for what it does."""

    def __init__(self, agent_name: str) -> None:
        self.agent_name = agent_name

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> ModelResponse:
        output = self.respond(input, tools, output_schema, handoffs)
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    async def stream_response(  # type: ignore[override]  # an async generator is an iterator
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The whole response at once: `response.created`, then `response.completed`."""
        response = Response(
            id=f"resp_{_digest(self.agent_name, input)}", created_at=0, model="offline",
            object="response", output=self.respond(input, tools, output_schema, handoffs),  # type: ignore[arg-type]
            tool_choice="auto", tools=[], top_p=None, parallel_tool_calls=False,
            status="completed",
        )
        started = response.model_copy(update={"output": [], "status": "in_progress"})
        yield ResponseCreatedEvent(type="response.created", response=started, sequence_number=0)
        yield ResponseCompletedEvent(type="response.completed", response=response,
                                     sequence_number=1)

    def respond(
        self,
        input: str | list[TResponseInputItem],
        tools: Sequence[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: Sequence[Handoff],
    ) -> list[TResponseOutputItem]:
        """The output items of one model call (pure: the same arguments give the same items)."""
        conversation = read_conversation(input)
        digest = _digest(self.agent_name, input)
        function_tools = {t.name: t for t in tools if isinstance(t, FunctionTool)}
        if handoffs and not conversation.calls:
            target = self._handoff_target(conversation, handoffs)
            if target is not None:
                return [_handoff_call(target, conversation, digest)]
            if not function_tools and (output_schema is None or output_schema.is_plain_text()):
                return [_message(_signed(CLARIFYING_QUESTION), digest)]
        if output_schema is not None and not output_schema.is_plain_text():
            value = structured_output(output_schema.json_schema(), conversation.request)
            return [_message(json.dumps(value, ensure_ascii=False), digest)]
        step = next_step(self.agent_name, conversation, function_tools)
        if step.tool is not None:
            return [_function_call(step.tool.name, step.arguments, digest)]
        if not step.missing and all(_found_nothing(c, conversation.request)
                                    for c in conversation.calls):
            escalation = _human_handoff(handoffs, conversation, self.agent_name)
            if escalation is not None:  # nothing here could help: hand over to a person
                return [_handoff_call(escalation, conversation, digest)]
        return [_message(compose_answer(conversation, step.missing), digest)]

    def _handoff_target(self, conversation: Conversation, handoffs: Sequence[Handoff]
                        ) -> Handoff | None:
        """The handoff the routing criteria pick, or None to stay.

        Each routing table (departments, then billing's sub-specialists) is scored as a whole;
        its winner is taken when it is one of this agent's handoffs, is not already on this
        turn's path, and is not this agent's own department (a specialist does not re-route to
        its own desk, but does leave it for a person).
        """
        available = {
            h.agent_name: h for h in handoffs
            if h.agent_name not in conversation.path and h.agent_name != self.agent_name
        }
        own = AGENT_DEPARTMENTS.get(self.agent_name)
        known = {r.agent for table in ROUTE_TABLES for r in table}
        tables = [*ROUTE_TABLES]
        unknown = tuple(_route_of(h) for h in available.values() if h.agent_name not in known)
        if unknown:
            tables.append(unknown)
        for text in dict.fromkeys([conversation.request, conversation.with_context()]):
            for table in tables:
                best = choose_route(text, table)
                if best is None or best.agent not in available:
                    continue
                if own is not None and best.department == own and table is TRIAGE_ROUTES:
                    continue
                return available[best.agent]
        return None


def _human_handoff(handoffs: Sequence[Handoff], conversation: Conversation, agent: str
                   ) -> Handoff | None:
    for handoff in handoffs:
        route = _route_of(handoff)
        if route.department == "human" and handoff.agent_name not in (*conversation.path, agent):
            return handoff
    return None


def _digest(agent: str, input: Any) -> str:
    """A stable fingerprint of the call, so ids are unique per call yet reproducible."""
    raw = json.dumps([agent, input], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _message(text: str, digest: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_{digest}", type="message", role="assistant", status="completed",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])],
    )


def _function_call(name: str, arguments: dict[str, Any], digest: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=f"fc_{digest}", call_id=f"call_{digest}", type="function_call", name=name,
        arguments=json.dumps(arguments, ensure_ascii=False, separators=(",", ":")),
    )


def _handoff_call(handoff: Handoff, conversation: Conversation, digest: str
                  ) -> ResponseFunctionToolCall:
    schema = handoff.input_json_schema
    arguments = structured_output(schema, conversation.request) if schema.get("properties") \
        else {}
    return _function_call(handoff.tool_name, arguments, digest)

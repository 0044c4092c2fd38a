"""Which tool a desk agent calls next, and with which arguments.

The tool-intent model (`intents`) says which tool a request calls for when it is sure; a small
table (`TOOL_RULES`) maps request words to preferred tools for the rest, and carries the gates
(confirmation, eligibility first, bug details) every choice goes through; arguments are read
from the conversation (ids like ORD-1001, e-mails, amounts) and shaped by each tool's schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents import FunctionTool

from agents_config.offline.conversation import Call, Conversation
from agents_config.offline.intents import (
    KB_INTENT,
    KNOWLEDGE_TOOL,
    article_intent,
    article_title,
    best_tool,
    in_context,
    load_models,
    tool_intent,
)
from agents_config.offline.routing import PERSON_REQUEST, content_free, explained_codes
from agents_config.offline.text import (
    AMOUNT,
    DATE,
    EMAIL,
    FOREIGN_TERMS,
    HELP_CENTRE_TERMS,
    ID,
    ID_END,
    ID_PREFIXES,
    ID_START,
    NAMED,
    NUMBER,
    PASSWORD_TERMS,
    SSO_NAMES,
    STOPWORDS,
    VAGUE,
    asked_codes,
    content_stems,
    first_sentence,
    in_english,
    phrase,
    shorten,
    stem,
    terms,
    words,
)
from agents_config.routing import TRIAGE_ROUTES

MAX_CALLS_PER_AGENT = 3

_PROBLEM = ("fail", "declin", "pend", "reject", "overdu", "open", "degrad", "outag", "error")
# Words that pick an enum value (priority, severity, ...) when the value itself is not said.
ENUM_HINTS: dict[str, tuple[str, ...]] = {
    "urgent": ("urgent", "asap", "immediately", "right now", "emergency"),
    "critical": ("outage", "data loss", "everyone", "security", "breach"),
    "high": ("lawyer", "legal", "complaint", "unacceptable", "cannot", "blocked", "crash"),
    "low": ("cosmetic", "typo", "minor", "when you can"),
}


_NOUN_OF = {prefix: noun for noun, prefix in ID_PREFIXES.items()}


def _ids(text: str, prefix: str) -> list[str]:
    """The ids of `prefix` in `text`: "INV-2002", "inv 2002", or with its noun and four digits
    ("invoice 2002", "order #1004")."""
    noun = _NOUN_OF.get(prefix.upper(), prefix)
    pattern = (
        rf"{ID_START}{prefix}[-\s]?(\d+){ID_END}|\b{noun}\s?(?:no\.?\s?|#\s?)?(\d{{4}}){ID_END}"
    )
    return [f"{prefix}-{a or b}" for a, b in re.findall(pattern, text, re.I)]


def _id_from_outputs(prefix: str, calls: Sequence[Call], request: str) -> str | None:
    """The id of `prefix` on the tool-output line that best fits the request, problems first.
    A request that reports a problem ("my card was declined", "got do_not_honor") gets no id
    when no line shows one: the list itself is the answer (every payment went through), not a
    drill into a payment that succeeded."""
    wanted = set(content_stems(request))
    best: tuple[float, str] | None = None
    troubled = False
    for call in calls:
        for line in (call.output or "").splitlines():
            for found in _ids(line, prefix):
                stems = set(content_stems(line))
                problem = any(s.startswith(_PROBLEM) for s in stems)
                score = len(wanted & stems) + 2 * problem
                if best is None or score > best[0]:
                    best, troubled = (score, found), problem
    # "refusé" reports a decline too, and so does a decline code ("got `insufficient_funds`")
    reported = set(content_stems(in_english(request)))
    trouble = any(s.startswith(_PROBLEM) for s in reported) or bool(subject_codes(request))
    if best is None or (not troubled and trouble):
        return None
    return best[1]


def pick_enum(values: Sequence[Any], text: str, default: Any = None, *, guess: bool = True) -> Any:
    """The enum value named (or hinted at, see ENUM_HINTS) in `text`; else the default, or with
    `guess` a middle value such as "normal"."""
    said = terms(text, (phrase(h) for hints in ENUM_HINTS.values() for h in hints))
    for value in values:
        if isinstance(value, str) and phrase(value) in said:
            return value
    for value in values:
        hints = ENUM_HINTS.get(str(value).lower(), ())
        if any(phrase(h) in said for h in hints):
            return value
    if default in values or not guess:
        return default
    middle = [v for v in values if str(v).lower() in ("normal", "medium")]
    return (middle or list(values))[0]


# The help centre's words for what users often say differently (`text.HELP_CENTRE_TERMS`) and,
# for the articles' key terms, in the other languages the desk routes (`text.FOREIGN_TERMS`).
_QUERY_SYNONYMS = (*FOREIGN_TERMS, *HELP_CENTRE_TERMS)


# Words that say nothing about which article fits (scikit-learn's English stop-word list, less
# the words the help centre uses as terms: bill, due, down, amount, name, system, …): a query
# of "how many days do I have to ask for a refund" is about "days ask refund", not "many".
QUERY_STOPWORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among amongst amoungst an and another any anyhow anyone anything
    anyway anywhere are around as at be became because become becomes becoming been before
    beforehand behind being below beside besides between beyond both but by can cannot cant
    co con could couldnt cry de do done during each eg eight either eleven else elsewhere
    enough etc even ever every everyone everything everywhere except few fifteen fifty five
    for former formerly forty four from further get give go had has hasnt have he hence her
    here hereafter hereby herein hereupon hers herself him himself his how however hundred i
    ie if in inc indeed into is it its itself latter latterly least less ltd many may me
    meanwhile might mill mine more moreover most mostly much must my myself namely neither
    never nevertheless nine no nobody none noone nor not nothing now nowhere of off often on
    once one only onto or other others otherwise our ours ourselves out over own per perhaps
    please put rather re same see seem seemed seeming seems serious several she should since
    sincere six sixty so some somehow someone something sometime sometimes somewhere still
    such take ten than that the their them themselves then thence there thereafter thereby
    therefore therein thereupon these they thick thin third this those though three through
    throughout thru thus to together too toward towards twelve twenty two un under until up
    upon us very via was we well were what whatever when whence whenever where whereafter
    whereas whereby wherein whereupon wherever whether which while whither who whoever whole
    whom whose why will with within without would yet you your yours yourself yourselves
    """.split()
)


def search_query(text: str) -> str:
    """A knowledge-base query from a request: its content words, in the help centre's terms
    ("can't log in with SSO" -> "sign sso"); the request itself if that leaves nothing."""
    lowered = text.lower()
    sso = bool(SSO_NAMES.search(lowered))  # SSO trouble is no password trouble
    for pattern, replacement in _QUERY_SYNONYMS:
        if not (sso and replacement == PASSWORD_TERMS):
            lowered = pattern.sub(replacement, lowered)
    kept = [
        w
        for w in words(lowered)
        if w not in STOPWORDS and w not in QUERY_STOPWORDS and stem(w) not in VAGUE
    ]
    return " ".join(dict.fromkeys(kept)) or text.strip()


# How sure the learnt models must be before their choice counts (`intents`): below, the keyword
# rules decide alone. Chosen on the answer set's dev sittings, each checked on the other.
KB_INTENT_MIN = 0.5  # the help centre is the broadest intent: it needs a surer model
INTENT_BONUS = 4  # a sure intent outweighs a few stray keywords of another tool
ARTICLE_MIN = 0.2


def subject_codes(request: str) -> list[str]:
    """The codes the request asks about (`asked_codes`), unless the article model is sure it
    is about another article than the one explaining them: "SSO fails with error
    authentication_required from Okta" is the SSO article's, "what does it mean?" the code's."""
    guess = article_intent(request)
    explained = explained_codes()
    return [
        code
        for code in asked_codes(request)
        if guess.probability < ARTICLE_SURE or explained.get(code, (guess.label,))[0] == guess.label
    ]


def knowledge_query(text: str) -> str:
    """The knowledge-base query for a request: the title of the article the article model
    finds for it, when it is sure enough, then the request's own terms (`search_query`). A
    model asked to search would write the help centre's words; this is the offline stand-in.
    A request that quotes a machine code (`do_not_honor`) is searched by its own words, so that
    the article explaining that code comes first, not the model's guess. A request that quotes
    an HTTP error status asks about that error: the title of the article on it comes first
    ("500 on /v2/export" is not a question about exporting; which of the two answers is
    `answers.relevant_article`'s choice)."""
    guess = article_intent(text)
    codes = subject_codes(text)
    titles = [
        *codes,
        error_title(text),
        article_title(guess.label) if guess.probability >= ARTICLE_MIN and not codes else None,
    ]
    return " ".join(dict.fromkeys([*(t for t in titles if t), search_query(text)]))


# An HTTP error status as users quote it ("500 on /v2/export", "got a 403", "HTTP 429"): a
# three-digit 4xx or 5xx standing alone (not an amount, an id, a path or a version), said
# after an error word, or followed by nothing, punctuation or a word that is no noun it
# counts ("500 seats" and "400 users" are counts).
HTTP_ERROR = re.compile(
    # (letters and digits of the Latin script only: Japanese writes "APIが500エラー" unspaced)
    r"(?<![a-z0-9_$€£¥.,/:#-])([45]\d\d)s?"  # "503s": several of them
    r"(?![a-z0-9_.,%/-]|\s*(?:€|\$|eur|usd|gbp|dollars?|euros?|pounds?)\b)",
    re.I,
)
_STATUS_BEFORE = re.compile(
    r"\b(?:errors?|http|status|codes?|got|gets?|getting|returns?|returned|returning|throws?|"
    r"throwing|gives?|giving|an?|fehler|erreur|erro|errore|c[óo]digo)\W{0,3}$|エラー\W{0,3}$",
    re.I,
)
_STATUS_AFTER = frozenset(
    """error errors response responses code codes status server internal bad not forbidden
    unauthorized unauthorised gateway service unavailable too conflict gone request on from
    when with for at in after since again and or back while every each if i we it the but
    because whenever sometimes now today all no http エラー fehler fehlermeldung erreur erro
    errore""".split()
)
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+)")


def error_codes(text: str) -> set[str]:
    """The HTTP error statuses `text` quotes (see `HTTP_ERROR`)."""
    codes = set()
    for match in HTTP_ERROR.finditer(text):
        after = _NEXT_WORD.match(text, match.end())
        if (
            _STATUS_BEFORE.search(text[max(0, match.start() - 14) : match.start()])
            or after is None
            or after.group(1).lower() in _STATUS_AFTER
            or after.group(1).startswith("エラー")  # Japanese runs words together: "500エラーを"
        ):
            codes.add(match.group(1))
    return codes


def names_code(title: str, codes: set[str]) -> bool:
    """Whether an article title names one of the HTTP statuses `codes` (a 502 or a 503 is
    one of the 5xx server errors: the article that names 500)."""
    named = set(re.findall(r"\b[45]\d\d\b", title))
    return bool(named & (codes | {f"{c[0]}00" for c in codes if c[0] == "5"}))


def mentions_code(text: str, codes: set[str]) -> bool:
    """Whether `text` speaks of one of the HTTP statuses `codes`, or of its class ("4xx")."""
    said = set(re.findall(r"\b[45](?:\d\d|xx)\b", text.lower()))
    return bool(said & (codes | {f"{c[0]}xx" for c in codes}))


def error_title(text: str) -> str | None:
    """The title of the help-centre article on the HTTP error status `text` quotes, if any."""
    codes = error_codes(text)
    if not codes:
        return None
    return next((t for t in load_models().titles.values() if names_code(t, codes)), None)


# Parameters the engine fills with its account of the conversation so far (`ArgContext.summary`).
# That account grows as the turn goes on ("Tools tried: get_service_status, report_bug"), so
# these say nothing about which call it is: `_key` leaves them out.
NARRATIVE_PARAMETERS = frozenset(
    {"summary", "details", "description", "notes", "message", "context", "body"}
)


# The request's share of an escalation summary: with three earlier messages (300 characters
# each) and the route, the summary stays under what escalate_to_human takes (3,000).
SUMMARY_REQUEST_CHARS = 1500


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
        request = self.conversation.request.strip()
        if len(request) > SUMMARY_REQUEST_CHARS:  # the whole message stays in the thread
            request = shorten(request, SUMMARY_REQUEST_CHARS)
        lines = [f"Request: {request}"]
        lines += [f"Earlier: {t.strip()[:300]}" for t in self.conversation.earlier[-3:]]
        tried = [c.name for c in self.conversation.turn_calls]
        if len(self.conversation.path) > 1:
            lines.append(f"Routed: {' -> '.join(self.conversation.path)}")
        if tried:
            lines.append(f"Tools tried: {', '.join(tried)}")
        return "\n".join(lines)

    def reason(self) -> str:
        request = self.conversation.request
        if PERSON_REQUEST.search(request):
            return "asked for a person"
        human = next(r for r in TRIAGE_ROUTES if r.department == "human")
        signs = sorted(
            terms(request, (phrase(k) for k in human.keywords))
            & {phrase(k) for k in human.keywords}
        )
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
        return pick_enum(schema["enum"], said, schema.get("default"), guess="default" not in schema)
    for noun, prefix in ID_PREFIXES.items():
        if lowered in (f"{noun}_id", f"{noun}id", f"{noun}_number", noun):
            return ctx.find_id(prefix)
    kind = schema.get("type")
    if lowered in ("email", "contact_email", "e_mail"):
        found = [m for t in ctx.conversation.user_texts for m in EMAIL.findall(t)]
        return found[0] if found else None
    numbers = NUMBER.findall(ID.sub(" ", text))  # the numbers that are not part of ids
    if kind in ("integer", "number"):
        if "amount" in lowered:
            match = AMOUNT.search(text.lower())
            return float((match.group(1) or match.group(2)).replace(",", ".")) if match else None
        return int(numbers[0]) if numbers else schema.get("default")
    if kind == "boolean":
        return schema.get("default", False)
    if "date" in lowered:
        dates = DATE.findall(text)
        return dates[0] if dates else None
    if lowered in ("query", "question", "search", "q", "topic", "text", "keywords"):
        return knowledge_query(text)
    if lowered in ("input", "prompt", "request", "instructions", "task"):  # Agent.as_tool
        return text.strip() or None
    if lowered in ("reason", "cause", "why"):
        return ctx.reason() if ctx.agent == "fallback" else _reason(text)
    if lowered in NARRATIVE_PARAMETERS:
        return ctx.summary()
    if lowered in ("title", "subject", "headline"):
        return first_sentence(text)
    if re.search(r"size|seats|users|people|count|quantity", lowered):
        return numbers[0] if numbers else schema.get("default")
    if "component" in lowered or "service" in lowered or "plan" in lowered:
        # plan_a / plan_b: the first and the second name mentioned
        second = bool(re.search(r"(_b|2|second|other)$", lowered))
        names = NAMED.findall(text)
        return names[int(second)] if len(names) > int(second) else schema.get("default")
    return schema.get("default")


def _reason(text: str) -> str:
    """The user's reason: the sentences that explain ("I was in hospital"), else the first."""
    explaining = [s for s in re.split(r"(?<=[.!?])\s+", text) if EXCEPTION_ASKED.search(s)]
    return " ".join(explaining)[:500] if explaining else first_sentence(text, 200)


def fill_arguments(tool: FunctionTool, ctx: ArgContext) -> dict[str, Any] | None:
    """Arguments for `tool` that fit its schema, or None when a required one is unknown."""
    schema = tool.params_json_schema
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    arguments: dict[str, Any] = {}
    for name, prop in properties.items():
        prop = resolve(prop, schema)
        value = _value_for(name, prop, ctx)
        if value is None and "default" in prop:
            value = prop["default"]
        if value is None:
            if name not in required:
                continue
            if nullable(prop):
                arguments[name] = None
                continue
            return None
        arguments[name] = value
    return arguments


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
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
            merged = {
                **resolve(concrete[0], root),
                **{k: v for k, v in schema.items() if k != "anyOf"},
            }
            merged["x-nullable"] = len(concrete) < len(options)
            return merged
    return schema


def nullable(schema: dict[str, Any]) -> bool:
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
    failed payment that `list_payments` showed); that tool's output is then not shown unless
    `shows_source`. `ask`: when its id is missing, ask the user for it (otherwise another rule,
    such as a listing, may serve). `ids`: id prefixes whose mention calls for it (RF- for the
    orders with their refunds). `needs`: a condition on the conversation (a bug report only
    once the user gave the details engineering needs). `after_answer`: what `after`'s output
    must say (affirmative by default; an order refused only for its age, for an exception).
    """

    tool: str
    triggers: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    after: str | None = None
    chain_from: str | None = None
    offer: str | None = None  # said when `after` allowed it but the user did not ask for it
    ask: bool = False
    ids: tuple[str, ...] = ()
    needs: Callable[[Conversation], bool] | None = None
    shows_source: bool = False
    after_answer: Callable[[str | None], bool] = lambda output: affirmative(output)


_REFUND = ("refund", "refundable", "money back", "reimburse", "return", "reverse", "eligible")
_PAYMENT_TROUBLE = (
    "declined",
    "failed",
    "pending",
    "rejected",
    "bounced",
    "insufficient",
    "not go through",
)
_DUPLICATE_CHARGE = (
    "twice",
    "double",
    "doubled",
    "duplicate",
    "charged twice",
    "two charges",
    "identical charges",
    "charged again",
    "charged two times",
    "billed twice",
    "same charge",
    "2x",
    "two times",
    "two payments",
    "two debits",
    "debited twice",
    "dos veces",
    "doble",
    "zweimal",
    "doppelt",
    "deux fois",
    "二重",
)
# Symptoms of a defect: with the details (see `bug_details_given`) they make a bug report.
DEFECT_SIGNS = ("bug", "crash", "defect", "glitch", "500", "502", "503", "exception", "stack trace")
_REQUEST_ID = re.compile(
    r"\b(?:req|request)[_-]?(?:id)?[\s:=#_-]*[A-Za-z0-9]{4,}\b|\breq_\w+", re.I
)
_STEPS = re.compile(
    r"\b(?:steps?|click(?:ed)?|when i|after i|then|reproduce|repro|every time|each time)\b"
    r"|^\s*\d[.)]",
    re.I | re.M,
)
_ENVIRONMENT = re.compile(
    r"\b(?:chrome|firefox|safari|edge|brave|ios|android|iphone|ipad|windows|macos|mac|linux|"
    r"ubuntu|python|node|java|curl|sdk|browser|app version|version|v\d+(?:\.\d+)+|\d+\.\d+\.\d+)\b",
    re.I,
)


# The user explains a late refund or asks for an exception ("I was in hospital", "because…").
EXCEPTION_ASKED = re.compile(
    r"\bexception\b|\bbecause\b|\bdue to\b|\bsince i\b|\bhospital|\bsick\b|\bill\b|"
    r"\b(?:i|we) (?:was|were) (?:away|travel\w*|abroad|on leave)|\bcould(?:n'?t| not)\b|"
    r"\bunable to\b|\bmake an? exception|\bbend the (?:rule|policy)|\bjust (?:a few|\d+) days?",
    re.I,
)
_OUTSIDE_WINDOW = re.compile(r"refunds are possible within \d+ days", re.I)


def asks_for_exception(conversation: Conversation) -> bool:
    return bool(EXCEPTION_ASKED.search(conversation.request))


def outside_window(output: str | None) -> bool:
    """The eligibility check refused the order only for its age (the policy's window)."""
    return bool(_OUTSIDE_WINDOW.search(output or ""))


def bug_details_given(conversation: Conversation) -> bool:
    """Whether the user gave what a bug report needs: the request id, or the steps and the
    environment (in this message or earlier in the thread)."""
    said = "\n".join(conversation.user_texts)
    if _REQUEST_ID.search(said):
        return True
    return bool(_STEPS.search(said) and _ENVIRONMENT.search(said))


TOOL_RULES: tuple[ToolRule, ...] = (
    ToolRule("escalate_to_human"),
    ToolRule("check_refund_eligibility", _REFUND, ask=True),
    ToolRule(
        "issue_refund",
        _REFUND,
        # A question about a refund, or a hesitation, is not a request for one. (The desk
        # asks for the user's confirmation before any refund anyway: this is not the guard.)
        unless=(
            "eligible",
            "eligibility",
            "whether",
            "how long",
            "know if",
            "could be",
            "could i",
            "would it",
            "can it be",
            "possible",
            "not sure",
            "wondering",
            "thinking about",
            "considering",
            "maybe",
            # …nor is a refusal, or a question about what a refund would do.
            "don't",
            "dont",
            "do not",
            "not want",
            "no refund",
            "what happens",
            "what if",
            "be refunded",
            "refundable",
            "should i",
        ),
        after="check_refund_eligibility",
        offer="Reply “refund {order_id}” if you want me to issue the refund.",
    ),
    ToolRule(
        "request_refund_exception",
        _REFUND,
        unless=("don't", "dont", "do not", "not want", "no refund", "what happens", "what if"),
        after="check_refund_eligibility",
        after_answer=outside_window,
        needs=asks_for_exception,
        offer=(
            "If there is a reason the refund comes late, tell me and I can ask our staff for an "
            "exception for {order_id}."
        ),
    ),
    ToolRule("list_orders", ("order", "purchase", "bought", "refund status"), ids=("RF",)),
    ToolRule("check_duplicate_charges", _DUPLICATE_CHARGE),
    ToolRule(
        "investigate_payment",
        (*_PAYMENT_TROUBLE, "payment", "charge", "card"),
        chain_from="list_payments",
        ids=("PAY",),
    ),
    ToolRule("list_payments", (*_PAYMENT_TROUBLE, "payment", "paid", "pay", "card", "charge")),
    ToolRule("get_invoice", ("invoice", "bill", "receipt", "vat", "tax"), ids=("INV",)),
    ToolRule("list_invoices", ("invoice", "bill", "receipt", "statement", "overdue", "unpaid")),
    ToolRule(
        "get_account_overview",
        (
            "balance",
            "plan",
            "subscription",
            "account",
            "seat",
            "renewal",
            "owe",
            "due",
            "billing date",
        ),
    ),
    ToolRule(
        "get_service_status",
        (
            "down",
            "outage",
            "status",
            "slow",
            "degraded",
            "delay",
            "500",
            "502",
            "503",
            "not load",
            "incident",
            "not arriving",
            "not receiving",
            "not working",
            "having problems",
            "having issues",
            "stopped receiving",
            "nothing loads",
            "your side",
            "your end",
        ),
    ),
    ToolRule(
        "report_bug",
        DEFECT_SIGNS,
        chain_from="get_service_status",
        needs=bug_details_given,
        shows_source=True,
    ),
    ToolRule("request_demo", ("demo", "walkthrough", "meeting")),
    ToolRule(
        "compare_plans",
        ("compare", "difference", "different", "vs", "versus", "between", "add over", "than"),
    ),
    ToolRule(
        "list_plans",
        (
            "plan",
            "pricing",
            "price",
            "cost",
            "how much",
            "seat",
            "tier",
            "cheaper",
            "feature",
            "include",
            "included",
            # a plan named: what it has ("Can Pro users enforce 2FA?")
            "starter",
            "pro",
            "business plan",
            "enterprise",
        ),
    ),
    ToolRule(KNOWLEDGE_TOOL),
)
_GENERIC_VERBS = frozenset({"get", "list", "check", "search", "find", "create", "show", "fetch"})


def _rules_for(tools: dict[str, FunctionTool]) -> list[ToolRule]:
    """The table's rules for the tools at hand, plus a name-based rule for any unknown tool."""
    known = {rule.tool for rule in TOOL_RULES}
    extra = [
        ToolRule(name, tuple(w for w in name.split("_") if w not in _GENERIC_VERBS))
        for name in tools
        if name not in known
    ]
    return [rule for rule in TOOL_RULES if rule.tool in tools] + extra


def weight(text: str, keywords: Iterable[str], ids: Iterable[str] = ()) -> int:
    """How strongly `text` calls for something: matched words count 1, phrases 2, and a
    named id of one of `ids` (RF-4001) 2. Key terms in other languages count as their English."""
    text = in_english(text)
    phrases = [phrase(w) for w in keywords]
    weight = sum(1 + (" " in p) for p in terms(text, phrases) & set(phrases))
    lowered = text.lower()
    weight += sum(2 for k in phrases if not k.isascii() and k in lowered)  # CJK: no words
    return weight + sum(2 for prefix in ids if _ids(text, prefix))


def affirmative(output: str | None) -> bool:
    lowered = (output or "").lower()
    if re.search(
        r"\bnot\b[^.]{0,30}\b(eligible|refundable|possible|allowed)|ineligible|cannot|"
        r"can't|already|outside|not found|no such|error|denied|refused",
        lowered,
    ):
        return False
    return bool(re.search(r"\beligible|can be refunded|refundable|\bok\b|\byes\b", lowered))


# A how-to or policy question: the help centre first ("how long do refunds take?", "what
# does insufficient_funds mean?", "what happens when the trial ends?").
HOW_TO = re.compile(
    r"(?:^|[,.;:!?]\s)\W*(?:\w+\W+){0,2}?(?:how (?:do|does|can|should|to|long|many days)|"
    r"where (?:do|can)|how (?:is|are)\b.{1,40}\b(?:calculated|prorated|charged|billed)|"
    r"what happens|when (?:are|is|do|does)\b.*\b(?:issued|due|charged|billed)|"
    r"what (?:does|do|is)\b.{1,60}\bmean)\b"
    # …and in the other languages the desk routes: "¿Cómo cancelo…?", "Wie ändere ich…?"
    r"|^\W*(?:cómo|wie\s+\w+\s+ich|comment)\b|どうすれば|どうやって|方法",
    re.I,
)


def _general_question(text: str) -> bool:
    """A question about policy, not about the user's own case ("how long do refunds take?")."""
    return "?" in text and not re.search(r"\b(i|i'm|my|me|we|our|us)\b", text, re.I)


@dataclass
class Step:
    """What the agent does next: call a tool, or answer (with a question for a missing id)."""

    tool: FunctionTool | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None  # the kind of id the user should give ("order")


# Tools whose triggers say more than an article could ("is the API down?", "Pro vs Business"):
# a question that calls for one of them is not sent to the help centre first.
_PRECISE_TOOLS = frozenset(
    {
        "get_service_status",
        "compare_plans",
        "request_demo",
        "list_plans",
        "report_bug",
        "check_duplicate_charges",
    }
)
# A question about the user's own records ("which of my invoices…", "my payment failed"):
# the account tools answer it, not the help centre.
_OWN_RECORDS = re.compile(
    r"\b(?:show|list|send|give)\b|\bwhich of (?:my|our)\b"
    r"|\b(?:my|our) (?:\w+ ){0,2}(?:invoices?|payments?|orders?|balance|seats?|subscription|"
    r"charges?|refunds?|bills?|plan|account|billing date|renewal)\b"
    r"|\b(?:do|did|have) (?:i|we) (?:have|owe|pay)\b|\bwhat do (?:i|we) owe\b"
    r"|\b(?:am i|are we) on\b|\bhow many seats\b|\b(?:i|we) (?:was|were|got) (?:charged|billed)\b"
    r"|\b(?:my|our)\b.*\b(?:pending|failed|declined|bounced|twice|double|duplicate)\b",
    re.I,
)
_QUESTION = re.compile(
    r"\?\s*$|^\W*(?:can|could|do|does|did|is|are|will|would|should|why|what|when|where|which|"
    r"how)\b",
    re.I,
)
# Catalogue questions (prices, what a plan includes) are the plan tools' to answer.
_CATALOGUE = re.compile(
    r"\bhow much\b|\bprice|\bcost|\bpricing\b|\b(?:include|includes|included|come with)\b", re.I
)


def policy_question(request: str) -> bool:
    """A question about how things work (policies, billing rules, limits), not about the
    user's own records nor the catalogue: the help centre first ("can I pay by bank
    transfer?", "why is there VAT on my invoice?")."""
    return bool(_QUESTION.search(request)) and not_about_records(request)


def not_about_records(request: str) -> bool:
    """Whether the request names none of the user's records (an id, "my payment failed") nor
    the catalogue ("how much is Pro"): what an article may answer."""
    english = in_english(request)
    return not (ID.search(request) or _OWN_RECORDS.search(english) or _CATALOGUE.search(english))


def next_step(agent: str, conversation: Conversation, tools: dict[str, FunctionTool]) -> Step:
    done = {(c.name, _key(c.arguments)) for c in conversation.turn_calls}
    called = {c.name for c in conversation.calls}
    if len(conversation.calls) >= MAX_CALLS_PER_AGENT:
        return Step()
    missing: str | None = None
    rules = _rules_for(tools)
    last_resort = [r for r in rules if not r.triggers]
    request = conversation.request
    context = in_context(request, conversation.with_context())  # a follow-up: with the last
    named_record = ID.search(context)  # also a follow-up on one named before
    intent = tool_intent(context)
    wanted_tool = best_tool(intent)
    precise = any(weight(request, r.triggers, r.ids) for r in rules if r.tool in _PRECISE_TOOLS)
    if intent.probabilities.get(KB_INTENT, 0.0) >= KB_INTENT_MIN:
        # the model is sure the help centre answers it (unless a precise tool is asked for, or
        # the request asks after the user's own records: "¿dónde está mi factura de noviembre?")
        own = _OWN_RECORDS.search(in_english(request)) and not HOW_TO.search(request)
        kb_first = not named_record and not precise and not own
    elif wanted_tool is not None:
        kb_first = False  # …or sure that an account tool does
    else:  # unsure: the rules
        kb_first = not named_record and bool(
            HOW_TO.search(request) or (policy_question(request) and not precise)
        )
    if not called and kb_first:  # how-to or policy: the help centre first
        step = _first_usable(last_resort, conversation, agent, tools)
        if step is not None:
            return step
    if called == {KNOWLEDGE_TOOL} and kb_first and not HOW_TO.search(conversation.request):
        from agents_config.offline.answers import found_nothing  # (answers imports this module)

        if all(found_nothing(c, conversation.request) for c in conversation.calls):
            called = set()  # no article for it: the tools may still know
    # The request alone first, then with the previous message (a follow-up like "ORD-1001").
    for text in dict.fromkeys([conversation.request, context]):
        # An id named in the thread calls for its tool even when this message does not
        # repeat it ("was it paid?" after "show me INV-2002").
        weights = {r.tool: weight(text, r.triggers) + weight(context, (), r.ids) for r in rules}
        if wanted_tool in weights:
            weights[wanted_tool] += INTENT_BONUS
        for rule in sorted((r for r in rules if weights[r.tool]), key=lambda r: -weights[r.tool]):
            if rule.unless and weight(conversation.request, rule.unless):
                continue
            if rule.needs is not None and not rule.needs(conversation):
                continue
            if rule.after and not rule.after_answer(conversation.output_of(rule.after)):
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
        if missing and not _general_question(conversation.request) and not _ids(text, "RF"):
            # (a refund id names a refund that exists: its order is not to be asked for)
            return Step(missing=missing)
    if not called:  # the last resort (knowledge base; escalation for `fallback`), the help
        # centre once a turn: a search that found nothing is not repeated in other words
        searched = any(c.name == KNOWLEDGE_TOOL for c in conversation.turn_calls)
        rest = [r for r in last_resort if not (searched and r.tool == KNOWLEDGE_TOOL)]
        return _first_usable(rest, conversation, agent, tools) or Step()
    if _article_too(conversation, called, tools):  # the account's data, and the policy
        kb = [r for r in last_resort if r.tool == KNOWLEDGE_TOOL]
        return _first_usable(kb, conversation, agent, tools) or Step()
    if called == {STATUS_TOOL}:  # after the service status: the help centre's steps for the
        # symptom (the status answered "is it down?", so those words are not searched)
        symptom = _STATUS_WORDS.sub(" ", conversation.request)
        if not content_free(NAMED.sub(" ", symptom)):  # more than "is the API down?"
            # …unless the article model is surer of the whole request than of the symptom:
            # "how will I be told of an outage?" asks about the incidents themselves
            whole = article_intent(conversation.request).probability >= max(
                ARTICLE_MIN, article_intent(symptom).probability
            )
            asked = conversation if whole else replace(conversation, request=symptom)
            return _first_usable(last_resort, asked, agent, tools) or Step()
    return Step()


# After an account tool, the help centre as well when the tool model gives it at least this and
# the article model finds an article ("need our VAT number on the invoices": the invoices, and
# the VAT article). Chosen by fitting without one sitting and scoring on it (D, E, F).
KB_ALSO_MIN = 0.25
# …and whatever the tool model says when the article model is this sure of one article and the
# request names no record nor the catalogue (not "I want a refund for ORD-1001": the refund,
# not its policy; not "how much is the Business plan": the catalogue, not an article).
ARTICLE_SURE = 0.5


def _article_too(conversation: Conversation, called: set[str], tools: dict[str, Any]) -> bool:
    if not called or KNOWLEDGE_TOOL in called or KNOWLEDGE_TOOL not in tools:
        return False
    if called == {STATUS_TOOL}:  # (the status has its own follow-up below)
        return False
    request = conversation.request
    if any(code in explained_codes() for code in subject_codes(request)):
        return True  # "declined with do_not_honor": the account, and what the code means
    article = article_intent(request).probability
    if article >= ARTICLE_SURE and not_about_records(request):
        return True  # "how long does the money take to come back?": the policy too
    intent = tool_intent(in_context(request, conversation.with_context()))
    if intent.probabilities.get(KB_INTENT, 0.0) < KB_ALSO_MIN:
        return False
    return article >= ARTICLE_MIN


_STATUS_WORDS = re.compile(
    r"\b(?:is there an? |any )?(?:outage|incident|status|down|degraded)s?\b|\bduring\b", re.I
)


STATUS_TOOL = "get_service_status"


def _first_usable(
    rules: Iterable[ToolRule],
    conversation: Conversation,
    agent: str,
    tools: dict[str, FunctionTool],
) -> Step | None:
    done = {(c.name, _key(c.arguments)) for c in conversation.turn_calls}
    for rule in rules:
        arguments = fill_arguments(tools[rule.tool], ArgContext(conversation, agent, False))
        if arguments is not None and (rule.tool, _key(arguments)) not in done:
            return Step(tools[rule.tool], arguments)
    return None


def _key(arguments: dict[str, Any]) -> str:
    """What identifies a call among this turn's calls of the same tool: its arguments but the
    narrative ones, which change after every call (a bug report is the same report whatever
    its details say of the tools tried since)."""
    identifying = {k: v for k, v in arguments.items() if k.lower() not in NARRATIVE_PARAMETERS}
    return json.dumps(identifying, sort_keys=True)


def _missing_id(tool: FunctionTool, ctx: ArgContext) -> str | None:
    properties = tool.params_json_schema.get("properties", {})
    for name in properties:
        for noun, prefix in ID_PREFIXES.items():
            if noun in name.lower() and ctx.find_id(prefix) is None:
                return noun
    return None

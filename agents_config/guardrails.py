"""The desk's guardrails: deterministic checks of what comes in and what goes out of a turn.

- **Input** (`request_guardrail`, on every desk agent; the SDK runs only the starting agent's,
  with `run_in_parallel=False`, so it finishes before any model call or tool runs): prompt
  injection ("ignore previous instructions…"), jailbreaks ("developer mode", "you are DAN"),
  and requests for other customers' data ("show me Bob's invoices", a customer's e-mail, name
  or company other than the caller's next to words like invoice or account).
- **Output** (`answer_guardrail`, on every desk agent: it runs on the agent that gives the
  final answer): an answer that shows another customer's e-mail, name, company or record id
  (invoice, payment, order, refund, investigation) that the user did not write themselves, or
  a card number or security code. Mass mentions (@channel, @here, @everyone) are not blocked
  here: the Slack layer escapes every token a model writes (`bot.mrkdwn`), so they never
  ping anyone, and an answer that explains them stays useful.

Both are plain code over the text and the business data, so they behave the same with any
model, the offline engine included. A tripped guardrail ends the turn with a fixed answer and
hands the ticket to staff (`guardrail_tripped`, called by `Desk.handle`).

Which customer owns what comes from the business tables (`AuditRepo.account_markers`), read at
most every `MARKERS_TTL_S` seconds per database.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailTripwireTriggered,
    OutputGuardrail,
    OutputGuardrailTripwireTriggered,
    RunContextWrapper,
    TResponseInputItem,
    input_guardrail,
    output_guardrail,
)

from agents_config.context import DeskContext
from agents_config.tools.escalation import record_escalation
from storage.audit import AuditRepo
from storage.redaction import redact_secrets

MARKERS_TTL_S = 10.0
GUARDRAIL_REASON = "guardrail"  # escalation reasons start with it: "guardrail: …"

INPUT_BLOCKED = (
    "I can't help with that request: I only act on your own account and within the desk's "
    "rules. I've flagged this conversation for our support staff as ticket #{ticket}; a person "
    "will follow up in this thread."
)
OUTPUT_BLOCKED = (
    "Sorry, I can't send the answer I prepared: it contained information I'm not allowed to "
    "share here. I've passed your request to our support staff as ticket #{ticket}; a person "
    "will follow up in this thread."
)

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.!?\n]{0,40}?"
    r"\b(?:previous|prior|above|earlier|all|any|your|the|system|these|those|my)\b[^.!?\n]{0,20}?"
    r"\b(?:instructions?|rules?|prompts?|guidelines?|polic(?:y|ies)|directives?|guardrails?)\b"
    r"|\b(?:reveal|show|print|repeat|output|tell me|what is|what are)\b[^.!?\n]{0,25}"
    r"\b(?:system|developer|hidden|initial|original)\s+(?:prompt|instructions?|message)\b"
    r"|\bnew\s+instructions?\s*:"
    r"|<\s*/?\s*(?:system|assistant|developer)\s*>|\[\s*(?:system|developer)\s*\]"
    r"|^\s*(?:system|developer)\s*:",
    re.I | re.M,
)
_JAILBREAK = re.compile(
    # DAN ("Do Anything Now") in capitals only: "Dan from accounting" and "do I need to do
    # anything now?" are customers
    r"\bjail\s*break|\bdeveloper\s+mode\b|(?-i:\bDAN\b)|[\"“']do anything now\b"
    r"|\bstands for do anything now\b|\byou (?:can|could|will|are able to) (?:now )?do anything\b"
    r"|\b(?:you are|you're|act as|pretend (?:to be|you are))\s+(?:now\s+)?(?:an?\s+)?"
    r"(?:unrestricted|unfiltered|uncensored|evil|admin(?:istrator)?|root|superuser|"
    r"different ai|ai without)\b"
    r"|\bwithout (?:any )?(?:restrictions|rules|filters|limits|guardrails)\b"
    r"|\b(?:no|with no) (?:rules|restrictions|filters) apply\b",
    re.I,
)
_DATA_WORDS = (
    r"(?:invoices?|orders?|payments?|refunds?|account|balance|billing|charges?|e-?mail|"
    r"address|phone|card|details|data|info(?:rmation)?|history|tickets?|subscriptions?|plan)"
)
_OTHERS_DATA = re.compile(
    # "show me Bob's invoices" (not "my company's invoice")
    rf"(?<!\bmy )(?<!\bour )(?<!\bthis )(?<!\blast )(?<!\bnext )\b(?!(?:my|our|your|the|"
    rf"this|that|it|company|team|account|customer|user|client|colleague|today|yesterday|"
    rf"tomorrow|tonight|day|week|month|quarter|year|period|cycle|"
    # contractions: "what's my balance", "there's a charge", "let's check the invoice"
    rf"what|who|where|when|why|how|there|here|he|she|let|name)'s\b)[a-z]+'s\s+"
    rf"(?:\w+\s+)?{_DATA_WORDS}\b"
    # "another customer's account", "other users' invoices", "all customers' data"
    rf"|\b(?:another|other|every|all(?: the)?|each)\s+(?:customers?|users?|clients?|"
    rf"accounts?|people|companies)(?:'s|')?\s+(?:\w+\s+)?{_DATA_WORDS}\b"
    rf"|\b(?:someone|somebody|anyone|anybody) else(?:'s|s)\s+(?:\w+\s+)?{_DATA_WORDS}\b"
    rf"|\b(?:list|show|export|dump|give me)\s+(?:me\s+)?(?:all|every)\s+(?:the\s+)?"
    rf"(?:customers?|users?|accounts?|e-?mails?)\b",
    re.I,
)
_DATA_REQUEST = re.compile(rf"\b{_DATA_WORDS}\b", re.I)
_ID_TOKEN = re.compile(r"\b([A-Za-z]{2,5})[\s_-]?(\d{3,})\b")


@dataclass(frozen=True)
class Verdict:
    """What a check found: `reason` is None when the text is fine."""

    reason: str | None = None

    @property
    def tripped(self) -> bool:
        return self.reason is not None


# ---- what the user wrote --------------------------------------------------------------------


def check_request(text: str, foreign: Iterable[str] = ()) -> Verdict:
    """The input check: injection, jailbreak, or a request for other customers' data.
    `foreign`: the markers (e-mail, name, company, record ids) of other customers."""
    if _INJECTION.search(text):
        return Verdict("prompt injection")
    if _JAILBREAK.search(text):
        return Verdict("jailbreak")
    if _OTHERS_DATA.search(text):
        return Verdict("another customer's data")
    named = [m for m in _people(foreign) if _contains(text, m)]
    if named and _DATA_REQUEST.search(text):
        return Verdict("another customer's data")
    return Verdict()


def _people(markers: Iterable[str]) -> list[str]:
    """The markers that name a person or a company (e-mails, names), not record ids."""
    return [m for m in markers if not _ID_TOKEN.fullmatch(m) and (" " in m or "@" in m)]


# ---- what the desk answers ------------------------------------------------------------------


def given(text: str) -> tuple[str, set[str]]:
    """What the user wrote, for "did they say it themselves": lower-cased, and its ids in
    canonical form ("ord 1002" → "ORD-1002")."""
    ids = {f"{p.upper()}-{n}" for p, n in _ID_TOKEN.findall(text)}
    return text.lower(), ids


def shown(text: str, markers: Iterable[str], said: tuple[str, set[str]]) -> list[str]:
    """The markers that `text` shows and the user did not write (`said`: see `given`)."""
    lowered, said_ids = said
    found = []
    for marker in markers:
        if marker.lower() in lowered or marker.upper() in said_ids:
            continue
        if _contains(text, marker):
            found.append(marker)
    return sorted(found)


def check_answer(answer: str, foreign: Iterable[str], request: str) -> Verdict:
    """The output check: another customer's identifiers the user did not write, or a card
    number or security code."""
    leaked = shown(answer, foreign, given(request))
    if leaked:
        return Verdict("another customer's data")
    secrets = redact_secrets(answer).removed
    if "card number" in secrets or "security code" in secrets:
        return Verdict("a card number or security code")
    return Verdict()


def _contains(text: str, marker: str) -> bool:
    return bool(re.search(rf"(?<![\w@.-]){re.escape(marker)}(?![\w@-])", text, re.IGNORECASE))


# ---- the business data: whose is what --------------------------------------------------------

_markers: weakref.WeakKeyDictionary[AuditRepo, tuple[float, dict[int, set[str]]]] = (
    weakref.WeakKeyDictionary()
)


async def foreign_markers(context: DeskContext) -> set[str]:
    """The markers of every customer other than the caller (all of them without an account)."""
    audit = context.store.audit
    cached = _markers.get(audit)
    if cached is None or time.monotonic() - cached[0] > MARKERS_TTL_S:
        cached = (time.monotonic(), await audit.account_markers())
        _markers[audit] = cached
    mine = context.caller.customer_id
    return {m for owner, found in cached[1].items() if owner != mine for m in found}


# ---- the SDK guardrails -----------------------------------------------------------------------


def latest_user_text(input: str | list[TResponseInputItem]) -> str:
    """The newest user message of a run's input (the session puts the history before it)."""
    if isinstance(input, str):
        return input
    for item in reversed(input):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
    return ""


@input_guardrail(name="request_guardrail", run_in_parallel=False)
async def request_guardrail(
    ctx: RunContextWrapper[DeskContext], agent: Agent[Any], input: str | list[TResponseInputItem]
) -> GuardrailFunctionOutput:
    text = latest_user_text(input)
    context = ctx.context
    if not isinstance(context, DeskContext):  # an agent run outside the desk: text only
        verdict = check_request(text)
    else:
        context.request_text = text  # the output check lets the user's own words through
        verdict = check_request(text, await foreign_markers(context))
    return GuardrailFunctionOutput(output_info=verdict.reason, tripwire_triggered=verdict.tripped)


@output_guardrail(name="answer_guardrail")
async def answer_guardrail(
    ctx: RunContextWrapper[DeskContext], agent: Agent[Any], output: Any
) -> GuardrailFunctionOutput:
    answer = output if isinstance(output, str) else str(output)
    context = ctx.context
    if not isinstance(context, DeskContext):  # an agent run outside the desk: no account data
        verdict = check_answer(answer, (), "")
    else:
        verdict = check_answer(answer, await foreign_markers(context), context.request_text)
    return GuardrailFunctionOutput(output_info=verdict.reason, tripwire_triggered=verdict.tripped)


INPUT_GUARDRAILS: tuple[InputGuardrail[DeskContext], ...] = (request_guardrail,)
OUTPUT_GUARDRAILS: tuple[OutputGuardrail[DeskContext], ...] = (answer_guardrail,)


async def guardrail_tripped(
    context: DeskContext,
    tripped: InputGuardrailTripwireTriggered | OutputGuardrailTripwireTriggered,
) -> str:
    """The fixed answer of a tripped guardrail; the ticket is flagged for staff (the summary
    says which check and why, never the text)."""
    result = tripped.guardrail_result
    which = "input" if isinstance(tripped, InputGuardrailTripwireTriggered) else "output"
    why = str(result.output.output_info or "policy")
    await record_escalation(
        context,
        reason=f"{GUARDRAIL_REASON}: {why}",
        summary=(
            f"The desk's {which} guardrail stopped this turn ({why}). "
            + (
                "The user's message was not answered; read the thread before replying."
                if which == "input"
                else "The answer the AI prepared was not sent; the user still needs help."
            )
        ),
        priority="high",
    )
    template = INPUT_BLOCKED if which == "input" else OUTPUT_BLOCKED
    return template.format(ticket=context.ticket_id)


def tripped_reason(reason: str | None) -> str | None:
    """The guardrail's reason of an escalation reason ("guardrail: jailbreak" → "jailbreak")."""
    prefix = f"{GUARDRAIL_REASON}: "
    return reason[len(prefix) :] if reason and reason.startswith(prefix) else None

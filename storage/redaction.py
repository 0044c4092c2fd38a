"""Redaction of secrets and personal data in free text: one place, pure functions.

Three levels, each including the one before:

- `redact_secrets`: what must never be stored or sent to a model: payment card numbers
  (Luhn-valid runs of 13–19 digits, with spaces or dashes between groups), card security codes
  (3–4 digits next to "CVV", "CVC", "security code"…) and passwords a user pastes
  ("password: hunter2", "my pw is hunter2", "pwd=hunter2"). Applied at intake, before the
  first write, and again by the storage layer on everything it keeps.
- `redact_personal`: also e-mail addresses and phone numbers. For excerpts of tickets shown to
  support staff.
- `deidentify`: also the ids of business records (ORD-1001, INV-2001…) and ticket numbers
  (#12). For text anyone may read (reports of non-staff callers).

No false positives on what the desk itself uses: order, invoice and payment ids, VAT ids,
dates, amounts, ticket numbers and Slack timestamps are left alone by `redact_secrets`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CARD_NUMBER = "[card number removed]"
SECURITY_CODE = "[security code removed]"
PASSWORD = "[password removed]"
EMAIL = "[e-mail removed]"
PHONE = "[phone number removed]"
RECORD_ID = "[id removed]"

SECRETS_NOTICE = (
    "_(I removed {what} from your message before storing it. Please never paste card "
    "numbers, security codes or passwords here: we never need them.)_"
)

# 13–19 digits, single spaces or dashes allowed between digits; not part of a word or an id
# ("ORD-1001", "GB123456789"), not after a "+" (phone numbers) or a decimal point.
# Digits with spaces or dashes, or in dotted groups as printed on a card (4.4.4.4, 4.6.5):
# a dotted run of other shapes is a Slack timestamp or a version, not a card.
_CARD = re.compile(
    r"(?<![\w+.-])(?:\d(?:[ -]?\d){12,18}|\d{4}(?:\.\d{4}){3}|\d{4}\.\d{6}\.\d{4,5})"
    r"(?![\w-]|\.\d)"
)
_CODE_WORDS = r"(?:cvv2?|cvc2?|cid|csc|security\s+code|card\s+code|verification\s+code)"
_CVV_AFTER = re.compile(
    rf"(\b{_CODE_WORDS}\b(?:\s*(?:is|was|=|:|-|#|number|no\.?|code))*\s*)(\d{{3,4}})\b", re.I
)
_CVV_BEFORE = re.compile(
    rf"\b(\d{{3,4}})(\s+(?:is|was)\s+(?:my|the)\s+{_CODE_WORDS}\b|\s*\({_CODE_WORDS}\))", re.I
)
_PASSWORD_WORDS = r"(?:password|passwort|passwd|pass\s*word|passcode|pwd|pw)"
# "password: x", "password = x", "pwd=x", "password - x"
_VALUE = r"(?:([\"'`])(?P<quoted>[^\"'`\n]{1,100})\2|(?P<bare>[^\s,;]+))"
_PASSWORD_SET = re.compile(rf"(\b{_PASSWORD_WORDS}\s*(?:[:=]|\s-)\s*){_VALUE}", re.I)
# "my password is x", "the pw was x", "password is now x"
_PASSWORD_IS = re.compile(
    rf"(\b{_PASSWORD_WORDS}\s+(?:is|was|would be)\s+(?:now\s+|still\s+|just\s+)?)" + _VALUE,
    re.I,
)
# Words that follow "password is" in a sentence about a password rather than the password.
_NOT_A_PASSWORD = frozenset(
    """not no wrong incorrect invalid expired correct right too very being still now the a an
    my your our their this that it rejected locked blocked reset changed working weak strong
    short long case required same different empty blank missing set saved stored ok okay fine
    definitely correctly apparently always never already also only accepted lost forgotten
    compromised leaked shown visible hidden broken fixed sent emailed unknown there here
    what which why how when where""".split()
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# 9–15 digits, optionally with "+", spaces, dots, dashes or brackets between them.
_PHONE = re.compile(r"(?<![\w.-])(?:\+|\(\+?)?\d(?:[ ().-]{0,2}\d){8,14}(?![\w-]|\.\d)")
# The desk's business records: orders, invoices, payments, refunds, investigations, bug
# reports, demo requests (`storage.business`), however the user typed them ("ord 1001").
_RECORD_ID = re.compile(r"\b(?:ORD|INVQ|INV|PAY|RF|BUG|DEMO)[\s_-]?\d{3,}\b", re.I)
_TICKET_NUMBER = re.compile(r"(?<![\w&])#\d+\b")


@dataclass(frozen=True)
class Redacted:
    """Text with its secrets replaced, and what kinds were removed (in order of first find)."""

    text: str
    removed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.removed)

    def notice(self) -> str:
        """The one short line telling the user what was removed (empty when nothing was)."""
        if not self.removed:
            return ""
        kinds = [f"a {kind}" for kind in self.removed]
        what = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        return SECRETS_NOTICE.format(what=what)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (what every card number satisfies)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def redact_secrets(text: str) -> Redacted:
    """Card numbers, security codes and passwords replaced by a marker (see module doc)."""
    removed: list[str] = []

    def found(kind: str) -> None:
        if kind not in removed:
            removed.append(kind)

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found("card number")
            return CARD_NUMBER
        return match.group(0)

    def cvv_after(match: re.Match[str]) -> str:
        found("security code")
        return match.group(1) + SECURITY_CODE

    def cvv_before(match: re.Match[str]) -> str:
        found("security code")
        return SECURITY_CODE + match.group(2)

    def password_set(match: re.Match[str]) -> str:
        if (match.group("bare") or "").startswith("["):  # already a marker
            return match.group(0)
        found("password")
        return match.group(1) + PASSWORD

    def password_is(match: re.Match[str]) -> str:
        value = match.group("bare")
        if value is not None and (value.startswith("[") or _plain_word(value)):
            return match.group(0)
        found("password")
        return match.group(1) + PASSWORD

    text = _CARD.sub(card, text)
    text = _CVV_AFTER.sub(cvv_after, text)
    text = _CVV_BEFORE.sub(cvv_before, text)
    text = _PASSWORD_SET.sub(password_set, text)
    text = _PASSWORD_IS.sub(password_is, text)
    return Redacted(text, tuple(removed))


def scrub(text: str) -> str:
    """`redact_secrets(text).text`: for the storage layer's second line."""
    return redact_secrets(text).text if text else text


def redact_personal(text: str) -> str:
    """Secrets, e-mail addresses and phone numbers replaced (ticket excerpts for staff)."""
    text = scrub(text)
    text = _EMAIL.sub(EMAIL, text)
    return _PHONE.sub(_phone, text)


# A link to a Slack message (`https://acme.slack.com/archives/C0123/p1700000000000100`, maybe in
# Slack's `<url|label>` form): it names the channel and the message.
_SLACK_LINK = re.compile(r"<?https?://[\w.-]*slack\.com/archives/[^\s>|)]+(?:\|[^>]*)?>?")
SLACK_LINK = "[Slack link]"


def without_slack_links(text: str) -> str:
    """Links to Slack messages replaced (exported text carries no channel or message ids)."""
    return _SLACK_LINK.sub(SLACK_LINK, text)


def deidentify(text: str) -> str:
    """`redact_personal`, and record ids and ticket numbers too (text anyone may read)."""
    text = redact_personal(text)
    text = _RECORD_ID.sub(RECORD_ID, text)
    return _TICKET_NUMBER.sub(RECORD_ID, text)


_AMOUNT = re.compile(
    r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|CHF|dollars?|euros?)\b)",
    re.I,
)
AMOUNT = "[amount removed]"


def deidentify_customer(text: str, names: Iterable[str] = ()) -> str:
    """`deidentify`, and amounts of money and the customer's own names (their Slack name,
    account and company) too: text written from one customer's ticket for everyone."""
    text = _AMOUNT.sub(AMOUNT, deidentify(text))
    for name in sorted(
        {n.strip() for n in names if n and len(n.strip()) > 2}, key=len, reverse=True
    ):
        text = re.sub(re.escape(name), "the customer", text, flags=re.I)
        for part in name.split():
            if len(part) > 2:
                text = re.sub(rf"\b{re.escape(part)}\b", "the customer", text, flags=re.I)
    return text


def scrub_json(value: Any) -> Any:
    """Every string inside a JSON-like value passed through `scrub` (keys are kept)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_json(v) for v in value)
    if isinstance(value, dict):
        return {k: scrub_json(v) for k, v in value.items()}
    return value


def deidentify_json(value: Any) -> Any:
    """Every string inside a JSON-like value passed through `deidentify` (keys are kept)."""
    if isinstance(value, str):
        return deidentify(value)
    if isinstance(value, list | tuple):
        return [deidentify_json(v) for v in value]
    if isinstance(value, dict):
        return {k: deidentify_json(v) for k, v in value.items()}
    return value


def _plain_word(value: str) -> bool:
    """A word of a sentence about a password ("is not", "is managed by"), not a password."""
    word = value.lower().rstrip(".!?:")
    return word in _NOT_A_PASSWORD or bool(re.fullmatch(r"[a-z]+(?:ed|ing|ly)", word))


_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}(?:\D|$)")


def _phone(match: re.Match[str]) -> str:
    if _DATE_START.match(match.group(0)):  # "2026-12-02 00:40": a date and a time
        return match.group(0)
    digits = re.sub(r"\D", "", match.group(0))
    return PHONE if 9 <= len(digits) <= 15 else match.group(0)

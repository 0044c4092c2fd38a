"""The redaction module: secrets out, the desk's own ids, dates and amounts left alone."""

from __future__ import annotations

import json

import pytest

from agents_config.evaluation import SHIPPED_SET
from storage.redaction import (
    CARD_NUMBER,
    EMAIL,
    PASSWORD,
    PHONE,
    RECORD_ID,
    SECURITY_CODE,
    deidentify,
    luhn_valid,
    redact_personal,
    redact_secrets,
    scrub_json,
    without_slack_links,
)


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111 1111 1111 1111, please charge it",
        "4111-1111-1111-1111",
        "card:4242424242424242.",
        "Amex 3782 822463 10005 was declined",
        "new card 5555555555554444 exp 12/27",
        "card 4111.1111.1111.1111 thanks",
    ],
)
def test_luhn_valid_card_numbers_are_removed(text: str) -> None:
    redacted = redact_secrets(text)
    assert CARD_NUMBER in redacted.text and redacted.removed == ("card number",)
    assert not any(run in redacted.text for run in ("1111 1111", "4242", "822463", "4444"))


@pytest.mark.parametrize(
    "text",
    [
        "Refund ORD-1001 please, it was on invoice INV-2001 (payment PAY-3003)",
        "ordered on 2025-11-20, paid $1,234.56 and 450.00 EUR",
        "our VAT id is GB123456789",
        "call +44 20 7946 0958 or 415-555-0132",
        "ticket #12, ts 1700000000.123456, bug BUG-7001, demo DEMO-8001",
        "order 4111 1111 1111 1112",  # 16 digits, not Luhn-valid
        "tracking number 1234567890123",
        "I forgot my password and can't log in",
        "my password is not working since the reset",
        "your password is managed by your identity provider",
        "password reset email never arrives",
        "the cvv field rejects my input",
    ],
)
def test_no_false_positives_on_what_the_desk_uses(text: str) -> None:
    assert redact_secrets(text).text == text


def test_the_shipped_eval_set_has_no_secret_false_positives() -> None:
    texts = [json.loads(line)["text"] for line in SHIPPED_SET.read_text().splitlines() if line]
    assert len(texts) > 200
    assert [t for t in texts if redact_secrets(t).changed] == []


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("cvv 123", "cvv "),
        ("CVC: 4567", "CVC: "),
        ("the security code is 987", "the security code is "),
        ("123 is my cvv", " is my cvv"),
    ],
)
def test_security_codes(text: str, kept: str) -> None:
    redacted = redact_secrets(text)
    assert SECURITY_CODE in redacted.text and kept in redacted.text
    assert redacted.removed == ("security code",)


@pytest.mark.parametrize(
    "text",
    [
        "password: hunter2",
        "my pw is hunter2",
        "pwd=hunter2",
        "Password - hunter2",
        "the password was 'hunter2' yesterday",
        'my password is "correct hunter2 staple"',
        "passwd=hunter2;",
    ],
)
def test_pasted_passwords(text: str) -> None:
    redacted = redact_secrets(text)
    assert "hunter2" not in redacted.text and PASSWORD in redacted.text
    assert redacted.removed == ("password",)
    assert redact_secrets(redacted.text).text == redacted.text  # idempotent


def test_the_notice_names_what_was_removed_once() -> None:
    redacted = redact_secrets("card 4111111111111111 cvv 123 and password: x1")
    assert redacted.removed == ("card number", "security code", "password")
    notice = redacted.notice()
    assert "a card number, a security code and a password" in notice
    assert notice.count("\n") == 0 and "4111" not in notice
    assert redact_secrets("hello").notice() == ""


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_personal_and_public_levels() -> None:
    text = "Bob (bob@contoso.example, +1 415 555 0132) about ORD-1002 in #12, pw: hunter2"
    personal = redact_personal(text)
    assert EMAIL in personal and PHONE in personal and PASSWORD in personal
    assert "ORD-1002" in personal and "#12" in personal  # staff see record ids
    public = deidentify(text)
    assert "ORD-1002" not in public and "#12" not in public and RECORD_ID in public
    assert deidentify("ord 1002 and inv_2001") == f"{RECORD_ID} and {RECORD_ID}"
    assert deidentify("AES-256 and TLS 1.2, 99.95% uptime") == "AES-256 and TLS 1.2, 99.95% uptime"
    window = "_2026-11-25 00:40 to 2026-12-02 00:40 (UTC)_"  # a report's period, not a phone
    assert deidentify(window) == window


def test_json_values_are_scrubbed_keys_kept() -> None:
    value = {"content": "pw: hunter2", "items": [{"card": "4111 1111 1111 1111"}], "n": 3}
    assert scrub_json(value) == {
        "content": f"pw: {PASSWORD}",
        "items": [{"card": CARD_NUMBER}],
        "n": 3,
    }


def test_exported_text_carries_no_link_to_a_slack_message() -> None:
    opened = (
        "export is broken\n\n(Ticket opened from this message: "
        "https://acme.slack.com/archives/C0123ABC/p1700000000000100)"
    )
    assert without_slack_links(opened) == (
        "export is broken\n\n(Ticket opened from this message: [Slack link])"
    )
    marked_up = "see <https://acme.slack.com/archives/C9/p17?thread_ts=1.2|this thread> please"
    assert without_slack_links(marked_up) == "see [Slack link] please"
    assert without_slack_links("docs at https://example.com/archives/x") == (
        "docs at https://example.com/archives/x"  # other sites' links are the user's words
    )

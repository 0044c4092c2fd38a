"""What Slack would read as live markup in what the desk sent: for the mention tests.

Slack treats `<…>` written with raw angle brackets as a control sequence (a ping, a mention,
a labelled link) in every text it renders. These helpers find every such sequence in recorded
Web API calls, so a test can say exactly which ones the desk meant to make.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fakes.slack import Call

# Control sequences a user or a model might slip into a request, an answer or a report.
HOSTILE = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<@U_BOB>",
    "<#C123>",
    "<https://evil.example|Re-authenticate>",
)
HOSTILE_TEXT = " ".join(HOSTILE)

_SEQUENCE = re.compile(r"<[^<>]*>")
# Fields that Slack never shows (routing data, the desk's own bookkeeping).
_NOT_SHOWN = frozenset({"metadata", "channel", "channel_id", "ts", "thread_ts", "user", "token"})


def strings(node: Any) -> Iterator[str]:
    """Every string in a call's parameters that Slack may show, however deeply nested."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in _NOT_SHOWN:
                yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def live_sequences(calls: Iterable[Call]) -> list[tuple[str, str]]:
    """(method, sequence) for every raw `<…>` sequence in the calls' shown text."""
    return [
        (method, sequence)
        for method, params in calls
        for text in strings(params)
        for sequence in _SEQUENCE.findall(text)
    ]


def assert_only_desk_markup(calls: Iterable[Call], *allowed: str) -> list[str]:
    """No hostile sequence is live anywhere; every live one matches an `allowed` pattern.

    Also: no call asks Slack to link names itself (`parse=full`, `link_names`).
    Returns the live sequences found (for tests that expect some).
    """
    calls = list(calls)
    assert calls, "no Slack calls were recorded"
    for method, params in calls:
        assert params.get("parse") in (None, "none"), (method, params.get("parse"))
        assert params.get("link_names") in (None, False, 0, "0", "false"), method
    found = live_sequences(calls)
    patterns = [re.compile(pattern) for pattern in allowed]
    unexpected = [
        (method, seq) for method, seq in found if not any(p.fullmatch(seq) for p in patterns)
    ]
    assert not unexpected, f"live markup the desk did not mean to make: {unexpected}"
    for method, params in calls:
        for text in strings(params):
            for token in HOSTILE:
                assert token not in text, (method, token, text)
    return [seq for _, seq in found]


# The desk's own markup, as patterns.
DATE = r"<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[^<>|]*>"
THREAD_LINK = r"<https://support-desk-demo\.slack\.com/archives/[^<>|]+\|Open the thread>"


def mention(user_id: str) -> str:
    return re.escape(f"<@{user_id}>")

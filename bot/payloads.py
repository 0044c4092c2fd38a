"""What a Slack payload must look like before Bolt and the listeners read it.

Slack's payloads are JSON objects whose ids and texts are strings. Bolt's request parsing and
middleware index into them without checking (`payload.get("event", {}).get(...)`), so a signed
but malformed body (`[1]`, `"event": null`, a list of actions that are numbers, JSON nested a
thousand levels deep) would otherwise crash them with a traceback and a 500. `problem()` names
what is wrong, in a few words, for one log line and a 4xx; the listeners can then rely on the
shapes checked here.

`bad_timestamp()` finds a Slack timestamp (`ts`, `thread_ts`, …) that is not one: such a
payload is well formed but not from Slack, and is acked and ignored (one log line naming the
field, never its value), so that Slack would not send it again and nothing keeps it.

`scrub()` makes any text storable: a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot be
encoded as UTF-8, so SQLite, the logs and Slack's form posts would all fail on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting accepted. Slack's own payloads (blocks in a message in an action) stay
well under 20; a limit keeps every later recursive walk (json.dumps, logging) safe."""

# Keys whose value is an id: a string (or null). Not "text": in an action it is an object.
_STRINGS = frozenset(
    {
        "type",
        "subtype",
        "ts",
        "thread_ts",
        "event_ts",
        "message_ts",
        "command",
        "user_id",
        "channel_id",
        "team_id",
        "enterprise_id",
        "event_id",
        "action_id",
        "block_id",
        "value",
        "response_url",
        "trigger_id",
        "bot_id",
        "tab",
        "channel_type",
        "user_team",
        "api_app_id",
        "id",
    }
)
# Keys that are an id or an object with an "id" (Slack uses both forms).
_ID_OR_OBJECT = frozenset({"user", "channel", "team", "enterprise"})
# Keys whose value is an object (or null).
_OBJECTS = frozenset(
    {
        "message",
        "previous_message",
        "item",
        "assistant_thread",
        "container",
        "view",
        "selected_option",
    }
)
# Keys whose value is a list of objects.
_LISTS = frozenset({"authorizations", "actions"})
# Keys whose value is a list of strings (`agent_session_stopped`'s streamed messages).
_STRING_LISTS = frozenset({"streaming_message_ts"})
# Keys of `_STRINGS` whose value is a Slack timestamp, and the form of one: the seconds since
# 1970, a dot, six digits (`1712345678.123456`).
_TIMESTAMPS = frozenset({"ts", "thread_ts", "event_ts", "message_ts", "action_ts"})
_SLACK_TS = re.compile(r"[0-9]{1,10}\.[0-9]{6}")
_SHOWN_CHARS = 12

_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (everything else kept as is)."""
    return _SURROGATE.sub("\ufffd", text)


MAX_ID = 2**53
"""Largest number accepted from a user or a button: a row id fits in SQLite's 64-bit integer."""


def slack_id(value: Any) -> str | None:
    """An id Slack sends either as a string or as an object with an "id"."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def whole_number(raw: str, low: int = 0, high: int = MAX_ID) -> int | None:
    """`raw` as an int from `low` to `high`, or None. ASCII digits only: `str.isdigit()` is
    also true of "²" and "٣", which `int()` then refuses or reads as another number."""
    if not raw or len(raw) > 16 or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def problem(body: Any) -> str | None:
    """What makes `body` (a parsed Slack payload) unusable, or None when it is well formed."""
    if not isinstance(body, dict):
        return f"the payload is a {type(body).__name__}, not an object"
    if _too_deep(body):
        return f"nested deeper than {MAX_DEPTH} levels"
    if "event" in body and not isinstance(body["event"], dict):
        return "`event` is not an object"
    if "type" not in body and "command" not in body:  # every Slack payload names its kind
        return "neither `type` nor `command`: not a Slack payload"
    if body.get("type") == "event_callback" and "event" not in body:
        return "an event callback without its `event`"
    return _object_problem(body, "") or _interaction_problem(body)


def _interaction_problem(body: dict[str, Any]) -> str | None:
    """What Bolt (or a listener) reads of a click, a view, a command or a URL check, missing or
    of the wrong shape: it raises on it, or answers nonsense (a `null` challenge)."""
    kind = body.get("type")
    if kind == "url_verification" and not isinstance(body.get("challenge"), str):
        return "a url_verification without its challenge"
    if "command" in body and not (body.get("user_id") and body.get("channel_id")):
        return "a slash command without its user_id or channel_id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not actions:
            return "block actions without any action"
        if any("action_id" not in action for action in actions):
            return "an action without its `action_id`"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            return "a view payload without its view's `type`"
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else state
        if values is not None and not (
            isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())
        ):
            return "a view whose `state.values` is not an object of blocks"
    return None


def _object_problem(obj: dict[str, Any], where: str) -> str | None:
    for key, value in obj.items():
        path = f"{where}{key}"
        if key == "event" or key in _OBJECTS or (key in _ID_OR_OBJECT and isinstance(value, dict)):
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"`{path}` is not an object"
            found = _object_problem(value, f"{path}.")
        elif key in _ID_OR_OBJECT or key in _STRINGS:
            found = None if value is None or isinstance(value, str) else f"`{path}` is not a string"
        elif key in _LISTS:
            if not isinstance(value, list):
                return f"`{path}` is not a list"
            found = None
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    return f"`{path}[{index}]` is not an object"
                found = found or _object_problem(item, f"{path}[{index}].")
        elif key in _STRING_LISTS:
            if value is not None and not (
                isinstance(value, list) and all(isinstance(item, str) for item in value)
            ):
                return f"`{path}` is not a list of strings"
            found = None
        else:
            continue
        if found:
            return found
    return None


def bad_timestamp(body: dict[str, Any]) -> tuple[str, str] | None:
    """The first Slack timestamp of `body` (a payload `problem()` accepts) that is not one
    (NaN, "inf", a negative or 500-digit number, an empty string): its field, e.g.
    `event.thread_ts`, and a short clean description of its value. None when all are."""
    for field, value in _timestamps(body, ""):
        if value is not None and not _SLACK_TS.fullmatch(value):
            return field, describe(value)
    return None


def describe(value: str) -> str:
    """A few safe characters of `value` and its length, for a log line: never all of a long
    value, nor a character that could forge a line (a newline, a control or escape)."""
    if not value:
        return "empty"
    shown = re.sub(r"[^0-9A-Za-z.+-]", "?", value[:_SHOWN_CHARS])
    more = "…" if len(value) > _SHOWN_CHARS else ""
    return f"{len(value)} characters: {shown}{more}"


def _timestamps(obj: dict[str, Any], where: str) -> Iterator[tuple[str, str | None]]:
    """Every timestamp field of the objects `problem()` checks, with its path."""
    for key, value in obj.items():
        path = f"{where}{key}"
        if key in _TIMESTAMPS:
            yield path, value
        elif key in _STRING_LISTS and value:
            yield from ((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, dict) and (key == "event" or key in _OBJECTS | _ID_OR_OBJECT):
            yield from _timestamps(value, f"{path}.")
        elif key in _LISTS and isinstance(value, list):
            for index, item in enumerate(value):
                yield from _timestamps(item, f"{path}[{index}].")


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def view_value(values: dict[str, Any], block_id: str, action_id: str) -> str:
    """The value of one input of a submitted modal: typed text or the picked option."""
    state = (values.get(block_id) or {}).get(action_id) or {}
    if not isinstance(state, dict):
        return ""
    selected = state.get("selected_option") or {}
    value = selected.get("value") if isinstance(selected, dict) and selected else state.get("value")
    return value if isinstance(value, str) else ""

"""Slack mrkdwn: the one escape, the desk's own markup, Markdown to mrkdwn, message splitting.

Slack reads `<…>` in mrkdwn as control sequences: `<!here>`, `<!channel>`, `<!everyone>` and
`<!subteam^S…>` notify people, `<@U…>` and `<#C…>` mention, `<url|label>` hides a link behind
a label. They are live only when written with raw angle brackets, and they are live inside
code spans and code blocks too. So text is of two kinds here:

- `Mrkdwn`: markup the desk vouches for. Raw control sequences come only from the builders
  below (`mention`, `channel_mention`, `group_mention`, `link`, `date`) and from templates the
  desk writes itself (`Mrkdwn("*Ticket #{id}* — {reason}").format(...)`).
- any other `str`: text a user or a model wrote. It is escaped whenever it meets `Mrkdwn`
  (`format`, `+`, `join`) and by `escape`, which the Block Kit builders and the Slack gateway
  apply to every text they send: an unvouched string can only ever reach Slack escaped.

Operations that `str` implements (slicing, `strip`, …) return a plain `str`, which is escaped
again on the way out: a mistake shows as `&amp;lt;` on screen, never as a ping.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any, Literal

# Slack truncates `text` at 40,000 characters; long messages are also hard to read, so
# answers are cut into messages of at most this many characters, and at most MAX_PARTS.
PART_LIMIT = 3500
MAX_PARTS = 4
TRIMMED_NOTE = "_(The answer was too long for Slack and was trimmed.)_"

# `&` not starting one of the three entities Slack uses. Text from Slack events arrives with
# `<`, `>`, `&` already escaped (a typed "a < b" is "a &lt; b"); escaping it again would
# show "&lt;" on screen. An entity left as it is is still only text: Slack decodes it for
# display and never reads it as a control sequence.
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt);)")
_USER_ID = re.compile(r"[UW][A-Z0-9_]{1,30}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9_]{1,30}")
_GROUP_ID = re.compile(r"S[A-Z0-9_]{1,30}")
_URL = re.compile(r"https?://[^\s<>|]+")


class Mrkdwn(str):
    """Slack mrkdwn the desk wrote: sent as it is. Anything combined with it is escaped."""

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> Mrkdwn:
        """`str.format`, with every value that is not `Mrkdwn` escaped."""
        return Mrkdwn(_FORMATTER.vformat(self, args, kwargs))

    def __add__(self, other: str, /) -> Mrkdwn:
        return Mrkdwn(str.__add__(str(self), str(escape(other))))

    def __radd__(self, other: str, /) -> Mrkdwn:
        return Mrkdwn(str.__add__(str(escape(other)), str(self)))

    def join(self, parts: Iterable[str], /) -> Mrkdwn:
        return Mrkdwn(str(self).join(escape(part) for part in parts))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn):
            return format(str(value), format_spec)
        return escape(format(value, format_spec))


_FORMATTER = _EscapingFormatter()


def escape(text: str) -> Mrkdwn:
    """Text someone wrote, made safe for mrkdwn (`Mrkdwn` is returned as it is).

    `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;` (an existing entity is kept), so no
    control sequence in it is live, inside code spans as well.
    """
    if isinstance(text, Mrkdwn):
        return text
    text = _BARE_AMP.sub("&amp;", str(text))
    return Mrkdwn(text.replace("<", "&lt;").replace(">", "&gt;"))


# ---- the desk's own markup: the only places raw control sequences are made ---------------


def mention(user_id: str) -> Mrkdwn:
    """`<@U…>`: a live mention of a Slack user (an id that is not one is shown as text)."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id) else escape(user_id)


def channel_mention(channel_id: str) -> Mrkdwn:
    """`<#C…>`: a link to a conversation."""
    return Mrkdwn(f"<#{channel_id}>") if _CHANNEL_ID.fullmatch(channel_id) else escape(channel_id)


def group_mention(group_id: str) -> Mrkdwn:
    """`<!subteam^S…>`: notifies every member of a user group."""
    return Mrkdwn(f"<!subteam^{group_id}>") if _GROUP_ID.fullmatch(group_id) else escape(group_id)


def link(url: str, label: str) -> Mrkdwn:
    """`<url|label>` for a URL the desk got from Slack (a permalink); anything else is text."""
    if not _URL.fullmatch(url):
        return escape(f"{label} ({url})")
    return Mrkdwn(f"<{escape(url)}|{escape(label).replace('|', '¦')}>")


def date(at: float, fallback: str = "") -> Mrkdwn:
    """A time every reader sees in their own time zone."""
    shown = escape(fallback or str(int(at))).replace("|", "¦")
    return Mrkdwn(f"<!date^{int(at)}^{{date_short_pretty}} at {{time}}|{shown}>")


def truncate(text: Mrkdwn, limit: int) -> Mrkdwn:
    """At most `limit` characters, never cutting an entity or a control sequence in two."""
    text = escape(text)  # a plain str given by mistake is escaped, not vouched for
    if len(text) <= limit:
        return text
    cut = str(text)[: max(0, limit - 1)]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    cut = re.sub(r"&[a-z]{0,3}$", "", cut)
    return Mrkdwn(cut + "…")


# ---- Markdown (what models write) to mrkdwn ------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_QUOTE = re.compile(r"^&gt; ?", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")

Links = Literal["live", "shown"]


def to_mrkdwn(markdown: str, *, links: Links = "live") -> Mrkdwn:
    """Convert common Markdown to Slack mrkdwn; everything in it is escaped, code included.

    `links="live"`: `[text](url)` becomes a link labelled `text` (for the asker's own thread).
    `links="shown"`: it becomes `text (url)`, the address in view (for posts others read:
    staff messages, reports in a channel), so no label can hide where a link goes.
    """
    protected: list[str] = []
    text = markdown.replace("\x00", "")  # the placeholders below use NUL
    text = _CODE_BLOCK.sub(lambda m: _protect(protected, escape(m.group(0))), text)
    text = _INLINE_CODE.sub(lambda m: _protect(protected, escape(m.group(0))), text)
    text = _QUOTE.sub("> ", escape(text))  # Slack quotes lines starting with ">"
    text = _LINK.sub(lambda m: _protect(protected, _link(m.group(2), m.group(1), links)), text)
    text = _HEADING.sub(lambda m: _protect(protected, f"*{m.group(1)}*"), text)
    text = _BOLD.sub(lambda m: _protect(protected, f"*{m.group(2)}*"), text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = _BULLET.sub(r"\1• ", text)
    return Mrkdwn(_PLACEHOLDER.sub(lambda m: protected[int(m.group(1))], text))


def links_in(channel: str) -> Links:
    """How an answer's links look in `channel`: live only in a direct message with the
    asker; in a channel others read the thread, so a label (perhaps the asker's own text,
    echoed in the desk's voice) never hides where a link goes."""
    return "live" if channel.startswith("D") else "shown"


def show_targets(markdown: str) -> str:
    """Markdown whose links `[text](url)` read `text (url)` (streamed Markdown, where Slack
    renders links itself); a bracket left open at the end may still become one, so a closing
    bracket followed by "(" is kept apart by an invisible word joiner (see `STREAM_JOINER`)."""
    shown = _LINK.sub(lambda m: _shown(m.group(2), m.group(1)), markdown)
    return shown.replace("](", f"]{STREAM_JOINER}(")


STREAM_JOINER = "\u2060"  # WORD JOINER: invisible, but "]\u2060(" is no Markdown link


def quotes_kept(escaped: Mrkdwn, *, at_line_start: bool = True) -> Mrkdwn:
    """Escaped Markdown whose lines starting with ">" are quotes again (a quote is no control
    sequence); `at_line_start`: whether the text begins a line (a piece of a stream may not)."""
    text = ("\n" if at_line_start else "x") + escaped
    return Mrkdwn(re.sub(r"\n&gt; ?", "\n> ", text)[1:])


def _link(url: str, label: str, links: Links) -> str:
    """A Markdown link whose parts are already escaped."""
    url = url.replace("|", "%7C")
    if links == "live":
        return f"<{url}|{label}>"
    return _shown(url, label)


def _shown(url: str, label: str) -> str:
    """A link with its address in view: "label (url)", or the address alone as its label."""
    return url if label == url else f"{label} ({url})"


def _protect(protected: list[str], value: str) -> str:
    """Park `value` out of reach of later substitutions; it is put back at the end."""
    protected.append(value)
    return f"\x00{len(protected) - 1}\x00"


def split_message(
    text: Mrkdwn, limit: int = PART_LIMIT, max_parts: int = MAX_PARTS
) -> list[Mrkdwn]:
    """Cut mrkdwn into Slack-sized parts at paragraph, line or word boundaries.

    Cutting only removes characters, so no part holds a control sequence `text` did not.
    """
    rest = str(escape(text)).strip()  # a plain str given by mistake is escaped
    parts: list[str] = []
    while rest:
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if len(parts) > max_parts:
        parts = parts[:max_parts]
        parts[-1] = parts[-1][: limit - len(TRIMMED_NOTE) - 2].rstrip() + "\n\n" + TRIMMED_NOTE
    return [Mrkdwn(part) for part in parts] or [Mrkdwn("")]

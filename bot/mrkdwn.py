"""Markdown (what models write) to Slack mrkdwn, and splitting within Slack's message limits."""

from __future__ import annotations

import re

# Slack truncates `text` at 40,000 characters; long messages are also hard to read, so
# answers are cut into messages of at most this many characters, and at most MAX_PARTS.
PART_LIMIT = 3500
MAX_PARTS = 4
TRIMMED_NOTE = "_(The answer was too long for Slack and was trimmed.)_"

_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_QUOTE = re.compile(r"^&gt; ?", re.MULTILINE)


def escape(text: str) -> str:
    """Text a user or a model wrote, made safe for mrkdwn: no live mention, ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_escape = escape


def to_mrkdwn(markdown: str) -> str:
    """Convert common Markdown to Slack mrkdwn, leaving code untouched."""
    protected: list[str] = []
    text = _CODE_BLOCK.sub(lambda m: _protect(protected, m.group(0)), markdown)
    text = _INLINE_CODE.sub(lambda m: _protect(protected, m.group(0)), text)
    text = _QUOTE.sub("> ", _escape(text))  # Slack quotes lines starting with ">"
    text = _LINK.sub(lambda m: _protect(protected, f"<{m.group(2)}|{m.group(1)}>"), text)
    text = _HEADING.sub(lambda m: _protect(protected, f"*{m.group(1)}*"), text)
    text = _BOLD.sub(lambda m: _protect(protected, f"*{m.group(2)}*"), text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = _BULLET.sub(r"\1• ", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m.group(1))], text)


def _protect(protected: list[str], value: str) -> str:
    """Park `value` out of reach of later substitutions; it is put back at the end."""
    protected.append(value)
    return f"\x00{len(protected) - 1}\x00"


def split_message(text: str, limit: int = PART_LIMIT, max_parts: int = MAX_PARTS) -> list[str]:
    """Cut `text` into Slack-sized parts at paragraph, line or word boundaries."""
    text = text.strip()
    parts: list[str] = []
    while text:
        if len(text) <= limit:
            parts.append(text)
            break
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if len(parts) > max_parts:
        parts = parts[:max_parts]
        parts[-1] = parts[-1][: limit - len(TRIMMED_NOTE) - 2].rstrip() + "\n\n" + TRIMMED_NOTE
    return parts or [""]

"""A help-centre article drafted from a solved ticket, for a staff member to edit and publish.

The drafter only ever sees the ticket de-identified (`storage.redaction.deidentify_customer`:
no names, e-mail addresses, phone numbers, record ids or amounts), and its draft is
de-identified again in code; nothing is published without a staff member's click
(`bot.knowledge`).
"""

from __future__ import annotations

import re

from agents_config.agents import ModelResolver
from agents_config.context import DeskContext
from agents_config.pipelines.base import AgentCalls, build_agent, pipeline_spec

KB_WRITER = pipeline_spec(
    "kb_writer",
    "Drafts a help-centre article from a solved support ticket.",
    "You write a help-centre article from a solved support ticket, for every customer: a "
    "first line `# Title` naming the problem, then the sections `## Problem`, `## Cause` and "
    "`## Steps` (numbered). Generalise: never name the customer, their company, e-mail, ids "
    "or amounts (they are already removed: keep them out). Use only what the ticket says.",
)
_TITLE = re.compile(r"\A\s*#\s+(.+?)\s*$", re.M)
MAX_TITLE_CHARS = 150


class KbDraftPipeline:
    def __init__(self, resolver: ModelResolver, calls: AgentCalls) -> None:
        self.calls = calls
        self.writer = build_agent(KB_WRITER, resolver)

    async def draft(self, ticket_text: str, context: DeskContext) -> tuple[str, str]:
        """(title, body in Markdown) of an article from the de-identified `ticket_text`."""
        text = await self.calls.text(self.writer, ticket_text, context)
        found = _TITLE.match(text)
        if found is None:
            return text.splitlines()[0][:MAX_TITLE_CHARS].strip("# "), text
        return found.group(1)[:MAX_TITLE_CHARS], text[found.end() :].strip()

"""The offline engine: a deterministic, rule-based stand-in for a language model.

It lets the whole desk run with no API key: the agents, handoffs, tools, guardrails and storage
are the real ones; only the "thinking" is replaced by transparent rules over the conversation:

1. Routing (`routing`): the request is scored against the criteria of `agents_config.routing`
   (BM25 over keywords and intent words, with light stemming); the best route above a
   threshold wins. Triage asks one clarifying question when nothing fits.
2. Tools (`tools`): a small table maps request words to preferred tools; arguments are read
   from the conversation (ids like ORD-1001, e-mails, amounts) and shaped by each tool's JSON
   schema. Answers (`answers`) quote the tool outputs.
3. Structured output (`structured`): every field filled by what it means: routing fields,
   review scores, a mood from a sentiment lexicon, topics and entities (`analysis`).
4. Pipeline roles (`roles` recognises them; each sees a `turn.Turn`): the researcher searches
   and writes notes with sources (`evidence`), the analyst picks insights, the writer drafts
   and revises a Markdown report and the evaluator reviews it by explicit criteria (`report`),
   the coordinator asks one tool per part of a topic (all in `research`); the optimist,
   skeptic and moderator argue from a fixed set of angles (`debate`); the digest writer
   combines the ticket analyses (`digest`).

Every text answer ends with `MARKER`, so readers know the offline engine wrote it. Same input,
same output: no randomness, no clock, no network.
"""

from agents_config.offline.answers import CLARIFYING_QUESTION
from agents_config.offline.model import OfflineModel
from agents_config.offline.routing import ROUTE_THRESHOLD, choose_route, route_scores
from agents_config.offline.structured import structured_output
from agents_config.offline.text import MARKER, content_stems, stem
from agents_config.offline.tools import search_query

__all__ = [
    "CLARIFYING_QUESTION",
    "MARKER",
    "ROUTE_THRESHOLD",
    "OfflineModel",
    "choose_route",
    "content_stems",
    "route_scores",
    "search_query",
    "stem",
    "structured_output",
]

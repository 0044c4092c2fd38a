"""Facts with their sources: read from tool outputs (help-centre articles, past tickets),
written as research notes, and read back from notes by the analyst and the writer.

Research notes, as the offline researcher writes them (any notes with `- fact [source]` bullets
are read the same way):

    Research notes on “refunds”

    From the knowledge base:
    - Orders can be refunded within 30 days of the order date. [refund-policy]

    From past tickets:
    - Ticket #12 (billing, resolved): Refund for ORD-1001 [ticket #12]

    Not found:
    - No past ticket matches "refunds".

    Sources:
    - [refund-policy] Refund policy: how to get your money back
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agents_config.offline.text import (
    SENTENCE,
    content_stems,
    plain,
    topic_stems,
    unsigned,
)

NOTES_HEADINGS = {
    "kb": "From the knowledge base:",
    "tickets": "From past tickets:",
    "gaps": "Not found:",
    "sources": "Sources:",
}
FACTS_PER_ARTICLE = (6, 3, 3)  # the best-matching article gives most
MIN_FACT_CHARS = 25
SHORT_ITEM = 80  # a list item shorter than this is read with its section's heading

_POLICY = re.compile(
    r"\b(?:must|cannot|can't|can not|not possible|only|always|never|no longer|"
    r"within|required|eligible|not refunded|at least|at most|up to|until|"
    r"automatically)\b",
    re.I,
)
_STEP = re.compile(
    r"→|\b(?:go to|click|open|select|tell|ask|check|enter|contact|re-enable|"
    r"replay|allow|verify|acknowledge|compute|update|add|remove)\b",
    re.I,
)
_SOURCE_TAG = re.compile(r"\s*(?:\[([^\]]+)\]|\((?:source|from):?\s*([^)]+)\))\s*\.?$", re.I)
_ARTICLE_HEAD = re.compile(r"^\[([\w-]+)\]\s+(.+)$")
_TICKET_LINE = re.compile(r"^-\s*\[#(\d+),\s*([^\]]*)\]\s*(.+)$")
_SUMMARY_LINE = re.compile(r"^-\s+Matching past tickets\b")
_BOLD_LEAD = re.compile(r"^\*\*(.+?)[.:]\*\*\s+")  # "**30-day window.** The window…"
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_LEAD_IN = re.compile(
    r":$|^see\b|\b(?:the following|these (?:steps|things|in order)|"
    r"as follows|below)\b",
    re.I,
)  # nothing without what it points to
_HOW_TO = re.compile(r"\bhow\b|\bset ?up\b|\bconfigur|\benabl|\binstall|\bsteps?\b", re.I)


@dataclass(frozen=True)
class Fact:
    text: str
    source: str = ""  # "refund-policy", "ticket #12"; empty when the notes do not say

    @property
    def has_number(self) -> bool:
        return bool(re.search(r"\d", self.text))

    @property
    def is_policy(self) -> bool:
        return bool(_POLICY.search(self.text))

    @property
    def is_step(self) -> bool:
        return bool(_STEP.search(self.text))

    @property
    def from_ticket(self) -> bool:
        return self.source.startswith("ticket")

    def tagged(self) -> str:
        return f"{self.text} [{self.source}]" if self.source else self.text

    def weight(self, topic: set[str]) -> int:
        """How much the fact says about `topic`: its words, then its specifics."""
        shared = len(topic & set(content_stems(self.text)))
        return shared + self.has_number + self.is_policy + self.is_step

    def why_it_matters(self) -> str:
        if self.from_ticket:
            return "it is what customers actually raised with the desk"
        if self.is_policy and self.has_number:
            return "a hard limit the desk must quote exactly, whether the answer is yes or no"
        if self.is_step:
            return "a step the desk can walk customers through"
        if self.has_number:
            return "it sets the expectation customers will hold the desk to"
        if self.is_policy:
            return "a rule the desk has to explain, especially when the answer is no"
        return "background the desk needs to answer consistently"


@dataclass
class Notes:
    """What a brief holds: the topic, facts with sources, titles of sources, gaps, insights."""

    topic: str = ""
    facts: list[Fact] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # source -> its title
    gaps: list[str] = field(default_factory=list)
    insights: list[Fact] = field(default_factory=list)  # the analyst's findings, best first
    text: str = ""  # the brief the notes were read from

    @property
    def topic_words(self) -> set[str]:
        return topic_stems(self.topic)

    def ranked(self) -> list[Fact]:
        """Insights first (the analyst's order), then the other facts, most relevant first."""
        rest = [f for f in rank(self.facts, self.topic) if not _contains(self.insights, f)]
        return [*self.insights, *rest]

    def title_of(self, source: str) -> str:
        return self.titles.get(
            source, source.capitalize() if source.startswith("ticket") else source
        )

    def sources(self) -> list[str]:
        """Every source a fact cites, in order of first use, then the other listed ones."""
        cited = [f.source for f in [*self.insights, *self.facts] if f.source]
        return list(dict.fromkeys([*cited, *self.titles]))


def rank(facts: list[Fact], topic: str) -> list[Fact]:
    """Most telling first: `Fact.weight`, plus one for the first fact of each source (an
    article's opening usually sums it up) and, for a how-to topic, one for each step; ties
    keep the notes' order."""
    wanted = topic_stems(topic)
    openers = {f.source: f for f in reversed(facts)}
    how_to = bool(_HOW_TO.search(topic))  # then steps count double

    def weight(fact: Fact) -> int:
        return fact.weight(wanted) + (openers.get(fact.source) is fact) + how_to * fact.is_step

    return sorted(facts, key=lambda f: -weight(f))


def _contains(facts: Iterable[Fact], fact: Fact) -> bool:
    return any(same_fact(f.text, fact.text) for f in facts)


def same_fact(a: str, b: str) -> bool:
    """Two wordings of one fact: nearly the same content words."""
    sa, sb = set(content_stems(a)), set(content_stems(b))
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.8


def dedupe(facts: Iterable[Fact]) -> list[Fact]:
    kept: list[Fact] = []
    for fact in facts:
        if not _contains(kept, fact):
            kept.append(fact)
    return kept


# ---------------------------------------------------------------------------------------------
# From tool outputs


def article_facts(output: str, topic: str) -> tuple[list[Fact], dict[str, str]]:
    """The facts of a knowledge-base search result, with each article's slug as their source,
    and the titles of the articles that fit the topic (all of them if none does)."""
    wanted = topic_stems(topic)
    articles = [
        a
        for a in (_article(block) for block in re.split(r"\n\s*-{3,}\s*\n", output))
        if a is not None
    ]
    fitting = [a for a in articles if wanted & set(content_stems(f"{a[1]} {a[2]}"))] or articles
    facts: list[Fact] = []
    titles: dict[str, str] = {}
    for (slug, title, body), limit in zip(fitting, FACTS_PER_ARTICLE, strict=False):
        candidates = [Fact(s, slug) for s in body_sentences(body)]
        best = sorted(
            range(len(candidates)), key=lambda i: (-candidates[i].weight(wanted) - (i == 0), i)
        )[:limit]
        facts += [candidates[i] for i in sorted(best)]
        titles[slug] = title
    return dedupe(facts), titles


def _article(block: str) -> tuple[str, str, str] | None:
    head, _, body = block.strip().partition("\n")
    match = _ARTICLE_HEAD.match(head.strip())
    return (match.group(1), match.group(2).strip(), body) if match else None


def body_sentences(body: str) -> list[str]:
    """The sentences of an article's Markdown, headings left out: a short bold lead-in
    ("**30-day window.** The window starts…") becomes a prefix of its sentence, and so does
    the heading of a short list item ("When we hand over automatically: Complaints…")."""
    found: list[str] = []
    heading = ""
    for line in body.splitlines():
        if line.lstrip().startswith("#"):
            heading = plain(line).strip(" :")
            continue
        if not line.strip():
            continue
        item = re.match(r"^\s*(?:[-*•]|(\d{1,2})[.)])\s+", line)
        text = _LINK.sub(r"\1", line[item.end() :] if item else line)
        lead = _BOLD_LEAD.match(text)
        context = heading if heading and not heading.endswith("?") else ""
        if lead:
            prefix, text = f"{lead.group(1).strip()}: ", text[lead.end() :]
        elif item and item.group(1):  # a numbered step keeps its number
            prefix = f"{context}, step {item.group(1)}: " if context else f"Step {item.group(1)}: "
        elif item and len(text) < SHORT_ITEM and context:
            prefix = f"{context}: "
        else:
            prefix = ""
        found += _sentences_of(text, prefix)
    return found


def _sentences_of(text: str, prefix: str) -> list[str]:
    """The sentences of one line, the first with `prefix`; short ones join the next."""
    found: list[str] = []
    pending = ""
    for part in SENTENCE.split(text):
        said = plain(part)
        if not said or said.endswith("…") or _LEAD_IN.search(said):
            pending = ""
            continue  # cut off, or "check these in order:" (nothing without what follows)
        sentence = f"{pending} {said}".strip()
        if len(sentence) < MIN_FACT_CHARS:
            pending = sentence
            continue
        found.append(prefix + sentence)
        prefix, pending = "", ""
    return found


def ticket_facts(output: str) -> list[Fact]:
    """One fact per past ticket of a `search_ticket_history` result."""
    facts = []
    for line in output.splitlines():
        match = _TICKET_LINE.match(line.strip())
        if match:
            number, meta, subject = match.groups()
            facts.append(
                Fact(f"Ticket #{number} ({meta.strip()}): {subject.strip()}", f"ticket #{number}")
            )
    return facts


def summary_facts(output: str) -> list[Fact]:
    """The facts of a de-identified `search_ticket_history` summary (what a caller who is not
    support staff gets): its "- Matching past tickets …" bullets, sourced to the history."""
    return [
        Fact(plain(line.strip()[2:]), "ticket history")
        for line in output.splitlines()
        if _SUMMARY_LINE.match(line.strip())
    ]


def write_notes(notes: Notes) -> str:
    """Research notes in the format the module docstring shows."""
    parts = [f"Research notes on “{notes.topic}”"]
    groups = {
        "kb": [f for f in notes.facts if not f.from_ticket],
        "tickets": [f for f in notes.facts if f.from_ticket],
    }
    for key, facts in groups.items():
        if facts:
            parts.append(NOTES_HEADINGS[key] + "\n" + "\n".join(f"- {f.tagged()}" for f in facts))
    if notes.gaps:
        parts.append(NOTES_HEADINGS["gaps"] + "\n" + "\n".join(f"- {g}" for g in notes.gaps))
    if notes.titles:
        parts.append(
            NOTES_HEADINGS["sources"]
            + "\n"
            + "\n".join(f"- [{key}] {title}" for key, title in notes.titles.items())
        )
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# From a brief ("Topic: …\n\nResearch notes:\n…\n\nInsights:\n…")

_BRIEF_PART = re.compile(
    r"^(Topic|Question|Research notes|Insights|Analysis|Notes):\s*(.*)$", re.I | re.M
)
_SOURCE_LINE = re.compile(r"^\s*-\s*\[([^\]]+)\]\s+(.+)$")
_INSIGHT = re.compile(r"^\s*\d{1,2}[.)]\s+(.+)$")


def read_brief(text: str) -> Notes:
    """The notes a pipeline agent was given (see the module docstring for the notes format)."""
    text = unsigned(text)
    parts = _brief_parts(text)
    notes = Notes(topic=parts.get("topic", "").strip(), text=text)
    body = parts.get("research notes") or parts.get("notes") or ("" if parts else text)
    section = ""
    bulleted = any(ln.lstrip().startswith(("-", "*", "•")) for ln in body.splitlines())
    for line in body.splitlines():
        stripped = line.strip()
        heading = next((k for k, h in NOTES_HEADINGS.items() if stripped == h), None)
        if heading or (stripped.endswith(":") and not stripped.startswith("-")):
            section = heading or ""
            continue
        if not stripped or stripped.startswith("Research notes on"):
            continue
        if section == "sources":
            match = _SOURCE_LINE.match(stripped)
            if match:
                notes.titles[match.group(1)] = match.group(2).strip()
        elif section == "gaps":
            notes.gaps.append(plain(stripped))
        elif bulleted and not stripped.startswith(("-", "*", "•")):
            continue  # prose around a list of facts ("The draft to review follows.")
        else:
            notes.facts.extend(_facts_of_line(stripped))
    insights = parts.get("insights") or parts.get("analysis") or ""
    notes.insights = [
        fact
        for line in insights.splitlines()
        if (m := _INSIGHT.match(line))
        for fact in [_insight(m.group(1))]
        if fact
    ]
    notes.facts = dedupe(notes.facts)
    return notes


def _brief_parts(text: str) -> dict[str, str]:
    matches = list(_BRIEF_PART.finditer(text))
    parts: dict[str, str] = {}
    for match, after in zip(matches, [*matches[1:], None], strict=True):
        end = after.start() if after else len(text)
        parts[match.group(1).lower()] = f"{match.group(2)}\n{text[match.end() : end]}".strip()
    return parts


def _facts_of_line(line: str) -> list[Fact]:
    """A bullet `- fact [source]`, or the sentences of a line of prose."""
    text, source = split_source(plain(line))
    if line.lstrip().startswith(("-", "*", "•")):
        return [Fact(text, source)] if len(text) >= MIN_FACT_CHARS else []
    return [Fact(s, source) for s in SENTENCE.split(text) if len(s.strip()) >= MIN_FACT_CHARS]


def split_source(text: str) -> tuple[str, str]:
    """`fact [source]` or `fact (source: x)` -> (fact, source)."""
    match = _SOURCE_TAG.search(text)
    if not match:
        return text.strip(), ""
    return text[: match.start()].strip(), (match.group(1) or match.group(2)).strip()


def _insight(line: str) -> Fact | None:
    """An analyst's numbered insight: the finding, and its source."""
    finding = re.split(r"\s+(?:—|--)\s+|\s*\bWhy it matters\b", plain(line), maxsplit=1)[0]
    source = re.search(r"\[([^\]]+)\]\s*\.?\s*$", line)
    text = finding.strip().rstrip(".") + "."
    return Fact(text, source.group(1) if source else "") if len(text) >= MIN_FACT_CHARS else None

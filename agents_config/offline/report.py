"""Reports without a model: the writer's Markdown draft built from research notes, its revision
after a review, and the evaluator's review by explicit criteria.

A report: a `# Title`, a `Summary`, `Key points` (bullets, each with its source), `Details`
grouped by source, `Gaps` (what the research did not find) and `Sources`. The review checks
each criterion below; the draft passes only when all hold, and the feedback names, one line
each, what to change. The writer's revision applies a fix per feedback line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agents_config.offline.evidence import Fact, Notes, same_fact
from agents_config.offline.structured import Review
from agents_config.offline.text import (
    content_stems,
    counted,
    first_sentence,
    join_words,
    sentences,
    shorten,
    stem,
    topic_stems,
    unsigned,
    words,
)

MIN_CHARS = 300
MAX_CHARS = 3500
MIN_KEY_POINTS = 3
KEY_POINTS = 5
DETAILS_PER_SOURCE = 4
LONG_BULLET = 240
PENALTY = 4  # points off a 0-10 score per failed criterion: one failure keeps it below 7
REFUSAL = re.compile(
    r"can't help with this one offline|\bI (?:can't|cannot|am unable to) help\b"
    r"|\bas an ai\b|I'm sorry, but",
    re.I,
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NUMBERED_STEP = re.compile(r"^(?:[^:]*, )?step \d+:", re.I)

# ---------------------------------------------------------------------------------------------
# The Markdown document


@dataclass
class Section:
    heading: str  # "" for the text between the title and the first `## ` heading
    lines: list[str] = field(default_factory=list)

    @property
    def bullets(self) -> list[str]:
        return [ln for ln in self.lines if _BULLET.match(ln)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()

    def add(self, line: str) -> None:
        """Append `line` right after the last non-empty line."""
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        self.lines.append(line)


@dataclass
class Report:
    title: str = ""
    sections: list[Section] = field(default_factory=list)

    @classmethod
    def parse(cls, markdown: str) -> Report:
        report = cls()
        current = Section("")
        report.sections.append(current)
        for line in unsigned(markdown).splitlines():
            if re.match(r"^#\s+\S", line) and not report.title:
                report.title = line.lstrip("# ").strip()
            elif re.match(r"^##\s+\S", line):
                current = Section(line.lstrip("# ").strip())
                report.sections.append(current)
            else:
                current.lines.append(line)
        report.sections = [s for s in report.sections if s.heading or s.text]
        return report

    def render(self) -> str:
        parts = [f"# {self.title}"] if self.title else []
        for section in self.sections:
            body = section.text
            parts.append(f"## {section.heading}\n\n{body}" if section.heading else body)
        return "\n\n".join(p for p in parts if p.strip())

    @property
    def body(self) -> str:
        """Everything but the title."""
        return "\n".join(f"{s.heading}\n{s.text}" for s in self.sections)

    def find(self, pattern: str) -> Section | None:
        return next(
            (s for s in self.sections if s.heading and re.search(pattern, s.heading, re.I)), None
        )

    def put(self, section: Section, *, before: str | None = None) -> Section:
        """Add `section` (replacing one of the same heading), before the first section whose
        heading matches `before`, else at the end."""
        existing = self.find(f"^{re.escape(section.heading)}$")
        if existing is not None:
            existing.lines = section.lines
            return existing
        index = next(
            (
                i
                for i, s in enumerate(self.sections)
                if before and s.heading and re.search(before, s.heading, re.I)
            ),
            len(self.sections),
        )
        self.sections.insert(index, section)
        return section

    def says(self, fact: Fact) -> bool:
        lines = [ln for s in self.sections for ln in s.lines if ln.strip()]
        return any(same_fact(re.sub(r"\[[^\]]*\]", "", ln), fact.text) for ln in lines)


# ---------------------------------------------------------------------------------------------
# Writing


def write_report(notes: Notes) -> Report:
    """The first draft: every part of a report, from the notes alone."""
    facts = notes.ranked()
    key = _key_facts(notes, facts)
    report = Report(title=report_title(notes))
    report.put(Section("Summary", [summary(notes, key)]))
    if key:  # chosen by rank, told in the notes' order (steps stay in sequence)
        report.put(Section("Key points", [_bullet(f) for f in _in_order(notes, key)]))
    details = _details(notes, [f for f in notes.facts if f not in key])
    if details:
        report.put(Section("Details", details))
    gaps = [*notes.gaps, *_silent_on(notes, report)]
    if gaps:
        report.put(Section("Gaps", [f"- {g}" for g in gaps]))
    report.put(Section("Sources", _source_lines(notes)))
    return report


def report_title(notes: Notes) -> str:
    topic = " ".join(notes.topic.split()) or "Research report"
    return topic[0].upper() + topic[1:]


def summary(notes: Notes, key: list[Fact]) -> str:
    if not key:
        return (
            f"The research found nothing on “{notes.topic}” in the knowledge base or the "
            "desk's ticket history, so this report can only say what is missing."
        )
    statements = [f for f in key if not _NUMBERED_STEP.search(f.text)] or key  # not "step 5"
    return " ".join(
        [f"This report draws on {_evidence(notes)}.", *(_sentence(f.text) for f in statements[:2])]
    )


def _key_facts(notes: Notes, facts: list[Fact]) -> list[Fact]:
    """The first KEY_POINTS facts, swapping in a fact for each topic word they leave out."""
    key = facts[:KEY_POINTS]
    for word in sorted(notes.topic_words - _stems_of(f.text for f in key)):
        extra = next((f for f in facts if word in content_stems(f.text) and f not in key), None)
        if extra is not None:
            key.append(extra)
    return key


def _in_order(notes: Notes, facts: list[Fact]) -> list[Fact]:
    """`facts` in the order of the notes (findings that are not in them first)."""
    position = {fact: i for i, fact in enumerate(notes.facts)}
    return sorted(facts, key=lambda f: position.get(f, -1))


def _details(notes: Notes, facts: list[Fact]) -> list[str]:
    """The facts under the title of their source; past tickets together."""

    def group(fact: Fact) -> str:
        return "Past tickets" if fact.from_ticket else notes.title_of(fact.source) or "Notes"

    lines: list[str] = []
    for title in dict.fromkeys(map(group, facts)):
        said = [f for f in facts if group(f) == title][:DETAILS_PER_SOURCE]
        lines += ["", f"**{title}**", *(f"- {_sentence(f.text)}" for f in said)]
    return lines[1:]


def _silent_on(notes: Notes, report: Report) -> list[str]:
    missing = topic_words_missing(notes.topic, report.body)
    return [f"The research notes say nothing about “{w}”." for w in missing]


def _source_lines(notes: Notes) -> list[str]:
    sources = notes.sources()
    if not sources:
        return ["- None: the knowledge base and the ticket history had nothing on this topic."]
    return [_source_line(notes, s) for s in sources]


def _source_line(notes: Notes, source: str) -> str:
    """ "- Title [slug]" for an article; "- Ticket #12" for a ticket."""
    title = notes.title_of(source)
    tag = "" if title == source or source.startswith("ticket") else f" [{source}]"
    return f"- {title}{tag}"


def _evidence(notes: Notes) -> str:
    sources = notes.sources()
    tickets = sum(s.startswith("ticket #") for s in sources)
    articles = sum(not s.startswith("ticket") for s in sources)
    parts = [counted(articles, "help-centre article"), counted(tickets, "past ticket")]
    return join_words(p for p in parts if not p.startswith("no ")) or "the research notes"


def _bullet(fact: Fact) -> str:
    return f"- {_sentence(fact.text)}" + (f" [{fact.source}]" if fact.source else "")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _stems_of(texts: Iterable[str]) -> set[str]:
    return {s for t in texts for s in content_stems(t)}


def topic_words_missing(topic: str, body: str) -> list[str]:
    """The topic's words (as the topic says them) that `body` never uses."""
    said = set(content_stems(body))
    wanted = topic_stems(topic)
    return list(dict.fromkeys(w for w in words(topic) if stem(w) in wanted - said))


# ---------------------------------------------------------------------------------------------
# Revising


Fix = Callable[[Report, Notes, str], None]


def revise(previous: str, feedback: str, notes: Notes) -> Report:
    """The previous draft with one fix per feedback line, then one more round of fixes for
    what those broke (a summary whose only sentence had an unsupported figure). A refusal, an
    empty draft or feedback naming nothing this writer knows how to fix gets a fresh draft."""
    report = Report.parse(previous)
    if not report.body.strip() or REFUSAL.search(previous) or not _fixes(feedback):
        return write_report(notes)
    _apply(report, notes, feedback)
    after = review_report(report.render(), notes)
    if not after.passes:
        _apply(report, notes, after.feedback)
    return report


def _fixes(feedback: str) -> list[tuple[Fix, str]]:
    return [fix for line in feedback.splitlines() if (fix := _fix_for(line))]


def _apply(report: Report, notes: Notes, feedback: str) -> None:
    for fix, line in sorted(_fixes(feedback), key=lambda pair: _ORDER.index(pair[0])):
        fix(report, notes, line)


def _fix_for(line: str) -> tuple[Fix, str] | None:
    for pattern, fix in _FIXES:
        if re.search(pattern, line, re.I):
            return fix, line
    return None


def add_title(report: Report, notes: Notes, line: str) -> None:
    report.title = report_title(notes)


def add_summary(report: Report, notes: Notes, line: str) -> None:
    key = [f for f in notes.ranked() if report.says(f)] or notes.ranked()
    report.put(Section("Summary", [summary(notes, key)]), before=".")


def add_key_points(report: Report, notes: Notes, line: str) -> None:
    section = report.find(r"key (?:points|findings)|highlights|insights") or report.put(
        Section("Key points"), before=r"details|gaps|sources"
    )
    for fact in notes.ranked():
        if len(section.bullets) >= KEY_POINTS:
            break
        if not report.says(fact):
            section.add(_bullet(fact))
    found = len(section.bullets)
    if found < MIN_KEY_POINTS:  # say why, rather than pad with guesses
        held = f"only {counted(found, 'fact')}" if found else "no facts"
        _add_gap(
            report,
            f"The research notes hold {held} usable as key points; more would need more research.",
        )
    if not section.bullets:
        report.sections.remove(section)


def add_sources(report: Report, notes: Notes, line: str) -> None:
    cited = re.findall(r"\[([^\]]+)\]", report.body)
    lines = _source_lines(notes) if notes.sources() else [f"- {c}" for c in dict.fromkeys(cited)]
    report.put(Section("Sources", lines or _source_lines(notes)))


def shorten_report(report: Report, notes: Notes, line: str) -> None:
    """Trim until the draft fits: details first, then long bullets, then extra key points."""
    details = report.find(r"^details$")
    while details is not None and len(report.render()) > MAX_CHARS and details.bullets:
        last = max(i for i, ln in enumerate(details.lines) if _BULLET.match(ln))
        del details.lines[last]
    if details is not None and not details.bullets:
        report.sections.remove(details)
    for section in report.sections:
        section.lines = [
            shorten(ln, LONG_BULLET) if _BULLET.match(ln) else ln for ln in section.lines
        ]
    key = report.find(r"key (?:points|findings)")
    while (
        key is not None and len(report.render()) > MAX_CHARS and len(key.bullets) > MIN_KEY_POINTS
    ):
        key.lines.remove(key.bullets[-1])


def expand(report: Report, notes: Notes, line: str) -> None:
    unsaid = [f for f in notes.ranked() if not report.says(f)]
    if unsaid:
        report.put(Section("Details", _details(notes, unsaid)), before=r"gaps|sources")


def cover_topic(report: Report, notes: Notes, line: str) -> None:
    """For each topic word the draft leaves out: a fact that uses it, or a line saying the
    notes have nothing on it."""
    key = report.find(r"key (?:points|findings)") or report.put(
        Section("Key points"), before=r"details|gaps|sources"
    )
    gaps: list[str] = []
    for word in topic_words_missing(notes.topic, report.body):
        fact = next((f for f in notes.ranked() if stem(word) in content_stems(f.text)), None)
        if fact is not None:
            key.add(_bullet(fact))
        else:
            gaps.append(f"The research notes say nothing about “{word}”.")
    for gap in gaps:
        _add_gap(report, gap)


def _add_gap(report: Report, gap: str) -> None:
    section = report.find(r"^gaps$") or report.put(Section("Gaps"), before=r"sources")
    if f"- {gap}" not in section.lines:
        section.add(f"- {gap}")


def drop_unsupported(report: Report, notes: Notes, line: str) -> None:
    """Remove the sentences (and bullets) with figures the notes do not have."""
    unsupported = set(unsupported_figures(report, notes))

    def supported(text: str) -> bool:
        return not unsupported & set(_NUMBER.findall(text))

    for section in report.sections:
        kept: list[str] = []
        for ln in section.lines:
            if supported(ln):
                kept.append(ln)
            elif not _BULLET.match(ln) and (rest := " ".join(filter(supported, sentences(ln)))):
                kept.append(rest)
        section.lines = kept


_FIXES: tuple[tuple[str, Fix], ...] = (
    (r"\btitle\b", add_title),
    (r"\bsummary\b", add_summary),
    (r"key points|bullets", add_key_points),
    (r"\bsources?\b|\bcit(?:e|ation)|\breferences?\b", add_sources),
    (r"shorten|too long|concise|shorter|\btrim", shorten_report),
    (r"expand|too short|more detail|longer", expand),
    (r"does not mention|address the topic|off[- ]topic", cover_topic),
    (r"figures?|unsupported|not support", drop_unsupported),
)
# Content first, then what removes or trims it.
_ORDER: list[Fix] = [
    add_title,
    drop_unsupported,
    add_summary,
    add_key_points,
    expand,
    cover_topic,
    add_sources,
    shorten_report,
]


# ---------------------------------------------------------------------------------------------
# Reviewing


@dataclass(frozen=True)
class Criterion:
    dimension: str  # accuracy | completeness | clarity
    ok: bool
    fix: str  # the feedback line when it fails


def review_report(draft: str, notes: Notes) -> Review:
    """Score a draft report against the notes it was written from (see the module docstring)."""
    text = unsigned(draft)
    if not text or REFUSAL.search(text):
        return Review(
            0.1,
            "- The draft is a refusal or empty, not a report: write the report "
            "from the research notes.",
            False,
            {"accura": 0.1, "complet": 0.1, "clarity": 0.1},
        )
    failed = [c for c in criteria(Report.parse(text), text, notes) if not c.ok]
    scores = {
        dim: max(0, 10 - PENALTY * sum(c.dimension == dim for c in failed)) / 10
        for dim in ("accuracy", "completeness", "clarity")
    }
    feedback = "\n".join(f"- {c.fix}" for c in failed) or "none"
    return Review(
        round(sum(scores.values()) / 3, 2),
        feedback,
        not failed,
        {
            "accura": scores["accuracy"],
            "complet": scores["completeness"],
            "clarity": scores["clarity"],
        },
    )


def criteria(report: Report, text: str, notes: Notes) -> list[Criterion]:
    key_points = _key_point_count(report)
    missing = topic_words_missing(notes.topic, report.body) if notes.topic else []
    figures = unsupported_figures(report, notes)
    return [
        Criterion("clarity", bool(report.title), "Add a title line (`# …`) naming the topic."),
        Criterion(
            "completeness",
            _has_summary(report),
            "Add a `Summary` of two or three sentences under the title.",
        ),
        Criterion(
            "completeness",
            key_points >= MIN_KEY_POINTS,
            f"List at least {MIN_KEY_POINTS} key points as bullets (found {key_points}).",
        ),
        Criterion(
            "accuracy",
            _has_sources(report),
            "Add a `Sources` section naming the articles and tickets the facts come from.",
        ),
        Criterion(
            "clarity",
            len(text) <= MAX_CHARS,
            f"Shorten the draft to under {MAX_CHARS} characters (it has {len(text)}): "
            "keep the key points, trim the details.",
        ),
        Criterion(
            "completeness",
            len(text) >= MIN_CHARS,
            f"Expand the draft (it has {len(text)} characters, at least {MIN_CHARS} "
            "expected): add details from the research notes.",
        ),
        Criterion(
            "completeness",
            not missing,
            f"Address the topic directly: the draft does not mention "
            f"{join_words(f'“{w}”' for w in missing)}.",
        ),
        Criterion(
            "accuracy",
            not figures,
            f"Remove figures the research notes do not support: {', '.join(figures)}.",
        ),
    ]


def _key_point_count(report: Report) -> int:
    section = report.find(r"key (?:points|findings)|highlights|insights|takeaways")
    if section is not None:
        return len(section.bullets)
    return sum(
        len(s.bullets)
        for s in report.sections
        if not re.search(r"sources|references", s.heading, re.I)
    )


def _has_summary(report: Report) -> bool:
    section = report.find(r"summary|overview|tl;?dr|in short")
    intro = next((s for s in report.sections if not s.heading), None)
    text = section.text if section is not None else intro.text if intro is not None else ""
    return len(first_sentence(text, 1000)) >= 20


def _has_sources(report: Report) -> bool:
    section = report.find(r"sources|references")
    return section is not None and any(
        not re.search(r"\bnone\b|\bno (?:source|article|ticket)", b, re.I) for b in section.bullets
    )


def unsupported_figures(report: Report, notes: Notes) -> list[str]:
    """Numbers of the draft (title aside) that the brief never mentions."""
    if not notes.text:
        return []
    known = set(_NUMBER.findall(notes.text))
    return list(dict.fromkeys(n for n in _NUMBER.findall(report.body) if n not in known))

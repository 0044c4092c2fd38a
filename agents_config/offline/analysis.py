"""Reading a batch of texts (recent tickets, one per line) without a model: sentiment from a
lexicon, topics from theme keywords and frequent words, entities from regular expressions."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from agents_config.offline.text import (
    EMAIL,
    STOPWORDS,
    VAGUE,
    join_words,
    phrase,
    stem,
    words,
)

# ---------------------------------------------------------------------------------------------
# Documents: the items of a listing ("- [#12, billing, resolved, rated 2/5] subject")

_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+(.*\S)")
_META = re.compile(r"^\[([^\]]*)\]\s*")
_LABEL = re.compile(r"#\d+")
_RATING = re.compile(r"rated\s+([1-5])\s*/\s*5")


@dataclass(frozen=True)
class Document:
    text: str  # what the customer wrote (the subject), without the desk's metadata
    meta: str = ""  # the desk's notes on it: department, status, escalation, rating
    label: str | None = None  # "#12"


def documents(text: str) -> list[Document]:
    """The list items of `text`, each one document; without a list, each non-empty line."""
    lines = text.splitlines()
    items = [m.group(1) for m in map(_ITEM.match, lines) if m]
    if not items:
        items = [ln.strip() for ln in lines if ln.strip() and not ln.rstrip().endswith(":")]
    docs = []
    for item in items:
        meta_match = _META.match(item)
        meta = meta_match.group(1) if meta_match else ""
        body = item[meta_match.end() :] if meta_match else item
        label = _LABEL.search(meta or body)
        docs.append(Document(body, meta, label.group(0) if label else None))
    return docs


# ---------------------------------------------------------------------------------------------
# Sentiment

NEGATIVE: dict[str, float] = {
    "unacceptable": 2,
    "angry": 2,
    "furious": 2,
    "terrible": 2,
    "awful": 2,
    "worst": 2,
    "ridiculous": 2,
    "scam": 2,
    "disappointed": 2,
    "frustrated": 2,
    "lawyer": 2,
    "useless": 2,
    "refund": 1,
    "broken": 1,
    "failed": 1,
    "declined": 1,
    "wrong": 1,
    "error": 1,
    "outage": 1,
    "down": 1,
    "crash": 1,
    "cannot": 1,
    "bug": 1,
    "slow": 1,
    "late": 1,
    "overdue": 1,
    "missing": 1,
    "stuck": 1,
    "locked out": 1,
    "charged twice": 1,
    "complaint": 1,
    "lost": 1,
    "problem": 1,
    "again": 0.5,
    "still": 0.5,
}
POSITIVE: dict[str, float] = {
    "thanks": 1,
    "thank you": 1,
    "great": 1,
    "resolved": 1,
    "works": 1,
    "fixed": 1,
    "helpful": 1,
    "happy": 1,
    "appreciate": 1,
    "quick": 1,
    "easy": 1,
    "good": 1,
    "love": 2,
    "excellent": 2,
    "perfect": 2,
    "awesome": 2,
    "amazing": 2,
}
_LEXICON = {
    **{phrase(k): -w for k, w in NEGATIVE.items()},
    **{phrase(k): w for k, w in POSITIVE.items()},
}
_NEGATIONS = frozenset({"not", "no", "never", "without"})
MIXED_SHARE = (1 / 3, 2 / 3)  # a negative share of opinions in this range reads as "mixed"
NEUTRAL_BAND = 0.15


@dataclass(frozen=True)
class Sentiment:
    score: float  # -1 (very negative) .. 1 (very positive)
    label: str  # positive | negative | neutral | mixed
    counts: dict[str, int]  # documents per polarity
    drivers: dict[str, list[str]]  # the words that moved it, per polarity

    def explanation(self) -> str:
        total = sum(self.counts.values())
        if not total:
            return "There was nothing to judge."
        if not self.counts["negative"] + self.counts["positive"]:
            return f"All {total} listed read neutral: no strong words either way."
        said = []
        for polarity in ("negative", "positive", "neutral"):
            count, cues = self.counts[polarity], self.drivers.get(polarity, [])[:3]
            if count:
                said.append(
                    f"{count} {polarity}"
                    + (f" ({join_words(f'“{c}”' for c in cues)})" if cues else "")
                )
        return f"Of the {total} listed, {join_words(said)}."


def polarity_of(doc: Document) -> tuple[float, list[tuple[str, float]]]:
    """A document's polarity in (-1, 1) and the cues behind it (negations flip a cue)."""
    said = words(doc.text)
    tokens = [stem(w) for w in said]
    cues: list[tuple[str, float]] = []
    for size in (2, 1):
        for i in range(len(tokens) - size + 1):
            key = " ".join(tokens[i : i + size])
            if key not in _LEXICON or (size == 1 and _in_pair(tokens, i)):
                continue
            weight, cue = _LEXICON[key], " ".join(said[i : i + size])
            if i and tokens[i - 1] in _NEGATIONS and weight > 0:  # "not great" reads negative
                weight, cue = -weight, f"{said[i - 1]} {cue}"
            cues.append((cue, weight))
    rating = _RATING.search(doc.meta)
    if rating:
        cues.append((f"rated {rating.group(1)}/5", (int(rating.group(1)) - 3) * 0.75))
    if "escalated" in doc.meta:
        cues.append(("escalated", -0.5))
    raw = sum(w for _, w in cues)
    return raw / (abs(raw) + 1), cues


def _in_pair(tokens: list[str], i: int) -> bool:
    """Whether token `i` belongs to a two-word lexicon entry (counted as the pair)."""
    pairs = (tokens[j : j + 2] for j in (i - 1, i) if j >= 0)
    return any(len(pair) == 2 and " ".join(pair) in _LEXICON for pair in pairs)


def sentiment_of(docs: list[Document]) -> Sentiment:
    """The mood of the documents: the mean polarity of those that have one."""
    counts = {"negative": 0, "positive": 0, "neutral": 0}
    drivers: dict[str, dict[str, float]] = {"negative": {}, "positive": {}}  # cue weights
    opinions: list[float] = []
    for doc in docs:
        value, cues = polarity_of(doc)
        polarity = "neutral" if abs(value) < 0.2 else "negative" if value < 0 else "positive"
        counts[polarity] += 1
        if polarity != "neutral":
            opinions.append(value)
            for cue, weight in cues:
                if (weight < 0) == (value < 0):
                    drivers[polarity][cue] = drivers[polarity].get(cue, 0.0) + abs(weight)
    score = round(sum(opinions) / len(opinions), 2) if opinions else 0.0
    opinionated = counts["negative"] + counts["positive"]
    share = counts["negative"] / opinionated if opinionated else 0.0
    if opinionated and MIXED_SHARE[0] < share < MIXED_SHARE[1]:
        label = "mixed"
    elif score <= -NEUTRAL_BAND:
        label = "negative"
    elif score >= NEUTRAL_BAND:
        label = "positive"
    else:
        label = "neutral"
    return Sentiment(
        score, label, counts, {k: sorted(c, key=lambda w: -c[w]) for k, c in drivers.items()}
    )


# ---------------------------------------------------------------------------------------------
# Topics

THEMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("refunds", ("refund", "money back", "reimburse")),
    ("invoices and tax", ("invoice", "vat", "tax", "receipt", "bill")),
    ("payments and cards", ("payment", "card", "declined", "charge", "charged", "paid")),
    (
        "plans and pricing",
        ("plan", "pricing", "price", "cost", "upgrade", "trial", "seat", "demo", "discount"),
    ),
    ("sign-in and SSO", ("login", "log in", "sign in", "password", "sso", "saml", "2fa")),
    ("API and errors", ("api", "error", "500", "429", "timeout", "crash", "bug")),
    ("webhooks and integrations", ("webhook", "integration", "sync", "export")),
    ("outages and status", ("outage", "down", "slow", "status", "incident")),
    ("requests for a person", ("human", "person", "manager", "complaint")),
)
_THEME_PHRASES = tuple((name, frozenset(phrase(k) for k in keys)) for name, keys in THEMES)
_META_WORDS = frozenset(
    {
        "billing",
        "tech",
        "sales",
        "unrouted",
        "open",
        "answered",
        "resolved",
        "escalated",
        "rated",
        "ticket",
        "tickets",
    }
)


@dataclass
class Topic:
    name: str
    count: int = 0
    examples: list[str] = field(default_factory=list)  # labels of documents about it


def topics_of(
    docs: list[Document], limit: int = 6, *, ignore: frozenset[str] = frozenset()
) -> list[Topic]:
    """The themes the documents are about, most frequent first; words shared by at least two
    documents outside every theme become topics too. Themes named in `ignore` are not looked
    for, and their words are no topic ("I want a person: …" is about what follows)."""
    found: dict[str, Topic] = {}
    loose: Counter[str] = Counter()
    loose_docs: dict[str, list[Document]] = {}
    looked_for = [(name, keys) for name, keys in _THEME_PHRASES if name not in ignore]
    ignored = {k for name, keys in _THEME_PHRASES if name in ignore for k in keys}
    for doc in docs:
        padded = f" {phrase(doc.text)} "
        themes = [name for name, keys in looked_for if any(f" {k} " in padded for k in keys)]
        for name in themes:
            _count(found.setdefault(name, Topic(name)), doc)
        if not themes:
            kept = (w for w in _content_words(doc.text) if phrase(w) not in ignored)
            for word in dict.fromkeys(kept):
                loose[word] += 1
                loose_docs.setdefault(word, []).append(doc)
    for word, count in loose.most_common():
        if count >= 2:
            topic = found.setdefault(word, Topic(word))
            for doc in loose_docs[word]:
                _count(topic, doc)
    ranked = sorted(found.values(), key=lambda t: -t.count)  # stable: first seen first on ties
    return ranked[:limit]


def _count(topic: Topic, doc: Document) -> None:
    topic.count += 1
    if doc.label and doc.label not in topic.examples:
        topic.examples.append(doc.label)


def _content_words(text: str) -> list[str]:
    return [
        w
        for w in words(text)
        if len(w) > 2
        and w not in STOPWORDS
        and not w.isdigit()
        and stem(w) not in VAGUE
        and w not in _META_WORDS
    ]


# ---------------------------------------------------------------------------------------------
# Entities

_ENTITY_ID = re.compile(r"\b(ORD|INV|PAY|RF|BUG|INC)-?(\d+)\b", re.I)
_ID_KINDS = {
    "ORD": "order",
    "INV": "invoice",
    "PAY": "payment",
    "RF": "refund",
    "BUG": "bug",
    "INC": "incident",
}
_PLAN = re.compile(
    r"\b(Starter|Pro|Business|Enterprise)(?=\s+(?:plan|tier|trial|seats?)\b|"
    r"\s*[,.?!)]|\s*$)"
)
# Product components: (pattern, canonical name, kind).
_COMPONENTS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.I), name, kind)
    for pattern, name, kind in (
        (r"\bAPI\b", "API", "feature"),
        (r"\bdashboard\b", "Dashboard", "feature"),
        (r"\bmobile(?: app)?\b", "Mobile app", "feature"),
        (r"\b(?:login|log in|sign in|sign-in)\b", "Sign-in", "feature"),
        (r"\b(?:2FA|two-factor)\b", "2FA", "feature"),
        (r"\bexports?\b", "Data export", "feature"),
        (r"\bSSO\b|\bSAML\b", "SSO (SAML)", "integration"),
        (r"\bwebhooks?\b", "Webhooks", "integration"),
        (r"\bSCIM\b", "SCIM", "integration"),
        (r"\b(?:Okta|Slack|Zapier|Salesforce)\b", "", "integration"),
    )
)


@dataclass
class Entity:
    name: str
    kind: str  # order | invoice | payment | refund | bug | incident | plan | feature |
    #            integration | email
    mentions: int = 0
    examples: list[str] = field(default_factory=list)


def entities_of(docs: list[Document], limit: int = 10) -> list[Entity]:
    """Ids, plans, product components and e-mail addresses the documents name, most named
    first."""
    found: dict[str, Entity] = {}
    for doc in docs:
        for name, kind in _named(doc.text):
            entity = found.setdefault(name, Entity(name, kind))
            entity.mentions += 1
            if doc.label and doc.label not in entity.examples:
                entity.examples.append(doc.label)
    return sorted(found.values(), key=lambda e: -e.mentions)[:limit]


def _named(text: str) -> list[tuple[str, str]]:
    named = [
        (f"{m.group(1).upper()}-{m.group(2)}", _ID_KINDS[m.group(1).upper()])
        for m in _ENTITY_ID.finditer(text)
    ]
    named += [(m.group(1), "plan") for m in _PLAN.finditer(text)]
    for pattern, name, kind in _COMPONENTS:
        named += [(name or m.group(0).capitalize(), kind) for m in pattern.finditer(text)]
    named += [(m.group(0).lower(), "email") for m in EMAIL.finditer(text)]
    return named

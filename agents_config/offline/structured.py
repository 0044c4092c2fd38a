"""Structured output without a model: a value valid against an output schema, each field filled
by what it means (its name, description, range and enum values) from signals of the text.

- routing fields (department, agent, confidence, reasoning) from the routing criteria;
- review fields (scores, feedback, passes) from a `Review` of the text;
- mood fields (an enum of positive/negative/..., a score, notes) from a sentiment lexicon;
- lists of topics, entities or key points from `agents_config.offline.analysis`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agents_config.offline.analysis import (
    Document,
    Entity,
    Sentiment,
    Topic,
    documents,
    entities_of,
    sentiment_of,
    topics_of,
)
from agents_config.offline.routing import (
    decide,
)
from agents_config.offline.text import SENTENCE, first_sentence, sentences, shorten
from agents_config.offline.tools import pick_enum, resolve
from agents_config.routing import BILLING_ROUTES, TRIAGE_ROUTES, Route

DEFAULT_MAX_ITEMS = 10
_DEPARTMENT_FALLBACKS = ("clarify", "unknown", "other", "none", "general", "triage")
# What enum values mean as a mood: +1, -1, 0, or "mixed".
_POLARITY: dict[str, float | str] = {
    "positive": 1,
    "happy": 1,
    "satisfied": 1,
    "pleased": 1,
    "good": 1,
    "negative": -1,
    "unhappy": -1,
    "angry": -1,
    "frustrated": -1,
    "dissatisfied": -1,
    "bad": -1,
    "neutral": 0,
    "mixed": "mixed",
}
_LABEL_POLARITY: dict[str, float | str] = {
    "positive": 1,
    "negative": -1,
    "neutral": 0,
    "mixed": "mixed",
}
# Entity kinds and the enum values that may stand for them, best first.
_KIND_ALIASES: dict[str, tuple[str, ...]] = {
    "refund": ("payment", "order"),
    "bug": ("feature", "product"),
    "incident": ("feature", "product"),
    "feature": ("product", "component"),
    "integration": ("feature", "product"),
    "email": ("contact", "person", "customer"),
}


@dataclass(frozen=True)
class Review:
    """A verdict on a text: a 0..1 score per dimension and overall, what to change, and whether
    it may go out as is."""

    overall: float
    feedback: str
    passes: bool
    scores: dict[str, float] = field(default_factory=dict)

    def fraction(self, name: str) -> float:
        return next((v for k, v in self.scores.items() if k in name), self.overall)


def answer_review(draft: str) -> Review:
    """A rough, explainable review of a draft answer (length, structure, specifics)."""
    checks = {
        "a length between 40 and 1500 characters": 40 <= len(draft.strip()) <= 1500,
        "at least two sentences": len([s for s in SENTENCE.split(draft) if s.strip()]) >= 2,
        "short paragraphs or a list": "\n" in draft.strip(),
        "concrete facts (ids, amounts, dates)": bool(re.search(r"\d", draft)),
        "no placeholders": not re.search(r"lorem|todo|xxx|\[[^\]]*\]", draft, re.I),
        "a finished last sentence": draft.strip().endswith((".", "!", "?", ")", "_")),
    }
    weights = (0.3, 0.15, 0.15, 0.15, 0.15, 0.1)
    score = round(sum(w for w, ok in zip(weights, checks.values(), strict=True) if ok), 2)
    lacking = [name for name, ok in checks.items() if not ok]
    feedback = "Looks complete." if not lacking else "Missing: " + "; ".join(lacking) + "."
    return Review(score, feedback, score >= 0.6)


class Signals:
    """What schema fields may be filled from, computed from the text when first asked for."""

    def __init__(self, text: str, review: Review | None = None) -> None:
        self.text = text
        self._review = review

    @cached_property
    def _routing(self) -> tuple[Route | None, float, str]:
        """The offline router's decision (`offline.routing.decide`): the same escalation signs
        and classifier as triage's handoffs, so both routing modes route alike offline."""
        decision = decide(self.text)
        route = next((r for r in TRIAGE_ROUTES if r.department == decision.department), None)
        if route is None:
            return None, 0.5, "No routing criterion matched; a clarifying question is needed."
        return route, round(min(0.99, decision.confidence), 2), f"Routed by {decision.reason}."

    @property
    def route(self) -> Route | None:
        return self._routing[0]

    @property
    def confidence(self) -> float:
        return self._routing[1]

    @property
    def reasoning(self) -> str:
        return self._routing[2]

    @cached_property
    def review(self) -> Review:
        return self._review or answer_review(self.text)

    @cached_property
    def documents(self) -> list[Document]:
        return documents(self.text)

    @cached_property
    def sentiment(self) -> Sentiment:
        return sentiment_of(self.documents)

    @cached_property
    def topics(self) -> list[Topic]:
        return topics_of(self.documents, limit=DEFAULT_MAX_ITEMS)

    @cached_property
    def entities(self) -> list[Entity]:
        return entities_of(self.documents, limit=DEFAULT_MAX_ITEMS)

    @cached_property
    def key_sentences(self) -> list[str]:
        return [s for s in sentences(self.text) if len(s) > 20 and not s.endswith(":")]


def structured_output(schema: dict[str, Any], text: str, *, review: Review | None = None) -> Any:
    """A value valid against `schema`, filled deterministically from `text` (and `review`, the
    verdict review fields take, when the caller judged the text itself)."""
    return _Filler(schema, Signals(text, review)).value(schema, "", _Scope())


Item = Topic | Entity | str


@dataclass(frozen=True)
class _Scope:
    """Where a field sits: in an object about a mood, or in one item of a list."""

    mood: bool = False
    item: Item | None = None


class _Filler:
    def __init__(self, root: dict[str, Any], signals: Signals) -> None:
        self.root = root
        self.sig = signals

    def value(self, node: dict[str, Any], name: str, scope: _Scope) -> Any:
        node = resolve(node, self.root)
        kind = node.get("type")
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return self.enum(node["enum"], name.lower(), node.get("default"), scope)
        if kind == "object" or "properties" in node:
            properties: dict[str, Any] = node.get("properties", {})
            inner = _Scope(scope.mood or self._about_mood(properties), scope.item)
            return {key: self.value(sub, key, inner) for key, sub in properties.items()}
        if kind == "array":
            return self.array(node, name, scope)
        if kind == "boolean":
            return self.boolean(node, name.lower())
        if kind in ("number", "integer"):
            return self.number(node, name.lower(), scope, integer=kind == "integer")
        if kind == "null":
            return None
        return self.string(name.lower(), scope)

    # ---- enums ------------------------------------------------------------------------

    def enum(self, values: Sequence[Any], name: str, default: Any, scope: _Scope) -> Any:
        if isinstance(scope.item, Entity) and re.search(r"kind|type|categor", name):
            return _entity_kind(scope.item.kind, values)
        if _is_mood_enum(values):
            return _mood_value(self.sig.sentiment.label, values)
        routing_names = {
            v for r in (*TRIAGE_ROUTES, *BILLING_ROUTES) for v in (r.department, r.agent)
        }
        if routing_names & set(values):
            route = self.sig.route
            for value in values:
                if route and value in (route.department, route.agent):
                    return value
            fallback = [v for v in values if str(v).lower() in _DEPARTMENT_FALLBACKS]
            return (fallback or list(values))[0]
        return pick_enum(values, self.sig.text, default)

    def _about_mood(self, properties: dict[str, Any]) -> bool:
        for key, sub in properties.items():
            sub = resolve(sub, self.root)
            if re.search(r"sentiment|mood|polarity|emotion", key, re.I):
                return True
            if "enum" in sub and _is_mood_enum(sub["enum"]):
                return True
        return False

    # ---- lists ------------------------------------------------------------------------

    def array(self, node: dict[str, Any], name: str, scope: _Scope) -> list[Any]:
        items = resolve(node.get("items", {}), self.root)
        limit = _max_items(node)
        records = self._records(name.lower(), items)[:limit]
        values = [self.value(items, name, _Scope(scope.mood, record)) for record in records]
        while len(values) < int(node.get("minItems", 0)):
            values.append(self.value(items, name, scope))
        return values

    def _records(self, name: str, items: dict[str, Any]) -> Sequence[Item]:
        """What a list named `name` holds, by its name or its items' field names."""
        fields = " ".join(items.get("properties", {}))
        if re.search(r"entit|named|mention|product|\bids?\b", name) or "mentions" in fields:
            return self.sig.entities
        if re.search(r"topic|theme|categor|tag|keyword|subject|issue", name):
            return self.sig.topics
        if re.search(r"point|finding|insight|fact|highlight|takeaway|step|bullet", name):
            return self.sig.key_sentences
        return []

    # ---- scalars ----------------------------------------------------------------------

    def boolean(self, node: dict[str, Any], name: str) -> bool:
        if "escalat" in name or "human" in name:
            return bool(self.sig.route and self.sig.route.department == "human")
        if re.search(r"pass|ok|approv|accept|valid|good|ready", name):
            return self.sig.review.passes
        return bool(node.get("default", False))

    def number(
        self, node: dict[str, Any], name: str, scope: _Scope, *, integer: bool
    ) -> float | int:
        description = str(node.get("description", "")).lower()
        mood = (
            scope.mood
            or bool(re.search(r"sentiment|mood|polarity", name))
            or "negative" in description
        )
        low, high = value_range(node, integer=integer, signed=mood)
        item = scope.item
        if isinstance(item, Topic | Entity) and re.search(
            r"count|mention|ticket|frequen|occurr|times|number|^n$", name
        ):
            count = item.count if isinstance(item, Topic) else item.mentions
            value: float = max(node.get("minimum", 0), min(node.get("maximum", count), count))
        elif mood and re.search(r"score|sentiment|polarity|mood|value|rating", name):
            value = low + (high - low) * (self.sig.sentiment.score + 1) / 2
        elif re.search(r"confiden|probab|certain", name):
            value = low + (high - low) * self.sig.confidence
        elif re.search(
            r"score|rating|grade|quality|clarity|accura|helpful|tone|complete|"
            r"relevan|overall",
            name,
        ):
            value = low + (high - low) * self.sig.review.fraction(name)
        else:
            value = low
        return round(value) if integer else round(value, 2)

    def string(self, name: str, scope: _Scope) -> str:
        item = scope.item
        if item is not None:
            return _item_text(item, name)
        if scope.mood and re.search(r"note|summar|explan|reason|why|driver|descri|comment", name):
            return self.sig.sentiment.explanation()
        if re.search(r"reason|rationale|explanation|why", name):
            return self.sig.reasoning
        if re.search(r"feedback|critique|suggestion|comment", name):
            return self.sig.review.feedback
        route = self.sig.route
        if re.search(r"department|category|agent|route", name) and route:
            return route.department if "agent" not in name else route.agent
        if "title" in name:
            return first_sentence(self.sig.text, 200)
        return shorten(self.sig.text.strip(), 500)


def value_range(
    node: dict[str, Any], *, integer: bool, signed: bool = False
) -> tuple[float, float]:
    """The range of a numeric field: its minimum/maximum, else one its description states
    ("0-10: …", "-1 (very negative) to 1 (very positive)"), else a usual one."""
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    stated = re.search(
        r"(-?\d+(?:\.\d+)?)\s*(?:\([^)]*\)\s*)?(?:to|–|-|\.\.)\s*(-?\d+(?:\.\d+)?)",
        str(node.get("description", "")),
    )
    if stated and float(stated.group(1)) < float(stated.group(2)):
        low = float(stated.group(1)) if low is None else low
        high = float(stated.group(2)) if high is None else high
    if low is None:
        low = -1 if signed else 0
    if high is None:
        high = 10 if integer and not signed else 1
    return float(low), float(high)


def _max_items(node: dict[str, Any]) -> int:
    if "maxItems" in node:
        return int(node["maxItems"])
    stated = re.search(
        r"at most (\d+)|up to (\d+)|max(?:imum)? (\d+)", str(node.get("description", "")), re.I
    )
    return int(next(g for g in stated.groups() if g)) if stated else DEFAULT_MAX_ITEMS


def _item_text(item: Item, name: str) -> str:
    if isinstance(item, str):
        return item
    examples = item.examples
    if re.search(r"example|sample|evidence|ticket|instance|reference", name):
        return examples[0] if examples else ""
    if re.search(r"kind|type|categor", name) and isinstance(item, Entity):
        return item.kind
    if re.search(r"descri|summar|note|detail", name):
        count = item.count if isinstance(item, Topic) else item.mentions
        seen = f", e.g. {', '.join(examples[:3])}" if examples else ""
        return f"{count} mention{'s' if count != 1 else ''}{seen}"
    return item.name


def _is_mood_enum(values: Sequence[Any]) -> bool:
    meanings = {_POLARITY.get(str(v).lower()) for v in values}
    return 1 in meanings and -1 in meanings


def _mood_value(label: str, values: Sequence[Any]) -> Any:
    """The enum value that means `label` (positive | negative | neutral | mixed)."""
    for value in values:
        if str(value).lower() == label:
            return value
    wanted = _LABEL_POLARITY[label]
    for candidate in (wanted, 0, "mixed"):
        for value in values:
            if _POLARITY.get(str(value).lower()) == candidate:
                return value
    return values[0]


def _entity_kind(kind: str, values: Sequence[Any]) -> Any:
    lowered = {str(v).lower(): v for v in values}
    for candidate in (kind, *_KIND_ALIASES.get(kind, ()), "other"):
        if candidate in lowered:
            return lowered[candidate]
    return values[0]

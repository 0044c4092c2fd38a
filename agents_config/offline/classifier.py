"""The offline router's statistical part: a linear classifier over word and character n-grams.

Pure Python at run time (no numpy, no scikit-learn): `features` turns a request into a sparse,
L2-normalised bag of n-grams, and the weights in `agents_config/data/router_weights.json`
(trained by `scripts/train_router.py` on the train split, calibrated by cross-validation on it)
turn that into one probability per department. The same `features` function is used for training, so
what the model saw and what it scores are built by one piece of code.

Word n-grams carry the vocabulary; character n-grams inside words carry typos ("pasword",
"invocie"), inflections and scripts without spaces (Japanese).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agents_config.offline.text import english_terms, phrase, terms
from agents_config.routing import TRIAGE_ROUTES

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "router_weights.json"
MAX_CHARS = 1500  # a pasted log adds nothing after its first lines, and costs time

_SLACK_USER = re.compile(r"<[@!][^>]*>")
_SLACK_LINK = re.compile(r"<(?:https?|mailto):[^|>]*\|([^>]*)>")
_SLACK_BARE = re.compile(r"<(?:https?|mailto):[^>]*>|https?://\S+")
_SLACK_CHANNEL = re.compile(r"<#[^|>]*\|?([^>]*)>")
_RECORD_ID = re.compile(r"\b(ord|inv|pay|rf|bug)[\s_-]?\d{3,}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"\w+(?:'\w+)?")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def normalise(text: str) -> str:
    """Lower-case text with Slack markup and record ids reduced to words: `<@U123>` goes,
    `<https://…|my statement>` keeps its label, ORD-1004 becomes `ordid`."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    text = _SLACK_USER.sub(" ", text)
    text = _SLACK_LINK.sub(r" \1 ", text)
    text = _SLACK_BARE.sub(" link ", text)
    text = _SLACK_CHANNEL.sub(r" \1 ", text)
    text = _EMAIL.sub(" emailaddress ", text)
    text = _RECORD_ID.sub(lambda m: f" {m.group(1)}id ", text)
    return text.replace("’", "'")


def features(text: str) -> dict[str, float]:
    """The request's n-grams, each 1, scaled to unit length: words and word pairs, character
    3- to 5-grams of each word (with its edges), and character 1- and 2-grams of CJK runs.
    The English of its key terms in the other languages is read with it ("factura" adds
    "invoice", `text.FOREIGN_TERMS`): a wording in another language shares the English
    request's features."""
    tokens = _TOKEN.findall(_with_english(text))
    found: set[str] = set()
    previous = "<s>"
    for token in tokens:
        found.add(f"w:{token}")
        found.add(f"b:{previous} {token}")
        previous = token
        if _CJK.search(token):
            found.update(f"j:{ch}" for ch in token)
            found.update(f"j:{token[i : i + 2]}" for i in range(len(token) - 1))
            continue
        padded = f" {token} "
        for n in (3, 4, 5):
            found.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    if tokens:
        found.add(f"b:{previous} </s>")
    if not found:
        return {"w:<empty>": 1.0}
    value = 1 / math.sqrt(len(found))
    vector = dict.fromkeys(found, value)
    for department, hits in keyword_hits(text).items():
        vector[f"k:{department}"] = KEYWORD_WEIGHT * min(hits, 3)
    for cue, hits in cue_hits(text).items():
        vector[f"q:{cue}"] = KEYWORD_WEIGHT * min(hits, 3)
    return vector


KEYWORD_WEIGHT = 0.25

# What separates a buying question from a billing one is rarely a noun ("pay", "invoice",
# "annual" are in both) but its stance: a purchase not made yet ("if we sign a 2-year deal",
# "before we commit", "for a team of 40", "what would that save us") against money already
# owed or paid ("we were charged", "our last invoice", "INV-2003"). Counted as two features of
# their own; other languages reach them through the glossary (`text.FOREIGN_TERMS`).
_CUES: dict[str, re.Pattern[str]] = {
    "buying": re.compile(
        r"\bwhat would\b|\bwould (?:it|that|this|we|they) (?:cost|be|run|save|get)\b"
        r"|\bif (?:we|i) (?:\w+ )?(?:sign|go|buy|commit|switch|move|upgrade|add|pay|take|choose)"
        r"|\bbefore (?:we|i|buying|signing|committing|purchasing|we're|i'm)\b"
        r"|\b(?:thinking|think|consider\w*) (?:of |about )?(?:buying|getting|upgrading|adding|"
        r"switching to|moving to|going with|using|trying|purchasing|you\b|your\b)"
        r"|\bevaluat\w*|\blooking (?:to|at|for)\b"
        r"|\binterested in\b|\bplanning\b|\bcompar\w*|\bversus\b|\bvs\b|\bstack up\b"
        r"|\bdifference between\b|\b(?:switch\w*|migrat\w*|mov\w+) (?:over )?from\b"
        r"|\b(?:team|company|org\w*|group|staff) of (?:about |around |~)?\d+"
        r"|\b\d+\s*(?:seats?|users?|licen[cs]es?|people|agents|employees|staff|members)\b"
        r"|\bper (?:seat|user|agent|licen[cs]e|head)\b|\byearly\b|\bannual(?:ly)?\b"
        r"|\bup ?front\b|\b(?:multi|\d|two|three)-year\b|\bquote\b|\bdiscount|\bdeals?\b"
        r"|\banything off\b|\bsave (?:us|me)\b|\broll(?:ing)? (?:it |this )?out\b|\bexpand"
        r"|\b(?:do|does) (?:you|it) (?:offer|have|support|include|provide|come with)\b"
        r"|\bis there (?:an? |any )\w+ (?:option|tier|discount|trial|version|program|deal)"
        r"|\b(?:buy|buying|purchas\w*|procure\w*|vendor|supplier|reseller|tiers?|trial|demo)\b"
        r"|\b(?:sign|signing) (?:up|a|the|our|with)\b|\bcommit\w*\b|\bgo ahead\b"
        r"|\btry (?:it |this |you )?(?:out|first|before)\b"
    ),
    "owned": re.compile(
        r"\b(?:i|we) (?:was|were|got|have been|'ve been|ve been) (?:\w+ )?"
        r"(?:charged|billed|debited|refunded)\b|\byou (?:\w+ )?(?:charged|billed|took|debited)\b"
        r"|\b(?:charged|billed|debited) (?:me|us|twice|again)\b"
        r"|\b(?:my|our|the|this|that|last|latest) (?:\w+ ){0,2}(?:invoices?|bills?|payments?|"
        r"charges?|receipts?|statements?|refunds?)\b|\balready paid\b|\bstill (?:charged|billed)"
        r"|\bwent through\b|\bon (?:my|our) (?:card|statement|account)\b|\bwhere did\b"
        r"|\b(?:invid|payid|ordid|rfid)\b|\blast (?:month|week|year)\b|\byesterday\b"
    ),
}


def cue_hits(text: str) -> dict[str, int]:
    """How many buying and owed-money cues `text` shows (see `_CUES`)."""
    lowered = _with_english(text)
    hits = {name: len(pattern.findall(lowered)) for name, pattern in _CUES.items()}
    return {name: n for name, n in hits.items() if n}


@lru_cache(maxsize=4096)
def _with_english(text: str) -> str:
    """`normalise(text)` followed by the English of its key terms in other languages (cached:
    `features` reads it for the n-grams and again through `keyword_hits`)."""
    return " ".join([normalise(text), *english_terms(text[:MAX_CHARS])])


@lru_cache(maxsize=1)
def _keywords() -> tuple[dict[str, set[str]], dict[str, tuple[str, ...]], set[str]]:
    """The routes' keywords: stemmed phrases per department (for Latin-script words), raw
    lower-case strings for the others (matched as substrings), and every phrase."""
    stemmed: dict[str, set[str]] = {}
    raw: dict[str, tuple[str, ...]] = {}
    for route in TRIAGE_ROUTES:
        latin = {k for k in route.keywords if k.isascii()}
        stemmed.setdefault(route.department, set()).update(phrase(k) for k in latin)
        raw[route.department] = (
            *raw.get(route.department, ()),
            *(k.lower() for k in route.keywords if not k.isascii()),
        )
    return stemmed, raw, {p for ps in stemmed.values() for p in ps}


def keyword_hits(text: str) -> dict[str, int]:
    """How many of each department's routing keywords `text` contains (the prompts' criteria,
    as features of the classifier)."""
    stemmed, raw, every = _keywords()
    lowered = _with_english(text)
    found = terms(lowered, every)
    hits = {}
    for department, phrases in stemmed.items():
        count = len(found & phrases) + sum(1 for k in raw[department] if k in lowered)
        if count:
            hits[department] = count
    return hits


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    probabilities: dict[str, float]


class RouterModel:
    """A trained linear model: one weight per (feature, label), a bias per label, the
    temperature that calibrates its probabilities, and the two thresholds chosen with it by
    cross-validation: `min_confidence` (a department less sure than this is asked about) and
    `clarify_min_confidence` (the model's own "clarify" label is only taken this sure; below,
    its best department is). The model's "human", however weak, is always taken: only the
    signs before the model and this label decide for a person, and a missed request for a
    person is the worst outcome (a weak "human" given to the best department cost 3.8 points
    of escalation recall on the hold-out). Content-free messages are recognised before the
    model; its "clarify" label, learnt mostly from those, otherwise fires on short topical
    requests ("glitch", "soc2?") that have a department."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.labels: tuple[str, ...] = tuple(data["labels"])
        self.bias: list[float] = list(data["bias"])
        self.temperature: float = float(data.get("temperature", 1.0))
        self.min_confidence: float = float(data.get("min_confidence", 0.25))
        self.clarify_min_confidence: float = float(data.get("clarify_min_confidence", 1.0))
        # as arrays of doubles (the same values): a third of the memory of lists of floats,
        # which counts with tens of thousands of features in each of the three models
        self.weights: dict[str, array[float]] = {
            feature: array("d", row) for feature, row in data["weights"].items()
        }
        self.meta: dict[str, Any] = data.get("meta", {})

    def scores(self, text: str) -> list[float]:
        """The model's raw score of each label (before the temperature and the softmax)."""
        scores = list(self.bias)
        for feature, value in features(text).items():
            row = self.weights.get(feature)
            if row is not None:
                for i, weight in enumerate(row):
                    scores[i] += weight * value
        return scores

    def predict(self, text: str) -> Prediction:
        scores = self.scores(text)
        top = max(scores)
        exps = [math.exp((s - top) / self.temperature) for s in scores]
        total = sum(exps)
        probabilities = {label: e / total for label, e in zip(self.labels, exps, strict=True)}
        label = max(probabilities, key=lambda k: probabilities[k])
        return Prediction(label, probabilities[label], probabilities)

    def department(self, prediction: Prediction) -> Prediction:
        """The prediction as a department: a "clarify" below `clarify_min_confidence` gives
        way to the best department, its probability taken among the departments."""
        probabilities = prediction.probabilities
        if prediction.label != "clarify" or prediction.probability >= self.clarify_min_confidence:
            return prediction
        label = max((k for k in probabilities if k != "clarify"), key=lambda k: probabilities[k])
        share = probabilities[label] / max(1e-12, 1 - probabilities["clarify"])
        return Prediction(label, share, probabilities)


@lru_cache(maxsize=4)
def load_model(path: Path = WEIGHTS_FILE) -> RouterModel:
    return RouterModel(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=4096)
def classify(text: str) -> Prediction:
    """The shipped model's prediction for `text` (cached: triage and the specialists of one
    turn ask about the same request)."""
    return load_model().predict(text)

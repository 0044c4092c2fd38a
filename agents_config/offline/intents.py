"""What a request calls for, learnt rather than listed: the account tool to look in first (or the
help centre), and the help-centre article that fits it.

Two linear classifiers over the router's n-grams (`classifier.features`, which read the English
of key terms in other languages), in pure Python, with weights in
`agents_config/data/answer_weights.json` written by `scripts/train_answers.py` (fitted on the
answer set's dev rows, templated variants and the tools' descriptions; the article model also
on the articles' own titles, headings and paragraphs, which is what carries it to wordings
nobody labelled). The keyword rules of `tools.py` remain for what the models are unsure of,
and every safety rule (a refund only after the user confirms, escalation) stays in code.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agents_config.offline.classifier import Prediction, RouterModel, features
from agents_config.offline.text import content_stems

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "answer_weights.json"
KB_INTENT = "kb"
KNOWLEDGE_TOOL = "search_knowledge_base"
# Tools that only ever follow another one (a refund after its eligibility check): a request
# for them is a request for that check first.
_PRECEDED_BY = {
    "issue_refund": "check_refund_eligibility",
    "request_refund_exception": "check_refund_eligibility",
}


def intent_label(tools: Sequence[str]) -> str:
    """The intent of an answer-set row from its expected tools: the first account tool, or
    `kb` when only the help centre is expected."""
    for tool in tools:
        if tool != KNOWLEDGE_TOOL:
            return _PRECEDED_BY.get(tool, tool)
    return KB_INTENT


def intent_features(text: str) -> dict[str, float]:
    """The classifiers' features: the router's n-grams of the request, which read the English
    of its key terms in other languages ("Rechnung" adds "invoice")."""
    return features(text)


@dataclass(frozen=True)
class AnswerModels:
    tools: RouterModel
    articles: RouterModel
    titles: dict[str, str]


@lru_cache(maxsize=2)
def load_models(path: Path = WEIGHTS_FILE) -> AnswerModels:
    data = json.loads(path.read_text(encoding="utf-8"))
    return AnswerModels(RouterModel(data["tools"]), RouterModel(data["articles"]), data["titles"])


def _predict(model: RouterModel, text: str) -> Prediction:
    return model.predict(text)


@lru_cache(maxsize=4096)
def tool_intent(text: str) -> Prediction:
    """Which account tool `text` calls for first, or `kb` (the help centre)."""
    return _predict(load_models().tools, text)


@lru_cache(maxsize=4096)
def article_intent(text: str) -> Prediction:
    """Which help-centre article (its slug) fits `text`: the article model's probabilities,
    with a share (ARTICLE_RETRIEVAL) given to full-text retrieval over the articles' own text
    (`retrieval`), which knows every word of the help centre, also those no labelled request
    used."""
    return blended(_predict(load_models().articles, text), retrieval(text))


# The share of the article choice full-text retrieval gets, and how sharply its scores turn
# into probabilities. Chosen by fitting without one sitting and scoring on it (D, E, F).
ARTICLE_RETRIEVAL = 0.25
RETRIEVAL_TEMPERATURE = 1.0
TITLE_WEIGHT = 4  # a word of an article's title counts as often as this in its body
_K1, _B = 1.2, 0.75


@lru_cache(maxsize=1)
def _article_index() -> tuple[dict[str, Counter[str]], dict[str, float], float]:
    """BM25 "documents" of the shipped help-centre articles (`storage/kb/*.md`): the stems of
    each body, and of its title TITLE_WEIGHT times."""
    from storage.seed import packaged_articles  # (storage is only needed once, here)

    docs: dict[str, Counter[str]] = {}
    for article in packaged_articles():
        doc = Counter(content_stems(article.body))
        for stem_ in content_stems(article.title):
            doc[stem_] += TITLE_WEIGHT
        docs[article.slug] = doc
    count = max(len(docs), 1)
    df = Counter(term for doc in docs.values() for term in doc)
    idf = {term: math.log(1 + (count - d + 0.5) / (d + 0.5)) for term, d in df.items()}
    average = sum(sum(doc.values()) for doc in docs.values()) / count
    return docs, idf, average


def retrieval(text: str) -> dict[str, float]:
    """BM25 score of each shipped article for `text`, read in the help centre's words too
    (`tools.search_query`: "can't log in" is "sign in", "Rechnung" is "invoice")."""
    from agents_config.offline.tools import search_query  # (tools imports this module)

    docs, idf, average = _article_index()
    wanted = set(content_stems(text)) | set(content_stems(search_query(text)))
    scores = {}
    for slug, doc in docs.items():
        norm = _K1 * (1 - _B + _B * sum(doc.values()) / average)
        scores[slug] = sum(
            idf[t] * doc[t] * (_K1 + 1) / (doc[t] + norm) for t in wanted & doc.keys()
        )
    return scores


def blended(prediction: Prediction, scores: dict[str, float]) -> Prediction:
    """The model's probabilities, (1 - ARTICLE_RETRIEVAL) of them, plus ARTICLE_RETRIEVAL of
    the retrieval scores' softmax (over the articles the model knows); the model alone when
    retrieval finds nothing."""
    known = {slug: score for slug, score in scores.items() if slug in prediction.probabilities}
    top = max(known.values(), default=0.0)
    if top <= 0:
        return prediction
    exps = {slug: math.exp((score - top) / RETRIEVAL_TEMPERATURE) for slug, score in known.items()}
    total = sum(exps.values())
    probabilities = {
        slug: (1 - ARTICLE_RETRIEVAL) * p + ARTICLE_RETRIEVAL * exps.get(slug, 0.0) / total
        for slug, p in prediction.probabilities.items()
    }
    label = max(probabilities, key=lambda k: probabilities[k])
    return Prediction(label, probabilities[label], probabilities)


def article_title(slug: str) -> str | None:
    return load_models().titles.get(slug)


# How sure the tool model must be of an account tool for it to count. Chosen on the answer
# set's dev sittings, each checked on the other (see the data README).
INTENT_MIN = 0.4


def best_tool(intent: Prediction) -> str | None:
    """The account tool the model rates highest, if it rates it at least INTENT_MIN."""
    tools = [(p, label) for label, p in intent.probabilities.items() if label != KB_INTENT]
    probability, label = max(tools, default=(0.0, ""))
    return label if probability >= INTENT_MIN else None


def intent_holder(text: str, own_tools: set[str], agents: set[str]) -> str | None:
    """The agent among `agents` that holds the account tool `text` calls for, when this agent
    (with `own_tools`) does not: billing hands "why did my card get declined?" to the payment
    investigator. None when the model is unsure, or the tool is at hand."""
    from agents_config.agents import AGENT_SPECS  # (the agents module imports the tools)

    tool = best_tool(tool_intent(text))
    if tool is None or tool in own_tools:
        return None
    for spec in AGENT_SPECS:
        if spec.name in agents and tool in {getattr(t, "name", "") for t in spec.tools}:
            return spec.name
    return None

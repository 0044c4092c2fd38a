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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agents_config.offline.classifier import Prediction, RouterModel, features
from agents_config.offline.text import ID, POINTING_BACK, help_centre_terms

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
    of its key terms in other languages ("Rechnung" adds "invoice"), and its departments'
    keyword counts; not the router's buying / owed-money cues (`q:`), which say which
    department, not which tool or article ("the charge was rejected, what now" is a question
    for the help centre, owed money or not). The models have no weights for them, so at run
    time `features` serves as it is. The request is read with the help centre's words for
    what it says in its own ("yubikeys" adds "security key"; `with_help_centre_terms`)."""
    read = features(with_help_centre_terms(text))
    return {k: v for k, v in read.items() if not k.startswith("q:")}


def with_help_centre_terms(text: str) -> str:
    """`text` followed by the help centre's words for what it says (`text.HELP_CENTRE_TERMS`)."""
    terms = help_centre_terms(text)
    return " ".join([text, *terms]) if terms else text


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
    return model.predict(with_help_centre_terms(text))


@lru_cache(maxsize=4096)
def tool_intent(text: str) -> Prediction:
    """Which account tool `text` calls for first, or `kb` (the help centre)."""
    return _predict(load_models().tools, text)


@lru_cache(maxsize=4096)
def article_intent(text: str) -> Prediction:
    """Which help-centre article (its slug) fits `text`."""
    return _predict(load_models().articles, text)


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


# "was it paid?", "and that one?", "cancel the same": a message that points back at a record
# or a request of earlier in the thread
_POINTS_BACK = re.compile(
    rf"\b(?:it|its|that|this|them|those|these|same|one|davon|{POINTING_BACK})\b|それ|その", re.I
)


def in_context(request: str, with_context: str) -> str:
    """The text a message is read by: the message alone when the model is sure which account
    tool it calls for and it does not point back ("why did my last payment fail?" after a
    refund question: not about that order), else with the previous message (a follow-up:
    "was it paid?" after "show me INV-2002")."""
    own_words = re.findall(r"\w+", ID.sub(" ", request))  # "ORD-1001" alone answers a question
    if (
        len(own_words) >= 3
        and best_tool(tool_intent(request)) is not None
        and not _POINTS_BACK.search(request)
    ):
        return request
    return with_context


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

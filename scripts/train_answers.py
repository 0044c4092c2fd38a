"""Train the offline engine's answer models and write agents_config/data/answer_weights.json.

    pip install -e '.[train]'             # scikit-learn: only for this script, never at run time
    python scripts/train_answers.py       # fits on the answer set's dev split (never test)
    python scripts/train_answers.py --without sources/answers_team_d.jsonl   # a cross-check

Two multinomial logistic regressions over `agents_config.offline.classifier.features` (the
same n-grams the router uses, with the English of key terms in other languages), run in pure
Python by `agents_config.offline.intents`:

- the *tool intent*: which account tool a request calls for first (`list_invoices`,
  `investigate_payment`, …), or `kb` when the help centre answers it. Fitted on the dev rows of
  the answer set (a row's label is its first expected tool other than the knowledge base; the
  refund tools that need a confirmation or an exception count as the eligibility check that
  precedes them) plus the templated variants below and each tool's own description.
- the *article*: which help-centre article fits a request. Fitted on the articles themselves
  (title, each heading, each paragraph: what makes it generalise to any wording of the same
  topic) plus the dev rows that name an article.

Nothing is fitted to the test split or the independent hold-out. `--without SOURCE` leaves out
the dev rows of one source (e.g. a sitting), to check on them what the rest generalises to.
The safety rules (a refund needs the user's confirmation; escalation) stay in code: these
models only choose what to look up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from agents_config.offline.intents import (  # noqa: E402
    KB_INTENT,
    WEIGHTS_FILE,
    intent_features,
    intent_label,
)
from agents_config.tools import (  # noqa: E402
    BILLING_TOOLS,
    PAYMENT_TOOLS,
    REFUND_TOOLS,
    SALES_TOOLS,
    TECH_TOOLS,
)
from storage.kb import parse_article  # noqa: E402

DATA = ROOT / "agents_config" / "data"
KB_DIR = ROOT / "storage" / "kb"
PRUNE = 0.3
DIGITS = 2
TOOL_C = 16.0
ARTICLE_C = 16.0
LABELLED_WEIGHT = 2.0  # a request written as users write weighs more than a template

# Templated variants: slot lists whose product gives requests of each intent ("I was charged
# twice", "we got billed 2x", …). Written for this script, apart from every split.
TEMPLATES: dict[str, list[tuple[str, ...]]] = {
    "check_duplicate_charges": [
        ("i was", "we were", "we got", "you", "looks like you"),
        ("charged", "billed", "debited"),
        ("twice", "two times", "double", "2x", "more than once"),
    ],
    "investigate_payment": [
        ("my", "our", "the last", "this month's"),
        ("payment", "card payment", "bank transfer", "debit"),
        ("failed", "was declined", "bounced", "is still pending", "didn't go through"),
    ],
    "list_payments": [
        ("show", "list", "what are", "history of"),
        ("my", "our", "all the", "the recent"),
        ("payments", "past payments", "transactions", "payments we made"),
    ],
    "list_invoices": [
        ("show", "list", "which are", "send me"),
        ("my", "our", "all", "the unpaid", "the open", "the overdue"),
        ("invoices", "bills"),
    ],
    "get_invoice": [
        ("send me", "what's the total of", "is", "a copy of", "details of"),
        ("invoice INV-2002", "INV-2003", "invoice 2001"),
        ("", "paid", "due", "please"),
    ],
    "get_account_overview": [
        ("what's", "tell me", "check"),
        (
            "my balance",
            "our plan",
            "our seat count",
            "the next billing date",
            "what we owe",
            "when our subscription renews",
        ),
    ],
    "check_refund_eligibility": [
        ("i want", "can i get", "please", "is it possible to get"),
        ("a refund for", "my money back for", "refund"),
        ("ORD-1001", "order ORD-1004", "ORD 1002"),
    ],
    "list_orders": [
        ("where is", "status of", "what happened to", "show"),
        ("my refund", "RF-4001", "my orders", "our purchases"),
    ],
    "get_service_status": [
        ("is", "is the", "are you"),
        ("site", "api", "dashboard", "service"),
        ("down", "having an outage", "slow right now", "having an incident"),
    ],
    "report_bug": [
        ("bug:", "crash:", "error 500:"),
        ("steps: open settings, click save", "request id req_1a2b3c4d"),
        ("chrome 120 on windows", "ios 17 app version 4.1", "since 10:00 UTC"),
    ],
    "list_plans": [
        ("how much is", "what does", "does", "pricing for"),
        ("the pro plan", "starter", "business", "enterprise", "a plan for 10 seats"),
        ("", "cost", "include sso", "include api access"),
    ],
    "compare_plans": [
        ("difference between", "compare", "which is better,"),
        ("pro and business", "starter vs pro", "business or enterprise"),
    ],
    "request_demo": [
        ("book", "schedule", "can we get", "we'd like"),
        ("a demo", "a product walkthrough", "a call to see the product"),
        ("", "for our team", "next week"),
    ],
}


def templated() -> list[tuple[str, str]]:
    rows = []
    for label, slots in TEMPLATES.items():
        for parts in itertools.product(*slots):
            rows.append((" ".join(p for p in parts if p), label))
    return rows


def tool_descriptions() -> list[tuple[str, str]]:
    """Each account tool's description, as a row of its intent (the prompts' words)."""
    tools = [*BILLING_TOOLS, *PAYMENT_TOOLS, *REFUND_TOOLS, *TECH_TOOLS, *SALES_TOOLS]
    out = []
    for tool in tools:
        label = intent_label([tool.name])
        description = getattr(tool, "description", "") or ""
        if label != KB_INTENT and description:
            out.append((description.split("\n\n")[0], label))
    return list(dict.fromkeys(out))


def answer_rows(without: list[str]) -> list[dict[str, Any]]:
    path = DATA / "answers_dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if r.get("source") not in without]


def request_text(row: dict[str, Any]) -> str:
    """The request as the desk reads it for a follow-up: the message and the one before."""
    return " ".join([row["text"], *row.get("before", [])[-1:]])


def article_rows() -> list[tuple[str, str]]:
    """Every article's title, headings and paragraphs, labelled with its slug."""
    out = []
    for path in sorted(KB_DIR.glob("*.md")):
        article = parse_article(path.read_text(encoding="utf-8"), path.stem)
        out.append((article.title, article.slug))
        for block in re.split(r"\n\s*\n", article.body):
            block = block.strip()
            if block.startswith("#"):
                heading, _, rest = block.partition("\n")
                out.append((f"{article.title}: {heading.lstrip('#').strip()}", article.slug))
                block = rest.strip()
            if block:
                out.append((block, article.slug))
    return out


def titles() -> dict[str, str]:
    return {
        path.stem: parse_article(path.read_text(encoding="utf-8"), path.stem).title
        for path in sorted(KB_DIR.glob("*.md"))
    }


def fit(samples: list[tuple[str, str, float]], c: float, meta: dict[str, Any]) -> dict[str, Any]:
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([intent_features(text) for text, _, _ in samples])
    y = [label for _, label, _ in samples]
    weights = [w for _, _, w in samples]
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    clf.fit(x, y, sample_weight=weights)
    labels = [str(c) for c in clf.classes_]
    exported = {}
    for j, name in enumerate(vectorizer.get_feature_names_out()):
        row = [float(clf.coef_[i, j]) for i in range(len(labels))]
        if max(abs(w) for w in row) >= PRUNE:
            exported[str(name)] = [round(w, DIGITS) for w in row]
    return {
        "labels": labels,
        "bias": [round(float(b), DIGITS) for b in clf.intercept_],
        "temperature": 1.0,
        "weights": exported,
        "meta": {**meta, "rows": len(samples), "C": c},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--without", action="append", default=[], help="leave out a source")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = parser.parse_args()
    labelled = answer_rows(args.without)
    tool_samples = [(request_text(r), intent_label(r["tools"]), LABELLED_WEIGHT) for r in labelled]
    tool_samples += [(t, label, 1.0) for t, label in (*templated(), *tool_descriptions())]
    article_samples = [(t, slug, 1.0) for t, slug in article_rows()]
    article_samples += [
        (request_text(r), r["article"], LABELLED_WEIGHT) for r in labelled if r.get("article")
    ]
    sources = sorted({str(r.get("source")) for r in labelled})
    meta = {"trained_on": ["answers_dev.jsonl", *sources], "left_out": args.without}
    model = {
        "tools": fit(tool_samples, TOOL_C, {**meta, "extra": "templates, tool descriptions"}),
        "articles": fit(article_samples, ARTICLE_C, {**meta, "extra": "storage/kb articles"}),
        "titles": titles(),
    }
    args.out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(
        f"{args.out.name}: {len(tool_samples)} tool rows ({len(labelled)} labelled), "
        f"{len(article_samples)} article rows, {args.out.stat().st_size // 1024} KiB"
    )


if __name__ == "__main__":
    main()

"""Train the offline router's classifier and write agents_config/data/router_weights.json.

    pip install -e '.[train]'            # scikit-learn: only for this script, never at run time
    python scripts/train_router.py       # trains on train, tunes on dev; never reads test

The model is a multinomial logistic regression over `agents_config.offline.classifier.features`
(the same function the desk runs), fitted on the train split plus the routing criteria of
`agents_config.routing` (each route's summary and intents as a row of its department, so the
prompts' criteria and the classifier come from one source). The regularisation strength is
chosen on dev; then a temperature (probability calibration) is fitted on dev by likelihood, and
ROUTER_MIN_CONFIDENCE is checked against dev. Weights below PRUNE in every class are dropped,
the rest rounded: the file stays small and loads in well under a second.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from agents_config.offline.classifier import WEIGHTS_FILE, RouterModel, features  # noqa: E402
from agents_config.routing import (  # noqa: E402
    ROUTER_LABELS,
    ROUTER_MIN_CONFIDENCE,
    TRIAGE_ROUTES,
    escalation_signs,
)

DATA = ROOT / "agents_config" / "data"
PRUNE = 0.02
DIGITS = 3


def rows(name: str) -> list[tuple[str, str]]:
    path = DATA / f"routing_{name}.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            out.append((obj["text"], obj["dept"]))
    return out


def criteria_rows() -> list[tuple[str, str]]:
    """The routing criteria the prompts show, as training rows."""
    out = []
    for route in TRIAGE_ROUTES:
        out.append((route.summary, route.department))
        out += [(intent, route.department) for intent in route.intents]
    return out


def decide(model: RouterModel, text: str, threshold: float) -> str:
    if escalation_signs(text):
        return "human"
    prediction = model.predict(text)
    if prediction.label != "clarify" and prediction.probability < threshold:
        return "clarify"
    return prediction.label


def export(clf: LogisticRegression, vectorizer: DictVectorizer, meta: dict) -> dict:
    classes = [str(c) for c in clf.classes_]
    order = [classes.index(label) for label in ROUTER_LABELS]
    weights = {}
    for j, name in enumerate(vectorizer.get_feature_names_out()):
        row = [float(clf.coef_[i, j]) for i in order]
        if max(abs(w) for w in row) >= PRUNE:
            weights[str(name)] = [round(w, DIGITS) for w in row]
    return {
        "labels": list(ROUTER_LABELS),
        "bias": [round(float(clf.intercept_[i]), DIGITS) for i in order],
        "temperature": 1.0,
        "weights": weights,
        "meta": meta,
    }


def accuracy(model: RouterModel, data: list[tuple[str, str]], threshold: float) -> float:
    return sum(decide(model, t, threshold) == d for t, d in data) / len(data)


def fit_temperature(model: RouterModel, data: list[tuple[str, str]]) -> float:
    """The temperature that maximises the dev likelihood (a 1-D grid search)."""
    raw = []
    for text, dept in data:
        model.temperature = 1.0
        scores = model.predict(text).probabilities
        raw.append(([math.log(max(scores[label], 1e-12)) for label in model.labels], dept))
    best = (math.inf, 1.0)
    for step in range(10, 301, 5):
        t = step / 100
        nll = 0.0
        for logits, dept in raw:
            scaled = [x / t for x in logits]
            top = max(scaled)
            norm = top + math.log(sum(math.exp(x - top) for x in scaled))
            nll -= scaled[model.labels.index(dept)] - norm
        best = min(best, (nll, t))
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = parser.parse_args()
    train, dev = rows("train"), rows("dev")
    extra = criteria_rows()
    texts = [t for t, _ in train + extra]
    labels = [d for _, d in train + extra]
    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([features(t) for t in texts])
    best: tuple[float, float, dict] | None = None
    for c in (10.0, 20.0, 50.0):
        clf = LogisticRegression(C=c, max_iter=3000)
        clf.fit(matrix, labels)
        model = RouterModel(export(clf, vectorizer, {}))
        score = accuracy(model, dev, ROUTER_MIN_CONFIDENCE)
        print(f"C={c:<5} dev accuracy {100 * score:.1f}%  ({len(model.weights)} features)")
        if best is None or score > best[0]:
            best = (score, c, export(clf, vectorizer, {}))
    assert best is not None
    _, c, data = best
    model = RouterModel(data)
    temperature = fit_temperature(model, dev)
    model.temperature = data["temperature"] = temperature
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        print(f"threshold {threshold}: dev accuracy {100 * accuracy(model, dev, threshold):.1f}%")
    data["meta"] = {
        "trained_on": f"routing_train.jsonl ({len(train)} rows) + {len(extra)} criteria rows",
        "tuned_on": f"routing_dev.jsonl ({len(dev)} rows)",
        "C": c,
        "temperature": temperature,
        "pruned_below": PRUNE,
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
    size = args.out.stat().st_size / 1024
    print(f"C={c}, temperature {temperature}: {len(data['weights'])} features, {size:.0f} KiB")
    print(
        f"dev accuracy (threshold {ROUTER_MIN_CONFIDENCE}): "
        f"{100 * accuracy(model, dev, ROUTER_MIN_CONFIDENCE):.1f}%"
    )


if __name__ == "__main__":
    main()

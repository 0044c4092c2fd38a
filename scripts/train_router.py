"""Train the offline router's classifier and write agents_config/data/router_weights.json.

    pip install -e '.[train]'            # scikit-learn: only for this script, never at run time
    python scripts/train_router.py       # fits and calibrates on train; dev: a check; never test

The model is a multinomial logistic regression over `agents_config.offline.classifier.features`
(the same function the desk runs), fitted on the train split plus the routing criteria of
`agents_config.routing` (each route's summary and intents as a row of its department, so the
prompts' criteria and the classifier come from one source).

Everything the model's decisions depend on is chosen by 5-fold cross-validation on train (each
train row predicted by a model that did not see it), through the desk's own decision
(`agents_config.offline.routing.decide`): the regularisation strength, the temperature that
calibrates the probabilities (by likelihood), and the two thresholds (`min_confidence`, below
which a department is asked about, and `clarify_min_confidence`, below which the model's own
"clarify" label gives way to its best department): the most accurate pair whose clarifying
questions are at least CLARIFY_PRECISION right. Dev is only printed, as a check. Weights below
PRUNE in every class are dropped, the rest rounded: the file stays small and loads fast.
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
from agents_config.offline.routing import decide  # noqa: E402
from agents_config.routing import ROUTER_LABELS, TRIAGE_ROUTES  # noqa: E402

DATA = ROOT / "agents_config" / "data"
PRUNE = 0.02
DIGITS = 3
FOLDS = 5
CLARIFY_PRECISION = 0.95
MIN_CONFIDENCES = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
CLARIFY_MIN_CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


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


class Fixed(RouterModel):
    """A model whose raw scores were computed beforehand (out-of-fold), for the grid search."""

    def __init__(self, data: dict, table: dict[str, list[float]]) -> None:
        super().__init__(data)
        self.table = table

    def scores(self, text: str) -> list[float]:
        return self.table[text]


def figures(model: RouterModel, data: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Accuracy, clarify precision and clarify recall of the desk's decision with `model`."""
    decided = [(decide(t, model).department, d) for t, d in data]
    asked = [d for p, d in decided if p == "clarify"]
    wanted = [p for p, d in decided if d == "clarify"]
    return (
        sum(p == d for p, d in decided) / len(decided),
        sum(d == "clarify" for d in asked) / max(1, len(asked)),
        sum(p == "clarify" for p in wanted) / max(1, len(wanted)),
    )


def fit(data: list[tuple[str, str]], c: float) -> dict:
    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([features(t) for t, _ in data])
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(matrix, [d for _, d in data])
    return export(clf, vectorizer, {})


def out_of_fold(train: list[tuple[str, str]], c: float) -> dict[str, list[float]]:
    """Each train row's raw scores from a model fitted on the other folds (+ criteria)."""
    table: dict[str, list[float]] = {}
    for fold in range(FOLDS):
        held = train[fold::FOLDS]
        rest = [r for i, r in enumerate(train) if i % FOLDS != fold] + criteria_rows()
        model = RouterModel(fit(rest, c))
        table.update((t, model.scores(t)) for t, _ in held)
    return table


def fit_temperature(model: RouterModel, data: list[tuple[str, str]]) -> float:
    """The temperature that maximises the likelihood of `data` (a 1-D grid search)."""
    raw = [(model.scores(text), model.labels.index(dept)) for text, dept in data]
    best = (math.inf, 1.0)
    for step in range(10, 301, 5):
        t = step / 100
        nll = 0.0
        for logits, index in raw:
            scaled = [x / t for x in logits]
            top = max(scaled)
            nll -= scaled[index] - top - math.log(sum(math.exp(x - top) for x in scaled))
        best = min(best, (nll, t))
    return best[1]


def calibrate(model: RouterModel, train: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Temperature and thresholds on out-of-fold scores; returns (accuracy, precision, recall)."""
    model.temperature = fit_temperature(model, train)
    best: tuple[float, float, float, float, float] | None = None
    for low in MIN_CONFIDENCES:
        for clarify in CLARIFY_MIN_CONFIDENCES:
            model.min_confidence, model.clarify_min_confidence = low, clarify
            acc, precision, recall = figures(model, train)
            key = (precision >= CLARIFY_PRECISION, acc, recall, -low, clarify)
            if best is None or key > best[:5]:
                best = key
                chosen = (low, clarify, acc, precision, recall)
    model.min_confidence, model.clarify_min_confidence = chosen[0], chosen[1]
    return chosen[2], chosen[3], chosen[4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    args = parser.parse_args()
    train, dev = rows("train"), rows("dev")
    best: tuple[float, float, Fixed] | None = None
    for c in (10.0, 20.0, 50.0):
        model = Fixed(
            {"labels": ROUTER_LABELS, "bias": [0.0] * 5, "weights": {}}, out_of_fold(train, c)
        )
        acc, precision, recall = calibrate(model, train)
        print(
            f"C={c:<5} cross-validated on train: accuracy {100 * acc:.1f}%, clarify precision "
            f"{100 * precision:.1f}% recall {100 * recall:.1f}% (temperature "
            f"{model.temperature}, thresholds {model.min_confidence} / "
            f"{model.clarify_min_confidence})"
        )
        if best is None or acc > best[0]:
            best = (acc, c, model)
    assert best is not None
    _, c, tuned = best
    data = fit(train + criteria_rows(), c)
    data.update(
        temperature=tuned.temperature,
        min_confidence=tuned.min_confidence,
        clarify_min_confidence=tuned.clarify_min_confidence,
    )
    data["meta"] = {
        "trained_on": f"routing_train.jsonl ({len(train)} rows) + {len(criteria_rows())} "
        "criteria rows",
        "calibrated_by": f"{FOLDS}-fold cross-validation on routing_train.jsonl",
        "C": c,
        "pruned_below": PRUNE,
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
    model = RouterModel(data)
    size = args.out.stat().st_size / 1024
    print(f"C={c}: {len(data['weights'])} features, {size:.0f} KiB")
    acc, precision, recall = figures(model, dev)
    print(
        f"dev check: accuracy {100 * acc:.1f}%, clarify precision {100 * precision:.1f}%, "
        f"recall {100 * recall:.1f}%"
    )


if __name__ == "__main__":
    main()

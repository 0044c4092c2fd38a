"""Build the labelled routing data and its train / dev / test split.

    python scripts/build_routing_data.py  # rewrites agents_config/data/routing_*.jsonl and
                                          # agents_config/data/answers_{dev,test}.jsonl

Sources (see agents_config/data/README.md for their licences): the original shipped set
`routing_eval.jsonl` and the team's text files in `agents_config/data/sources/` (one request a
line under a `## department` heading; `\\n` in a line is a line break; `#` lines are comments).

The split is deterministic and stratified: within each (department, source file) group the rows
are ordered by a salted SHA-256 of their normalised text, and the first 20% go to test, the
next 15% to dev, the rest to train. Adding rows to one source never moves rows of another, and
a row keeps its part as long as its text does. Duplicates (same normalised text) are kept once;
the same text with two labels is an error.

The labelled answer set `answers.jsonl` (request -> expected tools and KB article, written by
the team; nothing is trained on it) is split the same way into dev and test, half each. The
rows of `sources/answers_*.jsonl` (written later, to widen dev) all go to dev, except the
sittings in `SPLIT_SITTINGS`: written blind to widen test as well, they are split half and half
within each expected article (or, without one, each expected tool), so every article is in both.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "agents_config" / "data"
SOURCES = DATA / "sources"
ORIGINAL = DATA / "routing_eval.jsonl"
SALT = "support-desk-split-v1"
SHARES = (("test", 0.20), ("dev", 0.15))  # the rest is train
ANSWERS = DATA / "answers.jsonl"
ANSWER_SHARES = (("test", 0.5),)  # the rest is dev: the answer set has no training part
# answer sittings split into test and dev
SPLIT_SITTINGS = (
    "answers_team_i.jsonl",
    "answers_team_j.jsonl",
    "answers_team_k.jsonl",
    "answers_team_l.jsonl",
)
# routing sittings whose misses were read while writing the escalation signs (session 11):
# none of their rows may go to test, so they are split between dev and train only
READ_SITTINGS = ("team_z_",)
READ_SHARES = (("dev", 0.15),)
DEPARTMENTS = ("billing", "tech", "sales", "human", "clarify")


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def read_sources() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for line in ORIGINAL.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            rows.append(
                {"id": obj["id"], "text": obj["text"], "dept": obj["dept"], "source": ORIGINAL.name}
            )
    for path in sorted(SOURCES.glob("*.txt")):
        dept = None
        count = 0
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("# "):
                continue
            heading = re.fullmatch(r"##\s+(\w+)", line)
            if heading:
                dept = heading.group(1)
                if dept not in DEPARTMENTS:
                    sys.exit(f"{path.name} line {number}: unknown department {dept!r}")
                continue
            if dept is None:
                sys.exit(f"{path.name} line {number}: a row before any `## department` heading")
            count += 1
            rows.append(
                {
                    "id": f"{path.stem}-{count:04d}",
                    "text": line.replace("\\n", "\n"),
                    "dept": dept,
                    "source": path.name,
                }
            )
    return rows


def deduplicated(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        key = normalised(row["text"])
        first = seen.get(key)
        if first is None:
            seen[key] = row
        elif first["dept"] != row["dept"]:
            sys.exit(
                f"{row['id']} and {first['id']}: same text, labels {row['dept']} and "
                f"{first['dept']}: {row['text']!r}"
            )
    return list(seen.values())


def by_department(row: dict[str, Any]) -> tuple[str, str]:
    return (row["dept"], row["source"])


def by_answer(row: dict[str, Any]) -> tuple[str, str]:
    return (row.get("article") or "+".join(row["tools"]), row["source"])


def split(
    rows: list[dict[str, Any]],
    shares: tuple[tuple[str, float], ...] = SHARES,
    rest: str = "train",
    group_by: Callable[[dict[str, Any]], tuple[str, str]] = by_department,
) -> dict[str, list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[group_by(row)].append(row)
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in shares}
    parts.setdefault(rest, [])
    for key in sorted(groups):
        group = sorted(
            groups[key],
            key=lambda r: hashlib.sha256(f"{SALT}:{normalised(r['text'])}".encode()).hexdigest(),
        )
        start = 0
        for part, share in shares:
            size = round(len(group) * share)
            parts[part] += group[start : start + size]
            start += size
        parts[rest] += group[start:]
    order = {row["id"]: i for i, row in enumerate(rows)}
    return {name: sorted(part, key=lambda r: order[r["id"]]) for name, part in parts.items()}


def routing_split(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Train / dev / test, but a read sitting's rows only ever in train or dev."""
    read = [r for r in rows if r["source"].startswith(READ_SITTINGS)]
    parts = split([r for r in rows if not r["source"].startswith(READ_SITTINGS)])
    order = {row["id"]: i for i, row in enumerate(rows)}
    for name, part in split(read, READ_SHARES).items():
        parts[name] = sorted(parts[name] + part, key=lambda r: order[r["id"]])
    return parts


def main() -> None:
    rows = deduplicated(read_sources())
    for name, part in routing_split(rows).items():
        path = DATA / f"routing_{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in part:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = Counter(r["dept"] for r in part)
        print(
            f"{path.name}: {len(part)} rows ({', '.join(f'{d} {counts[d]}' for d in DEPARTMENTS)})"
        )
    print(f"all: {len(rows)} rows")
    answers = [
        {**json.loads(line), "source": ANSWERS.name}
        for line in ANSWERS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    parts = split(deduplicated(answers), ANSWER_SHARES, rest="dev")
    seen = {normalised(row["text"]) for row in answers}
    for path in sorted(SOURCES.glob("answers_*.jsonl")):
        sitting = [
            {**json.loads(line), "source": f"sources/{path.name}"}
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for row in sitting:
            if normalised(row["text"]) in seen:
                sys.exit(f"{path.name}: {row['id']} repeats an earlier answer row")
            seen.add(normalised(row["text"]))
        if path.name in SPLIT_SITTINGS:
            for name, part in split(sitting, ANSWER_SHARES, "dev", by_answer).items():
                parts[name] += part
        else:
            parts["dev"] += sitting
    for name, part in parts.items():
        path = DATA / f"answers_{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in part:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(part)} rows")


if __name__ == "__main__":
    main()

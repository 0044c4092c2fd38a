"""Leave one sitting out: how the offline engine answers rows written by people it never saw.

    pip install -e '.[train]'
    python scripts/cross_check.py              # every sitting of the answer set's dev split
    python scripts/cross_check.py team_i       # one sitting
    python scripts/cross_check.py --misses     # and the rows each sitting got wrong

For each sitting (a source file of `agents_config/data/sources/` written in one go), both models
are fitted without it (`scripts/train_router.py --with-dev --c 10 --without team_X`,
`scripts/train_answers.py --without sources/answers_team_X.jsonl`) and its dev rows are scored
with `support-desk eval` (routed right, right tool, right article). The mean over the sittings
is the figure to tune the engine's rules by: the test split and the independent hold-out are
never scored here. The shipped weights files are put back afterwards, whatever happens; but
while it runs (half an hour and more) they are the left-out models' weights: run it in a clone
of its own (with its own virtualenv), never in a tree you work and commit in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "agents_config" / "data"
WEIGHTS = (DATA / "router_weights.json", DATA / "answer_weights.json")
SITTINGS = tuple(f"team_{s}" for s in "defgijklmnopqrstuvwxy")
FIGURES = re.compile(
    r"(routed right|right tool|right article)\s+([\d.]+)%|all\s+\d+\s+\d+\s+([\d.]+)%"
)


def run(*args: str) -> str:
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # eval exits 1 below --min-accuracy; anything else is wrong
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def dev_rows(sitting: str, folder: Path) -> Path:
    """The sitting's rows of the answer set's dev split (never its test rows)."""
    path = folder / f"{sitting}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for line in (DATA / "answers_dev.jsonl").read_text(encoding="utf-8").splitlines():
            if json.loads(line)["source"] == f"sources/answers_{sitting}.jsonl":
                out.write(line + "\n")
    return path


MISS = re.compile(r"^\s+\S+\s+wanted (?:article|tools?) .*$", re.M)


def figures(sitting: str, folder: Path, misses: bool = False) -> dict[str, float]:
    python = sys.executable
    run(python, "scripts/train_router.py", "--with-dev", "--c", "10", "--without", sitting)
    run(python, "scripts/train_answers.py", "--without", f"sources/answers_{sitting}.jsonl")
    rows = dev_rows(sitting, folder)
    desk = str(Path(python).parent / "support-desk")
    report = run(desk, "eval", "--file", str(rows))
    if misses:
        print("\n".join(MISS.findall(report)), flush=True)
    found: dict[str, float] = {}
    for match in FIGURES.finditer(report):
        if match.group(3):
            found["routed right"] = float(match.group(3))
        else:
            found[match.group(1)] = float(match.group(2))
    return found


def main() -> None:
    misses = "--misses" in sys.argv
    sittings = [a for a in sys.argv[1:] if a != "--misses"] or list(SITTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in WEIGHTS:
            shutil.copy(path, folder / path.name)
        table: dict[str, dict[str, float]] = {}
        try:
            for sitting in sittings:
                table[sitting] = figures(sitting, folder, misses)
                cells = "  ".join(f"{k} {v:5.1f}%" for k, v in table[sitting].items())
                print(f"{sitting}  {cells}", flush=True)
        finally:
            for path in WEIGHTS:
                shutil.copy(folder / path.name, path)
    names = ("routed right", "right tool", "right article")
    means = {n: sum(t.get(n, 0.0) for t in table.values()) / len(table) for n in names}
    print("mean    " + "  ".join(f"{n} {v:5.1f}%" for n, v in means.items()))


if __name__ == "__main__":
    main()

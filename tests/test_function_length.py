"""The house rule: no function in the product packages is over 80 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "agents_config", "storage", "support_desk")
MAX_LINES = 80


def long_functions(limit: int = MAX_LINES) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    lines = (node.end_lineno or node.lineno) - start + 1
                    if lines > limit:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines}")
    return found


def test_no_function_is_over_80_lines() -> None:
    assert long_functions() == []


def test_the_check_sees_long_functions() -> None:
    assert any("desk_stats" in f for f in long_functions(limit=60))

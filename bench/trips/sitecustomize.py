"""Counts database round trips in a desk process the benchmark starts (never in the desk).

`bench/run.py` puts this folder on PYTHONPATH with BENCH_TRIPS_DIR set, so every Python
process of the desk under test (receiver and worker) imports it at startup. It wraps the one
place where each driver goes to the database:

- aiosqlite: `Connection._execute`, one trip to the connection's thread (a read, a statement,
  or a whole transaction body run there);
- asyncpg: each statement sent to the server (`execute`, `fetch`, `fetchrow`, `fetchval`,
  `executemany`), BEGIN, COMMIT and a pooled connection's reset included.

On SIGUSR1 the process writes its count to BENCH_TRIPS_DIR/<pid>.json.
"""

from __future__ import annotations

import functools
import json
import os
import signal
from pathlib import Path
from typing import Any

_DIR = os.environ.get("BENCH_TRIPS_DIR")
_count = 0


def _counted(method: Any) -> Any:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _count
        _count += 1
        return await method(*args, **kwargs)

    return wrapper


def _dump(*_: object) -> None:
    assert _DIR is not None
    path = Path(_DIR) / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"trips": _count}))
    tmp.replace(path)


def _install() -> None:
    import aiosqlite

    aiosqlite.Connection._execute = _counted(aiosqlite.Connection._execute)  # type: ignore[method-assign]
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        asyncpg = None
    if asyncpg is not None:
        for name in ("execute", "fetch", "fetchrow", "fetchval", "executemany"):
            setattr(asyncpg.Connection, name, _counted(getattr(asyncpg.Connection, name)))
    signal.signal(signal.SIGUSR1, _dump)


if _DIR:
    _install()

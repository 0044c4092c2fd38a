"""Which database a test uses: SQLite files by default; PostgreSQL with TEST_DATABASE_URL.

`TEST_DATABASE_URL=postgresql://user@host:port/postgres` (a role that may CREATE DATABASE)
runs the same tests on PostgreSQL: every SQLite file a test would use becomes a database of
its own, cloned from a migrated template, and dropped when the session ends (unless
TEST_DATABASE_THROWAWAY is set: `scripts/test_postgres.sh start` starts such a throwaway server,
whose `stop` removes everything at once). `.ci/run` runs the suite both ways.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or None
THROWAWAY = bool(os.environ.get("TEST_DATABASE_THROWAWAY"))
BACKEND = "postgresql" if TEST_DATABASE_URL else "sqlite"
TEMPLATE = f"desk_template_{os.getpid()}"
T = TypeVar("T")

sqlite_only = pytest.mark.skipif(
    TEST_DATABASE_URL is not None, reason="about the SQLite file itself"
)
postgres_only = pytest.mark.skipif(
    TEST_DATABASE_URL is None, reason="needs PostgreSQL (TEST_DATABASE_URL)"
)

_lock = threading.Lock()
_by_path: dict[Path, str] = {}
_created: list[str] = []
_numbers = itertools.count(1)


def _url_of(database: str) -> str:
    assert TEST_DATABASE_URL is not None
    return urlunsplit(urlsplit(TEST_DATABASE_URL)._replace(path=f"/{database}"))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end on a loop of its own (callable with or without a running loop)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _admin(*statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def _make_template() -> None:
    from storage.db import open_database

    await _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"')
    db = await open_database(_url_of(TEMPLATE))  # migrated once; clones are then instant
    await db.close()


def database_url(path: Path) -> str | None:
    """The DATABASE_URL a test's desk uses in place of the SQLite file `path` (None: the
    file itself). The same path gives the same database, as a restarted desk expects."""
    if TEST_DATABASE_URL is None:
        return None
    with _lock:
        if path not in _by_path:
            if not _created:
                _run(_make_template())
                _created.append(TEMPLATE)
            name = f"desk_test_{os.getpid()}_{next(_numbers)}"
            _run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
            _created.append(name)
            _by_path[path] = _url_of(name)
        return _by_path[path]


async def in_use(path: Path) -> bool:
    """Whether some process opened the database that stands for `path` (see `database_url`)."""
    url = database_url(path)
    if url is None:
        return await asyncio.to_thread(path.exists)
    import asyncpg

    conn = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        name = urlsplit(url).path.lstrip("/")
        count = await conn.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await conn.close()
    return bool(count)


def database_for(path: Path) -> str:
    """What to open where a test would open the SQLite file `path` (see `database_url`)."""
    return database_url(path) or str(path)


def drop_databases() -> None:
    """Drop every database this session created (the template last)."""
    if not _created or THROWAWAY:
        return
    names = [*_created[1:], _created[0]]
    _run(_admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names)))
    _created.clear()
    _by_path.clear()

"""The database handle: one aiosqlite connection, WAL mode, migrations on open.

Everything above this module speaks in repository methods (see `storage.store`), never SQL,
so that a PostgreSQL backend can replace this file and the repositories' SQL dialect later.

Concurrency: one connection per process. aiosqlite runs it on its own thread, so statements
are already serialised; `transaction()` holds an asyncio lock so that the statements of one
multi-statement write are never interleaved with another coroutine's. Several processes may
open the same file (the receiver and the workers): WAL and a busy timeout make that safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

Row = aiosqlite.Row
Params = Sequence[Any] | dict[str, Any]
BUSY_TIMEOUT_S = 30.0
OPEN_ATTEMPTS = 3
OPEN_RETRY_DELAY_S = 1.0
T = TypeVar("T")


class StorageError(Exception):
    """The database could not be opened or migrated. The message says which file and why.

    `transient`: another process held a lock, so trying again later may work."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# SQLite's primary result codes (the low byte of an extended code) that mean the database
# cannot take writes right now, whatever the statement: a full disk, an I/O error, a read-only
# file, a lock held past the busy timeout, a file that cannot be opened.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_FULL, _SQLITE_CANTOPEN = 13, 14
_UNAVAILABLE_CODES = frozenset(
    {_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN}
)
_UNAVAILABLE_WORDS = ("locked", "disk is full", "disk i/o", "readonly", "unable to open", "busy")


def is_busy(exc: BaseException) -> bool:
    """Another connection holds a lock (retrying later may work)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def refuses_writes(exc: BaseException) -> bool:
    """Whether `exc` says the database is unavailable (full, failing, locked, read-only)
    rather than that this particular statement is wrong: the same work can succeed later."""
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return False
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _UNAVAILABLE_CODES
    return any(word in str(exc).lower() for word in _UNAVAILABLE_WORDS)


def _prepare_path(path: Path) -> None:
    """Create the database's folder; refuse a directory in place of the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise StorageError(f"SUPPORT_DESK_DB={path} is a directory, not a database file")


async def _close_quietly(conn: aiosqlite.Connection) -> None:
    try:
        await conn.close()
    except Exception:  # the connection is being dropped because it failed already
        conn.stop()


class Database:
    """A thin async wrapper: execute, fetch, and short write transactions."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str | Path, *, attempts: int = OPEN_ATTEMPTS) -> Database:
        """Open and migrate the database. A file that cannot be a database (not one, unreadable,
        a directory) or a migration that fails raises `StorageError` at once; a database
        locked by another process is tried `attempts` times (one log line each) first."""
        target = str(path)
        for attempt in range(1, attempts + 1):
            try:
                return await cls._open_once(target)
            except StorageError as exc:
                if not exc.transient or attempt == attempts:
                    raise
                log.warning(
                    "database busy at startup; retrying",
                    extra={"db": target, "attempt": attempt, "error": str(exc.__cause__)},
                )
                await asyncio.sleep(OPEN_RETRY_DELAY_S)
        raise AssertionError("unreachable")

    @classmethod
    async def _open_once(cls, target: str) -> Database:
        try:
            if target != ":memory:":
                _prepare_path(Path(target))
            conn = await aiosqlite.connect(target, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        except StorageError:
            raise
        except Exception as exc:  # aiosqlite wraps sqlite3 errors of every kind
            raise StorageError(f"cannot open SUPPORT_DESK_DB={target}: {exc}") from exc
        # From here on the connection's thread runs: whatever happens, it must be closed, or
        # the process could never exit (aiosqlite's thread is not a daemon).
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in (
                f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}",
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA foreign_keys=ON",
            ):
                await conn.execute(pragma)
            db = cls(conn, target)
            await db.migrate()
            return db
        except BaseException as exc:
            await _close_quietly(conn)
            if isinstance(exc, StorageError):
                raise
            if isinstance(exc, sqlite3.Error):
                raise StorageError(
                    f"cannot use SUPPORT_DESK_DB={target}: {exc}", transient=is_busy(exc)
                ) from exc
            raise

    async def leave_checkpoints_to_others(self) -> None:
        """This connection's commits never run a WAL checkpoint (copying the log into the
        database and syncing it, which can take many milliseconds). For a latency-critical
        writer, such as the process that must ack Slack at once: another connection (the
        worker's) checkpoints as it commits."""
        await self._conn.execute("PRAGMA wal_autocheckpoint=0")

    async def close(self) -> None:
        await self._conn.close()

    async def migrate(self) -> list[str]:
        """Apply the packaged `migrations/NNN_*.sql` files not applied yet, in order."""
        async with self.transaction():
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            )
        done = {r["name"] for r in await self.fetchall("SELECT name FROM schema_migrations")}
        folder = resources.files("storage") / "migrations"
        pending = sorted(
            f.name for f in folder.iterdir() if f.name.endswith(".sql") and f.name not in done
        )
        for name in pending:
            script = (folder / name).read_text(encoding="utf-8")
            # The script and its record commit together: a crash never leaves one without the
            # other. The name is a packaged file's, never input.
            record = (
                "INSERT INTO schema_migrations (name, applied_at)"
                f" VALUES ('{name}', {time.time()});"
            )
            async with self._lock:
                try:
                    await self._conn.executescript(f"BEGIN;\n{script}\n{record}\nCOMMIT;")
                except Exception as exc:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    raise StorageError(
                        f"migration {name} failed on SUPPORT_DESK_DB={self.path}: {exc}",
                        transient=is_busy(exc),
                    ) from exc
            log.info("applied migration", extra={"migration": name, "db": self.path})
        return pending

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return the new row id (for inserts) or 0."""
        async with self._lock:
            cursor = await self._retrying(sql, params)
            return (cursor.lastrowid or 0) if cursor.rowcount else 0

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return how many rows it changed."""
        async with self._lock:
            cursor = await self._retrying(sql, params)
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to the database thread (execute, fetch and close together), and the cursor
        # is closed at once: an open one keeps a read transaction (an old WAL snapshot)
        # alive, and this connection's next write would then fail as "locked".
        def read(conn: sqlite3.Connection) -> list[Row]:
            cursor = conn.execute(sql, params)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        return await self._conn._execute(read, self._conn._conn)

    async def _retrying(self, sql: str, params: Params = ()) -> aiosqlite.Cursor:
        """Execute, retrying while another process holds a lock SQLite would not wait for.

        SQLite skips its busy handler where waiting could deadlock (e.g. a WAL snapshot that
        went stale while another process committed); such locks clear within milliseconds.
        """
        delay = 0.002
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return await self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                log.debug("database busy; retrying", extra={"code": exc.sqlite_errorcode})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)

    async def atomic(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run `body` in one write transaction entirely on the database thread.

        Unlike `transaction()`, nothing else runs between its statements, so the write lock
        is held for microseconds rather than for as long as a busy event loop takes to come
        back: the hot path uses this, which keeps other processes' writes (the receiver's
        inbox inserts, hence Slack's acks) from waiting. SQLite's own busy timeout applies to
        BEGIN here, on that thread, without blocking the event loop.
        """

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._lock:
            return await self._conn._execute(run, self._conn._conn)  # aiosqlite's own thread

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT) no other coroutine interleaves with."""
        async with self._lock:
            await self._retrying("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

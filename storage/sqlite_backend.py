"""The SQLite backend: one aiosqlite connection, WAL mode, migrations on open.

Concurrency: one connection per process. aiosqlite runs it on its own thread, so statements
are already serialised; an asyncio lock keeps the statements of one transaction from being
interleaved with another coroutine's. Several processes may open the same file (the receiver
and the workers): WAL and a busy timeout make that safe.

A transaction body (`atomic`) runs entirely on the database thread, in one trip: its `Tx`
methods are coroutines that never suspend (they call sqlite3 directly), so the body is driven
to completion there. The write lock is then held for microseconds rather than for as long as
a busy event loop takes to come back, which keeps other processes' writes (the receiver's
inbox inserts, hence Slack's acks) from waiting.

Wake-ups (`listen` / `notify`): a process that waits for rows (a worker) binds a Unix
datagram socket named after the database file, the channel and a free slot (Linux's abstract
namespace: no file to clean up); a process that adds rows (the receiver) sends one byte to
every slot after the commit. The workers are then woken at once instead of at their next
poll. Elsewhere, or when `WAKE_SLOTS` processes already listen on that file, `listen` says
False and the caller polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.db import Database, IntegrityError, Params, Row, StorageError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
BUSY_POLL_S = 0.0005  # how often the receiver's connection tries a lock another process holds
OPEN_ATTEMPTS = 3
OPEN_RETRY_DELAY_S = 1.0
SWITCH_INTERVAL_S = 0.0005
WAKE_SLOTS = 8  # processes of one file that can be woken (workers); any more poll
T = TypeVar("T")

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
    """Whether `exc` says the file cannot take writes now (see `storage.db.refuses_writes`)."""
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return False
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _UNAVAILABLE_CODES
    return any(word in str(exc).lower() for word in _UNAVAILABLE_WORDS)


def _already_applied(exc: BaseException) -> bool:
    """A migration's record collided with the same record another process committed."""
    return isinstance(exc, sqlite3.IntegrityError) and "schema_migrations.name" in str(exc)


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


class _SqliteTx:
    """A transaction on the database thread: every method runs sqlite3 directly."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self._conn.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        try:
            row = await self.fetchone(f"{sql} RETURNING id", params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        return int(row[0]) if row else None

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def lock(self, name: str) -> None:
        """Nothing to do: a write transaction (BEGIN IMMEDIATE) is the only writer."""
        return None


def _drive(coro: Awaitable[T]) -> T:
    """Run a transaction body's coroutine to its end without an event loop: its awaits are
    `_SqliteTx` methods, which never suspend. A body that awaits anything else is a bug."""
    gen = coro.__await__()
    try:
        gen.send(None)
    except StopIteration as done:
        return done.value
    gen.close()
    raise RuntimeError("a transaction body awaited something other than its transaction")


class SqliteDatabase(Database):
    """The SQLite backend (see the module's docstring)."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self.name = f"SUPPORT_DESK_DB={path}"
        self._listeners: list[tuple[asyncio.AbstractEventLoop, socket.socket]] = []
        self._sender: socket.socket | None = None
        self._poll_busy = False  # prepare_for_acks: retry a held lock every BUSY_POLL_S

    @classmethod
    async def open(cls, path: str | Path, *, attempts: int = OPEN_ATTEMPTS) -> SqliteDatabase:
        """Open and migrate the database. A file that cannot be a database (not one, unreadable,
        a directory) or a migration that fails raises `StorageError` at once; a database
        locked by another process is tried `attempts` times (one log line each) first."""
        target = str(path)
        # The database runs on aiosqlite's thread; with the default 5 ms GIL switch interval
        # a busy event loop makes every query wait up to 5 ms for its result. 0.5 ms keeps
        # them short (process-wide: this backend is the reason for it).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
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
    async def _open_once(cls, target: str) -> SqliteDatabase:
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

    async def prepare_for_acks(self) -> None:
        """This connection's commits never run a WAL checkpoint (copying the log into the
        database and syncing it, which can take many milliseconds). For a latency-critical
        writer, such as the process that must ack Slack at once: another connection (the
        worker's) checkpoints as it commits."""
        await self._conn.execute("PRAGMA wal_autocheckpoint=0")
        # SQLite's busy handler waits 1, 2, 5, 10, 15, 20, 25 … 100 ms between its tries: a
        # write that meets a worker's transaction (microseconds long) could wait for tens of
        # milliseconds. This connection tries again every BUSY_POLL_S instead.
        await self._conn.execute("PRAGMA busy_timeout=0")
        self._poll_busy = True

    def _polled(self, call: Callable[[], T]) -> T:
        """`call()` on the database thread; on a connection prepared for acks, again every
        `BUSY_POLL_S` while another process holds the write lock (up to the busy timeout)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if not (self._poll_busy and is_busy(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(BUSY_POLL_S)

    async def close(self) -> None:
        for loop, listener in self._listeners:
            if not loop.is_closed():
                loop.remove_reader(listener.fileno())
            listener.close()
        self._listeners.clear()
        if self._sender is not None:
            self._sender.close()
        await self._conn.close()

    def _wake_address(self, channel: str) -> bytes | None:
        """The abstract socket of `channel` on this file; None where there is none (not
        Linux, an in-memory database)."""
        if not sys.platform.startswith("linux") or self.path == ":memory:":
            return None
        key = f"{os.path.realpath(self.path)}\0{channel}".encode()
        return b"\0support-desk-" + hashlib.sha256(key).hexdigest()[:32].encode()

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> bool:
        """See the module's docstring: False when this process cannot be woken so."""
        address = self._wake_address(channel)
        if address is None:
            return False
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.setblocking(False)
        for slot in range(WAKE_SLOTS):  # the first one no other process of this file holds
            try:
                listener.bind(address + b"-%d" % slot)
                break
            except OSError:
                continue
        else:  # that many processes listen on this file already: this one polls
            listener.close()
            log.info(
                "every wake slot of this database is taken: this process polls for new rows",
                extra={"wake_slots": WAKE_SLOTS, "db": self.path},
            )
            return False

        def woken() -> None:
            with contextlib.suppress(OSError):
                while listener.recv(64):  # every wake-up waiting, then one call
                    pass
            on_notify()

        loop = asyncio.get_running_loop()
        loop.add_reader(listener.fileno(), woken)
        self._listeners.append((loop, listener))
        return True

    def notify(self, channel: str) -> None:
        address = self._wake_address(channel)
        if address is None:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        for slot in range(WAKE_SLOTS):
            # Nobody listening there, or a full queue (the listener has wake-ups waiting):
            # nothing to do.
            with contextlib.suppress(OSError):
                self._sender.sendto(b"!", address + b"-%d" % slot)

    async def migrate(self) -> list[str]:
        """Apply the packaged `migrations/sqlite/NNN_*.sql` files not applied yet, in order."""
        await self._retrying(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        done = {r["name"] for r in await self.fetchall("SELECT name FROM schema_migrations")}
        folder = resources.files("storage") / "migrations" / "sqlite"
        pending = sorted(
            f.name for f in folder.iterdir() if f.name.endswith(".sql") and f.name not in done
        )
        applied: list[str] = []
        for name in pending:
            script = (folder / name).read_text(encoding="utf-8")
            # The record first, under the write lock (BEGIN IMMEDIATE waits for it): of several
            # processes starting together on a new file, one applies the migration and the
            # others' records collide with its own, so they skip it. The script and its record
            # commit together: a crash never leaves one without the other. The name is a
            # packaged file's, never input.
            record = (
                "INSERT INTO schema_migrations (name, applied_at)"
                f" VALUES ('{name}', {time.time()});"
            )
            async with self._lock:
                try:
                    await self._conn.executescript(f"BEGIN IMMEDIATE;\n{record}\n{script}\nCOMMIT;")
                except Exception as exc:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                    if _already_applied(exc):  # another process applied it meanwhile
                        continue
                    raise StorageError(
                        f"migration {name} failed on SUPPORT_DESK_DB={self.path}: {exc}",
                        transient=is_busy(exc),
                    ) from exc
            applied.append(name)
            log.info("applied migration", extra={"migration": name, "db": self.path})
        return applied

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            try:
                cursor = await self._retrying(sql, params)
            except sqlite3.IntegrityError as exc:
                raise IntegrityError(str(exc)) from exc
            return cursor.rowcount

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

        conn = self._conn._conn
        return await self._conn._execute(self._polled, lambda: read(conn))

    async def _retrying(self, sql: str, params: Params = ()) -> aiosqlite.Cursor:
        """Execute, retrying while another process holds a lock SQLite would not wait for.

        SQLite skips its busy handler where waiting could deadlock (e.g. a WAL snapshot that
        went stale while another process committed); such locks clear within milliseconds.
        """
        delay = BUSY_POLL_S if self._poll_busy else 0.002
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return await self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                log.debug("database busy; retrying", extra={"code": exc.sqlite_errorcode})
                await asyncio.sleep(delay)
                delay = delay if self._poll_busy else min(delay * 2, 0.1)

    async def atomic(self, body: Callable[[Any], Awaitable[T]]) -> T:
        """Run `body` in one write transaction (BEGIN IMMEDIATE … COMMIT) entirely on the
        database thread (see the module's docstring). SQLite's own busy timeout applies to
        BEGIN here, on that thread, without blocking the event loop."""

        def run(conn: sqlite3.Connection) -> T:
            self._polled(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                result = _drive(body(_SqliteTx(conn)))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._lock:
            return await self._conn._execute(run, self._conn._conn)  # aiosqlite's own thread

"""The database seam: one small interface, two thin backends sharing portable SQL.

Everything above `storage/` speaks in repository methods (see `storage.store`), never SQL.
The repositories write portable SQL with `?` placeholders; a backend runs it:

- `storage.sqlite_backend.SqliteDatabase` (aiosqlite; the embedded default, one file), and
- `storage.postgres_backend.PostgresDatabase` (asyncpg; many processes on many machines).

The few real dialect differences (full-text search, identity columns, timestamp types) live in
the backends and in the per-backend migration folders (`migrations/sqlite/`,
`migrations/postgresql/`), never in the repositories' SQL.

`open_database(target)` picks the backend from the target: a `postgresql://` URL, a
`sqlite:///path` URL, or a plain path (a SQLite file, as `SUPPORT_DESK_DB` always was).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name and by position
Params = Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")


class StorageError(Exception):
    """The database could not be opened or migrated. The message says which one and why.

    `transient`: another process held a lock (or the server is starting), so trying again
    later may work."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class IntegrityError(Exception):
    """A statement broke a constraint (UNIQUE, CHECK, FOREIGN KEY), whatever the backend."""


class Tx(Protocol):
    """One open write transaction. A transaction body (see `Database.atomic`) awaits only
    these methods: no network calls, no sleeps. That keeps transactions short on every
    backend, and lets the SQLite backend run a whole body in one trip to its thread."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT into a table with an `id` column; return the new row's id, or
        None when nothing was inserted (ON CONFLICT DO NOTHING)."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def lock(self, name: str) -> None:
        """Hold the lock `name` until this transaction ends, waiting for a transaction of
        another process that holds it: a check-then-write on rows that do not exist yet (a
        limit on how many a user may add) then counts what the other one wrote."""
        ...


class Database(ABC):
    """The handle every repository gets. Each method outside `atomic` is its own transaction."""

    dialect: Dialect
    # Appended to a SELECT that claims rows: lock them, skipping rows another transaction has
    # locked ("" where one writer at a time is the rule anyway, as on SQLite).
    skip_locked: str = ""
    # Where it is, for messages and logs (a PostgreSQL URL without its password).
    name: str

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return how many rows it changed."""

        async def body(tx: Tx) -> int:
            return await tx.execute(sql, params)

        return await self.atomic(body)

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Like `Tx.insert`, in a transaction of its own."""

        async def body(tx: Tx) -> int | None:
            return await tx.insert(sql, params)

        return await self.atomic(body)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement per row, all in one transaction."""

        async def body(tx: Tx) -> None:
            await tx.executemany(sql, rows)

        await self.atomic(body)

    @abstractmethod
    async def atomic(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `body(tx)` in one write transaction: committed when it returns, rolled back
        when it raises. Of two concurrent bodies writing the same rows, one waits."""

    @abstractmethod
    async def migrate(self) -> list[str]:
        """Apply this backend's packaged migrations not applied yet, in order; return them."""

    @abstractmethod
    async def close(self) -> None: ...

    @asynccontextmanager
    async def exclusive(self, job: str) -> AsyncIterator[None]:
        """Run the block in one process of the cluster at a time (PostgreSQL: an advisory
        lock named after `job`, waited for). A scheduled job that reads its state inside the
        block then finds the work the process before it did, and does not do it again.
        SQLite serves one machine, where the jobs' own conditional writes are enough."""
        yield

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> bool:
        """Call `on_notify` whenever another process signals `channel` (PostgreSQL's
        LISTEN/NOTIFY; on SQLite, `notify`). False when the backend cannot: the caller polls
        instead."""
        return False

    def notify(self, channel: str) -> None:
        """Signal `channel` to whoever `listen`s (another process on this machine), after a
        write they wait for has committed. Never raises. PostgreSQL's triggers do it there."""
        return None

    async def prepare_for_acks(self) -> None:
        """Tune this handle for a process whose writes must be quick (the one acking Slack).
        Nothing to do unless the backend says otherwise."""
        return None


def is_busy(exc: BaseException) -> bool:
    """Another connection holds a lock (retrying later may work)."""
    from storage import sqlite_backend

    return sqlite_backend.is_busy(exc)


def refuses_writes(exc: BaseException) -> bool:
    """Whether `exc` says the database is unavailable (full, failing, locked, read-only,
    unreachable) rather than that this particular statement is wrong: the same work can
    succeed later."""
    from storage import postgres_backend, sqlite_backend

    return sqlite_backend.refuses_writes(exc) or postgres_backend.refuses_writes(exc)


def is_database_error(exc: BaseException) -> bool:
    """Whether `exc` came from the database driver (of either backend)."""
    from storage import postgres_backend

    return isinstance(exc, sqlite3.Error) or postgres_backend.is_driver_error(exc)


def sqlite_path(target: str | Path) -> str | None:
    """The SQLite file `target` names (a path or a `sqlite:///` URL), or None when `target`
    is a PostgreSQL URL."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return None
    if text.startswith("sqlite:///"):
        return text[len("sqlite:///") :] or ":memory:"
    if text.startswith("sqlite:"):
        raise StorageError(f"DATABASE_URL={text} is not a SQLite URL (sqlite:///path/to/desk.db)")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StorageError(
            f"DATABASE_URL has an unknown scheme {scheme!r}: use sqlite:///path or postgresql://"
        )
    return text


async def open_database(target: str | Path) -> Database:
    """Open and migrate the database `target` names (see the module's docstring)."""
    path = sqlite_path(target)
    if path is None:
        from storage.postgres_backend import PostgresDatabase

        return await PostgresDatabase.open(str(target))
    from storage.sqlite_backend import SqliteDatabase

    return await SqliteDatabase.open(path)

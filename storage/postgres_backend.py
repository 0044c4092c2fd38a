"""The PostgreSQL backend: an asyncpg pool, for many processes on many machines.

Repositories' portable SQL arrives with `?` placeholders and leaves as `$1, $2, …`
(`to_numbered`). Every statement outside `atomic` is its own transaction on a pooled
connection (sent alone: no BEGIN / COMMIT round trips); `atomic` holds one connection in a
transaction (READ COMMITTED, PostgreSQL's default) for its body. NUMERIC results (SUM, AVG)
come back as floats, as on SQLite. One round trip a statement: a connection goes back to the
pool without asyncpg's reset query (see `_keep_session`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from storage.db import Database, IntegrityError, Params, Row, StorageError

try:  # only PostgreSQL deployments need the driver
    import asyncpg  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - asyncpg is a dependency; this keeps errors clear
    asyncpg = None

log = logging.getLogger(__name__)

T = TypeVar("T")
POOL_MIN = 1
POOL_MAX = 10
CONNECT_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 10.0  # how long closing waits for the writes already started
DEADLOCK_ATTEMPTS = 3
# A constant key for `pg_advisory_xact_lock` while migrating (any processes starting together
# apply each migration once).
MIGRATION_LOCK_KEY = 0x5D_E5_C0_01


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=2048)
def to_numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …`; a `?` inside a string literal or a
    quoted identifier stays as it is."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


_COUNT = re.compile(r"(\d+)$")


def _rowcount(status: str) -> int:
    """The row count of a command status ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    found = _COUNT.search(status or "")
    return int(found.group(1)) if found else 0


def is_driver_error(exc: BaseException) -> bool:
    return asyncpg is not None and isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError)


def refuses_writes(exc: BaseException) -> bool:
    """Whether `exc` says the server cannot take writes now (unreachable, shutting down,
    out of disk or connections, read-only) rather than that the statement is wrong."""
    if asyncpg is None:
        return False
    exceptions = asyncpg.exceptions
    return isinstance(
        exc,
        exceptions.PostgresConnectionError
        | exceptions.ConnectionDoesNotExistError
        | exceptions.InsufficientResourcesError
        | exceptions.OperatorInterventionError
        | exceptions.ReadOnlySQLTransactionError
        | exceptions.LockNotAvailableError,
    ) or (isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError))


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=float, schema="pg_catalog", format="text"
    )


async def _keep_session(conn: Any) -> None:
    """A connection going back to the pool keeps its session as it is: the desk changes no
    session state on pooled connections (no SET, LISTEN or cursors; the one advisory lock,
    `exclusive`, is released by its block). asyncpg's default reset would be one more round
    trip per statement. An open transaction is still rolled back by asyncpg itself."""
    return None


class _PostgresTx:
    """A transaction on one pooled connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._conn.fetchrow(to_numbered(sql), *params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.fetch(to_numbered(sql), *params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return _rowcount(await self._conn.execute(to_numbered(sql), *params))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        try:
            row = await self._conn.fetchrow(to_numbered(f"{sql} RETURNING id"), *params)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        return int(row[0]) if row else None

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            await self._conn.executemany(to_numbered(sql), [tuple(r) for r in rows])
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc

    async def lock(self, name: str) -> None:
        """A transaction advisory lock named after `name` (freed at commit or rollback)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)


class _Connector:
    """Opens the desk's connections (the pool's and the listeners'), each to its end even if
    whoever needs it is cancelled meanwhile (a worker that stops cancels its heartbeat, which
    may be waiting for a new pooled connection). asyncpg's `connect`, cancelled just as its
    socket is made, leaves a future failed with "unexpected connection_lost() call" that
    nobody reads: asyncio's "Future exception was never retrieved" at exit. A connection
    opened for a caller that is gone is closed at once; `settle` waits for those opening."""

    def __init__(self) -> None:
        self._opening: set[asyncio.Task[Any]] = set()

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        """`asyncpg.connect(*args, **kwargs)`, run to its end (see the class)."""
        task = asyncio.ensure_future(asyncpg.connect(*args, **kwargs))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_close_unwanted)
            raise

    async def settle(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for the connections still opening."""
        if self._opening:
            await asyncio.wait(set(self._opening), timeout=timeout_s)


def _close_unwanted(opened: asyncio.Task[Any]) -> None:
    """A connection opened for a caller that was cancelled meanwhile: closed (its error,
    if it failed, read here, once)."""
    if not opened.cancelled() and opened.exception() is None:
        opened.result().terminate()


class PostgresDatabase(Database):
    """The PostgreSQL backend (see the module's docstring)."""

    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: Any, url: str, connector: _Connector) -> None:
        self._pool = pool
        self._connector = connector
        self._listeners: list[Any] = []  # connections of their own, outside the pool
        self._writes: set[asyncio.Task[Any]] = set()  # started, finishing whoever waits
        self.url = url
        self.name = f"DATABASE_URL={redact_url(url)}"

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        """Connect and migrate. A bad URL, an unreachable server, a refused login, a missing
        database or a missing permission raises `StorageError` naming `DATABASE_URL`."""
        if asyncpg is None:
            raise StorageError("DATABASE_URL is a PostgreSQL URL but asyncpg is not installed")
        shown = redact_url(url)
        connector = _Connector()
        try:
            pool = await asyncpg.create_pool(
                url,
                connect=connector.connect,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT_S,
                init=_init_connection,
                reset=_keep_session,
            )
        except (TimeoutError, OSError) as exc:
            raise StorageError(
                f"cannot reach PostgreSQL at DATABASE_URL={shown}: {exc}", transient=True
            ) from exc
        except asyncpg.InvalidPasswordError as exc:
            raise StorageError(f"PostgreSQL refused the login of DATABASE_URL={shown}") from exc
        except asyncpg.CannotConnectNowError as exc:
            raise StorageError(
                f"PostgreSQL at DATABASE_URL={shown} is starting up: {exc}", transient=True
            ) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(f"cannot use DATABASE_URL={shown}: {exc}") from exc
        db = cls(pool, url, connector)
        try:
            await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._writes:  # a write once started completes (see `atomic`), before the pool goes
            await asyncio.wait(set(self._writes), timeout=CLOSE_WAIT_S)
        await self._connector.settle(CONNECT_TIMEOUT_S)  # a listener may be opening too
        for conn in self._listeners:
            await conn.close()
        self._listeners.clear()
        await self._pool.close()

    @asynccontextmanager
    async def exclusive(self, job: str) -> AsyncIterator[None]:
        """A session advisory lock named after `job`, held on its own connection for the
        block (a lock dies with its session, so a process that dies frees it)."""
        async with self._pool.acquire() as conn:
            try:
                await conn.execute("SELECT pg_advisory_lock(hashtext($1))", job)
                yield
            finally:  # also when cancelled while waiting: the lock may have come meanwhile
                await conn.execute("SELECT pg_advisory_unlock_all()")

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> bool:
        """LISTEN on a connection of its own (a pooled one would be handed to others). If it
        breaks, the caller's polling still finds the work, only later."""
        conn = await self._connector.connect(self.url, timeout=CONNECT_TIMEOUT_S)
        self._listeners.append(conn)  # first: closed with the others whatever happens next
        await conn.add_listener(channel, lambda *_: on_notify())
        return True

    async def migrate(self) -> list[str]:
        """Apply the packaged `migrations/postgresql/NNN_*.sql` files not applied yet, each in
        its own transaction with its record, under an advisory lock (processes starting
        together apply each one once). A schema up to date needs no CREATE: a user that may
        only read and write the tables starts against a database its owner migrated."""
        folder = resources.files("storage") / "migrations" / "postgresql"
        names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
        applied: list[str] = []
        try:
            async with self._pool.acquire() as conn:
                done = await self._applied_migrations(conn)
                for name in (n for n in names if n not in done):
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
                        if await conn.fetchval(
                            "SELECT 1 FROM schema_migrations WHERE name = $1", name
                        ):
                            continue
                        await conn.execute((folder / name).read_text(encoding="utf-8"))
                        await conn.execute(
                            "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                            name,
                            time.time(),
                        )
                    applied.append(name)
                    log.info("applied migration", extra={"migration": name, "db": self.name})
                await self._check_access(conn)
        except asyncpg.InsufficientPrivilegeError as exc:
            raise StorageError(
                f"the user of {self.name} may not change the schema ({exc}); grant it CREATE"
                " on the schema, or run `support-desk migrate` once as the database's owner"
            ) from exc
        except (asyncpg.PostgresError, OSError) as exc:
            raise StorageError(f"migrating {self.name} failed: {exc}") from exc
        return applied

    async def _applied_migrations(self, conn: Any) -> set[str]:
        """The migrations applied so far (creating their table the first time)."""
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            # Under the migrations' lock: two CREATE TABLE IF NOT EXISTS at once can both
            # find no table and one fail on the catalog's unique index.
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
        try:
            return {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        except asyncpg.InsufficientPrivilegeError as exc:
            raise self._no_access(str(exc)) from exc

    async def _check_access(self, conn: Any) -> None:
        """Fail now, naming the tables, when the user may not read and write all of them
        (rather than at the first answer that needs one)."""
        missing = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND ((c.relkind IN ('r', 'p') AND NOT ("
            "  has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')"
            "  AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE')"
            " )) OR (c.relkind = 'S' AND NOT has_sequence_privilege(c.oid, 'USAGE')))"
            " ORDER BY c.relname"
        )
        if missing:
            shown = ", ".join(r["relname"] for r in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise self._no_access(f"no access to {shown}{more}")

    def _no_access(self, detail: str) -> StorageError:
        return StorageError(
            f"the user of {self.name} may not read and write the desk's tables ({detail});"
            " grant it SELECT, INSERT, UPDATE, DELETE on all tables and USAGE on all sequences"
            " of the schema"
        )

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._pool.fetchrow(to_numbered(sql), *params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._pool.fetch(to_numbered(sql), *params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        async def one(conn: Any) -> int:
            return await _PostgresTx(conn).execute(sql, params)

        return await self._statement(one)

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        async def one(conn: Any) -> int | None:
            return await _PostgresTx(conn).insert(sql, params)

        return await self._statement(one)

    async def _statement(self, run: Callable[[Any], Awaitable[T]]) -> T:
        """One write statement, a transaction by itself (no BEGIN / COMMIT round trips), with
        the same guarantees as `atomic`: completed if the caller is cancelled, a deadlock
        retried."""

        async def attempt() -> T:
            async with self._pool.acquire() as conn:
                return await run(conn)

        return await self._completed(self._retrying_deadlocks(attempt))

    async def atomic(self, body: Callable[[Any], Awaitable[T]]) -> T:
        """Run `body` in one transaction on one connection; a deadlock (two bodies locking
        the same rows in opposite orders) is retried: PostgreSQL rolled the loser back.

        A write once started completes even if the caller is cancelled (a shutdown that
        cancels an answer mid-way), as on SQLite, whose statements finish on their thread:
        otherwise a reply posted to Slack could lose the record that it was posted."""
        return await self._completed(self._atomic(body))

    def _completed(self, write: Awaitable[T]) -> Awaitable[T]:
        """`write`, run to its end even if the caller is cancelled; `close` waits for it, and
        its failure, when nobody waits for it any more, is one log line (not asyncio's
        "exception was never retrieved" traceback)."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        return asyncio.shield(task)

    def _write_done(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        error = None if task.cancelled() else task.exception()  # retrieved here, once
        if error is not None:
            log.debug("database write failed", extra={"error": type(error).__name__})

    async def _atomic(self, body: Callable[[Any], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self._pool.acquire() as conn, conn.transaction():
                return await body(_PostgresTx(conn))

        return await self._retrying_deadlocks(attempt)

    @staticmethod
    async def _retrying_deadlocks(attempt: Callable[[], Awaitable[T]]) -> T:
        for attempt_number in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return await attempt()
            except asyncpg.DeadlockDetectedError:
                if attempt_number == DEADLOCK_ATTEMPTS:
                    raise
                log.info("transaction deadlocked; retrying", extra={"attempt": attempt_number})
        raise AssertionError("unreachable")

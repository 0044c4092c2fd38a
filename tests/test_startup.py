"""Startup fails fast with one line naming what to fix; SIGTERM stops every mode, even while
it is still starting. Each case runs `support-desk` as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from fakes.openai_server import FakeOpenAI
from fakes.slack import FakeSlack
from support_desk.config import (
    AUTO_WORKER_PROCESSES_MAX,
    SLACK_API_URL,
    ConfigError,
    Settings,
    load_settings,
)
from tests.databases import (
    TEST_DATABASE_URL,
    database_for,
    in_use,
    postgres_only,
    sqlite_only,
)
from tests.serving import DeskProcess, wait_for_readiness
from tests.test_durability import free_port, serve_env


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


def one_line(desk: DeskProcess) -> str:
    """The process printed exactly one line, and no traceback."""
    assert "Traceback" not in desk.stderr
    assert len(desk.lines) == 1, desk.stderr
    return desk.lines[0]


def http_serve(port: int | None = None) -> tuple[str, ...]:
    return ("serve", "--http", "--host", "127.0.0.1", "--port", str(port or free_port()))


async def refused_at_startup(tmp_path: Path, model: FakeOpenAI, **settings: str) -> str:
    """`serve --http` with these settings exits 2 with one line: that line."""
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | settings
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    return one_line(desk)


async def test_refused_bot_token_exits_with_one_line(tmp_path: Path, model: FakeOpenAI) -> None:
    async with FakeSlack(tokens=["xoxb-the-real-one"]) as slack:
        env = serve_env(tmp_path, slack, model) | {"SLACK_BOT_TOKEN": "xoxb-revoked"}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    line = one_line(desk)
    assert "SLACK_BOT_TOKEN" in line and "invalid_auth" in line
    assert "xoxb-revoked" not in line


async def test_a_port_in_use_exits_with_one_line(tmp_path: Path, model: FakeOpenAI) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeSlack() as slack:
            desk = await DeskProcess.run(serve_env(tmp_path, slack, model), *http_serve(port))
            assert await desk.wait() == 2
    line = one_line(desk)
    assert f"127.0.0.1:{port}" in line and "--port" in line


async def test_unreachable_slack_is_retried_then_exits(tmp_path: Path, model: FakeOpenAI) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model)
    closed = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    env |= {"SLACK_API_URL": closed}
    started = time.monotonic()
    desk = await DeskProcess.run(env, *http_serve())
    assert await desk.wait(timeout_s=90) == 1
    print(f"unreachable Slack: exited after {time.monotonic() - started:.1f}s")
    assert "Traceback" not in desk.stderr
    retries = [line for line in desk.lines if "connecting to Slack failed; retrying" in line]
    assert len(retries) == 3  # bounded, one line each
    assert f"SLACK_API_URL={closed}" in desk.lines[-1]


@sqlite_only
@pytest.mark.parametrize("kind", ["not a database", "a directory"])
async def test_bad_database_file_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI, kind: str
) -> None:
    path = tmp_path / "desk.db"
    if kind == "a directory":
        path.mkdir()
    else:
        path.write_bytes(b"these are somebody's notes, not a database\n" * 200)
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"SUPPORT_DESK_DB": str(path)}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    line = one_line(desk)
    assert f"SUPPORT_DESK_DB={path}" in line


@sqlite_only
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_unreadable_database_file_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    path = tmp_path / "desk.db"
    sqlite3.connect(path).close()
    path.chmod(0)
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"SUPPORT_DESK_DB": str(path)}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    assert f"SUPPORT_DESK_DB={path}" in one_line(desk)


@sqlite_only
async def test_failed_migration_exits_with_one_line(tmp_path: Path, model: FakeOpenAI) -> None:
    # A database that says it has the first migrations but lacks their tables: the next
    # migration (which alters `tickets`) cannot apply.
    path = tmp_path / "desk.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        for name in ("001_core.sql", "002_business.sql", "003_staff.sql", "004_reports.sql"):
            conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (name,))
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"SUPPORT_DESK_DB": str(path)}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    line = one_line(desk)
    assert "migration 005_labels.sql failed" in line and f"SUPPORT_DESK_DB={path}" in line
    with sqlite3.connect(path) as conn:  # nothing of the failed migration was kept
        applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    assert "005_labels.sql" not in applied


@pytest.mark.parametrize(
    "url", ["mysql://desk@localhost/desk", "sqlite:/relative.db", "postgres ql://x"]
)
async def test_database_url_of_an_unknown_kind_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI, url: str
) -> None:
    line = await refused_at_startup(tmp_path, model, DATABASE_URL=url)
    assert "DATABASE_URL" in line and "postgresql://" in line


async def test_unreachable_postgresql_exits_with_one_line_without_the_password(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    url = f"postgresql://desk:s3cret-pw@127.0.0.1:{free_port()}/desk"  # nothing listens there
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"DATABASE_URL": url}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait(timeout_s=60) == 2
    line = one_line(desk)
    assert "cannot reach PostgreSQL" in line and "DATABASE_URL=postgresql://desk:***@" in line
    assert "s3cret-pw" not in desk.stderr


async def test_migrate_brings_the_schema_up_to_date_and_can_run_again(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model)
    for _ in range(2):
        desk = await DeskProcess.run(env, "migrate")
        assert await desk.wait() == 0
        assert "is up to date" in desk.stderr
    from storage.store import Store

    store = await Store.open(database_for(tmp_path / "desk.db"), seed=False)
    try:
        assert await store.ping() and await store.takes_writes()
    finally:
        await store.close()


@postgres_only
async def test_postgresql_user_without_create_permission_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg  # type: ignore[import-untyped]

    url = database_for(tmp_path / "empty.db")  # a database migrated already: make a new one
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute("DROP DATABASE IF EXISTS desk_no_create")
        await admin.execute("CREATE DATABASE desk_no_create")
        await admin.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'desk_reader')"
            " THEN CREATE ROLE desk_reader LOGIN; END IF; END $$"
        )
    finally:
        await admin.close()
    parts = urlsplit(url)
    reader = urlunsplit(
        parts._replace(netloc=f"desk_reader@{parts.hostname}:{parts.port}", path="/desk_no_create")
    )
    try:
        async with FakeSlack() as slack:
            env = serve_env(tmp_path, slack, model) | {"DATABASE_URL": reader}
            desk = await DeskProcess.run(env, *http_serve())
            assert await desk.wait() == 2
        line = one_line(desk)
        assert "may not change the schema" in line and "DATABASE_URL=" in line
    finally:
        admin = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await admin.execute("DROP DATABASE IF EXISTS desk_no_create WITH (FORCE)")
        finally:
            await admin.close()


def _as_user(url: str, user: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}", path=f"/{database}")
    )


@postgres_only
@pytest.mark.parametrize(
    ("user", "database", "says"),
    [
        ("desk_nobody", "postgres", 'role "desk_nobody" does not exist'),
        (None, "desk_no_such_database", 'database "desk_no_such_database" does not exist'),
    ],
)
async def test_postgresql_login_refused_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI, user: str | None, database: str, says: str
) -> None:
    assert TEST_DATABASE_URL is not None
    from urllib.parse import urlsplit

    url = _as_user(TEST_DATABASE_URL, user or str(urlsplit(TEST_DATABASE_URL).username), database)
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"DATABASE_URL": url}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
    line = one_line(desk)
    assert says in line and "DATABASE_URL=" in line


@postgres_only
async def test_postgresql_user_that_may_not_write_the_tables_exits_until_granted(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    """The owner migrated the database; another user may connect: it gets one line naming
    DATABASE_URL until it may read and write the tables, then starts without CREATE."""
    import asyncpg

    assert TEST_DATABASE_URL is not None
    owner = database_for(tmp_path / "desk.db")  # created and migrated by the owner
    database = owner.rsplit("/", 1)[1]
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'desk_writer')"
            " THEN CREATE ROLE desk_writer LOGIN; END IF; END $$"
        )
    finally:
        await admin.close()
    writer = _as_user(TEST_DATABASE_URL, "desk_writer", database)
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"DATABASE_URL": writer}
        desk = await DeskProcess.run(env, *http_serve())
        assert await desk.wait() == 2
        line = one_line(desk)
        assert "may not read and write the desk's tables" in line
        assert "DATABASE_URL=" in line

        conn = await asyncpg.connect(owner)
        try:
            await conn.execute(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public"
                " TO desk_writer; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO desk_writer"
            )
        finally:
            await conn.close()
        desk = await DeskProcess.run(env, "migrate")
        assert await desk.wait() == 0, desk.stderr
        assert "is up to date" in desk.stderr


async def stops_cleanly(desk: DeskProcess, sig: int, *, once: Awaitable[object]) -> None:
    """Once `once` is done, `sig` stops the desk: exit code 0, no traceback (a desk that
    does not stop is killed)."""
    try:
        await once
        assert await desk.signal(sig, timeout_s=20) == 0
    finally:
        await desk.kill()
    assert "Traceback" not in desk.stderr


def socket_env(tmp_path: Path, slack: FakeSlack, model: FakeOpenAI) -> dict[str, str]:
    env = serve_env(tmp_path, slack, model)
    env.pop("SLACK_SIGNING_SECRET")
    return env | {"SLACK_APP_TOKEN": "xapp-1-test", "LOG_LEVEL": "INFO"}


async def test_socket_mode_connects_and_stops_on_sigterm(tmp_path: Path, model: FakeOpenAI) -> None:
    async with FakeSlack() as slack:
        desk = await DeskProcess.run(socket_env(tmp_path, slack, model), "serve")
        try:
            await desk.wait_for_line("connected in Socket Mode")
            assert slack.socket_connections == 1
            assert await desk.signal(signal.SIGTERM) == 0
        finally:
            await desk.kill()
    assert "Traceback" not in desk.stderr


async def test_refused_app_token_exits_with_one_line(tmp_path: Path, model: FakeOpenAI) -> None:
    async with FakeSlack(app_tokens=["xapp-1-the-real-one"]) as slack:
        env = socket_env(tmp_path, slack, model) | {"LOG_LEVEL": "WARNING"}
        desk = await DeskProcess.run(env, "serve")
        assert await desk.wait() == 2
    line = one_line(desk)
    assert "SLACK_APP_TOKEN" in line and "invalid_auth" in line


async def test_socket_mode_that_cannot_connect_retries_then_exits(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    async with FakeSlack() as slack:
        slack.fail("apps.connections.open", "internal_error", times=1000)
        env = socket_env(tmp_path, slack, model) | {"LOG_LEVEL": "WARNING"}
        desk = await DeskProcess.run(env, "serve")
        assert await desk.wait(timeout_s=90) == 1
    assert "Traceback" not in desk.stderr
    assert len([line for line in desk.lines if "retrying" in line]) == 3
    assert "Socket Mode could not connect" in desk.lines[-1]
    assert "SLACK_APP_TOKEN" in desk.lines[-1]


async def test_sigterm_while_socket_mode_is_still_connecting(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    async with FakeSlack() as slack:
        slack.fail("apps.connections.open", "internal_error", times=1000)
        env = socket_env(tmp_path, slack, model) | {"LOG_LEVEL": "WARNING"}
        desk = await DeskProcess.run(env, "serve")
        await stops_cleanly(
            desk,
            signal.SIGTERM,
            once=desk.wait_for_line("connecting in Socket Mode failed; retrying"),
        )


async def test_sigterm_while_slack_is_unreachable_at_startup(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model)
    env |= {"SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"}
    desk = await DeskProcess.run(env, *http_serve())
    await stops_cleanly(
        desk, signal.SIGINT, once=desk.wait_for_line("connecting to Slack failed; retrying")
    )


async def test_worker_alone_stops_on_sigterm(tmp_path: Path, model: FakeOpenAI) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"LOG_LEVEL": "INFO"}
        desk = await DeskProcess.run(env, "work")
        await stops_cleanly(
            desk, signal.SIGTERM, once=desk.wait_for_line("worker answering the inbox")
        )


async def test_http_desk_stops_on_sigint(tmp_path: Path, model: FakeOpenAI) -> None:
    port = free_port()
    async with FakeSlack() as slack:
        desk = await DeskProcess.run(serve_env(tmp_path, slack, model), *http_serve(port))
        await stops_cleanly(
            desk, signal.SIGINT, once=wait_for_readiness(f"http://127.0.0.1:{port}", 200)
        )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_chat_waiting_for_input_stops_on_a_signal(
    tmp_path: Path, model: FakeOpenAI, sig: int
) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"LOG_LEVEL": "INFO"}
    desk = await DeskProcess.run(env, "chat", terminal=True)
    try:
        for _ in range(300):  # until it opened its database
            if await in_use(tmp_path / "desk.db"):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # let it reach its prompt (a signal earlier also must stop it)
        assert await desk.signal(sig, timeout_s=20) in (130, -signal.SIGTERM)
    finally:
        await desk.kill()


def test_worker_processes_default_to_one_a_core_and_a_bad_value_names_the_setting() -> None:
    cores = len(os.sched_getaffinity(0))
    auto = load_settings(_env_file=None).worker_process_count()
    assert auto == max(1, min(cores, AUTO_WORKER_PROCESSES_MAX))
    assert load_settings(_env_file=None, worker_processes="3").worker_process_count() == 3
    assert load_settings(_env_file=None, worker_processes=" 64 ").worker_process_count() == 64
    for any_case in ("AUTO", "Auto", " auto "):
        assert load_settings(_env_file=None, worker_processes=any_case).worker_processes == "auto"
    for bad in ("0", "two", "-1", "65", "1.5", "auto4", 0, 65):
        with pytest.raises(ConfigError, match=r"^WORKER_PROCESSES is invalid: .*1 to 64, or auto"):
            load_settings(_env_file=None, worker_processes=bad)


async def test_desks_starting_together_on_a_new_database_each_migrate_it_once(
    tmp_path: Path,
) -> None:
    """Several processes started at once on a database nobody migrated yet (a new SQLite
    file, a new PostgreSQL database): one applies each migration, the others find it applied
    and start (none exits 'table already exists')."""
    from storage.store import Store

    for attempt in range(3):
        name = f"desk_new_{os.getpid()}_{attempt}"
        await on_postgresql(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        url = (
            TEST_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
            if TEST_DATABASE_URL
            else str(tmp_path / f"{name}.db")
        )
        stores = await asyncio.gather(*(Store.open(url, seed=False) for _ in range(6)))
        try:
            rows = await stores[0].db.fetchall("SELECT name FROM schema_migrations")
            names = [row["name"] for row in rows]
            assert names and len(names) == len(set(names))
            assert all([await store.takes_writes() for store in stores])
        finally:
            await asyncio.gather(*(store.close() for store in stores))
            await on_postgresql(f"DROP DATABASE {name}")


async def on_postgresql(*statements: str) -> None:
    """Run these as the test server's admin (nothing on SQLite: a new file is a new database)."""
    if TEST_DATABASE_URL is None:
        return
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


@pytest.mark.parametrize("value", ["0", "65", "two", "sixty-five", "autoo", "1e3"])
async def test_a_bad_worker_processes_exits_with_one_line_naming_both_forms(
    tmp_path: Path, model: FakeOpenAI, value: str
) -> None:
    line = await refused_at_startup(tmp_path, model, WORKER_PROCESSES=value)
    assert line == (
        "support-desk: WORKER_PROCESSES is invalid: "
        "must be a number from 1 to 64, or auto (one worker a core)"
    )


@pytest.mark.parametrize("value", ["AUTO", "Auto", "auto", "", "2"])
async def test_worker_processes_auto_in_any_case_or_empty_is_accepted_at_startup(
    tmp_path: Path, model: FakeOpenAI, value: str
) -> None:
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | {"WORKER_PROCESSES": value}
    desk = await DeskProcess.run(env, "migrate")
    assert await desk.wait() == 0
    assert "is up to date" in one_line(desk)


def test_an_empty_value_is_unset_for_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """`FOO=` (a blanked line) means the default, whatever the setting: not an error for a
    number, not an empty model name or database path."""
    for name in Settings.model_fields:
        monkeypatch.setenv(name.upper(), "")
    settings = load_settings(_env_file=None)
    for name, field in Settings.model_fields.items():
        assert getattr(settings, name) == field.get_default(call_default_factory=True), name
    assert settings.model_fields_set == set()


def test_an_empty_value_in_the_env_file_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRIAGE_MODEL", "MAX_TURNS", "WORKER_PROCESSES", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("TRIAGE_MODEL=\nMAX_TURNS=\nWORKER_PROCESSES=\nSLACK_API_URL=''\n")
    settings = load_settings(_env_file=env_file)
    assert (settings.triage_model, settings.max_turns) == ("gpt-4.1-mini", 10)
    assert (settings.worker_processes, settings.slack_api_url) == ("auto", SLACK_API_URL)


async def test_empty_settings_start_with_their_defaults_and_a_required_one_says_so(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    names = ("MAX_TURNS", "LOG_LEVEL", "ROUTING_MODE", "SLACK_API_URL", "OFFLINE_FALLBACK")
    blanks = dict.fromkeys(names, "")
    async with FakeSlack() as slack:
        env = serve_env(tmp_path, slack, model) | blanks
    desk = await DeskProcess.run(env, "migrate")
    assert await desk.wait() == 0, desk.stderr
    assert await refused_at_startup(tmp_path, model, SLACK_BOT_TOKEN="", **blanks) == (
        "support-desk: SLACK_BOT_TOKEN is not set: it is needed to post answers in Slack."
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SUPPORT_CHANNELS", "#support"),
        ("SUPPORT_CHANNELS", "C_SUPPORT, general"),
        ("ESCALATION_CHANNEL", "#support-staff"),
    ],
)
async def test_a_channel_name_instead_of_its_id_exits_with_one_line(
    tmp_path: Path, model: FakeOpenAI, setting: str, value: str
) -> None:
    """A channel's name would match no event: the desk would stay silent there."""
    line = await refused_at_startup(tmp_path, model, **{setting: value})
    wrong = value.split(",")[-1].strip()
    assert line.startswith(f"support-desk: {setting} is invalid: {wrong!r} is not a channel id")
    assert "bottom of the channel's details" in line

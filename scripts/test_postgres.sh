#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the test suite and print its URL (for TEST_DATABASE_URL).
#
#   eval "$(scripts/test_postgres.sh start)"   # installs Debian's postgresql if missing,
#                                              # exports TEST_DATABASE_URL
#   scripts/test_postgres.sh stop
#
# The server runs as an unprivileged user (PostgreSQL refuses root), from a data folder under
# /tmp made anew on every start (`stop` removes it), on 127.0.0.1:${PGTEST_PORT:-54329}, with
# fsync off: test data only. The tests leave their databases for `stop` to remove with the
# folder (dropping hundreds of databases one by one takes minutes).
set -euo pipefail
PORT="${PGTEST_PORT:-54329}"
DATA="${PGTEST_DATA:-/tmp/support-desk-pg-$PORT}"
OS_USER="${PGTEST_OS_USER:-supportdesk-pg}"

bindir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$found" ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "PostgreSQL is not installed: apt-get install postgresql (as root)" >&2
            exit 1
        fi
        echo "installing PostgreSQL (Debian's postgresql package)" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        found="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    fi
    echo "$found"
}

as_user() {
    if [ "$(id -u)" = 0 ]; then
        su -s /bin/sh "$OS_USER" -c "cd /tmp && $*"
    else
        sh -c "$*"
    fi
}

start() {
    local bin
    bin="$(bindir)"
    if [ "$(id -u)" = 0 ] && ! id "$OS_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER" >&2
    fi
    stop
    mkdir -p "$DATA"
    if [ "$(id -u)" = 0 ]; then chown "$OS_USER" "$DATA"; fi
    as_user "$bin/initdb -D $DATA -U desk --auth=trust -E UTF8 --no-locale" >/dev/null
    as_user "$bin/pg_ctl -D $DATA -l $DATA/server.log -w start \
        -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=300'" >&2
    echo "export TEST_DATABASE_URL=postgresql://desk@127.0.0.1:$PORT/postgres"
    echo "export TEST_DATABASE_THROWAWAY=1"
}

stop() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ]; then
        as_user "$bin/pg_ctl -D $DATA -m immediate -w stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$DATA"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

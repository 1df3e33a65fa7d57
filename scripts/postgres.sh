#!/usr/bin/env bash
# A throwaway PostgreSQL server for extractkit's tests and CI, from Debian's packages.
#
#   scripts/postgres.sh install     apt-get install postgresql unless pg_ctl is already there (idempotent)
#   scripts/postgres.sh start DIR   initdb a cluster in DIR, start it on 127.0.0.1 on a free port,
#                                   wait until it accepts connections, print its DSN on stdout
#                                   (started again after a stop, it keeps its port if that is free)
#   scripts/postgres.sh stop DIR    stop it (the files stay in DIR; delete DIR to discard them)
#
# Typical use:
#   export EXTRACTKIT_TEST_POSTGRES_DSN="$(scripts/postgres.sh start /tmp/ek-pg)"
#   .venv/bin/pytest tests/test_store.py
#   scripts/postgres.sh stop /tmp/ek-pg
#
# PostgreSQL refuses to run as root, so as root the cluster is owned by (and run as) the
# "postgres" user the Debian package creates: DIR and its parents must be reachable by it
# (anything under /tmp is). Authentication is "trust" and the server listens only on
# 127.0.0.1: it is for tests, never for data you keep.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
    done
    return 1
}

as_owner() {
    # Run a server command as the cluster owner: ourselves, or "postgres" when we are root.
    if [[ "$(id -u)" == 0 ]]; then
        if command -v runuser >/dev/null; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

port_is_free() {
    # SO_REUSEADDR as the server binds: the port of a server just stopped lingers in TIME_WAIT.
    python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd_install() {
    if find_bindir >/dev/null; then
        echo "postgres.sh: PostgreSQL found in $(find_bindir)" >&2
        return 0
    fi
    command -v apt-get >/dev/null || die "pg_ctl not found and apt-get is unavailable; install PostgreSQL yourself"
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has empty package lists; update first so the install can find the package.
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
    find_bindir >/dev/null || die "postgresql installed but no pg_ctl under /usr/lib/postgresql/*/bin"
}

cmd_start() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || die "usage: postgres.sh start DIR"
    local bin
    bin="$(find_bindir)" || die "PostgreSQL is not installed; run: scripts/postgres.sh install"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local data="$dir/data" port
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user; run: scripts/postgres.sh install"
        chown postgres: "$dir"
        as_owner test -w "$dir" || die "the postgres user cannot write $dir (its parents must be reachable); use a DIR under /tmp"
    fi
    if [[ -f "$dir/port" ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port="$(cat "$dir/port")"   # already running: starting again is a no-op
    else
        if [[ ! -f "$data/PG_VERSION" ]]; then
            as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
                || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        fi
        # A restart (stop, then start on the same DIR) keeps the port, so clients can reconnect.
        if [[ -f "$dir/port" ]] && port_is_free "$(cat "$dir/port")"; then
            port="$(cat "$dir/port")"
        else
            port="$(free_port)"
        fi
        as_owner sh -c "echo $port > '$dir/port'"
        # fsync off: a throwaway test cluster trades durability for speed.
        as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=200" \
            start >&2 || { cat "$dir/server.log" >&2; die "the server did not start"; }
    fi
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || die "the server on port $port is not accepting connections"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || die "usage: postgres.sh stop DIR"
    local bin
    bin="$(find_bindir)" || die "PostgreSQL is not installed"
    [[ -d "$dir/data" ]] || { echo "postgres.sh: no cluster in $dir" >&2; return 0; }
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) die "usage: postgres.sh install | start DIR | stop DIR" ;;
esac

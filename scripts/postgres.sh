#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on a free loopback port.
#
#   scripts/postgres.sh start DIR   initialises DIR (if new), starts the server, prints its URL
#   scripts/postgres.sh stop DIR    stops it (fast shutdown); DIR is left for the caller to delete
#   scripts/postgres.sh kill DIR    stops it at once (immediate shutdown), as a crash would
#
# The server listens on 127.0.0.1 only, trusts local connections (it holds test data only) and
# keeps its socket in DIR. `initdb` refuses to run as root, so as root the cluster belongs to
# the `postgres` user.
set -euo pipefail

bin_dir() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$found" ]]; then
        echo "postgres.sh: no PostgreSQL server binaries (install Debian's postgresql package)" >&2
        exit 1
    fi
    echo "$found"
}

as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 bin port
    bin=$(bin_dir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ "$(id -u)" == 0 ]]; then chown postgres "$dir"; fi
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log"
    fi
    port=$(cat "$dir/port" 2>/dev/null || free_port)
    echo "$port" >"$dir/port"
    # fsync off: a test cluster is thrown away, and the suite's commits are many.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir=$1 mode=$2
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null
}

case "${1:-}" in
    start) start "$2" ;;
    stop) stop "$2" fast ;;
    kill) stop "$2" immediate ;;
    *)
        echo "usage: $0 start|stop|kill DIR" >&2
        exit 2
        ;;
esac

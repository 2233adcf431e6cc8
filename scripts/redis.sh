#!/usr/bin/env bash
# Runs a throwaway Redis for tests and local development, owned by this
# checkout: data, pid file and log live in <repo>/.tools/redis (git-ignored).
#
#   scripts/redis.sh start    install redis-server if missing, start it, wait for PONG
#   scripts/redis.sh stop     shut down the instance started here
#   scripts/redis.sh status   exit 0 when Redis answers on the port
#   scripts/redis.sh env      print TIDINGS_TEST_REDIS=... for the test suites
#
# Environment: REDIS_PORT (default 16379; another port gets .tools/redis-<port>).
# Nothing is persisted (no RDB, no AOF).
# Every command is idempotent and works from any directory.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
DEFAULT_PORT=16379
PORT="${REDIS_PORT:-$DEFAULT_PORT}"
# One instance per port: the default one in .tools/redis, others beside it.
if [ "$PORT" = "$DEFAULT_PORT" ]; then
    DIR="$REPO/.tools/redis"
else
    DIR="$REPO/.tools/redis-$PORT"
fi
HOST=127.0.0.1
PIDFILE="$DIR/redis.pid"
LOGFILE="$DIR/redis.log"

say() { echo "redis.sh: $*"; }
die() {
    echo "redis.sh: error: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop|status|env   (port from REDIS_PORT, default 16379)" >&2
    exit 2
}

case "$PORT" in
'' | *[!0-9]*) die "REDIS_PORT must be a port number, got '$PORT'" ;;
esac

answers() {
    command -v redis-cli >/dev/null 2>&1 || return 1
    [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" = "PONG" ]
}

# Pid of the instance this script started, if it is alive, else nothing:
# from the pid file, or, should the pid file have been deleted with .tools/,
# from the Redis on the port whose configured pid file is ours.
our_pid() {
    local pid=""
    if [ -f "$PIDFILE" ]; then
        pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    fi
    case "$pid" in *[!0-9]*) pid="" ;; esac
    if [ -z "$pid" ] && answers; then
        local configured
        configured="$(redis-cli -h "$HOST" -p "$PORT" config get pidfile 2>/dev/null | tr -d '\r' | sed -n 2p)"
        if [ "$configured" = "$PIDFILE" ]; then
            pid="$(serving_pid)"
        fi
    fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

# Pid of whatever Redis answers on the port (from INFO server).
serving_pid() {
    redis-cli -h "$HOST" -p "$PORT" info server 2>/dev/null |
        tr -d '\r' | sed -n 's/^process_id://p'
}

install_redis() {
    command -v apt-get >/dev/null 2>&1 ||
        die "redis-server is not on PATH and apt-get is not available; install Redis 7 yourself"
    [ "$(id -u)" -eq 0 ] ||
        die "redis-server is not on PATH; installing it needs root (sudo $0 start)"
    say "installing redis-server from Debian packages"
    # Keep the package's own init script from starting a system-wide
    # instance: we only ever use the one started below.
    local policy=/usr/sbin/policy-rc.d created_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=yes
    fi
    local status=0
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                -o DPkg::Lock::Timeout=300 redis-server
    } || status=$?
    if [ "$created_policy" = yes ]; then
        rm -f "$policy"
    fi
    [ "$status" -eq 0 ] || die "apt-get install redis-server failed (exit $status)"
    command -v redis-server >/dev/null 2>&1 ||
        die "redis-server still not on PATH after installing the package"
}

cmd_start() {
    local pid
    pid="$(our_pid)"
    if [ -n "$pid" ] && answers; then
        # Put the pid file back if .tools/ was cleaned while Redis ran.
        mkdir -p "$DIR"
        [ -f "$PIDFILE" ] || echo "$pid" >"$PIDFILE"
        say "already running (pid $pid, port $PORT)"
        return 0
    fi
    if [ -z "$pid" ] && answers; then
        say "a Redis not started by this script already answers on port $PORT (pid $(serving_pid)); using it"
        return 0
    fi
    if [ -n "$pid" ]; then
        die "pid $pid from $PIDFILE is alive but does not answer on port $PORT; run '$0 stop' first"
    fi

    command -v redis-server >/dev/null 2>&1 || install_redis
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli is not on PATH (package redis-tools)"

    mkdir -p "$DIR"
    rm -f "$PIDFILE"
    say "starting redis-server on $HOST:$PORT (dir $DIR)"
    redis-server \
        --bind "$HOST" \
        --port "$PORT" \
        --save '' \
        --appendonly no \
        --daemonize yes \
        --pidfile "$PIDFILE" \
        --logfile "$LOGFILE" \
        --dir "$DIR" ||
        die "redis-server did not start; see $LOGFILE"

    for _ in $(seq 1 100); do
        if answers; then
            say "ready (pid $(our_pid), port $PORT)"
            return 0
        fi
        sleep 0.1
    done
    echo "--- last lines of $LOGFILE ---" >&2
    tail -n 20 "$LOGFILE" >&2 || true
    die "redis-server did not answer PONG on port $PORT within 10s"
}

cmd_stop() {
    local pid
    pid="$(our_pid)"
    if [ -z "$pid" ]; then
        rm -f "$PIDFILE"
        if answers; then
            say "not started by this script; leaving the Redis on port $PORT (pid $(serving_pid)) alone"
        else
            say "not running"
        fi
        return 0
    fi
    if [ "$(serving_pid)" = "$pid" ]; then
        redis-cli -h "$HOST" -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            say "stopped (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    say "pid $pid still alive after 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
}

cmd_status() {
    if answers; then
        local pid
        pid="$(our_pid)"
        if [ -n "$pid" ]; then
            say "running (pid $pid, port $PORT)"
        else
            say "a Redis answers on port $PORT (pid $(serving_pid)), not started by this script"
        fi
        return 0
    fi
    say "not answering on port $PORT"
    return 1
}

[ $# -eq 1 ] || usage
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) echo "TIDINGS_TEST_REDIS=redis://$HOST:$PORT" ;;
*) usage ;;
esac

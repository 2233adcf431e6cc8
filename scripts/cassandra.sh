#!/usr/bin/env bash
# Starts and stops the single-node Apache Cassandra 5.0 that Tidings' tests use as their CQL server.
#
#   scripts/cassandra.sh start    fetch the jars if needed, start the node, wait until CQL answers
#   scripts/cassandra.sh stop     stop the node and delete its data directory
#   scripts/cassandra.sh kill     kill -9 the node and keep its data (`start` restarts on it)
#   scripts/cassandra.sh status   exit 0 if the node runs and answers CQL
#   scripts/cassandra.sh env      print TIDINGS_TEST_CQL=127.0.0.1:<port>
#                                 (use: export "$(scripts/cassandra.sh env)")
#
# `start` is idempotent: while the node is up (or still starting) it starts nothing new.
# The jars come from Maven Central through scripts/cassandra/pom.xml into .tools/cassandra/lib
# (git-ignored) and are fetched once. Needs a JDK 17, Maven and python3.
#
# Environment (defaults in brackets):
#   CASSANDRA_DATA_DIR       data, rendered cassandra.yaml, cassandra.log, pid [.tools/cassandra/run]
#   CASSANDRA_NATIVE_PORT    CQL native transport port [19042]
#   CASSANDRA_STORAGE_PORT   internode port [17000]
#   CASSANDRA_JMX_PORT       local-only JMX port, "off" to disable [17199]
#   CASSANDRA_HEAP           -Xms/-Xmx [1G]
#   CASSANDRA_START_TIMEOUT  seconds to wait for CQL to answer [180]
#   CASSANDRA_STOP_TIMEOUT   seconds between TERM and KILL [30]
#   CASSANDRA_JVM_OPTS       extra JVM flags, appended last []
#   CASSANDRA_JAVA           java binary to use [a JDK 17 from JAVA_HOME, PATH or /usr/lib/jvm]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
FILES_DIR=$SCRIPT_DIR/cassandra
TOOLS_DIR=$REPO/.tools/cassandra
LIB_DIR=$TOOLS_DIR/lib

DATA_DIR=$(realpath -m "${CASSANDRA_DATA_DIR:-$TOOLS_DIR/run}")
NATIVE_PORT=${CASSANDRA_NATIVE_PORT:-19042}
STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-17000}
JMX_PORT=${CASSANDRA_JMX_PORT:-17199}
HEAP=${CASSANDRA_HEAP:-1G}
START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-180}
STOP_TIMEOUT=${CASSANDRA_STOP_TIMEOUT:-30}

PID_FILE=$DATA_DIR/cassandra.pid
LOG_FILE=$DATA_DIR/cassandra.log
YAML_FILE=$DATA_DIR/cassandra.yaml
# Written into every data directory this script creates; `stop` deletes only such directories.
MARKER_FILE=$DATA_DIR/.tidings-test-cassandra
# Beside the data directory, not in it: `stop` deletes the data directory.
LOCK_FILE=$DATA_DIR.lock

log() { echo "cassandra: $*" >&2; }

die() {
    log "error: $*"
    exit 1
}

log_tail() {
    if [[ -s $LOG_FILE ]]; then
        log "last lines of $LOG_FILE:"
        tail -n 40 "$LOG_FILE" | sed 's/^/    /' >&2
    fi
}

usage() {
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

check_settings() {
    local name value
    for name in NATIVE_PORT STORAGE_PORT START_TIMEOUT STOP_TIMEOUT; do
        value=${!name}
        [[ $value =~ ^[0-9]+$ ]] || die "CASSANDRA_$name must be a number, got '$value'"
    done
    [[ $JMX_PORT == off || $JMX_PORT =~ ^[0-9]+$ ]] \
        || die "CASSANDRA_JMX_PORT must be a number or 'off', got '$JMX_PORT'"
    [[ $HEAP =~ ^[0-9]+[kKmMgG]$ ]] || die "CASSANDRA_HEAP must look like 1G or 768M, got '$HEAP'"
    case $DATA_DIR in
        / | "$REPO" | "$HOME" | "$TOOLS_DIR") die "CASSANDRA_DATA_DIR cannot be $DATA_DIR" ;;
    esac
}

with_lock() {
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec 9>"$LOCK_FILE"
    flock -w 600 9 || die "another scripts/cassandra.sh holds $LOCK_FILE"
}

# --- tools -------------------------------------------------------------------------------------

apt_install() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    log "installing $* with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

java_major() {
    "$1" -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | sed 's/^1\.//; s/\..*//'
}

# Cassandra 5.0 runs on Java 11 or 17; the flags below are the ones for 17.
find_java() {
    local candidate
    local -a candidates=()
    [[ -n ${CASSANDRA_JAVA:-} ]] && candidates+=("$CASSANDRA_JAVA")
    [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
    command -v java >/dev/null && candidates+=("$(command -v java)")
    candidates+=(/usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/*-17-*/bin/java)
    for candidate in "${candidates[@]}"; do
        if [[ -x $candidate && $(java_major "$candidate") == 17 ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

require_java() {
    JAVA=$(find_java) && return 0
    apt_install openjdk-17-jre-headless && JAVA=$(find_java) && return 0
    die "no Java 17 found (tried CASSANDRA_JAVA, JAVA_HOME, PATH, /usr/lib/jvm); Cassandra 5.0 needs one"
}

require_python() {
    command -v python3 >/dev/null || apt_install python3 || die "python3 is needed to check the node"
}

cassandra_version() {
    sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$FILES_DIR/pom.xml"
}

# Copies cassandra-all and its runtime dependencies into $LIB_DIR, once per Cassandra version.
fetch_jars() {
    local version tmp_dir mvn_log
    version=$(cassandra_version)
    [[ -n $version ]] || die "cannot read <cassandra.version> from $FILES_DIR/pom.xml"
    if [[ -f $LIB_DIR/.complete && $(<"$LIB_DIR/.complete") == "$version" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || apt_install maven || die "Maven (mvn) is needed to fetch Cassandra"
    log "fetching Cassandra $version and its dependencies into $LIB_DIR"
    tmp_dir=$TOOLS_DIR/lib.partial
    mvn_log=$TOOLS_DIR/mvn.log
    rm -rf "$tmp_dir"
    mkdir -p "$tmp_dir"
    if ! mvn -q -B -f "$FILES_DIR/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$tmp_dir" -DincludeScope=runtime >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" | sed 's/^/    /' >&2
        die "mvn could not fetch Cassandra $version (full output: $mvn_log)"
    fi
    [[ -f $tmp_dir/cassandra-all-$version.jar ]] || die "mvn ran but cassandra-all-$version.jar is missing"
    echo "$version" >"$tmp_dir/.complete"
    rm -rf "$LIB_DIR"
    mv "$tmp_dir" "$LIB_DIR"
    rm -f "$mvn_log"
}

# --- the node ----------------------------------------------------------------------------------

is_our_process() {
    local pid=$1 cmdline
    cmdline=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    grep -qxF -- "-Dcassandra.config=file://$YAML_FILE" <<<"$cmdline"
}

# Prints the pid of the node that uses this data directory, if one runs.
node_pid() {
    local pid proc
    if [[ -f $PID_FILE ]]; then
        pid=$(<"$PID_FILE")
        if [[ $pid =~ ^[0-9]+$ ]] && is_our_process "$pid"; then
            echo "$pid"
            return 0
        fi
    fi
    # The pid file can be gone (data directory deleted by hand): look for the exact config path.
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        if is_our_process "$pid"; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

cql_answers() {
    python3 "$FILES_DIR/cql_ping.py" --quiet --timeout 5 --address "127.0.0.1:$NATIVE_PORT"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

render_yaml() {
    local dir=${DATA_DIR//\\/\\\\}
    dir=${dir//&/\\&}
    dir=${dir//|/\\|}
    sed -e "s|@DATA_DIR@|$dir|g" \
        -e "s|@NATIVE_PORT@|$NATIVE_PORT|g" \
        -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" \
        "$FILES_DIR/cassandra.yaml.in" >"$YAML_FILE"
}

jvm_args() {
    local jamm
    jamm=$(compgen -G "$LIB_DIR/jamm-*.jar" | head -n 1 || true)
    JVM_ARGS=(
        -Xms"$HEAP" -Xmx"$HEAP" -Xss256k
        -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$DATA_DIR" -XX:+ExitOnOutOfMemoryError
        -XX:+PerfDisableSharedMem
        -Djava.net.preferIPv4Stack=true
        # The C1 compiler only: on 2 shared cores this halves start-up CPU and, for test-sized
        # runs, is faster than waiting for C2. CASSANDRA_JVM_OPTS=-XX:TieredStopAtLevel=4 undoes it.
        -XX:TieredStopAtLevel=1
        # From Cassandra 5.0's conf/jvm17-server.options: G1 settings ...
        -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
        -XX:G1HeapRegionSize=16m -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
        -XX:InitiatingHeapOccupancyPercent=70
        # ... the JPMS exports and opens ...
        -Djdk.attach.allowAttachSelf=true
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
        --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        # ... and the Netty settings.
        -Dio.netty.tryReflectionSetAccessible=true
        -Dio.netty.allocator.useCacheForAllThreads=true
        -Dio.netty.allocator.maxOrder=11
    )
    # Cassandra measures object sizes with jamm; as an agent it is exact (cassandra.in.sh does this).
    [[ -n $jamm ]] && JVM_ARGS+=("-javaagent:$jamm")
    if [[ $JMX_PORT != off ]]; then
        JVM_ARGS+=(-Dcassandra.jmx.local.port="$JMX_PORT" -Djava.rmi.server.hostname=127.0.0.1)
    fi
    JVM_ARGS+=(
        -Dcassandra.config="file://$YAML_FILE"
        -Dcassandra.storagedir="$DATA_DIR"
        -Dcassandra.logdir="$DATA_DIR/logs"
        -Dlogback.configurationFile="file://$FILES_DIR/logback.xml"
        -Dcassandra-foreground=yes
        # A lone node: nothing to wait for.
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        -Dcassandra.ring_delay_ms=1000
        -Dcassandra.shutdown_announce_in_ms=0
        # No -Dcassandra.unsafesystem: with it, the schema's own mutations skip the commit log
        # and a kill -9 loses every keyspace. The fault suite kills this node and needs it as
        # durable as a production node (commit log periodic, as in ScyllaDB's default).
    )
    # Extra JVM flags, split on spaces; they come last, so they override the ones above.
    local -a extra=()
    read -r -a extra <<<"${CASSANDRA_JVM_OPTS:-}"
    JVM_ARGS+=("${extra[@]}" -cp "$LIB_DIR/*" org.apache.cassandra.service.CassandraDaemon)
}

# Waits until the node with pid $1 answers CQL; on failure prints the log and stops it.
wait_until_ready() {
    local pid=$1 started=$SECONDS
    while ! cql_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail
            die "Cassandra (pid $pid) exited during start-up; see $LOG_FILE"
        fi
        if ((SECONDS - started >= START_TIMEOUT)); then
            log_tail
            kill -KILL "$pid" 2>/dev/null || true
            die "Cassandra did not answer CQL on 127.0.0.1:$NATIVE_PORT within ${START_TIMEOUT}s; killed it"
        fi
        sleep 0.5
    done
}

cmd_start() {
    local pid started=$SECONDS
    with_lock
    require_python
    if pid=$(node_pid); then
        if cql_answers; then
            log "already running (pid $pid) on 127.0.0.1:$NATIVE_PORT"
            return 0
        fi
        log "already starting (pid $pid); waiting for CQL on 127.0.0.1:$NATIVE_PORT"
        wait_until_ready "$pid"
        log "ready on 127.0.0.1:$NATIVE_PORT"
        return 0
    fi
    if port_in_use "$NATIVE_PORT"; then
        die "port $NATIVE_PORT is taken by another process; set CASSANDRA_NATIVE_PORT to a free one"
    fi
    fetch_jars
    require_java

    mkdir -p "$DATA_DIR"
    if [[ ! -f $MARKER_FILE && -n $(ls -A "$DATA_DIR") ]]; then
        die "$DATA_DIR exists and was not made by this script; choose another CASSANDRA_DATA_DIR"
    fi
    touch "$MARKER_FILE"
    mkdir -p "$DATA_DIR"/{data,commitlog,hints,saved_caches,cdc_raw,logs}
    render_yaml
    jvm_args

    log "starting Cassandra $(cassandra_version) on 127.0.0.1:$NATIVE_PORT (data in $DATA_DIR)"
    # setsid: the node outlives this shell and is not hit by a Ctrl-C meant for the caller.
    # The lock's descriptor is closed for it: the node must not hold the lock while it runs.
    (cd "$DATA_DIR" && exec setsid nohup "$JAVA" "${JVM_ARGS[@]}" </dev/null >>"$LOG_FILE" 2>&1 9>&-) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_until_ready "$pid"
    log "ready on 127.0.0.1:$NATIVE_PORT after $((SECONDS - started))s (pid $pid, log $LOG_FILE)"
}

cmd_stop() {
    local pid waited=0
    with_lock
    if pid=$(node_pid); then
        log "stopping Cassandra (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "still running after ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            waited=0
            while kill -0 "$pid" 2>/dev/null; do
                ((waited < 100)) || die "pid $pid survived KILL"
                sleep 0.1
                waited=$((waited + 1))
            done
        fi
    else
        log "not running"
    fi
    if [[ -d $DATA_DIR ]]; then
        [[ -f $MARKER_FILE ]] || die "$DATA_DIR was not made by this script; not deleting it"
        rm -rf "$DATA_DIR"
    fi
}

# kill -9, as a crash would: the data directory stays, so `start` recovers from it.
cmd_kill() {
    local pid
    with_lock
    if pid=$(node_pid); then
        log "killing Cassandra (pid $pid) with SIGKILL; data kept in $DATA_DIR"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$PID_FILE"
    else
        log "not running"
    fi
}

cmd_status() {
    local pid
    require_python
    if pid=$(node_pid) && cql_answers; then
        echo "running (pid $pid) on 127.0.0.1:$NATIVE_PORT"
        return 0
    fi
    if [[ -n ${pid:-} ]]; then
        echo "starting or unresponsive (pid $pid); CQL does not answer on 127.0.0.1:$NATIVE_PORT"
    else
        echo "not running"
    fi
    return 1
}

main() {
    check_settings
    case ${1:-} in
        start) cmd_start ;;
        stop) cmd_stop ;;
        kill) cmd_kill ;;
        status) cmd_status ;;
        env) echo "TIDINGS_TEST_CQL=127.0.0.1:$NATIVE_PORT" ;;
        -h | --help | help) usage ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# Runs every test against real servers: starts Redis and a CQL node with the
# project's scripts (installing what they need), runs the workspace tests, and
# stops both whatever happened.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

started=()
cleanup() {
  local status=$?
  for service in "${started[@]}"; do
    "scripts/$service.sh" stop || echo "warning: could not stop $service" >&2
  done
  exit "$status"
}
trap cleanup EXIT INT TERM

scripts/redis.sh start
started+=(redis)
export "$(scripts/redis.sh env)"

# A real ScyllaDB named by TIDINGS_TEST_SCYLLA replaces the local CQL node.
if [ -z "${TIDINGS_TEST_SCYLLA:-}" ]; then
  scripts/cassandra.sh start
  started+=(cassandra)
  export "$(scripts/cassandra.sh env)"
fi

export TIDINGS_GRPCURL="$(scripts/grpcurl.sh)"

cargo build --workspace --bins
cargo test --workspace --no-fail-fast

# The TypeScript SDK (sdk/typescript), against the tidings binary built above.
scripts/sdk-test.sh
scripts/browser-test.sh

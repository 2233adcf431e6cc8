#!/usr/bin/env bash
# Runs the TypeScript SDK's tests (sdk/typescript) against the real
# all-in-one binary. Idempotent: installs the npm packages only when
# node_modules is missing or package-lock.json changed since the last install,
# and builds target/debug/tidings unless TIDINGS_BIN names another binary
# (a no-op when it is up to date).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$repo/sdk/typescript"

# shellcheck source=lib/node.sh
. "$repo/scripts/lib/node.sh"
require_node "the SDK tests"

if [ -z "${TIDINGS_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin tidings)
fi

cd "$sdk"
npm_ci_if_changed "$PWD"
npm test

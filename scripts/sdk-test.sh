#!/usr/bin/env bash
# Runs the TypeScript SDK's tests (sdk/typescript) against the real
# all-in-one binary. Idempotent: installs the npm packages only when
# node_modules is missing or package-lock.json changed since the last install,
# and builds target/debug/tidings unless TIDINGS_BIN names another binary
# (a no-op when it is up to date).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$repo/sdk/typescript"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "error: the SDK tests need Node.js 20 or later with npm" >&2
    exit 1
  fi
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "error: the SDK tests need Node.js 20 or later, found $(node --version)" >&2
  exit 1
fi

if [ -z "${TIDINGS_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin tidings)
fi

cd "$sdk"
stamp="node_modules/.package-lock.sha256"
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  npm ci --no-audit --no-fund
  echo "$wanted" >"$stamp"
fi
npm test

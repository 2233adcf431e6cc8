#!/usr/bin/env bash
# Builds the web chat page (web/) into web/dist: app.js bundled by esbuild
# with the TypeScript SDK, index.html and style.css. `make run` serves it
# (gateway.web_dir). Idempotent: installs the npm packages only when
# node_modules is missing or package-lock.json changed since the last
# install, as scripts/sdk-test.sh does. Needs Node.js 20 or later with npm,
# installed from Debian's packages when missing and run as root.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
web="$repo/web"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "error: building the web page needs Node.js 20 or later with npm" >&2
    exit 1
  fi
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "error: building the web page needs Node.js 20 or later, found $(node --version)" >&2
  exit 1
fi

cd "$web"
stamp="node_modules/.package-lock.sha256"
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  npm ci --no-audit --no-fund
  echo "$wanted" >"$stamp"
fi
npm run --silent build

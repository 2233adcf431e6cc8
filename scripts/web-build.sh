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

# shellcheck source=lib/node.sh
. "$repo/scripts/lib/node.sh"
require_node "building the web page"

cd "$web"
npm_ci_if_changed "$PWD"
npm run --silent build

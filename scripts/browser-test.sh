#!/usr/bin/env bash
# Runs the web chat page's tests (web/test) in a real Chromium against the
# real all-in-one binary, which serves the page (gateway.web_dir). Installs
# Debian's chromium package when there is no `chromium` (as root; or set
# CHROMIUM to a binary), builds target/debug/tidings unless TIDINGS_BIN
# names another binary, and builds the page (scripts/web-build.sh). Every
# step of every test leaves a screenshot in target/browser-test/screenshots
# (or TIDINGS_SCREENSHOTS).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser tests need Chromium: install Debian's chromium package, or set CHROMIUM" >&2
    exit 1
  fi
fi

if [ -z "${TIDINGS_BIN:-}" ]; then
  (cd "$repo" && cargo build --bin tidings)
fi
"$repo/scripts/web-build.sh"

export TIDINGS_SCREENSHOTS="${TIDINGS_SCREENSHOTS:-$repo/target/browser-test/screenshots}"
# Screenshots of an earlier run would pass for this one's.
rm -rf "$TIDINGS_SCREENSHOTS"
trap 'echo "browser test screenshots: $TIDINGS_SCREENSHOTS"' EXIT

cd "$repo/web"
npm run --silent typecheck
npm test

#!/usr/bin/env bash
# Validates deploy/ offline (no Docker engine needed):
#   1. deploy/compose.yaml against the Compose Specification JSON schema that
#      PyPI's check-jsonschema ships (--builtin-schema vendor.compose-spec),
#      and a copy with an unknown key, which it must refuse;
#   2. structure beyond the schema (deploy/tests/check_deploy.py): compose
#      services, images and ports, deploy/config/*.toml keys, and the
#      Dockerfile (parsed with Docker's own parser, PyPI `dockerfile`);
#   3. when Tidings binaries are at hand (TIDINGS_BIN_DIR, default
#      target/debug), every compose container and example config is started
#      with them and must not be rejected.
#
# Python tools go to .tools/venv (installed on first use). Exits non-zero on
# any failure.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="$REPO/.tools/venv"
BIN_DIR="${TIDINGS_BIN_DIR:-$REPO/target/debug}"
# Pinned tools: name==version, as pip takes them.
TOOLS=(check-jsonschema==0.39.0 dockerfile==3.4.0 PyYAML==6.0.4)

started=$SECONDS
failures=0
step() { printf '\n== %s\n' "$*"; }
pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
die() {
    echo "validate-deploy.sh: error: $*" >&2
    exit 1
}

ensure_venv() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "could not create $VENV"
    local missing=()
    for tool in "${TOOLS[@]}"; do
        local name="${tool%%==*}" version="${tool#*==}" have
        have="$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)"
        [ "$have" = "$version" ] || missing+=("$tool")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing ${missing[*]} into $VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}" ||
            die "pip install ${missing[*]} failed"
    fi
}

step "tools"
ensure_venv
PY="$VENV/bin/python"
echo "python tools: ${TOOLS[*]}"

step "compose.yaml against the Compose Specification schema"
if "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$REPO/deploy/compose.yaml"; then
    pass "compose-spec schema"
else
    fail "compose-spec schema"
fi

# Negative case: the schema must refuse an unknown service key.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed 's/^  redis:$/  redis:\n    no_such_key: 1/' "$REPO/deploy/compose.yaml" >"$work/compose.yaml"
if ! grep -q no_such_key "$work/compose.yaml"; then
    fail "could not build the negative compose case (no 'redis' service?)"
elif "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$work/compose.yaml" >"$work/out" 2>&1; then
    fail "compose-spec schema accepted an unknown service key"
elif grep -q "no_such_key" "$work/out"; then
    pass "compose-spec schema refuses an unknown service key"
else
    fail "compose-spec schema refused the negative case for another reason:"
    sed 's/^/    /' "$work/out" >&2
fi

bin_args=()
if [ -x "$BIN_DIR/tidings" ] && [ -x "$BIN_DIR/tidings-gateway" ]; then
    bin_args=(--bin-dir "$BIN_DIR")
    step "compose services, configs and Dockerfile; configurations started with $BIN_DIR"
else
    step "compose services, configs and Dockerfile"
    echo "SKIP (binaries): no Tidings binaries in $BIN_DIR (cargo build --workspace --bins, or set TIDINGS_BIN_DIR)"
fi
if "$PY" "$REPO/deploy/tests/check_deploy.py" "${bin_args[@]}" "$REPO"; then
    pass "deploy structure"
else
    fail "deploy structure"
fi

step "summary"
elapsed=$((SECONDS - started))
if [ "$failures" -gt 0 ]; then
    echo "validate-deploy.sh: $failures check(s) failed (${elapsed} s)" >&2
    exit 1
fi
echo "validate-deploy.sh: all checks passed (${elapsed} s)"

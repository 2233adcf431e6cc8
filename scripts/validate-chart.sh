#!/usr/bin/env bash
# Validates the Helm chart helm/tidings offline:
#   1. helm lint --strict, with the default values and with every ci/*-values.yaml;
#   2. helm template for each, and every rendered object checked against the
#      Kubernetes JSON schemas (PyPI's kubernetes-validate, strict) of the
#      oldest and newest Kubernetes versions we support, plus cross-references
#      and the rendered tidings.toml (helm/tests/check_manifests.py);
#   3. negative cases: each helm/tests/bad-values/*.yaml must make both
#      `helm lint` and `helm template` fail (only the latter for the checks
#      JSON Schema cannot express), with the message its first line names:
#      proves values.schema.json and the chart's own checks are enforced;
#   4. when Tidings binaries are at hand (TIDINGS_BIN_DIR, default
#      target/debug), each service loads the rendered tidings.toml with the
#      environment its pod gets and must not reject it; so must the exec
#      probes (`tidings health`, with grpc.tls).
#
# Helm is built by scripts/helm.sh; Python tools go to .tools/venv. Both are
# installed on first use and reused afterwards. Exits non-zero on any failure.
#
# Environment: KUBE_VERSIONS (default "1.27 1.37": the oldest Kubernetes the
# chart supports and the newest kubernetes-validate knows), TIDINGS_BIN_DIR.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
CHART="$REPO/helm/tidings"
TESTS="$REPO/helm/tests"
VENV="$REPO/.tools/venv"
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBE_VERSIONS="${KUBE_VERSIONS:-1.27 1.37}"
BIN_DIR="${TIDINGS_BIN_DIR:-$REPO/target/debug}"

# The binaries check writes a throwaway certificate for TLS Secrets with the
# openssl command line: Debian's package, installed when missing.
if ! command -v openssl >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "validate-chart: installing openssl with apt-get" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
  else
    echo "validate-chart: openssl is needed (apt-get install openssl)" >&2
    exit 1
  fi
fi
NAMESPACE=chat

started=$SECONDS
failures=0
step() { printf '\n== %s\n' "$*"; }
pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
die() {
    echo "validate-chart.sh: error: $*" >&2
    exit 1
}

# Python tools, idempotently: a venv with pinned kubernetes-validate.
ensure_venv() {
    local have=""
    if [ -x "$VENV/bin/python" ]; then
        have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)"
    fi
    if [ "$have" = "$KUBERNETES_VALIDATE_VERSION" ]; then
        return
    fi
    echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "could not create $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
        die "pip install kubernetes-validate failed"
}

step "tools"
HELM="$("$SCRIPT_DIR/helm.sh")" || die "could not build helm (scripts/helm.sh)"
echo "helm: $HELM ($("$HELM" version --template '{{.Version}}'))"
ensure_venv
PY="$VENV/bin/python"
echo "kubernetes-validate: $KUBERNETES_VALIDATE_VERSION, schemas for Kubernetes $KUBE_VERSIONS"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The value sets: defaults, then each ci/*-values.yaml.
cases=(default)
for file in "$CHART"/ci/*-values.yaml; do
    [ -e "$file" ] && cases+=("$file")
done

values_args() {
    if [ "$1" != default ]; then
        echo "--values=$1"
    fi
}

case_name() {
    if [ "$1" = default ]; then echo "default values"; else echo "${1#"$REPO"/}"; fi
}

# The Secret names a value set expects to exist outside the chart:
# existingSecret (credentials, server API keys), every *secretName /
# *SecretName (gateway.tls, grpc.tls, serverApi.tls and its client CA, the
# JWKS); and the ConfigMap names (configMapName: the JWKS).
external_secrets() {
    [ "$1" = default ] && return 0
    sed -n 's/^[[:space:]]*\(existingSecret\|secretName\|[A-Za-z]*SecretName\):[[:space:]]*"\{0,1\}\([^"#[:space:]]*\)"\{0,1\}.*/\2/p' "$1"
}
external_config_maps() {
    [ "$1" = default ] && return 0
    sed -n 's/^[[:space:]]*configMapName:[[:space:]]*"\{0,1\}\([^"#[:space:]]*\)"\{0,1\}.*/\1/p' "$1"
}

for values in "${cases[@]}"; do
    name="$(case_name "$values")"
    # shellcheck disable=SC2046 # values_args prints zero or one word
    set -- $(values_args "$values")

    step "helm lint --strict ($name)"
    if "$HELM" lint --strict "$CHART" "$@"; then
        pass "lint ($name)"
    else
        fail "lint ($name)"
    fi

    step "helm template + Kubernetes schemas ($name)"
    rendered="$work/$(basename "$values" .yaml).rendered.yaml"
    if ! "$HELM" template tidings "$CHART" --namespace "$NAMESPACE" "$@" >"$rendered"; then
        fail "template ($name)"
        continue
    fi
    check_args=(--example-config "$REPO/tidings.example.toml")
    for version in $KUBE_VERSIONS; do
        check_args+=(--kube-version "$version")
    done
    for secret in $(external_secrets "$values"); do
        check_args+=(--external-secret "$secret")
    done
    for config_map in $(external_config_maps "$values"); do
        check_args+=(--external-config-map "$config_map")
    done
    if "$PY" "$TESTS/check_manifests.py" "${check_args[@]}" "$rendered"; then
        pass "manifests ($name)"
    else
        fail "manifests ($name)"
    fi
done

step "negative cases: values the chart must refuse"
for bad in "$TESTS"/bad-values/*.yaml; do
    # First line: "# expect: <text the error must contain>". A line
    # "# only: template" marks a check that JSON Schema cannot express (helm
    # lint skips the chart's template checks, so only `helm template` fails).
    expect="$(sed -n '1s/^# expect: //p' "$bad")"
    [ -n "$expect" ] || die "${bad#"$REPO"/} lacks its '# expect: ...' first line"
    commands=(lint template)
    if grep -q '^# only: template$' "$bad"; then
        commands=(template)
    fi
    for command in "${commands[@]}"; do
        if [ "$command" = lint ]; then
            args=(lint --strict "$CHART" --values "$bad")
        else
            args=(template tidings "$CHART" --values "$bad")
        fi
        if output="$("$HELM" "${args[@]}" 2>&1)"; then
            fail "helm $command accepted ${bad#"$REPO"/}"
        elif grep -qF -- "$expect" <<<"$output"; then
            pass "helm $command refuses ${bad#"$REPO"/}: $expect"
        else
            fail "helm $command refused ${bad#"$REPO"/} without '$expect':"
            while IFS= read -r line; do echo "    $line"; done <<<"$output" >&2
        fi
    done
done

step "rendered tidings.toml accepted by the binaries"
if [ -x "$BIN_DIR/tidings" ] && [ -x "$BIN_DIR/tidings-gateway" ]; then
    echo "binaries: $BIN_DIR (build them first so they match the tree)"
    for values in "${cases[@]}"; do
        name="$(case_name "$values")"
        rendered="$work/$(basename "$values" .yaml).rendered.yaml"
        [ -s "$rendered" ] || continue
        if "$PY" "$TESTS/check_config_with_binaries.py" --bin-dir "$BIN_DIR" "$rendered"; then
            pass "config accepted ($name)"
        else
            fail "config rejected ($name)"
        fi
    done
else
    echo "SKIP: no Tidings binaries in $BIN_DIR (cargo build --workspace --bins, or set TIDINGS_BIN_DIR)"
fi

step "summary"
elapsed=$((SECONDS - started))
if [ "$failures" -gt 0 ]; then
    echo "validate-chart.sh: $failures check(s) failed (${elapsed} s)" >&2
    exit 1
fi
echo "validate-chart.sh: all checks passed (${elapsed} s)"

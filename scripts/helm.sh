#!/usr/bin/env bash
# Builds Helm 3 from the Go module proxy with the machine's Go, into
# <repo>/.tools/bin/helm (git-ignored), and prints the binary's path.
#
#   scripts/helm.sh           build if missing or another version, print the path
#   scripts/helm.sh --force   rebuild even if the right version is already there
#
# Environment: HELM_VERSION (default below), GO (default: go on PATH).
# Idempotent: a helm already at HELM_VERSION is left alone. Only the path goes
# to stdout, so callers can write  helm="$(scripts/helm.sh)".
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
GO="${GO:-go}"
BIN_DIR="$REPO/.tools/bin"
HELM="$BIN_DIR/helm"

say() { echo "helm.sh: $*" >&2; }
die() {
    echo "helm.sh: error: $*" >&2
    exit 1
}

force=false
case "${1:-}" in
'') ;;
--force) force=true ;;
*)
    echo "usage: $0 [--force]   (version from HELM_VERSION, default $HELM_VERSION)" >&2
    exit 2
    ;;
esac

case "$HELM_VERSION" in
v3.*) ;;
*) die "HELM_VERSION must be a Helm 3 release tag such as v3.22.0, got '$HELM_VERSION'" ;;
esac

installed_version() {
    [ -x "$HELM" ] || return 1
    "$HELM" version --template '{{.Version}}' 2>/dev/null
}

if ! $force && [ "$(installed_version || true)" = "$HELM_VERSION" ]; then
    echo "$HELM"
    exit 0
fi

command -v "$GO" >/dev/null 2>&1 || die "Go is needed to build Helm ('$GO' not found)"

mkdir -p "$BIN_DIR"
say "building helm $HELM_VERSION with $("$GO" version | awk '{print $3}') (first build takes a few minutes)"
started=$SECONDS
# Everything runs outside the repository so no go.mod here is consulted or changed.
cd /

# Helm's release build stamps its version and the Kubernetes version it was
# built against (the default of --kube-version and of .Capabilities); do the
# same, reading the latter from Helm's own go.mod (k8s.io/client-go v0.N -> 1.N).
gomod="$("$GO" mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')" ||
    die "could not download helm.sh/helm/v3@$HELM_VERSION from the Go module proxy"
[ -f "$gomod" ] || die "no go.mod for helm.sh/helm/v3@$HELM_VERSION (got '$gomod')"
k8s_minor="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -n 1)"
[ -n "$k8s_minor" ] || die "could not read the k8s.io/client-go version from $gomod"

ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
    "$GO" install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 ||
    die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"

got="$(installed_version || true)"
[ "$got" = "$HELM_VERSION" ] || die "built helm reports version '$got', expected $HELM_VERSION"
say "built $HELM in $((SECONDS - started)) s"
echo "$HELM"

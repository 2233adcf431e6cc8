#!/usr/bin/env bash
# Builds grpcurl (a real gRPC client) from the Go module proxy with the
# machine's Go into .tools/bin, once; prints its path. The tests use it to
# list services through reflection and call them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version="v1.9.3"
bin_dir="$repo/.tools/bin"
bin="$bin_dir/grpcurl"
stamp="$bin_dir/.grpcurl-$version"

if [ -x "$bin" ] && [ -f "$stamp" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null 2>&1 || {
  echo "grpcurl.sh: Go is needed to build grpcurl (apt-get install golang-go)" >&2
  exit 1
}
mkdir -p "$bin_dir"
echo "grpcurl.sh: building grpcurl $version from the Go module proxy" >&2
GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version" >&2
touch "$stamp"
echo "$bin"

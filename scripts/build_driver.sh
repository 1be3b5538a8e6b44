#!/bin/sh
# Builds tools/cnidriver/cnidriver, the libcni test driver, against Debian's
# golang-github-appc-cni-dev (libcni 1.1.2 in /usr/share/gocode) in GOPATH mode: no module
# download, no network. Skips the build when the binary is newer than its source.
# Usage: sh scripts/build_driver.sh [--force]
set -eu

cd "$(dirname "$0")/.."
src=tools/cnidriver/main.go
out=tools/cnidriver/cnidriver
gopath=${TERN_GOPATH:-/usr/share/gocode}

if [ "${1:-}" != "--force" ] && [ -x "$out" ] \
  && [ -z "$(find "$src" scripts/build_driver.sh -newer "$out")" ]; then
  echo "cnidriver is up to date: $out"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "Cannot build cnidriver: go is not installed: apt-get install golang-go" >&2
  exit 1
fi
if [ ! -d "$gopath/src/github.com/containernetworking/cni/libcni" ]; then
  echo "Cannot build cnidriver: libcni is missing from $gopath: apt-get install golang-github-appc-cni-dev" >&2
  exit 1
fi
# Go needs a build cache; a CI shell may have no HOME.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ]; then export GOCACHE=/tmp/tern-go-build; fi

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
GO111MODULE=off GOPATH="$gopath" GOFLAGS='' CGO_ENABLED=0 go build -o "$tmp" "$src"
mv -f "$tmp" "$out"
echo "built $out"

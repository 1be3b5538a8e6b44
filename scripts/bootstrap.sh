#!/bin/sh
# Makes a Debian 12 machine (as root) ready to build and test tern, and is quick when it already
# is: installs the missing Debian packages (apt-get update runs only when something is missing),
# runs `npm ci` when node_modules is missing or package-lock.json changed (npm brings the pinned
# Deno), and builds the libcni test driver when its source changed.
# Usage: sh scripts/bootstrap.sh
set -eu

cd "$(dirname "$0")/.."

say() { echo "bootstrap: $*"; }
die() {
  echo "bootstrap: $*" >&2
  exit 1
}

# iproute2/nftables/iptables: the datapath and portmap; containernetworking-plugins: portmap, ptp,
# host-local; golang-go + golang-github-appc-cni-dev: the libcni driver; iputils-ping, iperf3,
# util-linux (nsenter), procps (sysctl): kernel tests; systemd: systemd-analyze for the unit.
PACKAGES="iproute2 nftables iptables iperf3 containernetworking-plugins golang-go
golang-github-appc-cni-dev iputils-ping util-linux procps systemd"
if ! command -v npm >/dev/null 2>&1; then PACKAGES="$PACKAGES npm"; fi

# shellcheck disable=SC2086 # word splitting of the list is intended
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null || true)
missing=
for p in $PACKAGES; do
  if ! printf '%s\n' "$installed" | grep -qx "$p install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || die "Cannot install Debian packages without root: missing:$missing"
  say "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
else
  say "Debian packages: all present"
fi

stamp=node_modules/.tern-package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -x node_modules/.bin/deno ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "node_modules: up to date"
else
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  [ -x node_modules/.bin/deno ] || die "npm ci did not install deno: node_modules/.bin/deno is missing"
  echo "$want" >"$stamp"
fi
say "$(node_modules/.bin/deno --version | head -n 1)"

sh scripts/build_driver.sh

#!/bin/bash
# install-cni.sh: the tern DaemonSet's init container (deploy/30-daemonset.yaml). Installs the
# tern executable, its runtime and /etc/cni/net.d/10-tern.conflist into the host, whose
# directories the container mounts under $TERN_HOST_ROOT (default /host), by running install.sh
# with that root: atomic, idempotent, and it removes what an older tern left.
#
# Only the mounted directories reach the host (/opt/cni/bin, /etc/cni/net.d, /usr/local/lib/tern);
# what else install.sh writes under the root (a ternd.yaml, a systemd unit, links in
# /usr/local/bin) stays in the container and goes with it. portmap, chained after tern, is copied
# from the image when the host has none (install.sh would link it, and a link would point into
# the image). The pod interface MTU is $TERN_MTU, else that of the host's default route's device
# (the pod shares the host's network namespace), else 1500.
set -eu -o pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
HOST=${TERN_HOST_ROOT:-/host}
PORTMAP=${TERN_PORTMAP:-/usr/lib/cni/portmap}

say() { echo "install-cni: $*"; }

if [ ! -d "$HOST/opt/cni/bin" ]; then
  echo "install-cni: The host's /opt/cni/bin is not mounted: $HOST/opt/cni/bin is missing" >&2
  exit 1
fi

if [ ! -e "$HOST/opt/cni/bin/portmap" ] && [ ! -L "$HOST/opt/cni/bin/portmap" ]; then
  cp "$PORTMAP" "$HOST/opt/cni/bin/.portmap.tmp.$$"
  chmod 0755 "$HOST/opt/cni/bin/.portmap.tmp.$$"
  mv -f "$HOST/opt/cni/bin/.portmap.tmp.$$" "$HOST/opt/cni/bin/portmap"
  say "copied portmap into /opt/cni/bin"
fi

mtu=${TERN_MTU:-}
if [ -z "$mtu" ]; then
  dev=$(ip -o route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
  mtu=1500
  if [ -n "$dev" ] && [ -r "/sys/class/net/$dev/mtu" ]; then
    mtu=$(cat "/sys/class/net/$dev/mtu")
  fi
  say "MTU $mtu (from ${dev:-no default route})"
fi

exec "$HERE/install.sh" --root "$HOST" --no-start --mtu "$mtu"

#!/bin/sh
# Removes what a crashed test, demo or benchmark run left behind: every network namespace whose
# name starts with the sandbox prefix (test/sandbox.ts: "ternt"), and the temp dirs beside them.
# Namespaces are the only kernel objects the sandbox creates outside its own namespaces, so
# deleting them takes their veths, routes, rules and nft tables with them.
set -u
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^ternt'); do
  # Kill whatever still runs inside (daemons, servers) before deleting the namespace.
  pids=$(ip netns pids "$ns" 2>/dev/null)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  ip netns del "$ns" && echo "removed netns $ns"
done
for dir in "${TMPDIR:-/tmp}"/ternt*; do
  [ -d "$dir" ] && rm -rf "$dir" && echo "removed $dir"
done
exit 0

#!/bin/bash
# What a new TCP connection costs through a node with connection tracking and tern's policy
# tables, in paired rounds (issue 12: the new-connection rate with 1k and 10k rules).
#
# One node namespace with two pods wired as tern wires them (veths named like tern's, /32 routes,
# the link-local gateway as a permanent neighbour, no RPDB rule, the veths in tern's ready group)
# and tools/tcpconn: a server in pod b that writes a line and closes, a client in pod a that
# connects, reads and closes, one connection after another, both on CPU 1, so the loop's time per
# connection is the CPU cost of a whole short connection. Each round measures every variant back
# to back (only the node's nftables tables change between them) and prints the mean ns per
# connection; the summary is each variant's median and the median of its paired ratios
# base/variant (a rate ratio: below 1 is slower than the base, `ct` when measured, else `none`).
# The node's TIME_WAIT timeout for tracked connections is 1 s (120 s by default), so that the
# table holds about a second of connections and no variant inherits the last one's entries.
#
# Variants: none (no nftables), ct (the kube-proxy stand-in of the benches' --node-conntrack: one
# `ct state established,related accept` in a table of its own), and, each with ct on top:
# - tern0: tern's table with some pod isolated but neither a or b (the chain's ct rules, ready
#   checks and verdict maps; what every tern node with isolation has);
# - other1k, other10k: tern's table as it renders 1k or 10k SecurityGroup rules of another pod
#   (that pod's chain and interval map hold them; a and b are not isolated);
# - own1k, own10k: the rules in the server's own map (b's ingress chain, an allow for a), as the
#   daemon renders it today: one `ipv4_addr . inet_proto . inet_service` interval map (pipapo)
#   with counters, looked up by every new connection;
# - own10knc: the same without the map's per-element counters;
# - own10kexact: the exact (one address, one protocol, one port) rules in a hash map looked up
#   first, the others (here: the allow for a, every port) in the interval map;
# - own10kct: own10k with no `ct` rule of tern's (kube-proxy's table alone tracks; tern's
#   established rule removed), to tell the two `ct state` lookups apart.
#
# Usage: bash scripts/conn_cost.sh [ROUNDS (20)] [CONNECTIONS per run (3000)] [VARIANTS...]
# Needs root, iproute2, nftables, jq, python3 and go (it builds tools/tcpconn). Namespaces are
# named ternt<pid>cc… and always removed on exit.
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-20}
count=${2:-3000}
shift $(( $# < 2 ? $# : 2 ))
variants=${*:-none ct tern0 other10k own1k own10k own10knc own10kexact}
bin=tools/tcpconn/tcpconn
if [ ! -x "$bin" ] || [ tools/tcpconn/main.go -nt "$bin" ]; then
  [ -n "${HOME:-}" ] || export GOCACHE=/tmp/tern-go-build
  (cd tools/tcpconn && GOFLAGS=-mod=mod go build -o tcpconn .)
fi
READY=1952805486 # tern's ready group, src/policy/render.ts READY_GROUP
P=ternt$$cc
raw=$(mktemp)
work=$(mktemp -d)
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  for n in n a b; do ip netns del "${P}$n" 2>/dev/null || true; done
  rm -rf "$raw" "$work"
}
trap cleanup EXIT
ip netns add "${P}n"; ip -n "${P}n" link set lo up
i=1
for p in a b; do
  ip netns add "${P}$p"
  ip=10.99.0.$i; veth=tern000000000$p; i=$((i + 1))
  ip -n "${P}n" link add "$veth" type veth peer name eth0 netns "${P}$p"
  ip -n "${P}n" link set "$veth" group "$READY" up
  ip -n "${P}$p" link set lo up; ip -n "${P}$p" link set eth0 up
  ip -n "${P}$p" addr add "$ip/32" dev eth0
  ip -n "${P}$p" route add 169.254.1.1 dev eth0
  mac=$(ip -n "${P}n" -j link show "$veth" | jq -r '.[0].address')
  ip -n "${P}$p" neigh add 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
  ip -n "${P}$p" route add default via 169.254.1.1 dev eth0
  ip -n "${P}n" route add "$ip/32" dev "$veth"
  ip netns exec "${P}n" sysctl -qw "net.ipv4.conf.$veth.rp_filter=1"
done
ip netns exec "${P}n" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "${P}b" taskset -c 1 "$bin" -serve 0.0.0.0:8080 &
server=$!
sleep 0.3

# The rules' elements, as the daemon renders SecurityGroup rules `from <address>/32, tcp, port`:
# `10.200.x.y . tcp . <port>`. elements N FILE
elements() {
  python3 - "$1" >"$2" <<'PY'
import sys
n = int(sys.argv[1])
print(",\n".join(f"10.{200 + (i >> 16)}.{(i >> 8) & 255}.{i & 255} . tcp . {1024 + i % 50000} : accept"
                 for i in range(n)))
PY
}
for n in 1000 10000; do elements "$n" "$work/e$n"; done

kubeproxy='table inet kp {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
  }
}'
# tern's table (src/policy/render.ts): the stateful forward chain, an isolated pod's ingress chain
# and maps. tern_table POD-VETH ELEMENTS-FILE [MAP-FLAGS] [EXACT] [CT-RULES]
tern_table() {
  local veth=$1 file=$2 flags=${3:-"flags interval; counter;"} exact=${4:-} ct=${5:-yes}
  local lookups='ip saddr . meta l4proto . th dport vmap @p_in_l4'
  echo "table inet tern {"
  echo "  map pod_egress { type ifname : verdict; }"
  echo "  map pod_ingress { type ifname : verdict; elements = { \"$veth\" : jump p_in } }"
  echo "  map p_in_icmp { type ipv4_addr . icmp_type . icmp_code : verdict; flags interval; counter; }"
  if [ -n "$exact" ]; then
    echo "  map p_in_exact { type ipv4_addr . inet_proto . inet_service : verdict; counter;"
    echo "    elements = {"; cat "$file"; echo "    } }"
    echo "  map p_in_l4 { type ipv4_addr . inet_proto . inet_service : verdict; $flags"
    echo "    elements = { 10.99.0.1 . tcp . 0-65535 : accept } }"
    lookups="ip saddr . meta l4proto . th dport vmap @p_in_exact
    $lookups"
  else
    echo "  map p_in_l4 { type ipv4_addr . inet_proto . inet_service : verdict; $flags"
    echo "    elements = { 10.99.0.1 . tcp . 0-65535 : accept,"; cat "$file"; echo "    } }"
  fi
  echo "  chain p_in {"
  echo "    meta l4proto icmp ip saddr . icmp type . icmp code vmap @p_in_icmp"
  echo "    $lookups"
  echo "    counter drop"
  echo "  }"
  echo "  chain forward {"
  echo "    type filter hook forward priority filter; policy accept;"
  if [ "$ct" = yes ]; then
    echo "    ct state established,related accept"
    echo "    ct state invalid drop"
  fi
  echo "    meta iifgroup != $READY iifname \"tern*\" counter drop"
  echo "    meta oifgroup != $READY oifname \"tern*\" counter drop"
  echo "    iifname vmap @pod_egress"
  echo "    oifname vmap @pod_ingress"
  echo "  }"
  echo "}"
}
nft_in() { ip netns exec "${P}n" nft -f -; }
variant() {
  ip netns exec "${P}n" nft flush ruleset
  case $1 in
    none) ;;
    ct) echo "$kubeproxy" | nft_in ;;
    tern0) echo "$kubeproxy" | nft_in; : >"$work/empty"; tern_table ternzzzzzzzzzz "$work/empty" | nft_in ;;
    other1k) echo "$kubeproxy" | nft_in; tern_table ternzzzzzzzzzz "$work/e1000" | nft_in ;;
    other10k) echo "$kubeproxy" | nft_in; tern_table ternzzzzzzzzzz "$work/e10000" | nft_in ;;
    own1k) echo "$kubeproxy" | nft_in; tern_table tern000000000b "$work/e1000" | nft_in ;;
    own10k) echo "$kubeproxy" | nft_in; tern_table tern000000000b "$work/e10000" | nft_in ;;
    own10knc) echo "$kubeproxy" | nft_in; tern_table tern000000000b "$work/e10000" "flags interval;" | nft_in ;;
    own10kexact) echo "$kubeproxy" | nft_in; tern_table tern000000000b "$work/e10000" "" exact | nft_in ;;
    own10kct) echo "$kubeproxy" | nft_in; tern_table tern000000000b "$work/e10000" "" "" no | nft_in ;;
    *) echo "conn_cost.sh: unknown variant $1" >&2; exit 2 ;;
  esac
  ip netns exec "${P}n" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
    2>/dev/null || true
}
send() { ip netns exec "${P}a" taskset -c 1 "$bin" 10.99.0.2:8080 "$1"; }

variant none; send 2000 >/dev/null
for _ in $(seq "$rounds"); do
  line=""
  for v in $variants; do
    variant "$v"
    line="$line $v=$(send "$count")"
  done
  echo "$line" >>"$raw"
done
python3 - "$raw" "$rounds" "$count" <<'PY'
import statistics as st, sys
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1]) if line.strip()]
base = "ct" if "ct" in rows[0] else "none"
print(f"ns per new TCP connection (connect, read a line, close), pod to pod on one node, client and"
      f" server on CPU 1, {sys.argv[2]} rounds of {sys.argv[3]}; ratio {base}/variant (a rate ratio)")
for k in rows[0]:
    ns = [int(r[k]) for r in rows]
    ratio = [int(r[base]) / int(r[k]) for r in rows]
    q = st.quantiles(ratio, n=4) if len(ratio) > 1 else [ratio[0]] * 3
    print(f"{k:12} median {st.median(ns):7.0f} ns   {base}/{k} median {st.median(ratio):.3f}"
          f" (p25-p75 {q[0]:.3f}-{q[2]:.3f})")
PY

#!/bin/bash
# What a source-address check or a netfilter hook costs per forwarded datagram, in paired rounds.
#
# One node namespace with tern's datapath for two pods (veths named like tern's, /32 routes, the
# link-local gateway as a permanent neighbour, a `to <pod> lookup main` rule at 512 per pod) and
# tools/udpsend sending 1400-byte datagrams from pod a to pod b on CPU 1. Each round measures every
# variant back to back on the same namespaces (only the node's sysctls, nftables tables or extra
# rules change between them) and prints the mean ns per datagram; the summary is each variant's
# median and the median of its paired ratios none/variant (a throughput ratio: below 1 is slower
# than `none`) and, when `ptp` is measured, ptp/variant (below 1: slower than ptp's node). `ptp`
# sends from pod c to pod d on a second node namespace built the same way but for the rules.
#
# Variants: none (rp_filter 0, accept_local 1: no source check at all), rpf (strict rp_filter,
# tern's setting), rp0 (rp_filter 0, accept_local 0), netdev (an nftables netdev ingress chain per
# veth: ip saddr != <pod> drop), inetset (an inet prerouting chain at priority raw with an
# `ifname . ipv4_addr` set lookup), forward (tern's forward chain with no pod isolated: the two ready
# checks on the veths' interface group), fwdset (the chain before 8a91f9e: ready as a set, and
# the two verdict maps), ct (a forward chain with one ct state accept: conntrack on).
# Forward-chain variants, to take its cost apart: fwdhook (a hooked chain with no rule), fwdready
# (only the set's two ready checks), fwdvmap (only the two verdict-map lookups), fwdgrp2 (ready
# as interface-group compares only, no names). rules64: 64 more `to <address> lookup main` rules ahead of the pods' (a node
# with 64 more pods: every lookup walks them), no source check. Whole nodes: ptp (the same two
# pods on a second node namespace that never had an RPDB rule, rp_filter 0, no nftables: what
# the reference ptp plugin's node is) and tern (tern's node with nothing isolated: the to-rules,
# strict rp_filter, the forward chain on ready groups). DC_CHECK=1 prints, after each send, how many rules dropped packets and how many
# of the datagrams the receiving namespace got (a variant that dropped would look cheap). DC_RAW=FILE
# keeps each round's figures (`variant=ns …`, one line per round) in FILE.
#
# The rule walk (issue 12): tern's strict rp_filter on the veths and no nftables in every case,
# paired against r0. r0: pods c and d on the ptp node namespace, which never had a rule (tern's
# node with no pod bound to an egress table). On a third node namespace built the same way (pods
# g and h): b1 and b110 (1 or 110 pods bound to an egress table: `to 10.99.0.0/24` (the pod
# CIDR) and `to 10.99.0.0/16` (the cluster CIDR) lookup main at 512, and 1 or 110 `from <another
# pod> lookup 100` at 1536; g and h are unbound), old110 (the rules before issue 12 on a node with
# 110 pods: 110 `to <pod> lookup main` at 512, g's and h's last) and k0 (that node with no rule:
# a true 0 only in a run with no b* or old110* variant, for an A/A of the two namespaces; after
# one, the node whose last binding went, as the kernel never clears its custom-rules flag). Each
# has a `far` twin (r0far, k0far, b1far, b110far, old110far) that sends from the same pod to
# 192.0.2.5, a host behind the node that no rule at 512 covers (a node address, the internet, a
# pod of another node without clusterCIDRs), so the lookup walks every rule. The summary adds
# r0/variant (r0far/variant for the far ones).
#
# Usage: bash scripts/datagram_cost.sh [ROUNDS (40)] [DATAGRAMS per run (50000)] [VARIANTS...]
# The rule walk: ... 40 50000 r0 r0far b1 b1far b110 b110far old110 old110far k0 k0far; the A/A
# of its two namespaces: ... 40 50000 r0 r0far k0 k0far.
# Needs root, iproute2, nftables, jq, python3 and go (it builds tools/udpsend). Namespaces are
# named ternt<pid>dc… (scripts/cleanup.sh removes leftovers) and always removed on exit.
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-40}
count=${2:-50000}
shift $(( $# < 2 ? $# : 2 ))
variants=${*:-none rpf rp0 netdev inetset forward ct}
bin=tools/udpsend/udpsend
if [ ! -x "$bin" ] || [ tools/udpsend/main.go -nt "$bin" ]; then
  [ -n "${HOME:-}" ] || export GOCACHE=/tmp/tern-go-build
  (cd tools/udpsend && GOFLAGS=-mod=mod go build -o udpsend .)
fi
P=ternt$$dc
raw=$(mktemp)
cleanup() {
  [ -n "${receiver:-}" ] && kill "$receiver" 2>/dev/null || true
  [ -n "${receiver2:-}" ] && kill "$receiver2" 2>/dev/null || true
  for r in ${receivers:-}; do kill "$r" 2>/dev/null || true; done
  [ -z "${DC_RAW:-}" ] || cp "$raw" "$DC_RAW"
  for n in n a b m c d f k g h i; do ip netns del "${P}$n" 2>/dev/null || true; done
  rm -f "$raw"
}
trap cleanup EXIT
# A node namespace with two pods wired as tern wires them (veth, /32, the link-local gateway as a
# permanent neighbour, a host route) and a receiver in the second pod.
# node NODE POD1 POD2 FIRST-ADDRESS-INDEX VETH-PREFIX
node() {
  local n=$1 i=$4 p ip veth mac
  ip netns add "${P}$n"; ip -n "${P}$n" link set lo up
  for p in "$2" "$3"; do
    ip netns add "${P}$p"
    ip=10.99.0.$i; veth=$5$p; i=$((i + 1))
    ip -n "${P}$n" link add "$veth" type veth peer name eth0 netns "${P}$p"
    ip -n "${P}$n" link set "$veth" up
    ip -n "${P}$p" link set lo up; ip -n "${P}$p" link set eth0 up
    ip -n "${P}$p" addr add "$ip/32" dev eth0
    ip -n "${P}$p" route add 169.254.1.1 dev eth0
    mac=$(ip -n "${P}$n" -j link show "$veth" | jq -r '.[0].address')
    ip -n "${P}$p" neigh add 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
    ip -n "${P}$p" route add default via 169.254.1.1 dev eth0
    ip -n "${P}$n" route add "$ip/32" dev "$veth"
  done
  ip netns exec "${P}$n" sysctl -qw net.ipv4.ip_forward=1
}
# A host behind node NODE at 192.0.2.5, outside every pod and cluster CIDR, with a receiver.
# outside NODE HOST VETH
outside() {
  ip netns add "${P}$2"; ip -n "${P}$2" link set lo up
  ip -n "${P}$1" link add "$3" type veth peer name eth0 netns "${P}$2"
  ip -n "${P}$1" link set "$3" up; ip -n "${P}$2" link set eth0 up
  ip -n "${P}$2" addr add 192.0.2.5/24 dev eth0
  ip -n "${P}$1" route add 192.0.2.5/32 dev "$3"
  ip netns exec "${P}$2" "$bin" -recv 0.0.0.0:5300 &
}
# tern's node: pods a and b, and the `to <pod> lookup main` rules.
node n a b 1 tern0000000000
for i in 1 2; do ip -n "${P}n" rule add to "10.99.0.$i" lookup main pref 512; done
ip netns exec "${P}b" "$bin" -recv 0.0.0.0:5300 &
receiver=$!
# The ptp node: the same datapath for pods c and d, but never an RPDB rule and no source check.
node m c d 3 dcp000000000
ip netns exec "${P}d" "$bin" -recv 0.0.0.0:5300 &
receiver2=$!
outside m f dcf000000000f
receivers=$!
ptp_rp_filter=$(ip netns exec "${P}m" sysctl -n net.ipv4.conf.dcp000000000c.rp_filter)
# The rule-walk node: pods g and h, tern's strict rp_filter, the rules of the variant measured.
node k g h 5 dck000000000
ip netns exec "${P}h" "$bin" -recv 0.0.0.0:5300 &
receivers="$receivers $!"
outside k i dci000000000i
receivers="$receivers $!"
for p in g h; do
  ip netns exec "${P}k" sysctl -qw "net.ipv4.conf.dck000000000$p.rp_filter=1" \
    "net.ipv4.conf.dck000000000$p.accept_local=0"
done
sleep 0.3

# The RPDB rules of node k for a variant, as `ip -batch` lines with `add`.
rules_of() {
  local i
  case $1 in
    b1 | b1far | b110 | b110far)
      echo "rule add to 10.99.0.0/24 lookup main pref 512"
      echo "rule add to 10.99.0.0/16 lookup main pref 512"
      local n=1; [ "${1%far}" = b110 ] && n=110
      for i in $(seq 10 $((9 + n))); do echo "rule add from 10.99.0.$i lookup 100 pref 1536"; done ;;
    old110 | old110far)
      for i in $(seq 10 117); do echo "rule add to 10.99.0.$i lookup main pref 512"; done
      echo "rule add to 10.99.0.5 lookup main pref 512"
      echo "rule add to 10.99.0.6 lookup main pref 512" ;;
  esac
}
# Makes node k's rules those of variant $1, deleting the previous variant's first.
current_rules=""
set_rules() {
  local want
  want=$(rules_of "$1")
  [ "$want" = "$current_rules" ] && return 0
  if [ -n "$current_rules" ]; then
    printf '%s\n' "$current_rules" | sed 's/^rule add /rule del /' | ip -n "${P}k" -batch -
  fi
  [ -z "$want" ] || printf '%s\n' "$want" | ip -n "${P}k" -batch -
  current_rules=$want
}

nft_in() { ip netns exec "${P}n" nft -f -; }
# msysctls RP_FILTER: the ptp node's veths (accept_local 0).
msysctls() {
  for p in c d; do
    ip netns exec "${P}m" sysctl -qw "net.ipv4.conf.dcp000000000$p.rp_filter=$1" \
      "net.ipv4.conf.dcp000000000$p.accept_local=0"
  done
}
sysctls() {
  for p in a b; do
    ip netns exec "${P}n" sysctl -qw "net.ipv4.conf.tern0000000000$p.rp_filter=$1" \
      "net.ipv4.conf.tern0000000000$p.accept_local=$2"
  done
}
# forward_chain DECLARATIONS RULES: a table `inet dc` with a forward chain holding RULES.
ready='  set ready { type ifname; elements = { "tern0000000000a", "tern0000000000b" }; }'
maps='  map pod_egress { type ifname : verdict; }
  map pod_ingress { type ifname : verdict; }'
forward_chain() {
  printf 'table inet dc {\n%s\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    %s\n  }\n}\n' \
    "$1" "$2" | nft_in
}
variant() {
  ip netns exec "${P}n" nft flush ruleset
  case $1 in k0* | b1* | old110*) set_rules "$1" ;; esac
  case $1 in
    r0 | r0far) msysctls 1 ;;
    ptp) msysctls "$ptp_rp_filter" ;;
  esac
  case $1 in
    rpf | tern) sysctls 1 0 ;;
    rp0) sysctls 0 0 ;;
    *) sysctls 0 1 ;;
  esac
  for p in a b; do ip -n "${P}n" link set "tern0000000000$p" group 0; done
  case $1 in forward | tern) for p in a b; do ip -n "${P}n" link set "tern0000000000$p" group 0x7465726e; done ;; esac
  # rules64 leaves 64 more RPDB rules in the way (a node with 64 more pods); any other variant
  # takes them away again.
  if [ "$1" = rules64 ]; then
    for i in $(seq 1 64); do echo "rule add to 10.98.0.$i lookup main pref 511"; done |
      ip -n "${P}n" -batch -
  else
    while ip -n "${P}n" rule del pref 511 2>/dev/null; do :; done
  fi
  case $1 in
    none | rpf | rp0 | rules64 | ptp | r0* | k0* | b1* | old110*) ;;
    netdev) nft_in <<'NFT'
table netdev dc {
  chain a { type filter hook ingress device "tern0000000000a" priority 0; policy accept; ip saddr != 10.99.0.1 drop; }
  chain b { type filter hook ingress device "tern0000000000b" priority 0; policy accept; ip saddr != 10.99.0.2 drop; }
}
NFT
      ;;
    inetset) nft_in <<'NFT'
table inet dc {
  set sources { type ifname . ipv4_addr; elements = { "tern0000000000a" . 10.99.0.1, "tern0000000000b" . 10.99.0.2 }; }
  chain antispoof { type filter hook prerouting priority raw; policy accept; iifname "tern*" iifname . ip saddr != @sources drop; }
}
NFT
      ;;
    forward | tern) forward_chain "$maps" 'meta iifgroup != 0x7465726e iifname "tern*" counter drop
    meta oifgroup != 0x7465726e oifname "tern*" counter drop' ;;
    fwdset) forward_chain "$ready
$maps" 'iifname "tern*" iifname != @ready counter drop
    oifname "tern*" oifname != @ready counter drop
    iifname vmap @pod_egress
    oifname vmap @pod_ingress' ;;
    fwdhook) forward_chain "" "" ;;
    fwdready) forward_chain "$ready" 'iifname "tern*" iifname != @ready counter drop
    oifname "tern*" oifname != @ready counter drop' ;;
    fwdvmap) forward_chain "$maps" 'iifname vmap @pod_egress
    oifname vmap @pod_ingress' ;;
    fwdgrp2) forward_chain "$maps" 'meta iifgroup 0x74650004 counter drop
    meta oifgroup 0x74650004 counter drop
    meta iifgroup & 0x1 == 0x1 iifname vmap @pod_egress
    meta oifgroup & 0x2 == 0x2 oifname vmap @pod_ingress' ;;
    ct) forward_chain "" 'ct state established,related accept' ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
# The namespace that receives variant $1's datagrams.
receiver_of() {
  case $1 in
    ptp | r0) echo d ;; r0far) echo f ;;
    k0far | b1far | b110far | old110far) echo i ;; k0 | b1 | b110 | old110) echo h ;;
    *) echo b ;;
  esac
}
# IP datagrams received so far in variant $1's receiving namespace.
received() {
  ip netns exec "${P}$(receiver_of "$1")" awk '/^Ip: [0-9]/ {print $4}' /proc/net/snmp
}
send() {
  case $2 in
    ptp | r0) ip netns exec "${P}c" taskset -c 1 "$bin" 10.99.0.4:5300 "$1" ;;
    r0far) ip netns exec "${P}c" taskset -c 1 "$bin" 192.0.2.5:5300 "$1" ;;
    k0far | b1far | b110far | old110far)
      ip netns exec "${P}g" taskset -c 1 "$bin" 192.0.2.5:5300 "$1" ;;
    k0 | b1 | b110 | old110) ip netns exec "${P}g" taskset -c 1 "$bin" 10.99.0.6:5300 "$1" ;;
    *) ip netns exec "${P}a" taskset -c 1 "$bin" 10.99.0.2:5300 "$1" ;;
  esac
}

send 20000 warm >/dev/null; send 20000 ptp >/dev/null
for _ in $(seq "$rounds"); do
  line=""
  for v in $variants; do
    variant "$v"
    [ -z "${DC_CHECK:-}" ] || before=$(received "$v")
    line="$line $v=$(send "$count" "$v")"
    if [ -n "${DC_CHECK:-}" ]; then
      echo "$v: $(ip netns exec "${P}n" nft list ruleset | grep -c 'packets [1-9]') rules dropped packets," \
        "receiver got $(( $(received "$v") - before )) of $((count + 20000)) (udpsend warms up with 20000)" >&2
    fi
  done
  echo "$line" >>"$raw"
done
python3 - "$raw" "$rounds" "$count" <<'PY'
import statistics as st, sys
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1]) if line.strip()]
print(f"ns per 1400-byte datagram, pod to pod on one node, {sys.argv[2]} rounds of {sys.argv[3]}")
for k in rows[0]:
    ns = [int(r[k]) for r in rows]
    line = f"{k:9} median {st.median(ns):6.0f} ns"
    if "none" in rows[0]:
        ratio = [int(r["none"]) / int(r[k]) for r in rows]
        q = st.quantiles(ratio, n=4)
        line += f"   none/{k} median {st.median(ratio):.3f} (p25-p75 {q[0]:.3f}-{q[2]:.3f})"
    ref = "r0far" if k.endswith("far") else "r0"
    if ref in rows[0]:
        vs = [int(r[ref]) / int(r[k]) for r in rows]
        p = st.quantiles(vs, n=4)
        line += f"   {ref}/{k} median {st.median(vs):.3f} (p25-p75 {p[0]:.3f}-{p[2]:.3f})"
    if "ptp" in rows[0]:
        vs = [int(r["ptp"]) / int(r[k]) for r in rows]
        p = st.quantiles(vs, n=4)
        line += f"   ptp/{k} median {st.median(vs):.3f} (p25-p75 {p[0]:.3f}-{p[2]:.3f})"
    print(line)
PY

#!/bin/bash
# What a source-address check or a netfilter hook costs per forwarded datagram, in paired rounds.
#
# One node namespace with tern's datapath for two pods (veths named like tern's, /32 routes, the
# link-local gateway as a permanent neighbour, a `to <pod> lookup main` rule at 512 per pod) and
# tools/udpsend sending 1400-byte datagrams from pod a to pod b on CPU 1. Each round measures every
# variant back to back on the same namespaces (only the node's sysctls or nftables tables change
# between them) and prints the mean ns per datagram; the summary is each variant's median and the
# median of its paired ratios none/variant (a throughput ratio: below 1 is slower than `none`).
#
# Variants: none (rp_filter 0, accept_local 1: no source check at all), rpf (strict rp_filter,
# tern's setting), rp0 (rp_filter 0, accept_local 0), netdev (an nftables netdev ingress chain per
# veth: ip saddr != <pod> drop), inetset (an inet prerouting chain at priority raw with an
# `ifname . ipv4_addr` set lookup), forward (tern's forward chain with no pod isolated: the ready
# checks and the two verdict maps), ct (a forward chain with one ct state accept: conntrack on).
# Forward-chain variants, to take its cost apart: fwdhook (a hooked chain with no rule), fwdready
# (only the two ready checks), fwdvmap (only the two verdict-map lookups), fwdjump (ready and maps
# as one lookup per direction in jumped-to chains), fwdidx / fwdidxsz (the same keyed by interface
# index; sz: sets with a size), fwdsz (tern's chain with sized sets), fwdgrp (ready as the veth's
# interface group: name, then a masked group compare; maps behind group bits), fwdgrp2 (group
# compares only). DC_CHECK=1 prints, after each send, how many rules dropped packets and how many
# packets pod b received (a variant that dropped would look cheap).
#
# Usage: bash scripts/datagram_cost.sh [ROUNDS (40)] [DATAGRAMS per run (50000)] [VARIANTS...]
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
  for n in n a b; do ip netns del "${P}$n" 2>/dev/null || true; done
  rm -f "$raw"
}
trap cleanup EXIT
ip netns add "${P}n"; ip netns add "${P}a"; ip netns add "${P}b"
ip -n "${P}n" link set lo up
i=0
for p in a b; do
  i=$((i + 1)); ip=10.99.0.$i; veth=tern0000000000$p
  ip -n "${P}n" link add "$veth" type veth peer name eth0 netns "${P}$p"
  ip -n "${P}n" link set "$veth" up
  ip -n "${P}$p" link set lo up; ip -n "${P}$p" link set eth0 up
  ip -n "${P}$p" addr add "$ip/32" dev eth0
  ip -n "${P}$p" route add 169.254.1.1 dev eth0
  mac=$(ip -n "${P}n" -j link show "$veth" | jq -r '.[0].address')
  ip -n "${P}$p" neigh add 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
  ip -n "${P}$p" route add default via 169.254.1.1 dev eth0
  ip -n "${P}n" route add "$ip/32" dev "$veth"
  ip -n "${P}n" rule add to "$ip" lookup main pref 512
done
ip netns exec "${P}n" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "${P}b" "$bin" -recv 0.0.0.0:5300 &
receiver=$!
sleep 0.3

nft_in() { ip netns exec "${P}n" nft -f -; }
sysctls() {
  for p in a b; do
    ip netns exec "${P}n" sysctl -qw "net.ipv4.conf.tern0000000000$p.rp_filter=$1" \
      "net.ipv4.conf.tern0000000000$p.accept_local=$2"
  done
}
variant() {
  ip netns exec "${P}n" nft flush ruleset
  case $1 in
    rpf) sysctls 1 0 ;;
    rp0) sysctls 0 0 ;;
    *) sysctls 0 1 ;;
  esac
  for p in a b; do ip -n "${P}n" link set "tern0000000000$p" group 0; done
  case $1 in fwdgrp*) for p in a b; do ip -n "${P}n" link set "tern0000000000$p" group 0x74650000; done ;; esac
  case $1 in
    none | rpf | rp0) ;;
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
    forward) nft_in <<'NFT'
table inet dc {
  set ready { type ifname; elements = { "tern0000000000a", "tern0000000000b" }; }
  map pod_egress { type ifname : verdict; }
  map pod_ingress { type ifname : verdict; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" iifname != @ready counter drop
    oifname "tern*" oifname != @ready counter drop
    iifname vmap @pod_egress
    oifname vmap @pod_ingress
  }
}
NFT
      ;;
    fwdhook) nft_in <<'NFT'
table inet dc {
  chain forward { type filter hook forward priority filter; policy accept; }
}
NFT
      ;;
    fwdready) nft_in <<'NFT'
table inet dc {
  set ready { type ifname; elements = { "tern0000000000a", "tern0000000000b" }; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" iifname != @ready counter drop
    oifname "tern*" oifname != @ready counter drop
  }
}
NFT
      ;;
    fwdvmap) nft_in <<'NFT'
table inet dc {
  map pod_egress { type ifname : verdict; }
  map pod_ingress { type ifname : verdict; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname vmap @pod_egress
    oifname vmap @pod_ingress
  }
}
NFT
      ;;
    fwdjump) nft_in <<'NFT'
table inet dc {
  map from_pod { type ifname : verdict; elements = { "tern0000000000a" : return, "tern0000000000b" : return }; }
  map to_pod { type ifname : verdict; elements = { "tern0000000000a" : return, "tern0000000000b" : return }; }
  chain from_pod { iifname vmap @from_pod; counter drop; }
  chain to_pod { oifname vmap @to_pod; counter drop; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" jump from_pod
    oifname "tern*" jump to_pod
  }
}
NFT
      ;;
    fwdidx) nft_in <<'NFT'
table inet dc {
  map from_pod { type iface_index : verdict; elements = { "tern0000000000a" : return, "tern0000000000b" : return }; }
  map to_pod { type iface_index : verdict; elements = { "tern0000000000a" : return, "tern0000000000b" : return }; }
  chain from_pod { iif vmap @from_pod; counter drop; }
  chain to_pod { oif vmap @to_pod; counter drop; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" jump from_pod
    oifname "tern*" jump to_pod
  }
}
NFT
      ;;
    fwdgrp) nft_in <<'NFT'
table inet dc {
  map pod_egress { type ifname : verdict; }
  map pod_ingress { type ifname : verdict; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" meta iifgroup & 0xfffffffc != 0x74650000 counter drop
    oifname "tern*" meta oifgroup & 0xfffffffc != 0x74650000 counter drop
    meta iifgroup & 0x1 == 0x1 iifname vmap @pod_egress
    meta oifgroup & 0x2 == 0x2 oifname vmap @pod_ingress
  }
}
NFT
      ;;
    fwdgrp2) nft_in <<'NFT'
table inet dc {
  map pod_egress { type ifname : verdict; }
  map pod_ingress { type ifname : verdict; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    meta iifgroup 0x74650004 counter drop
    meta oifgroup 0x74650004 counter drop
    meta iifgroup & 0x1 == 0x1 iifname vmap @pod_egress
    meta oifgroup & 0x2 == 0x2 oifname vmap @pod_ingress
  }
}
NFT
      ;;
    fwdsz) nft_in <<'NFT'
table inet dc {
  set ready { type ifname; size 65536; elements = { "tern0000000000a", "tern0000000000b" }; }
  map pod_egress { type ifname : verdict; size 65536; }
  map pod_ingress { type ifname : verdict; size 65536; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" iifname != @ready counter drop
    oifname "tern*" oifname != @ready counter drop
    iifname vmap @pod_egress
    oifname vmap @pod_ingress
  }
}
NFT
      ;;
    fwdidxsz) nft_in <<'NFT'
table inet dc {
  set ready { type iface_index; size 65536; elements = { "tern0000000000a", "tern0000000000b" }; }
  map pod_egress { type iface_index : verdict; size 65536; }
  map pod_ingress { type iface_index : verdict; size 65536; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tern*" iif != @ready counter drop
    oifname "tern*" oif != @ready counter drop
    iif vmap @pod_egress
    oif vmap @pod_ingress
  }
}
NFT
      ;;
    ct) nft_in <<'NFT'
table inet dc {
  chain forward { type filter hook forward priority filter; policy accept; ct state established,related accept; }
}
NFT
      ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
send() { ip netns exec "${P}a" taskset -c 1 "$bin" 10.99.0.2:5300 "$1"; }

send 20000 >/dev/null
for _ in $(seq "$rounds"); do
  line=""
  for v in $variants; do
    variant "$v"; line="$line $v=$(send "$count")"
    if [ -n "${DC_CHECK:-}" ]; then
      echo "$v: $(ip netns exec "${P}n" nft list ruleset | grep -c 'packets [1-9]') rules dropped packets," \
        "receiver got $(ip netns exec "${P}b" nstat -az IpInReceives | awk "/IpInReceives/ {print \$2}")" >&2
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
    ratio = [int(r["none"]) / int(r[k]) for r in rows] if "none" in rows[0] else [1.0] * len(rows)
    q = st.quantiles(ratio, n=4)
    print(f"{k:8} median {st.median(ns):6.0f} ns   none/{k} median {st.median(ratio):.3f} (p25-p75 {q[0]:.3f}-{q[2]:.3f})")
PY

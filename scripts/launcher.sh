#!/bin/bash
# tern launcher (bundle mode). Runs the bundled JavaScript in <lib>/main.js on the pinned Deno
# binary <lib>/deno. main.ts picks the role from the name the launcher was called by
# (/opt/cni/bin/tern, /usr/local/bin/ternd, ...), passed as TERN_ARGV0 and kept as the process's
# argv[0] too (`exec -a`, which dash lacks, hence bash), so `ps` shows ternd as ternd.
#
# The lib directory is found relative to the launcher's real location, so the same file works
# as dist/tern (lib: dist/lib), installed as /opt/cni/bin/tern (lib: /usr/local/lib/tern/lib)
# and inside a staging root made by `install.sh --root DIR`. Symlinks to the launcher
# (/usr/local/bin/ternd) are resolved first.
#
# The V8 code cache lives in DENO_DIR: <root>/var/cache/tern/deno when installed, <dist>/cache/deno
# when run from the build output; TERN_CACHE_DIR overrides it. This file is copied verbatim to
# dist/tern by scripts/build.ts.

self=$0
if [ -L "$self" ]; then self=$(readlink -f -- "$self"); fi
case $self in
*/*) here=${self%/*} ;;
*) here=. ;;
esac

lib=
for candidate in "$here/lib" "$here/../../../usr/local/lib/tern/lib"; do
  if [ -f "$candidate/main.js" ] && [ -x "$candidate/deno" ]; then
    lib=$candidate
    break
  fi
done
if [ -z "$lib" ]; then
  if [ -n "${CNI_COMMAND:-}" ]; then
    # The runtime reads a CNI error from stdout; code 5 is the spec's I/O failure.
    echo '{"cniVersion":"1.0.0","code":5,"msg":"Cannot find tern'"'"'s runtime files"}'
  fi
  echo "tern: Cannot find tern's runtime files: no lib/main.js and lib/deno beside $self" \
    "nor in $here/../../../usr/local/lib/tern/lib" >&2
  exit 1
fi

if [ -n "${TERN_CACHE_DIR:-}" ]; then
  cache=$TERN_CACHE_DIR
else
  case $lib in
  */usr/local/lib/tern/lib) cache=${lib%/usr/local/lib/tern/lib}/var/cache/tern ;;
  *) cache=${lib%/lib}/cache ;;
  esac
  # Not writable (an operator running the CLI unprivileged): fall back to the user's cache.
  if ! [ -w "$cache" ] && ! [ -w "${cache%/*}" ]; then cache=${HOME:+$HOME/.cache/tern}; fi
fi
if [ -n "$cache" ]; then export DENO_DIR=$cache/deno; fi
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PACKAGE_JSON=1
# main.ts reads argv[0] from TERN_ARGV0 before falling back to node:process, which costs ~20 ms.
export TERN_ARGV0="$0"

# ternd holds the whole cluster's state for as long as it runs (docs/benchmarks.md, kube-scale:
# ~0.7 KB of live heap per pod). V8 sizes its heap limit from the machine's memory, not from the
# cgroup's: in a container limited to 512 MiB it would let the heap grow past the limit and the
# kernel's OOM killer, not a garbage collection, would end ternd. So where ternd's cgroup (v2)
# has a memory.max, its old space is held to 3/4 of it (the rest for the young generation, code
# and the buffers outside V8). Only for ternd: the plugin and the CLI start as before.
# --expose-gc lets ternd run one compacting collection once a list of the cluster is in: V8
# otherwise keeps for minutes the heap it grew for the list's garbage (~600 MB of JSON at 150 000
# pods). --heap-growing-percent=50 lets the heap grow to 1.5x what the last full collection left,
# where V8 would allow up to 4x on a large machine: the policy runs' garbage made ternd's RSS grow
# from ~410 MiB after the sync to ~870 MiB under churn at 150 000 pods (docs/benchmarks.md,
# "ternd's memory: a smaller heap"), for ~15 % more CPU in collections. --max-semi-space-size=8
# holds the young generation's semi-spaces to 8 MiB (V8 grows them to 16 under load): at 150 000
# pods under churn ~50 MiB less RSS (~400 -> ~350 MiB at the churn's end) for no CPU measured
# (docs/benchmarks.md, kube-scale "Where main stands"); at rest it changes nothing.
# TERND_V8_FLAGS (V8's comma-separated flags; "" for none) replaces what is derived here.
# MALLOC_ARENA_MAX=2 (unless set): glibc keeps the freed buffers of the API server's pages, TLS
# and HTTP bodies in up to 8 arenas a core; two arenas cut ternd's RSS by 18-50 MiB at 150 000
# pods (docs/benchmarks.md, "The policy side's memory") without more CPU.
v8=
inspect=
case ${0##*/}:${1:-} in
ternd:* | *:daemon)
  export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
  if [ -z "${TERND_V8_FLAGS+set}" ]; then
    TERND_V8_FLAGS=--expose-gc,--heap-growing-percent=50,--max-semi-space-size=8
    cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null)
    max=$(cat "${TERN_CGROUP_ROOT:-/sys/fs/cgroup}${cgroup%/}/memory.max" 2>/dev/null)
    case $max in
    '' | *[!0-9]*) ;;
    *) TERND_V8_FLAGS=$TERND_V8_FLAGS,--max-old-space-size=$((max / 1048576 * 3 / 4)) ;;
    esac
  fi
  if [ -n "${TERND_V8_FLAGS:-}" ]; then v8=--v8-flags=$TERND_V8_FLAGS; fi
  # TERND_INSPECT=HOST:PORT opens V8's inspector there (no pause), for a heap snapshot of the real
  # daemon: scripts/heap_snapshot.ts. Never set in production: the port runs any code it is given.
  if [ -n "${TERND_INSPECT:-}" ]; then inspect=--inspect=$TERND_INSPECT; fi
  ;;
*)
  # The CNI plugin (the runtime sets CNI_COMMAND): a process that lives ~30 ms runs V8 without
  # its helper threads (--single-threaded: collections and compiles on the main thread). In paired
  # pod-add-del runs (docs/benchmarks.md, "Where main stands", 2026-12-05) ADD p50 fell 1-4 ms and
  # a burst of 30 ADDs' p50 5-15 %. TERN_PLUGIN_V8_FLAGS replaces it ("" for none).
  if [ -n "${CNI_COMMAND:-}" ]; then
    if [ -z "${TERN_PLUGIN_V8_FLAGS+set}" ]; then TERN_PLUGIN_V8_FLAGS=--single-threaded; fi
    if [ -n "${TERN_PLUGIN_V8_FLAGS:-}" ]; then v8=--v8-flags=$TERN_PLUGIN_V8_FLAGS; fi
  fi
  ;;
esac

exec -a "$0" "$lib/deno" run --quiet --allow-all --unstable-kv --no-config --no-lock --no-prompt \
  ${v8:+"$v8"} ${inspect:+"$inspect"} "$lib/main.js" "$@"

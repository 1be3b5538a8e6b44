#!/bin/bash
# install.sh: installs tern from dist/ (made by `deno task build`) into / or a staging root.
# Layout, flags and uninstall are described in docs/install.md; `install.sh --help` lists them.
#
# Every file, link and directory that this script creates is recorded in
# <root>/usr/local/lib/tern/install-manifest, so that a re-install removes what the new build no
# longer has and --uninstall removes exactly what was installed. It never removes the state
# database (/var/lib/tern) or the daemon config (/etc/tern/ternd.yaml) unless --purge is given.
set -eu -o pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=/
DIST=$SRC/dist
MTU=
NODE_NAME=
POD_CIDRS=
KUBECONFIG_SRC=
START=1
ACTION=install
PURGE=0
SOCKET=/run/tern/ternd.sock

usage() {
  cat <<EOF
usage: install.sh [--root DIR] [--dist DIR] [--mtu N] [--node-name NAME] [--pod-cidr CIDR ...]
                  [--kubeconfig FILE] [--no-start]
       install.sh --uninstall [--purge] [--root DIR]

Installs tern built by 'deno task build' (dist/) as:
  /opt/cni/bin/tern                    the executable (compiled binary or bundle launcher)
  /usr/local/lib/tern/                 bundle runtime (lib/), BUILD-INFO.json, install-manifest
  /usr/local/bin/tern, ternd           links to /opt/cni/bin/tern
  /opt/cni/bin/portmap                 link to /usr/lib/cni/portmap, when missing
  /etc/cni/net.d/10-tern.conflist      tern, then portmap
  /etc/tern/ternd.yaml                 daemon config, only when there is none (kept otherwise)
  /etc/tern/kubeconfig                 with --kubeconfig: the daemon's API credentials (0600)
  /etc/systemd/system/ternd.service    the daemon's unit, started when systemd runs and root is /
  /var/cache/tern                      Deno's code cache

options:
  --root DIR        install into DIR instead of / (a staging root; nothing is started)
  --dist DIR        the build to install (default: dist/ beside this script)
  --mtu N           MTU of pod interfaces, 576..9000 (default: the default route's device
                    when root is /, else 1500)
  --node-name NAME  nodeName for a new ternd.yaml (default: the example's)
  --pod-cidr CIDR   podCIDRs for a new ternd.yaml; repeat for more (default: the example's;
                    with --kubeconfig: none, learned from this node's Node)
  --kubeconfig FILE take cluster state from the Kubernetes API: copy FILE (self-contained, as
                    'kubectl config view --flatten --minify' writes it) to /etc/tern/kubeconfig,
                    mode 0600, and make a new ternd.yaml use it (cluster.source: kubernetes)
  --no-start        do not enable or start ternd.service
  --uninstall       remove what the manifest lists, stopping ternd first; keeps
                    /etc/tern/ternd.yaml, /etc/tern/kubeconfig and /var/lib/tern
  --purge           with --uninstall (or alone): also remove the config, the kubeconfig, the
                    state database and, on /, tern's kernel objects (tern purge: table inet
                    tern, routes and rules of its protocol); refused while pods still use them
  -h, --help        this text
EOF
}

say() { echo "install.sh: $*"; }
warn() { echo "install.sh: warning: $*" >&2; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
  --root) ROOT=${2:?--root needs a directory}; shift ;;
  --root=*) ROOT=${1#*=} ;;
  --dist) DIST=${2:?--dist needs a directory}; shift ;;
  --dist=*) DIST=${1#*=} ;;
  --mtu) MTU=${2:?--mtu needs a number}; shift ;;
  --mtu=*) MTU=${1#*=} ;;
  --node-name) NODE_NAME=${2:?--node-name needs a name}; shift ;;
  --node-name=*) NODE_NAME=${1#*=} ;;
  --pod-cidr) POD_CIDRS="$POD_CIDRS ${2:?--pod-cidr needs a CIDR}"; shift ;;
  --pod-cidr=*) POD_CIDRS="$POD_CIDRS ${1#*=}" ;;
  --kubeconfig) KUBECONFIG_SRC=${2:?--kubeconfig needs a file}; shift ;;
  --kubeconfig=*) KUBECONFIG_SRC=${1#*=} ;;
  --no-start) START=0 ;;
  --uninstall) ACTION=uninstall ;;
  --purge) ACTION=uninstall; PURGE=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "Unknown argument: $1" ;;
  esac
  shift
done

[ -d "$ROOT" ] || die "Root is not a directory: $ROOT"
ROOT=$(cd "$ROOT" && pwd -P)
# R prefixes every installed path: empty for /, so paths read naturally in messages.
if [ "$ROOT" = / ]; then R=; else R=$ROOT; fi
REAL=0
if [ -z "$R" ]; then REAL=1; fi
SYSTEMD=0
if [ "$REAL" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then SYSTEMD=1; fi

LIBDIR=usr/local/lib/tern
MANIFEST=$LIBDIR/install-manifest
CONFIG=etc/tern/ternd.yaml
KUBECONFIG_DEST=etc/tern/kubeconfig

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OLD=$WORK/old-manifest
NEW=$WORK/new-manifest
: >"$OLD"
: >"$NEW"
if [ -f "$R/$MANIFEST" ]; then grep -v '^#' "$R/$MANIFEST" >"$OLD" || true; fi

CHANGED=0
record() { echo "$1 $2" >>"$NEW"; }
recorded_before() { grep -qxF "$1 $2" "$OLD"; }

# Creates directory REL and its missing parents, recording each one that this install (or an
# earlier one, per the old manifest) created, so that uninstall removes only those.
ensure_dir() {
  local rel=$1
  if [ -z "$rel" ] || [ "$rel" = . ]; then return 0; fi
  if [ -d "$R/$rel" ]; then
    if recorded_before d "$rel"; then record d "$rel"; fi
    ensure_parent_records "$rel"
    return 0
  fi
  ensure_dir "$(dirname "$rel")"
  mkdir -m 0755 "$R/$rel"
  record d "$rel"
}

# Keeps the records of parent directories that an earlier install created.
ensure_parent_records() {
  local parent
  parent=$(dirname "$1")
  while [ "$parent" != . ] && [ "$parent" != / ]; do
    if recorded_before d "$parent"; then record d "$parent"; fi
    parent=$(dirname "$parent")
  done
}

# Installs file SRC as REL with MODE, atomically (copy, then rename over: a runtime executing the
# old binary is never handed a half-written one); leaves an identical file untouched. TYPE is the
# manifest record: f (default, removed on uninstall) or k (config, removed only by --purge).
install_file() {
  local src=$1 rel=$2 mode=$3 type=${4:-f} dest
  dest=$R/$rel
  ensure_dir "$(dirname "$rel")"
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest" \
    && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    record "$type" "$rel"
    return 0
  fi
  # Made unreadable to others until chmod: the kubeconfig holds credentials.
  (umask 077 && cp "$src" "$dest.tmp.$$")
  chmod "$mode" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
  record "$type" "$rel"
  CHANGED=1
  say "installed /$rel"
}

# Points symlink REL at TARGET (replacing whatever is there).
install_link() {
  local target=$1 rel=$2 dest
  dest=$R/$rel
  ensure_dir "$(dirname "$rel")"
  if [ -L "$dest" ] && [ "$(readlink "$dest")" = "$target" ]; then
    record l "$rel"
    return 0
  fi
  ln -sfn "$target" "$dest.tmp.$$"
  mv -Tf "$dest.tmp.$$" "$dest"
  record l "$rel"
  CHANGED=1
  say "linked /$rel -> $target"
}

default_mtu() {
  local dev mtu
  if [ "$REAL" = 1 ] && command -v ip >/dev/null; then
    dev=$(ip -o route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
    if [ -n "$dev" ] && mtu=$(cat "/sys/class/net/$dev/mtu" 2>/dev/null); then
      echo "$mtu"
      return 0
    fi
  fi
  echo 1500
}

# The example config with --node-name and --pod-cidr applied. With --kubeconfig, cluster state
# comes from the API: the example's commented cluster section becomes a kubernetes one, and
# nodeName (absent: $NODE_NAME, else the hostname) and podCIDRs (learned from this node's Node)
# are left out unless given.
render_config() {
  local src=$SRC/testdata/ternd.yaml kube=0
  [ -f "$src" ] || die "Cannot find the example config: $src is missing"
  if [ -n "$KUBECONFIG_SRC" ]; then kube=1; fi
  awk -v node="$NODE_NAME" -v cidrs="$POD_CIDRS" -v kube="$kube" -v kubeconfig="/$KUBECONFIG_DEST" '
    BEGIN { n = split(cidrs, list, " ") }
    /^nodeName:/ {
      if (node != "") { print "nodeName: " node; done_node = 1; next }
      if (kube) { print "# nodeName: absent: $NODE_NAME, else the hostname"; done_node = 1; next }
    }
    /^podCIDRs:/ && (n > 0 || kube) {
      if (n > 0) {
        print "podCIDRs:"
        for (i = 1; i <= n; i++) print "  - " list[i]
      } else {
        print "# podCIDRs: learned from spec.podCIDRs of this node in the API"
      }
      skipping = 1; done_cidrs = 1; next
    }
    skipping && /^[[:space:]]+- / { next }
    kube && /^# cluster:$/ {
      print "cluster:"
      print "  source: kubernetes"
      print "  # Written by install.sh --kubeconfig (mode 0600)."
      print "  kubeconfig: " kubeconfig
      print "  # How long start-up waits for spec.podCIDRs on the Node of this node."
      print "  podCIDRWait: 60s"
      print "  # How long a CNI ADD waits for the first lists before failing (code 11)."
      print "  syncWait: 8s"
      in_cluster = 1; done_cluster = 1; next
    }
    in_cluster && /^#   / { next }
    { skipping = 0; in_cluster = 0; print }
    END {
      if (node != "" && !done_node) exit 3
      if ((n > 0 || kube) && !done_cidrs) exit 4
      if (kube && !done_cluster) exit 5
    }
  ' "$src" || die "Cannot apply --node-name/--pod-cidr/--kubeconfig:" \
    "$src has no nodeName, podCIDRs or '# cluster:' line"
}

# Refuses a kubeconfig that cannot work once copied alone to /etc/tern: one that names files
# (certificates, keys, a token file) beside it, or that is not a kubeconfig at all.
check_kubeconfig() {
  local file=$1
  [ -f "$file" ] && [ -r "$file" ] || die "Cannot read the kubeconfig: $file is not a readable file"
  grep -Eq '^(clusters|contexts|users):' "$file" \
    || die "Not a kubeconfig: $file has no clusters, contexts or users"
  if grep -Eq '(certificate-authority|client-certificate|client-key|tokenFile):' "$file"; then
    die "The kubeconfig names other files: $file:" \
      "make it self-contained with kubectl config view --flatten --minify"
  fi
}

do_install() {
  [ -d "$DIST" ] || die "Cannot find the build: $DIST is missing: run deno task build"
  if [ -n "$KUBECONFIG_SRC" ]; then check_kubeconfig "$KUBECONFIG_SRC"; fi
  [ -x "$DIST/tern" ] || die "Cannot find the build: $DIST/tern is missing: run deno task build"
  local mode=compile
  if [ -d "$DIST/lib" ]; then
    mode=bundle
    if [ ! -f "$DIST/lib/main.js" ] || [ ! -x "$DIST/lib/deno" ]; then
      die "Cannot install a broken bundle: $DIST/lib needs main.js and deno"
    fi
  fi
  if [ -z "$MTU" ]; then MTU=$(default_mtu); fi
  case $MTU in
  *[!0-9]* | '') die "MTU must be a number: got $MTU" ;;
  esac
  if [ "$MTU" -lt 576 ] || [ "$MTU" -gt 9000 ]; then die "MTU must be 576..9000: got $MTU"; fi

  # The executable; in bundle mode its runtime files go to /usr/local/lib/tern/lib, where the
  # launcher at /opt/cni/bin/tern finds them relative to itself.
  install_file "$DIST/tern" opt/cni/bin/tern 0755
  ensure_dir "$LIBDIR"
  if [ "$mode" = bundle ]; then
    local f name
    for f in "$DIST"/lib/*; do
      name=${f##*/}
      if [ "$name" = deno ]; then
        install_file "$f" "$LIBDIR/lib/$name" 0755
      else
        install_file "$f" "$LIBDIR/lib/$name" 0644
      fi
    done
  fi
  if [ -f "$DIST/BUILD-INFO.json" ]; then
    install_file "$DIST/BUILD-INFO.json" "$LIBDIR/BUILD-INFO.json" 0644
  fi
  install_link ../../../opt/cni/bin/tern usr/local/bin/tern
  install_link ../../../opt/cni/bin/tern usr/local/bin/ternd

  # portmap is chained after tern; Debian ships it in /usr/lib/cni.
  if [ -e "$R/opt/cni/bin/portmap" ] || [ -L "$R/opt/cni/bin/portmap" ]; then
    if recorded_before l opt/cni/bin/portmap; then record l opt/cni/bin/portmap; fi
  elif [ -x "$R/usr/lib/cni/portmap" ] || [ -x /usr/lib/cni/portmap ]; then
    install_link /usr/lib/cni/portmap opt/cni/bin/portmap
  else
    warn "portmap is missing: neither /opt/cni/bin/portmap nor /usr/lib/cni/portmap exists:" \
      "apt-get install containernetworking-plugins"
  fi

  sed -e "s|@MTU@|$MTU|" -e "s|@SOCKET@|$SOCKET|" "$SRC/packaging/10-tern.conflist" \
    >"$WORK/10-tern.conflist"
  install_file "$WORK/10-tern.conflist" etc/cni/net.d/10-tern.conflist 0644
  local other
  for other in "$R"/etc/cni/net.d/*.conf "$R"/etc/cni/net.d/*.conflist; do
    [ -e "$other" ] || continue
    if [[ ${other##*/} < 10-tern.conflist ]]; then
      warn "${other#"$R"} sorts before 10-tern.conflist: container runtimes use the first config"
    fi
  done

  ensure_dir etc/tern
  # The kubeconfig is credentials the operator gave: replaced when given again, kept like the
  # config on uninstall, removed by --purge.
  if [ -n "$KUBECONFIG_SRC" ]; then
    install_file "$KUBECONFIG_SRC" "$KUBECONFIG_DEST" 0600 k
  elif [ -e "$R/$KUBECONFIG_DEST" ] && recorded_before k "$KUBECONFIG_DEST"; then
    record k "$KUBECONFIG_DEST"
  fi
  if [ -e "$R/$CONFIG" ]; then
    say "kept /$CONFIG"
    record k "$CONFIG"
    if [ -n "$KUBECONFIG_SRC" ] \
      && ! grep -q "^[[:space:]]*kubeconfig: /$KUBECONFIG_DEST" "$R/$CONFIG"; then
      warn "/$CONFIG was kept and does not use /$KUBECONFIG_DEST: set" \
        "cluster: { source: kubernetes, kubeconfig: /$KUBECONFIG_DEST } in it"
    fi
  else
    render_config >"$WORK/ternd.yaml"
    install_file "$WORK/ternd.yaml" "$CONFIG" 0644 k
    if [ -z "$POD_CIDRS" ] && [ -z "$KUBECONFIG_SRC" ]; then
      warn "/$CONFIG is the example: set podCIDRs (and nodeName) for this node before starting"
    fi
  fi

  install_file "$SRC/packaging/ternd.service" etc/systemd/system/ternd.service 0644

  ensure_dir var/cache
  if [ ! -d "$R/var/cache/tern" ]; then mkdir -m 0700 "$R/var/cache/tern"; fi
  record c var/cache/tern

  # What the previous install had and this one does not (e.g. bundle chunks of an older build).
  local type rel
  while read -r type rel; do
    case $type in
    f | l) if ! grep -qxF "$type $rel" "$NEW"; then rm -f "$R/$rel" && say "removed stale /$rel"; fi ;;
    esac
  done <"$OLD"
  while read -r type rel; do
    if [ "$type" = d ] && ! grep -qxF "d $rel" "$NEW"; then rmdir "$R/$rel" 2>/dev/null || true; fi
  done < <(LC_ALL=C sort -r -k2 "$OLD")

  {
    echo "# tern install manifest: TYPE PATH (relative to the root); written by install.sh."
    echo "# f file, l link, d directory created by install, c cache, k config kept on uninstall."
    LC_ALL=C sort -u "$NEW"
  } >"$WORK/manifest"
  install_file "$WORK/manifest" "$MANIFEST" 0644 >/dev/null

  # Fill the V8 code cache (/var/cache/tern/deno) now rather than on the first pods: a cold cache
  # makes a CNI call ~3x slower. Only for /: the cache is keyed by path.
  if [ "$REAL" = 1 ] && [ "$mode" = bundle ]; then
    if ! { /opt/cni/bin/tern version \
      && echo '{"cniVersion":"1.0.0","name":"tern","type":"tern"}' \
      | CNI_COMMAND=VERSION /opt/cni/bin/tern; } >/dev/null 2>"$WORK/warm.err"; then
      warn "the installed tern does not run: $(head -c 300 "$WORK/warm.err")"
    fi
  fi

  if [ "$REAL" = 1 ] && [ "$SYSTEMD" = 1 ] && [ "$START" = 1 ]; then
    systemctl daemon-reload
    systemctl enable ternd.service
    if [ "$CHANGED" = 1 ]; then systemctl restart ternd.service; else systemctl start ternd.service; fi
    say "ternd.service enabled and running"
  elif [ "$REAL" = 1 ] && [ "$START" = 1 ]; then
    say "systemd is not running: start the daemon with /usr/local/bin/ternd --config /$CONFIG"
  fi
  if [ "$CHANGED" = 1 ]; then
    say "tern ($mode) installed into $ROOT"
  else
    say "tern ($mode) already installed in $ROOT: nothing changed"
  fi
}

# --purge on a real node: tern's kernel objects (table inet tern, routes and rules of its route
# protocol) go too, through 'tern purge', which refuses while pods still use them. ARGS are
# passed on (--dry-run). Returns 1 when it refused or failed; says so itself.
purge_kernel() {
  local tern=/usr/local/bin/tern
  if [ ! -x "$tern" ]; then
    warn "cannot remove tern's kernel objects: $tern is gone (uninstalled before):" \
      "remove them by hand: nft delete table inet tern; ip route flush proto 116 table all;" \
      "and ip rule del each rule that 'ip rule show' lists with proto 116"
    return 0
  fi
  "$tern" purge --config "/$CONFIG" --socket "$SOCKET" "$@" | sed 's/^/install.sh: /'
}

do_uninstall() {
  if [ "$PURGE" = 1 ] && [ "$REAL" = 1 ]; then
    # Before anything is stopped or removed: pods still wired by tern stop the purge here.
    purge_kernel --dry-run >/dev/null \
      || die "Cannot purge, nothing was changed (see above): --uninstall without --purge" \
        "keeps tern's kernel state"
  fi
  if [ "$SYSTEMD" = 1 ]; then
    systemctl disable --now ternd.service 2>/dev/null || true
  fi
  if [ "$PURGE" = 1 ] && [ "$REAL" = 1 ]; then
    purge_kernel || die "Cannot remove tern's kernel objects (see above): nothing else was removed"
  fi
  local type rel
  if [ -f "$R/$MANIFEST" ]; then
    while read -r type rel; do
      case /$rel/ in
      // | */../* | */./* | //*) die "Refusing a suspicious manifest entry: $type $rel" ;;
      esac
    done <"$OLD"
    while read -r type rel; do
      case $type in
      f | l) rm -f "$R/$rel" ;;
      c) rm -rf -- "$R/${rel:?}" ;;
      k) if [ "$PURGE" = 1 ]; then rm -f "$R/$rel"; fi ;;
      esac
    done <"$OLD"
    rm -f "$R/$MANIFEST"
  elif [ "$PURGE" = 0 ]; then
    die "Nothing to uninstall: /$MANIFEST is missing"
  fi
  if [ "$PURGE" = 1 ]; then
    rm -f "$R/$CONFIG" "$R/$KUBECONFIG_DEST"
    rm -rf -- "$R/var/lib/tern" "$R/var/cache/tern"
    rmdir "$R/etc/tern" 2>/dev/null || true
  fi
  # Directories this install created, deepest first, if nothing else lives in them now.
  while read -r type rel; do
    if [ "$type" = d ]; then rmdir "$R/$rel" 2>/dev/null || true; fi
  done < <(LC_ALL=C sort -r -k2 "$OLD")
  if [ "$SYSTEMD" = 1 ]; then systemctl daemon-reload || true; fi
  if [ "$PURGE" = 1 ]; then
    say "tern purged from $ROOT (config and state removed)"
  else
    say "tern uninstalled from $ROOT (kept /$CONFIG and /var/lib/tern; --purge removes them)"
  fi
}

if [ "$ACTION" = install ]; then do_install; else do_uninstall; fi

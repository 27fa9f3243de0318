#!/usr/bin/env bash
# The agent on the wire (issues #17 and #15): bytes and seconds of
#   cold   a first deploy to hosts whose agent cache is empty
#   delta  a deploy of a build with a one-line change, to hosts that cache
#          the previous build (sent as a zstd delta)
#   full   the same without the controller's copy of the previous build
#          (sent whole, compressed)
#   noop   a no-op deploy (the start script hashes the cached agent)
# for 1 and BENCH_HOSTS hosts (an sshd each on 127.0.0.2.., each its own
# HOME), N = 100 files per host; and what hashing the agent on every start
# costs with each tool the start script may find.
#
#   BIN_OLD=PATH BIN_NEW=PATH bench/wire/run.sh
#
# BIN_OLD and BIN_NEW: two release builds of batou-test (it registers the
# bench's `files` component) that differ by one line in a component, e.g.
#   cargo build --release -p batou-tests --bin batou-test && cp target/release/batou-test /tmp/old
#   (change one string in a component's source)
#   cargo build --release -p batou-tests --bin batou-test && cp target/release/batou-test /tmp/new
# Bytes are the encrypted SSH stream of every connection of the deploy
# (both directions, counted by a ProxyCommand relay: ../deploy/count_bytes.py).
#
# Settings: BENCH_HOSTS=20, BENCH_RUNS=3, BENCH_OUT=DIR (RESULTS.md, default here).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../deploy/project.sh
. "$here/../deploy/project.sh"
nhosts=${BENCH_HOSTS:-20}
runs=${BENCH_RUNS:-3}
out=${BENCH_OUT:-$here}
old=${BIN_OLD:?set BIN_OLD to a release build of batou-test}
new=${BIN_NEW:?set BIN_NEW to the same after a one-line change}
sshd=/usr/sbin/sshd
say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sshd on loopback addresses, logins as root)"
[ -x "$sshd" ] || die "$sshd is missing (apt-get install openssh-server)"

W=$(mktemp -d /tmp/batou-wire-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p /run/sshd "$W/sshd" "$W/homes"
chmod 755 "$W" "$W/sshd"
cp "$old" "$W/old" && cp "$new" "$W/new"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/sshd/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/sshd/client_ed25519"
cp "$W/sshd/client_ed25519.pub" "$W/sshd/authorized_keys"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host_key=$(cut -d' ' -f1,2 "$W/sshd/host_ed25519.pub")
start_sshd() {
  local ip=$1 home=$2 cfg="$W/sshd/sshd_config.$1"
  {
    printf 'Port %s\nListenAddress %s\nHostKey %s\nPidFile %s\n' "$port" "$ip" "$W/sshd/host_ed25519" "$W/sshd/sshd.$ip.pid"
    printf 'AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n' "$W/sshd/authorized_keys"
    printf 'KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n'
    printf 'MaxStartups 100:30:200\nMaxSessions 100\nLogLevel ERROR\nSetEnv SHLVL=1 HOME=%s\n' "$home"
  } >"$cfg"
  "$sshd" -D -e -f "$cfg" 2>>"$W/sshd/sshd.log" &
  pids+=($!)
  printf '[%s]:%s %s\n' "$ip" "$port" "$host_key" >>"$W/sshd/known_hosts"
  local i
  for i in $(seq 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port && head -c4 <&3" 2>/dev/null | grep -q SSH-; then return 0; fi
    sleep 0.05
  done
  die "sshd on $ip:$port did not start"
}
ssh_block() {
  printf 'Host %s\n  HostName %s\n  Port %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n' "$1" "$2" "$port" "$W/sshd/client_ed25519"
  printf '  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n' "$W/sshd/known_hosts"
  if [ -n "${3:-}" ]; then printf '  ProxyCommand %s\n' "$3"; fi
}
names=()
: >"$W/plain"
: >"$W/counted"
for k in $(seq "$nhosts"); do
  ip="127.0.0.$((k + 1))"
  mkdir -p "$W/homes/h$k"
  start_sshd "$ip" "$W/homes/h$k"
  ssh_block "h$k" "$ip" >>"$W/plain"
  ssh_block "h$k" "$ip" "python3 $here/../deploy/count_bytes.py %h %p $W/bytes.log" >>"$W/counted"
  names+=("h$k")
done
write_ours_project "$W/p$nhosts" "" out 100 "$W/plain" "${names[@]}"
write_ours_project "$W/p1" "" out 100 "$W/plain" h1

rows="$W/rows.tsv"
: >"$rows"
# deploy HOSTS BIN [counted]: one deploy of every host of project pHOSTS.
deploy() {
  local n=$1 bin=$2 cfg=plain
  [ "${3:-}" = counted ] && cfg=counted
  cp "$W/$cfg" "$W/p$n/ssh_config"
  (cd "$W/p$n" && BATOU_PROJECT_DIR="$W/p$n" "$W/$bin" deploy -j "$n" bench) >>"$W/log" 2>&1 || { tail -30 "$W/log" >&2; die "deploy of $n hosts with $bin failed"; }
}
hosts_of() { seq "$1" | sed 's/^/h/'; }
# Resets for a case: the hosts' agent caches (and deployments) and the
# project's store of shipped agents.
reset_cold() {
  local h
  for h in $(hosts_of "$1"); do rm -rf "$W/homes/$h/.cache" "$W/homes/$h/deployment"; done
  rm -rf "$W/p$1/.batou"
}
# The hosts cache only the old agent, the project has shipped it.
reset_delta() {
  reset_cold "$1"
  deploy "$1" old
}
# measure CASE HOSTS BIN RESET: bytes of one counted run, then seconds of
# $runs timed runs, each after RESET.
measure() {
  local case=$1 n=$2 bin=$3 reset=$4 r t0 t1 secs=()
  $reset "$n"
  : >"$W/bytes.log"
  deploy "$n" "$bin" counted
  sleep 1
  local bytes
  bytes=$(awk '{ t += $1 + $2 } END { print t + 0 }' "$W/bytes.log")
  for r in $(seq "$runs"); do
    $reset "$n"
    t0=$EPOCHREALTIME
    deploy "$n" "$bin"
    t1=$EPOCHREALTIME
    secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
  done
  local median
  median=$(printf '%s\n' "${secs[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  printf '%s\t%s\t%s\t%s\n' "$case" "$n" "$bytes" "$median" >>"$rows"
  say "$case hosts=$n bytes=$bytes seconds=$median (${secs[*]})"
}
nothing() { :; }
# Only the project's copies of shipped agents go: the next upload is whole.
reset_full() {
  reset_delta "$1"
  rm -rf "$W/p$1/.batou"
}
for n in 1 "$nhosts"; do
  measure cold "$n" new reset_cold
  measure delta "$n" new reset_delta
  measure full "$n" new reset_full
  measure noop "$n" new nothing
  # The floor: the ssh handshakes alone.
  t0=$EPOCHREALTIME
  for r in $(seq "$runs"); do
    js=()
    for h in $(hosts_of "$n"); do ssh -F "$W/plain" "$h" true & js+=($!); done
    for j in "${js[@]}"; do wait "$j"; done
  done
  t1=$EPOCHREALTIME
  printf 'ssh true\t%s\t-\t%s\n' "$n" "$(awk -v a="$t0" -v b="$t1" -v r="$runs" 'BEGIN { printf "%.3f", (b - a) / r }')" >>"$rows"
done

# What the hash before every start costs, per tool, on the new agent.
hash_rows="$W/hash.tsv"
: >"$hash_rows"
hash_cost() {
  local label=$1 cmd=$2 t0 t1
  command -v "${cmd%% *}" >/dev/null 2>&1 || return 0
  t0=$EPOCHREALTIME
  for r in $(seq 20); do sh -c "$cmd < '$W/new' >/dev/null"; done
  t1=$EPOCHREALTIME
  printf '%s\t%s\n' "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 / 20 }')" >>"$hash_rows"
}
hash_cost "none (the earlier mtime check: a [ -nt ] test)" "test -n x"
hash_cost "openssl dgst -sha256" "openssl dgst -sha256 -r"
hash_cost "sha256sum (coreutils)" "sha256sum"
hash_cost "busybox sha256sum" "busybox sha256sum"

{
  echo "# The agent on the wire"
  echo
  echo "\`bench/wire/run.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, median of $runs runs; agent $(stat -c %s "$W/new") bytes."
  echo "Bytes: the encrypted SSH stream of every connection of the deploy, both directions."
  echo
  echo "| case | hosts | bytes on the wire | seconds |"
  echo "|---|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$rows"
  echo
  echo "Hashing the agent once (what every start now costs on the target), ms:"
  echo
  echo "| tool | ms |"
  echo "|---|---:|"
  awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }' "$hash_rows"
} >"$out/RESULTS.md"
cat "$out/RESULTS.md"

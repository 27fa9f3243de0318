#!/usr/bin/env bash
# The static agent (issue #17): what shipping and starting it costs, and
# what its allocator does, beside batou 2.7.1's cold deploy. Writes
# bench/agent/samples.tsv and extras.tsv, then bench/agent/RESULTS.md.
#
#   bench/agent/run.sh
#
# Cases (the `files` component of bench/deploy, N files per host):
#   alloc   first deploy and no-op of N = 1,000 files, in process and to one
#           host, by builds of the same code: the controller's own (glibc),
#           and static musl builds by cargo (musl-gcc) and by cargo
#           zigbuild, each with musl's malloc (feature
#           batou-core/musl-malloc) and as shipped (mimalloc)
#   cold    a fresh host (empty agent cache and target): 1 host and 20
#           hosts at once (-j 20), N = 100 each; batou 2.7.1's cold
#           deploy to 1 host (it builds its remote venv) beside it
#   change  a one-line change of the component's code: the controller's
#           incremental release build, the agent's (built by the first
#           deploy that needs it), then the deploy to 1 host and to the
#           20 hosts, which all get the new agent
# Seconds are wall clock; bytes are the SSH streams of every connection
# of a run, both directions, counted by a relay (../deploy/count_bytes.py).
#
# Settings: BENCH_RUNS=5 (alloc repetitions over ssh; in process four
# times as many), BENCH_HOSTS=20, BATOU_VENV
# (as bench/deploy/run.sh). Needs what bench/deploy/run.sh needs, plus
# the x86_64 musl target (rustup) and musl-tools.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
deploy=$root/bench/deploy
# shellcheck source=../deploy/project.sh
. "$deploy/project.sh"
# shellcheck source=../deploy/sshd.sh
. "$deploy/sshd.sh"

runs=${BENCH_RUNS:-5}
nhosts=${BENCH_HOSTS:-20}
venv=${BATOU_VENV:-$root/target/bench/batou-2.7.1}
sshd=/usr/sbin/sshd
triple=x86_64-unknown-linux-musl

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ -x "$sshd" ] || die "$sshd is missing (apt-get install openssh-server)"
[ "$(id -u)" = 0 ] || die "run as root (sshd on loopback addresses, logins as root)"
if [ ! -x "$venv/bin/batou" ]; then
  say "creating $venv with batou 2.7.1 from PyPI"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q batou==2.7.1
fi

W=$(mktemp -d /tmp/batou-agent-bench.XXXXXX)
pids=()
cg=
edited=
mounted=
cleanup() {
  [ -z "$edited" ] || cp "$W/bench.rs.orig" "$edited"
  [ -z "$mounted" ] || umount "$mounted" || umount -l "$mounted" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/homes" "$W/agents" "$W/out"
sshd_keys
log=$W/commands.log
samples=$here/samples.tsv
extras=$here/extras.tsv
: >"$samples"
: >"$extras"
extra() { printf '%s\t%s\n' "$1" "$2" >>"$extras"; }

# Every connection through the counting relay; `counted` sums a run's.
mkdir -p "$W/homes/one"
start_sshd 127.0.0.1 "$W/homes/one"
relay="python3 $deploy/count_bytes.py %h %p $W/bytes.log"
ssh_block bench 127.0.0.1 "$relay" >"$W/ssh_config"
names=()
: >"$W/ssh_config.hosts"
for k in $(seq "$nhosts"); do
  mkdir -p "$W/homes/h$k"
  start_sshd "127.0.0.$((k + 1))" "$W/homes/h$k"
  ssh_block "h$k" "127.0.0.$((k + 1))" "$relay" >>"$W/ssh_config.hosts"
  names+=("h$k")
done

# run CASE N TOOL CMD...: runs CMD (output to the log); one sample line
# with its seconds and the bytes of its connections.
run() {
  local case=$1 n=$2 tool=$3
  shift 3
  printf '\n### %s n=%s %s: %s\n' "$case" "$n" "$tool" "$*" >>"$log"
  : >"$W/bytes.log"
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >>"$log" 2>&1 || { tail -40 "$log" >&2; die "$tool failed in case $case: $*"; }
  t1=$EPOCHREALTIME
  # ssh ends its ProxyCommand after it exits: let the relays write.
  sleep 1.5
  printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$n" "$tool" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
    "$(awk '{ s += $1 + $2 } END { print s + 0 }' "$W/bytes.log")" >>"$samples"
}

# Our binary and its agents, as ./batou would build and run them.
say "release builds: the controller and its static agents"
(cd "$root" && cargo build --quiet --release -p batou-tests --bin batou-test)
bin=$root/target/release/batou-test
# The controller builds with zig when it can, as it would for a user; the
# allocator comparison builds with both tools (the C dependencies and
# the libc differ), the controller's last, so that its own next build
# (the change case) finds its toolchain's artifacts.
main=cargo
other=
if command -v cargo-zigbuild >/dev/null 2>&1; then main=zigbuild other=cargo; fi
export BATOU_AGENT_MANIFEST="$root/Cargo.toml" BATOU_AGENT_PACKAGE=batou-tests BATOU_AGENT_BUILDER=$main
ours() { # PROJECT ARGS...
  local p=$1
  shift
  (cd "$p" && BATOU_PROJECT_DIR="$p" "$bin" deploy "$@" bench)
}
# The controller builds its agent on the first deploy (afresh: an agent
# kept from an earlier sitting may have been built by another tool).
rm -rf "$root/target/batou-agents/$(sha256sum "$bin" | cut -c1-64)"
write_ours_project "$W/warm" "$W/target/warm" "$W/out/warm" 1 "$W/ssh_config"
ours "$W/warm" >>"$log" 2>&1 || die "the warm-up deploy failed: $(tail -20 "$log")"
shipped=$(ls "$root/target/batou-agents/$(sha256sum "$bin" | cut -c1-64)/$triple/batou-test")
cp "$bin" "$W/agents/glibc"
# The same agent by each tool, with musl's own malloc and as shipped
# (mimalloc): only batou-core and what depends on it are rebuilt.
variants=(glibc)
for tool in $other $main; do
  for alloc in musl mimalloc; do
    features=()
    [ "$alloc" = musl ] && features=(--features batou-core/musl-malloc)
    verb=build
    [ "$tool" = zigbuild ] && verb=zigbuild
    (cd "$root" && cargo "$verb" --quiet --release --target "$triple" -p batou-tests --bin batou-test "${features[@]}")
    cp "$root/target/$triple/release/batou-test" "$W/agents/$tool-$alloc"
    variants+=("$tool-$alloc")
  done
  cmp -s "$W/agents/$tool-musl" "$W/agents/$tool-mimalloc" && die "the musl-malloc build is the shipped one"
  extra "agent_bytes_$tool" "$(stat -c %s "$W/agents/$tool-mimalloc")"
done
extra agent_bytes "$(stat -c %s "$shipped")"
extra agent_builder "$main"
extra controller_bytes "$(stat -c %s "$bin")"

# --- alloc ----------------------------------------------------------------
# The hot path twice: in process (connect_method = local: the binary is
# both controller and "agent", no ssh), writing to a tmpfs, so that its
# CPU time is the allocator's effect undiluted by ssh and by the disk;
# and over ssh (what a deploy takes).
say "alloc: N=1000, first deploy and no-op, builds ${variants[*]}"
for a in "${variants[@]}"; do
  write_ours_project "$W/alloc-$a" "$W/target/alloc-$a" "$W/out/alloc-$a" 1000 "$W/ssh_config"
  sed -i "s|^\[environment\]|[environment]\nagent_binary = $W/agents/$a|" "$W/alloc-$a/environments/bench/environment.cfg"
  ours "$W/alloc-$a" >>"$log" 2>&1 # uploads that agent
  mkdir -p "$W/local-$a/environments"
  printf '[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = files\n\n[component:files]\ncount = 1000\noutdir = %s\n' \
    "$W/tmpfs/local-$a" >"$W/local-$a/environments/bench.cfg"
done
mkdir -p "$W/tmpfs"
mount -t tmpfs -o size=2G batou-bench "$W/tmpfs"
mounted=$W/tmpfs
# local CASE BUILD: a local deploy by that build: wall and CPU seconds
# into samples (bytes: 0).
local_run() {
  local case=$1 a=$2 e c
  read -r e c < <(cd "$W/local-$a" && BATOU_PROJECT_DIR="$W/local-$a" python3 "$here/rusage.py" "$log" "$W/agents/$a" deploy bench) ||
    die "local deploy by $a failed: $(tail -20 "$log")"
  printf '%s\t1000\t%s\t%s\t0\n' "$case" "$a" "$e" >>"$samples"
  printf '%s_cpu\t1000\t%s\t%s\t0\n' "$case" "$a" "$c" >>"$samples"
}
for r in $(seq "$((runs * 4))"); do
  for a in "${variants[@]}"; do
    rm -rf "$W/tmpfs/local-$a"
    local_run local_first "$a"
    local_run local_noop "$a"
  done
done
for r in $(seq "$runs"); do
  for a in "${variants[@]}"; do
    mv "$W/out/alloc-$a" "$W/out/old-$a-$r"
    run alloc_first 1000 "$a" ours "$W/alloc-$a"
    run alloc_noop 1000 "$a" ours "$W/alloc-$a"
  done
done
for r in $(seq "$runs"); do run ssh_true 1 floor ssh -F "$W/ssh_config" bench true; done

# --- cold -------------------------------------------------------------------
say "cold: a fresh host, 1 and $nhosts at once; batou's cold deploy"
write_ours_project "$W/one" "$W/target/one" "$W/out/one" 100 "$W/ssh_config"
write_ours_project "$W/many" "" out 100 "$W/ssh_config.hosts" "${names[@]}"
run cold 1 ours ours "$W/one"
run cold "$nhosts" ours ours "$W/many" -j "$nhosts"
# (project.sh finds the shared template beside bench/deploy's run.sh.)
(here=$deploy && write_batou_project "$W/batou" "$venv" "$W/target/batou" "$W/out/batou" 100 "$W/ssh_config")
run cold 1 batou bash -c "cd '$W/batou' && APPENV_BASEDIR='$W/batou' '$venv/bin/batou' deploy bench"
run noop 1 ours ours "$W/one"
run noop "$nhosts" ours ours "$W/many" -j "$nhosts"

# --- change -----------------------------------------------------------------
say "change: one line of the component's code, then deploy"
edited=$root/tests/fixtures/bench.rs
cp "$edited" "$W/bench.rs.orig"
# A new value every sitting: builds are reproducible, and the agents of
# a controller built from the same edit before would be found in the
# cache (correctly: nothing to build).
nonce=$(date +%s)
sed -i "s|outdir: \"out\".into(),|outdir: \"out-$nonce\".into(),|" "$edited"
grep -q "outdir: \"out-$nonce\"" "$edited" || die "the one-line edit of $edited did not apply"
t0=$EPOCHREALTIME
(cd "$root" && cargo build --quiet --release -p batou-tests --bin batou-test)
extra controller_build_seconds "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
# The first deploy builds the new agent; its event stream says how long.
run change 1 ours ours "$W/one" --json
extra agent_build_seconds "$(grep '"event":"agent_build_finished"' "$log" | tail -1 |
  python3 -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["seconds"])')"
run change "$nhosts" ours ours "$W/many" -j "$nhosts"
cp "$W/bench.rs.orig" "$edited"
edited=
(cd "$root" && cargo build --quiet --release -p batou-tests --bin batou-test)

extra ours_version "$(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
extra cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) x $(nproc)"
extra load "$(cut -d' ' -f1-3 /proc/loadavg)"
extra date "$(date -u '+%Y-%m-%d %H:%M UTC')"
extra runs "$runs"
python3 "$here/report.py" "$samples" "$extras" "$here/RESULTS.md"
say "wrote $here/RESULTS.md"

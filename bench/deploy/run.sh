#!/usr/bin/env bash
# The deploy benchmark of issue #8: this rebuild beside Python batou 2.7.1
# on the same workload (bench/deploy/project.sh), over a real OpenSSH sshd
# on 127.0.0.1 started here, both tools alternating in one sitting.
#
#   bench/deploy/run.sh            full run; writes bench/deploy/RESULTS.md
#                                  and the deploy rows of bench/RESULTS.md
#
# Settings (environment variables):
#   BENCH_SIZES="1 100 1000 5000"  file counts
#   BENCH_RUNS=5                   repetitions per case and tool
#   BENCH_BATOU_RUNS_BIG=1         batou's repetitions at N >= 5000 (its first
#                                  deploy there takes minutes)
#   BENCH_HOSTS=20                 hosts of the many-hosts case (0: skip)
#   BENCH_JOURNALED_SIZES=1000     file counts of the same cases on a journaled
#                                  ext4 image mounted in the scratch directory
#                                  (empty: skip)
#   BENCH_BUILD=1                  time an incremental build (0: skip)
#   BENCH_OUT=DIR                  where RESULTS.md goes (default: here)
#   BATOU_VENV=DIR                 venv with batou 2.7.1 (created when missing;
#                                  default target/bench/batou-2.7.1)
#   BATOU_BIN=PATH                 our deployment binary (default: a release
#                                  build of batou-test, which registers `files`)
#   BENCH_KEEP=1                   keep the scratch directory
#   BENCH_SETTINGS="revert = false" more [environment] lines for our tool
#
# Needs: openssh-server (/usr/sbin/sshd), openssh-client, python3 with venv,
# network access to PyPI once (batou into the venv, and the same set into
# the target's .appenv), root (sshd on loopback addresses, logins as root).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=project.sh
. "$here/project.sh"
# shellcheck source=sshd.sh
. "$here/sshd.sh"

sizes=${BENCH_SIZES:-"1 100 1000 5000"}
runs=${BENCH_RUNS:-5}
batou_runs_big=${BENCH_BATOU_RUNS_BIG:-1}
nhosts=${BENCH_HOSTS:-20}
journaled_sizes=${BENCH_JOURNALED_SIZES-1000}
out=${BENCH_OUT:-$here}
venv=${BATOU_VENV:-$root/target/bench/batou-2.7.1}
sshd=/usr/sbin/sshd

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ -x "$sshd" ] || die "$sshd is missing (apt-get install openssh-server)"
[ "$(id -u)" = 0 ] || die "run as root (sshd on loopback addresses, logins as root)"

# --- the two tools ---------------------------------------------------------
if [ ! -x "$venv/bin/batou" ]; then
  say "creating $venv with batou 2.7.1 from PyPI"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q batou==2.7.1
fi
"$venv/bin/python" -c 'import batou, sys; v = open(batou.__path__[0] + "/version.txt").read().strip(); sys.exit(v != "2.7.1" and "batou " + v + " is not 2.7.1")'
bin=${BATOU_BIN:-}
if [ -z "$bin" ]; then
  say "building the release binary (batou-test: the example plus the bench component)"
  (cd "$root" && cargo build --quiet --release -p batou-tests --bin batou-test)
  bin="$root/target/release/batou-test"
fi
# Our hosts run the static agent the controller builds for them from this
# workspace (release, as ./batou's), kept in target/batou-agents.
export BATOU_AGENT_MANIFEST="$root/Cargo.toml" BATOU_AGENT_PACKAGE=batou-tests

# --- scratch space, sshd ---------------------------------------------------
W=$(mktemp -d /tmp/batou-deploy-bench.XXXXXX)
pids=()
cg=
mounted=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$mounted" ]; then umount "$mounted" || umount -l "$mounted" || true; fi
  if [ -n "$cg" ]; then
    # Back to the parent group, so the (then empty) one can go.
    echo $$ >"$(dirname "$cg")/cgroup.procs" 2>/dev/null || true
    rmdir "$cg" 2>/dev/null || true
  fi
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else say "kept $W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/homes" "$W/out"
sshd_keys

start_sshd 127.0.0.1
ssh_block bench 127.0.0.1 >"$W/ssh_config"
# The same, through a relay that counts the bytes of each connection.
ssh_block bench 127.0.0.1 "python3 $here/count_bytes.py %h %p $W/bytes.log" >"$W/ssh_config.counted"

# --- CPU accounting ------------------------------------------------------------
# Wall clock on a shared machine is noisy; the CPU time of everything a
# run starts (the tool, ssh, the sshd sessions and whatever runs on the
# target) is not. This script and every sshd go into one cgroup whose
# usage is read before and after each run.
cg=
for base in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [ -f "$base/cgroup.procs" ] || continue
  if mkdir -p "$base/batou-bench-$$" 2>/dev/null && echo $$ >"$base/batou-bench-$$/cgroup.procs" 2>/dev/null; then
    cg="$base/batou-bench-$$"
    break
  fi
  rmdir "$base/batou-bench-$$" 2>/dev/null || true
done
cpu_ns() {
  if [ -z "$cg" ]; then echo 0
  elif [ -f "$cg/cpuacct.usage" ]; then cat "$cg/cpuacct.usage"
  else awk '$1 == "usage_usec" { print $2 * 1000 }' "$cg/cpu.stat"; fi
}
for p in "${pids[@]}"; do [ -n "$cg" ] && echo "$p" >"$cg/cgroup.procs"; done
[ -n "$cg" ] || say "no cgroup for CPU accounting: CPU columns stay empty"

# --- timing ------------------------------------------------------------------
samples="$W/samples.tsv"
extras="$W/extras.tsv"
: >"$samples"
: >"$extras"
log="$W/commands.log"
extra() { printf '%s\t%s\n' "$1" "$2" >>"$extras"; }

# timed CASE N TOOL CMD...: runs CMD once (output to the log) and records
# its wall-clock seconds.
timed() {
  local case=$1 n=$2 tool=$3
  shift 3
  printf '\n### %s n=%s %s: %s\n' "$case" "$n" "$tool" "$*" >>"$log"
  local c0 t0 t1 c1
  c0=$(cpu_ns)
  t0=$EPOCHREALTIME
  if ! "$@" >>"$log" 2>&1; then
    tail -40 "$log" >&2
    die "$tool failed in case $case (N=$n): $*"
  fi
  t1=$EPOCHREALTIME
  c1=$(cpu_ns)
  printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$n" "$tool" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')" >>"$samples"
}

P_OURS="$W/ours"
P_BATOU="$W/batou"
ours() { (cd "$P_OURS" && BATOU_PROJECT_DIR="$P_OURS" "$bin" deploy "$@" bench); }
batou() { (cd "$P_BATOU" && APPENV_BASEDIR="$P_BATOU" "$venv/bin/batou" deploy "$@" bench); }
ours_out="$W/out/ours"
batou_out="$W/out/batou"

write_ours_project "$P_OURS" "$W/target/ours" "$ours_out" 1 "$W/ssh_config"
write_batou_project "$P_BATOU" "$venv" "$W/target/batou" "$batou_out" 1 "$W/ssh_config"

# aside DIR: makes DIR absent for a first deploy by renaming it away (all
# of it goes with the scratch directory at the end). Deleting it instead
# would leave thousands of just-freed inodes, and on an ext4 without a
# journal (this machine's) every new inode is checked against recently
# deleted ones, which makes creating N files after deleting N quadratic
# for any tool.
aside() {
  if [ -e "$1" ]; then
    mkdir -p "$W/aside"
    mv "$1" "$(mktemp -u "$W/aside/old.XXXXXX")"
  fi
}

# rev_of PROJECT / flip PROJECT: the template change case alternates A/B.
flip() {
  if [ "$(get_attr "$1" revision)" = A ]; then set_attr "$1" revision B; else set_attr "$1" revision A; fi
}

# The controller builds its agent on its first remote deploy (once per
# build of the controller, not per host): done here, untimed, so that the
# cold case is what a fresh host costs.
say "building the static agent (a deploy to a scratch target)"
write_ours_project "$W/warm" "$W/target/warm" "$W/out/warm" 1 "$W/ssh_config"
(cd "$W/warm" && BATOU_PROJECT_DIR="$W/warm" "$bin" deploy bench) >>"$log" 2>&1 || die "the warm-up deploy failed: $(tail -20 "$log")"
agent=$(ls "$root/target/batou-agents/$(sha256sum "$bin" | cut -c1-64)"/*/batou-test)

say "cold start (ours uploads its agent, batou builds its remote venv), N=1"
timed cold 1 ours ours
timed cold 1 batou batou
extra agent_bytes "$(stat -c %s "$agent")"
extra controller_bytes "$(stat -c %s "$bin")"

# deploy_cases N TAG OURS_OUT BATOU_OUT: first deploy, no-op, template
# change and predict at N files into the two output trees; the case names
# get TAG in front (the journaled-ext4 pass: "j_").
deploy_cases() {
  local n=$1 tag=$2 o_out=$3 b_out=$4 br=$runs r
  set_attr "$P_OURS" count "$n"
  set_attr "$P_BATOU" count "$n"
  set_attr "$P_OURS" outdir "$o_out"
  set_attr "$P_BATOU" outdir "$b_out"
  set_attr "$P_OURS" revision A
  set_attr "$P_BATOU" revision A
  [ "$n" -ge 5000 ] && br=$batou_runs_big
  say "${tag}N=$n: first deploy"
  for r in $(seq "$runs"); do
    aside "$o_out"
    timed "${tag}first" "$n" ours ours
    if [ "$r" -le "$br" ]; then
      aside "$b_out"
      timed "${tag}first" "$n" batou batou
    fi
  done
  # Same workload: both trees must be identical, file by file.
  [ "$(find "$o_out" -type f | wc -l)" = "$n" ] || die "ours wrote $(find "$o_out" -type f | wc -l) files, not $n"
  diff -r "$o_out" "$b_out" >/dev/null || die "the two tools wrote different files at N=$n"
  say "${tag}N=$n: no-op re-deploy"
  for r in $(seq "$runs"); do
    timed "${tag}noop" "$n" ours ours
    [ "$r" -le "$br" ] && timed "${tag}noop" "$n" batou batou
  done
  grep -q 'Nothing changed.' <(ours) || die "our re-deploy was not a no-op at N=$n"
  say "${tag}N=$n: re-deploy after a template change (every file changes, diffs printed)"
  for r in $(seq "$runs"); do
    flip "$P_OURS"
    timed "${tag}change" "$n" ours ours
    if [ "$r" -le "$br" ]; then
      flip "$P_BATOU"
      timed "${tag}change" "$n" batou batou
    fi
  done
  say "${tag}N=$n: predict after a template change"
  flip "$P_OURS"
  flip "$P_BATOU"
  for r in $(seq "$runs"); do
    timed "${tag}predict" "$n" ours ours -P
    [ "$r" -le "$br" ] && timed "${tag}predict" "$n" batou batou -P
  done
  # (`set -e`: the `&&` above must not become the function's status.)
  return 0
}

for n in $sizes; do
  deploy_cases "$n" "" "$ours_out" "$batou_out"
  br=$runs
  [ "$n" -ge 5000 ] && br=$batou_runs_big
  say "N=$n: local consistency check"
  for r in $(seq "$runs"); do
    timed local "$n" ours ours -c -L
    [ "$r" -le "$br" ] && timed local "$n" batou batou -c -L
  done
  say "N=$n: the floor (ssh true; sha256sum of the N files; cp -r of them, synced)"
  for r in $(seq "$runs"); do
    timed ssh_true "$n" floor ssh -F "$W/ssh_config" bench true
    timed hash "$n" floor ssh -F "$W/ssh_config" bench "find $ours_out -type f -exec sha256sum {} + >/dev/null"
    # Creating the same N files with the plainest tool (not atomically,
    # nothing rendered or reported), made durable with one syncfs.
    timed copy "$n" floor ssh -F "$W/ssh_config" bench "cp -r $ours_out $W/out/copy.$n.$r && sync -f $W/out/copy.$n.$r"
  done
done

# --- the same on a journaled ext4 ----------------------------------------------
# This machine's root file system is an ext4 without a journal, where
# every new inode is checked against recently deleted ones (see
# analysis.md); servers mostly deploy to a journaled ext4 (mkfs.ext4's
# default) or xfs. The file-writing cases again, with both tools' output
# trees on a fresh journaled ext4 image mounted here.
if [ -n "$journaled_sizes" ]; then
  say "a journaled ext4 ($W/ext4.img, loop-mounted on $W/ext4)"
  truncate -s 4G "$W/ext4.img"
  mkfs.ext4 -q -F "$W/ext4.img" || die "mkfs.ext4 failed (apt-get install e2fsprogs)"
  mkdir -p "$W/ext4"
  mount -o loop "$W/ext4.img" "$W/ext4" || die "cannot loop-mount $W/ext4.img (needs root and a loop device)"
  mounted="$W/ext4"
  extra journaled_fs "$(findmnt -no FSTYPE,OPTIONS "$W/ext4")"
  for n in $journaled_sizes; do
    deploy_cases "$n" j_ "$W/ext4/ours" "$W/ext4/batou"
  done
  set_attr "$P_OURS" outdir "$ours_out"
  set_attr "$P_BATOU" outdir "$batou_out"
fi

# --- N=1000 extras: memory, bytes over the wire ------------------------------
if [[ " $sizes " == *" 1000 "* ]]; then
  say "N=1000: controller peak memory and bytes over the wire"
  set_attr "$P_OURS" count 1000
  set_attr "$P_BATOU" count 1000
  for p in "$P_OURS" "$P_BATOU"; do set_attr "$p" revision A; done
  ours >/dev/null 2>&1
  batou >/dev/null 2>&1
  rss() { /usr/bin/time -f '%M' -o "$W/rss" "$@" >>"$log" 2>&1; cat "$W/rss"; }
  extra rss_noop_ours "$(cd "$P_OURS" && BATOU_PROJECT_DIR="$P_OURS" rss "$bin" deploy bench)"
  extra rss_noop_batou "$(cd "$P_BATOU" && APPENV_BASEDIR="$P_BATOU" rss "$venv/bin/batou" deploy bench)"
  set_attr "$P_OURS" revision B
  set_attr "$P_BATOU" revision B
  extra rss_change_ours "$(cd "$P_OURS" && BATOU_PROJECT_DIR="$P_OURS" rss "$bin" deploy bench)"
  extra rss_change_batou "$(cd "$P_BATOU" && APPENV_BASEDIR="$P_BATOU" rss "$venv/bin/batou" deploy bench)"
  cp "$W/ssh_config.counted" "$P_OURS/ssh_config"
  cp "$W/ssh_config.counted" "$P_BATOU/ssh_config"
  # ssh ends its ProxyCommand after it exits: wait for the counts.
  counted() { : >"$W/bytes.log"; "$@" >>"$log" 2>&1; sleep 2; }
  counted ours
  extra wire_noop_ours "$(awk '{ up += $1; down += $2; c++ } END { print up, down, c }' "$W/bytes.log")"
  counted batou
  extra wire_noop_batou "$(awk '{ up += $1; down += $2; c++ } END { print up, down, c }' "$W/bytes.log")"
  counted ssh -F "$W/ssh_config.counted" bench true
  extra wire_ssh_true "$(awk '{ up += $1; down += $2; c++ } END { print up, down, c }' "$W/bytes.log")"
  cp "$W/ssh_config" "$P_OURS/ssh_config"
  cp "$W/ssh_config" "$P_BATOU/ssh_config"
fi

# --- many hosts ----------------------------------------------------------------
if [ "$nhosts" -gt 0 ]; then
  say "$nhosts hosts (an sshd each on 127.0.0.2.., each its own HOME), N=100 each, -j $nhosts"
  names=()
  : >"$W/ssh_config.hosts"
  for k in $(seq "$nhosts"); do
    ip="127.0.0.$((k + 1))"
    mkdir -p "$W/homes/h$k"
    start_sshd "$ip" "$W/homes/h$k"
    ssh_block "h$k" "$ip" >>"$W/ssh_config.hosts"
    names+=("h$k")
  done
  write_ours_project "$W/many" "" out 100 "$W/ssh_config.hosts" "${names[@]}"
  write_ours_project "$W/one" "" out 100 "$W/ssh_config.hosts" h1
  many() { (cd "$W/many" && BATOU_PROJECT_DIR="$W/many" "$bin" deploy -j "$nhosts" bench); }
  one() { (cd "$W/one" && BATOU_PROJECT_DIR="$W/one" "$bin" deploy bench); }
  # Cold: every host gets the agent once.
  timed hosts_cold "$nhosts" ours many
  for r in $(seq "$runs"); do
    for k in $(seq "$nhosts"); do aside "$W/homes/h$k/deployment"; done
    timed hosts_first "$nhosts" ours many
    aside "$W/homes/h1/deployment"
    timed hosts_first 1 ours one
  done
  for r in $(seq "$runs"); do
    timed hosts_noop "$nhosts" ours many
    timed hosts_noop 1 ours one
  done
  # The floor: every host's ssh handshake at once, against one.
  all_true() {
    local h jobs=()
    for h in "${names[@]}"; do
      ssh -F "$W/ssh_config.hosts" "$h" true &
      jobs+=($!)
    done
    # Only these (a bare `wait` would wait for the sshds too).
    for h in "${jobs[@]}"; do wait "$h"; done
  }
  for r in $(seq "$runs"); do
    timed hosts_ssh_true "$nhosts" floor all_true
    timed hosts_ssh_true 1 floor ssh -F "$W/ssh_config.hosts" h1 true
  done
  [ "$(find "$W"/homes/h*/deployment -name 'file-*.conf' | wc -l)" = "$((nhosts * 100))" ] || die "the many-hosts deploy did not write $nhosts x 100 files"
fi

# --- incremental build after editing one component -------------------------
if [ "${BENCH_BUILD:-1}" = 1 ]; then
  say "incremental release build after editing one component (components/src/backend.rs)"
  src="$root/components/src/backend.rs"
  cp "$src" "$W/backend.rs.orig"
  restore() { cp "$W/backend.rs.orig" "$src"; }
  trap 'restore; cleanup' EXIT
  (cd "$root" && cargo build --quiet --release -p components --bin batou-deploy)
  for r in 1 2; do
    printf '\n// bench edit %s\n' "$r" >>"$src"
    timed build 1 ours bash -c "cd '$root' && cargo build --quiet --release -p components --bin batou-deploy"
    restore
  done
  (cd "$root" && cargo build --quiet --release -p components --bin batou-deploy)
  trap cleanup EXIT
fi

# --- the report ----------------------------------------------------------------
extra ours_version "$(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
extra batou_version "$("$venv/bin/python" -c 'import batou; print(open(batou.__path__[0] + "/version.txt").read().strip())')"
extra python "$("$venv/bin/python" --version 2>&1)"
extra openssh "$(ssh -V 2>&1)"
extra cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) x $(nproc)"
extra kernel "$(uname -sr)"
extra os "$(. /etc/os-release && echo "$PRETTY_NAME")"
extra load "$(cut -d' ' -f1-3 /proc/loadavg)"
extra date "$(date -u '+%Y-%m-%d %H:%M UTC')"
extra runs "$runs"
extra batou_runs_big "$batou_runs_big"
# The raw data stays beside the report, which can be rewritten from it
# (python3 report.py samples.tsv extras.tsv RESULTS.md INDEX).
cp "$samples" "$out/samples.tsv"
cp "$extras" "$out/extras.tsv"
# The index (bench/RESULTS.md) only for a run that writes here.
index=/dev/null
[ "$out" = "$here" ] && index="$root/bench/RESULTS.md"
python3 "$here/report.py" "$samples" "$extras" "$out/RESULTS.md" "$index"
say "wrote $out/RESULTS.md"

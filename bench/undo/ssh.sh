#!/usr/bin/env bash
# Undo recording on vs off (issue #22) over ssh, as the issue asks: the
# deploy benchmark's workload and sshd (bench/deploy: project.sh, sshd.sh),
# our tool only, the two settings ALTERNATING in one sitting (bench/deploy
# runs one setting per sitting, and between sittings this shared machine's
# speed moves more than what is measured). Output trees on a journaled
# ext4 image mounted here (what a Debian server has; this machine's root
# file system has no journal, see bench/RESULTS.md).
#
#   bench/undo/ssh.sh [RUNS] [AGAIN]      (as root; default 7 and 3)
#
# Per run and setting: a first deploy of N = 1,000 files (the tree set
# aside before), the first template change (1,000 files replaced), and the
# median of AGAIN more template changes. Wall seconds and the CPU of
# everything involved (the tool, ssh, sshd, the agent: one cgroup), one
# TSV line per deploy on stdout; medians and on/off ratios at the end.
#   BATOU_BIN=PATH   our binary (default: target/release/batou-test, built
#                    when missing); its agent is built by a warm-up deploy
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/../deploy" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../deploy/project.sh
. "$here/project.sh"
# shellcheck source=../deploy/sshd.sh
. "$here/sshd.sh"
runs=${1:-7}; again=${2:-3}; n=1000
sshd=/usr/sbin/sshd
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sshd, loop mount)"
bin=${BATOU_BIN:-$root/target/release/batou-test}
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --quiet --release -p batou-tests --bin batou-test)
fi
export BATOU_AGENT_MANIFEST="$root/Cargo.toml" BATOU_AGENT_PACKAGE=batou-tests

W=$(mktemp -d /tmp/batou-undo-ssh.XXXXXX)
pids=(); cg=; mounted=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$mounted" ] || umount "$mounted" || umount -l "$mounted" || true
  if [ -n "$cg" ]; then echo $$ >"$(dirname "$cg")/cgroup.procs" 2>/dev/null || true; rmdir "$cg" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sshd_keys
for base in /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [ -f "$base/cgroup.procs" ] || continue
  if mkdir -p "$base/batou-undo-$$" 2>/dev/null && echo $$ >"$base/batou-undo-$$/cgroup.procs" 2>/dev/null; then
    cg="$base/batou-undo-$$"; break
  fi
  rmdir "$base/batou-undo-$$" 2>/dev/null || true
done
cpu_ns() { if [ -z "$cg" ]; then echo 0; else awk '$1 == "usage_usec" { print $2 * 1000 }' "$cg/cpu.stat"; fi; }
start_sshd 127.0.0.1
ssh_block bench 127.0.0.1 >"$W/ssh_config"

truncate -s 4G "$W/ext4.img"
mkfs.ext4 -q -F "$W/ext4.img"
mkdir -p "$W/ext4"
mount -o loop "$W/ext4.img" "$W/ext4"
mounted="$W/ext4"

# Two projects, one per setting, each with its own target, lock and tree.
BENCH_SETTINGS="" write_ours_project "$W/on" "$W/ext4/t-on" "$W/ext4/out-on" "$n" "$W/ssh_config"
BENCH_SETTINGS="revert = false" write_ours_project "$W/off" "$W/ext4/t-off" "$W/ext4/out-off" "$n" "$W/ssh_config"
deploy() { (cd "$W/$1" && BATOU_PROJECT_DIR="$W/$1" "$bin" deploy bench) >>"$W/log" 2>&1 || die "deploy failed ($1): $(tail -20 "$W/log")"; }
timed() {
  local c0 t0 t1 c1
  c0=$(cpu_ns); t0=$EPOCHREALTIME
  deploy "$2"
  t1=$EPOCHREALTIME; c1=$(cpu_ns)
  printf '%s\t%s\t%s\t%.4f\t%.4f\n' "$1" "$2" "$3" "$(echo "$t1 - $t0" | bc)" "$(echo "($c1 - $c0) / 1000000000" | bc -l)"
}
aside() { [ ! -e "$1" ] || mv "$1" "$(mktemp -u "$W/ext4/aside.XXXXXX")"; }
flip() { if [ "$(get_attr "$1" revision)" = A ]; then set_attr "$1" revision B; else set_attr "$1" revision A; fi; }

# Warm-up: the agent is built and cached on the target, untimed.
deploy on; deploy off
{
printf 'case\tsetting\trun\twall\tcpu\n'
for r in $(seq "$runs"); do
  # Which setting goes first alternates too: the machine's speed drifts
  # within a sitting, and a fixed order would lend the drift to one side.
  order="on off"; [ $((r % 2)) = 1 ] || order="off on"
  for s in $order; do
    aside "$W/ext4/out-$s"
    set_attr "$W/$s" revision A
    timed first "$s" "$r"
    flip "$W/$s"
    timed change "$s" "$r"
    for _ in $(seq "$again"); do flip "$W/$s"; timed again "$s" "$r"; done
  done
done
} | tee "$W/samples.tsv"
python3 - "$W/samples.tsv" <<'P'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()[1:]]
def med(case, setting, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == case and r[1] == setting)
print("\ncase\ton wall\toff wall\ton/off wall\ton cpu\toff cpu\ton/off cpu")
for case in ("first", "change", "again"):
    w = (med(case, "on", 3), med(case, "off", 3))
    c = (med(case, "on", 4), med(case, "off", 4))
    print(f"{case}\t{w[0]:.3f}\t{w[1]:.3f}\t{w[0] / w[1]:.2f}\t{c[0]:.3f}\t{c[1]:.3f}\t{c[0] / c[1]:.2f}")
P

#!/usr/bin/env bash
# The edit-loop benchmark of issue #18 (item 4): how long `./batou deploy
# -P local` takes on the example deployment, build included, after
#
#   cold      nothing built yet (a fresh, empty cargo target directory)
#   rust      a one-line change in one component (Backend's default
#             `workers`, flipped between two values, so code changes)
#   template  a one-line change in a template (templates/backend.conf)
#   none      no change at all (the build is a no-op)
#
# It copies the sources of a batou checkout (default: the one holding this
# script) into a scratch directory and measures there, so the checkout is
# never touched; `BENCH_SOURCE=/other/checkout` measures another one (e.g.
# the code before a change, for a before/after comparison).
#
# Settings (environment variables):
#   BENCH_SOURCE=DIR   the checkout to measure (default: this one)
#   BENCH_RUNS=5       repetitions of the rust, template and none cases
#   BENCH_COLD=1       cold builds (each a whole dependency tree; 0: skip)
#   BENCH_SCRATCH=DIR  where to copy and build (default: a new directory
#                      from mktemp -d; removed at the end unless BENCH_KEEP=1)
#   BENCH_OUT=FILE     the samples as TSV (default: SCRATCH/samples.tsv;
#                      each is also printed on stderr as it is taken)
#
# Each sample records the 1-minute load average before it ran: other
# builds on a shared machine make these numbers noisy; compare medians
# taken at low load. Needs: cargo (the toolchain of the checkout), bc, tar,
# about 3 GB of disk in the scratch directory (a whole optimised build).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
source=${BENCH_SOURCE:-$(cd "$here/../.." && pwd)}
runs=${BENCH_RUNS:-5}
cold_runs=${BENCH_COLD:-1}
keep=${BENCH_KEEP:-0}

die() { printf 'bench/loop: %s\n' "$*" >&2; exit 1; }
say() { printf '== %s\n' "$*" >&2; }

[ -x "$source/batou" ] && [ -f "$source/components/src/backend.rs" ] \
  || die "$source is not a batou checkout with the example deployment"
command -v cargo >/dev/null || die "no cargo on the PATH"

if [ -n "${BENCH_SCRATCH:-}" ]; then
  scratch=$BENCH_SCRATCH
  mkdir -p "$scratch"
else
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/batou-bench-loop.XXXXXX")
fi
[ "$keep" = 1 ] || [ -n "${BENCH_SCRATCH:-}" ] || trap 'rm -rf "$scratch"' EXIT
out=${BENCH_OUT:-$scratch/samples.tsv}
proj=$scratch/project
target=$scratch/target

# What ./batou needs of the checkout (no target/, work/ or .git).
copy_sources() {
  rm -rf "$proj"
  mkdir -p "$proj"
  local item
  for item in Cargo.toml Cargo.lock batou batou-core batou-derive batou-cli \
              components tests environments .cargo; do
    [ -e "$source/$item" ] || continue
    (cd "$source" && tar --exclude=target --exclude=work -cf - "$item") | (cd "$proj" && tar -xf -)
  done
}

load() { cut -d' ' -f1 /proc/loadavg; }

# sample CASE: runs `./batou deploy -P local` in the project and appends
# "case wall-seconds cpu-seconds load" to the samples. cpu is the user +
# system time of everything it ran (cargo, rustc, the linker, batou):
# unlike wall time it hardly grows when other builds share the machine.
sample() {
  local case=$1 l status times
  l=$(load)
  set +e
  times=$( { TIMEFORMAT='%R %U %S'; time (cd "$proj" && CARGO_TARGET_DIR="$target" ./batou deploy -P local \
    >"$scratch/last.out" 2>"$scratch/last.err"); } 2>&1 )
  status=$?
  set -e
  if [ "$status" != 0 ]; then
    cat "$scratch/last.out" "$scratch/last.err" >&2
    die "$case: ./batou deploy -P local failed ($status)"
  fi
  set -- $times
  printf '%s\t%s\t%.2f\t%s\n' "$case" "$1" "$(echo "$2 + $3" | bc -l)" "$l" | tee -a "$out" >&2
}

# flip FILE A B: replaces A with B in FILE, or B with A if A is not there.
flip() {
  local file=$1 a=$2 b=$3
  if grep -qF -- "$a" "$file"; then
    sed -i "s|$a|$b|" "$file"
  else
    sed -i "s|$b|$a|" "$file"
  fi
}

command -v bc >/dev/null || die "bc is missing (apt-get install bc)"
say "load average: $(cat /proc/loadavg)"
: >"$out"
say "source $source ($(git -C "$source" rev-parse --short HEAD 2>/dev/null || echo '?')), scratch $scratch"
say "cpus $(nproc), $(cargo --version)"
copy_sources
i=0
while [ "$i" -lt "$cold_runs" ]; do
  rm -rf "$target"
  sample cold
  i=$((i + 1))
done
[ -d "$target" ] || sample warmup
backend=$proj/components/src/backend.rs
template=$proj/components/templates/backend.conf
grep -q '#\[attr(default = 4)\]' "$backend" || grep -q '#\[attr(default = 5)\]' "$backend" \
  || die "$backend has no '#[attr(default = 4)]' line to flip"
i=0
while [ "$i" -lt "$runs" ]; do
  flip "$backend" '#[attr(default = 4)]' '#[attr(default = 5)]'
  sample rust
  flip "$template" '# bench: a' '# bench: b'
  grep -qF '# bench: ' "$template" || printf '# bench: a\n' >>"$template"
  sample template
  sample none
  i=$((i + 1))
done

# Medians per case.
say "median per case (wall and cpu seconds; load = 1-minute load average before each sample)"
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for case in cold warmup rust template none; do
  grep -q "^$case	" "$out" || continue
  wall=$(awk -F'\t' -v c="$case" '$1 == c { print $2 }' "$out" | median)
  cpu=$(awk -F'\t' -v c="$case" '$1 == c { print $3 }' "$out" | median)
  loads=$(awk -F'\t' -v c="$case" '$1 == c { printf " %s", $4 }' "$out")
  printf '%-9s wall %7ss  cpu %7ss  (n = %s, load:%s)\n' "$case" "$wall" "$cpu" \
    "$(grep -c "^$case	" "$out")" "$loads"
done

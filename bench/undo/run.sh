#!/usr/bin/env bash
# Undo recording on vs off (issue #22), local deploys of N = 1,000 files
# (the `files` bench component; connect_method = local: the same Host path
# an agent runs), alternating on and off, each run its own fresh project:
#
#   first   the first deploy (1,000 files created)
#   change  the first template change after it (1,000 files replaced: the
#           old ones are kept for undo, the worst case)
#   again   the median of AGAIN more template changes (A <-> B) on the same
#           project: a host that deploys regularly, where each deploy also
#           drops the record of the one before
#
# Wall seconds and user+sys CPU of the deploy process, one line per run:
#   bench/undo/run.sh BIN [RUNS] [AGAIN]
#       BIN     a release batou-test (cargo build --release -p batou-tests)
#   BENCH_DIR=DIR  where the projects go (default: a new dir in TMPDIR);
#                  e.g. a journaled ext4 mount, see bench/RESULTS.md
set -euo pipefail
bin=$(realpath "$1"); runs=${2:-5}; again=${3:-4}
base=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/undo-bench.XXXXXX")
trap 'rm -rf "$base"' EXIT

# One deploy: "wall cpu".
timed() {
  python3 - "$bin" <<'P'
import os, subprocess, sys, time
s = time.time()
subprocess.run([sys.argv[1], "deploy", "local"], stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL, check=True)
e = time.time(); r = os.times()
print(f"{e - s:.4f} {r.children_user + r.children_system:.3f}")
P
}

for i in $(seq "$runs"); do
  for mode in on off; do
    d=$base/$mode-$i
    mkdir -p "$d/environments"
    extra=""
    [ "$mode" = off ] && extra="revert = false"
    printf '[environment]\nconnect_method = local\ndeploy_lock = %s/lock/deploy.lock\n%s\n[hosts]\nlocalhost = files\n[component:files]\ncount = 1000\noutdir = out\nrevision = A\n' \
      "$d" "$extra" > "$d/environments/local.cfg"
    cd "$d"
    export HOME=$d
    first=$(timed)
    sed -i 's/revision = A/revision = B/' environments/local.cfg
    change=$(timed)
    walls=()
    for _ in $(seq "$again"); do
      if grep -q 'revision = B' environments/local.cfg; then
        sed -i 's/revision = B/revision = A/' environments/local.cfg
      else
        sed -i 's/revision = A/revision = B/' environments/local.cfg
      fi
      walls+=("$(timed)")
    done
    steady=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
    echo "$mode first(wall cpu)=$first change(wall cpu)=$change again(wall cpu)=$steady"
  done
done

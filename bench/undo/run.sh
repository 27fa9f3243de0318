#!/usr/bin/env bash
# Undo recording on vs off (issue #22): a first deploy and a template change
# of N = 1,000 files (the `files` bench component), local deploys
# (connect_method = local: the same Host path an agent runs), alternating;
# wall and user+sys CPU of each run.
#   bench/undo/run.sh target/release/batou-test [RUNS]
set -euo pipefail
bin=$1; runs=${2:-5}
base=$(mktemp -d "${TMPDIR:-/tmp}/undo-bench.XXXXXX")
t() { local s=$(date +%s.%N); local c0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat); "$@" >/dev/null 2>&1 || { echo FAIL; exit 1; }; local e=$(date +%s.%N); python3 - "$s" "$e" <<'P'
import sys,os
s,e=map(float,sys.argv[1:3]); r=os.times()
print(f"{e-s:.3f} {r.children_user+r.children_system:.3f}")
P
}
for i in $(seq $runs); do
  for mode in on off; do
    d=$base/$mode-$i; mkdir -p $d/environments
    extra=""; [ $mode = off ] && extra="revert = false"
    printf '[environment]\nconnect_method = local\ndeploy_lock = %s/lock/deploy.lock\n%s\n[hosts]\nlocalhost = files\n[component:files]\ncount = 1000\noutdir = out\nrevision = A\n' $d "$extra" > $d/environments/local.cfg
    first=$(cd $d && HOME=$d bash -c 'python3 -c "
import subprocess,time,os,sys
s=time.time(); subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,check=True); e=time.time(); r=os.times()
print(f\"{e-s:.3f} {r.children_user+r.children_system:.3f}\")" '"$bin"' deploy local')
    sed -i 's/revision = A/revision = B/' $d/environments/local.cfg
    change=$(cd $d && HOME=$d bash -c 'python3 -c "
import subprocess,time,os,sys
s=time.time(); subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,check=True); e=time.time(); r=os.times()
print(f\"{e-s:.3f} {r.children_user+r.children_system:.3f}\")" '"$bin"' deploy local')
    echo "$mode first(wall cpu)=$first change(wall cpu)=$change"
  done
done
rm -rf "$base"

#!/usr/bin/env bash
# Decrypting an environment with a secrets.cfg.age and 100 secret-NNN.age
# files: this rebuild (age in process) vs Python batou 2.7.1 (one `age`
# process per file), both via `secrets summary`, which decrypts everything.
#
#   bench/secrets/run.sh [N_FILES]      (default 100)
#
# Needs: the `age` CLI (apt-get install age), a venv with batou 2.7.1 at
# $BATOU_VENV (default /work/scratch/batou-venv; created if missing), and
# hyperfine if available (else a plain loop with `date` and `bc`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-100}
venv=${BATOU_VENV:-/work/scratch/batou-venv}
keys="$root/batou-core/tests-data/secrets"
export BATOU_AGE_IDENTITIES="$keys/age-identity.txt"
member=$(sed -n 's/^# public key: //p' "$BATOU_AGE_IDENTITIES")

if [ ! -x "$venv/bin/batou" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q batou==2.7.1
fi
# BATOU_BIN: an already built deployment binary (skips the release build).
bin=${BATOU_BIN:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build -q --release -p components)
  bin="$root/target/release/batou-deploy"
fi

proj=$(mktemp -d /tmp/batou-secrets-bench.XXXXXX)
trap 'rm -rf "$proj"' EXIT
mkdir -p "$proj/environments/bench"
printf '[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = backend\n' >"$proj/environments/bench/environment.cfg"
printf '{"migration": {"version": 2400}}' >"$proj/.batou.json"
printf '[batou]\nsecret_provider = age\nmembers = %s\n\n[backend]\ngreeting = bench\n' "$member" |
  age -e -r "$member" -o "$proj/environments/bench/secrets.cfg.age"
for i in $(seq -w 1 "$n"); do
  printf 'secret file %s\n' "$i" | age -e -r "$member" -o "$proj/environments/bench/secret-file$i.age"
done

rust="cd $proj && BATOU_PROJECT_DIR=$proj $bin secrets summary >/dev/null"
py="cd $proj && APPENV_BASEDIR=$proj $venv/bin/batou secrets summary >/dev/null"
# Both must list all files, or the comparison is meaningless.
[ "$(cd "$proj" && BATOU_PROJECT_DIR=$proj $bin secrets summary | grep -c -- '- file')" = "$((10#$n))" ]
[ "$(cd "$proj" && APPENV_BASEDIR=$proj $venv/bin/batou secrets summary | grep -c -- '- file')" = "$((10#$n))" ]

if command -v hyperfine >/dev/null; then
  hyperfine -w 1 -r 5 -N --export-markdown "$here/last-run.md" -n rust "bash -c '$rust'" -n "batou 2.7.1" "bash -c '$py'"
else
  for name in rust py; do
    cmd=${!name}
    start=$(date +%s.%N)
    for _ in 1 2 3 4 5; do bash -c "$cmd"; done
    end=$(date +%s.%N)
    echo "$name: $(echo "($end - $start) / 5" | bc -l | cut -c1-6) s per run (mean of 5)"
  done
fi

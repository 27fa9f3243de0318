#!/usr/bin/env bash
# The edit–deploy loop after a template-only change (issue #18 item 3):
# edit one template of the example (components/templates/backend.conf),
# then time `./batou deploy -P local` (cargo's check included), RUNS times.
# The deployment binary must not be rebuilt: the script fails if its
# mtime, inode, size or hash changes. The edited template is restored on
# exit.
#
#   bench/assets/run.sh [RUNS]          (default 7)
#
# PROFILE=release (default, what ./batou builds) or PROFILE=dev: the same
# steps as ./batou with cargo's dev profile (for a machine where a release
# build is not at hand). Prints one line per run and the median, with the
# load average before and after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-7}
profile=${PROFILE:-release}
template="$root/components/templates/backend.conf"
backup=$(mktemp)
cp "$template" "$backup"
trap 'cp "$backup" "$template"; rm -f "$backup"' EXIT

if [ "$profile" = release ]; then
  deploy() { "$root/batou" deploy -P local >/dev/null; }
  bin="${CARGO_TARGET_DIR:-$root/target}/release/batou-deploy"
else
  # ./batou with the dev profile: build (a no-op unless Rust changed), run.
  deploy() {
    cargo build --quiet --manifest-path "$root/Cargo.toml" -p components --bin batou-deploy
    BATOU_PROJECT_DIR="$root" BATOU_AGENT_PACKAGE=components \
      "${CARGO_TARGET_DIR:-$root/target}/debug/batou-deploy" deploy -P local >/dev/null
  }
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/batou-deploy"
fi

deploy # builds once if needed; not timed
built=$(stat -c '%Y %i %s' "$bin"; sha256sum < "$bin")
echo "profile=$profile runs=$runs load before: $(cut -d' ' -f1-3 /proc/loadavg)"
times=()
for i in $(seq 1 "$runs"); do
  echo "# bench edit $i" >> "$template"
  start=$(date +%s.%N)
  deploy
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc)
  times+=("$t")
  printf 'run %d: %.3f s\n' "$i" "$t"
done
now=$(stat -c '%Y %i %s' "$bin"; sha256sum < "$bin")
if [ "$now" != "$built" ]; then
  echo "FAIL: the deployment binary was rebuilt by a template edit" >&2
  exit 1
fi
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median: %.3f s (binary not rebuilt); load after: %s\n' "$median" "$(cut -d' ' -f1-3 /proc/loadavg)"

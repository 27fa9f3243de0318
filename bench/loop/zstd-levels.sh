#!/usr/bin/env bash
# What building zstd `thin` costs the agent uploads (Cargo.toml, payload.rs):
# packs NEW and makes a delta of NEW against OLD (payload.rs's settings: long
# distance matching, a window over both, a checksum) at levels 3, 6 and 9,
# with zstd built in full and built thin; prints seconds and bytes, and the
# CPU seconds each zstd-sys build took.
#
#   bench/loop/zstd-levels.sh OLD NEW     e.g. two release agents one edit apart
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/zstd-levels.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
cat > Cargo.toml <<'T'
[package]
name = "zstd-levels"
version = "0.1.0"
edition = "2021"
[dependencies]
zstd = { version = "0.13", default-features = false }
[features]
thin = ["zstd/thin"]
[profile.release]
lto = "off"
T
mkdir src
cat > src/main.rs <<'R'
use std::io::Write;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let old = std::fs::read(&a[1]).unwrap();
    let new = std::fs::read(&a[2]).unwrap();
    let level: i32 = a[3].parse().unwrap();
    let t = Instant::now();
    let packed = zstd::bulk::compress(&new, level).unwrap();
    let pack_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut e = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, &old).unwrap();
    let span = (old.len() + new.len()).max(1 << 10);
    e.window_log((usize::BITS - (span - 1).leading_zeros()).clamp(10, 31)).unwrap();
    e.long_distance_matching(true).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(&new).unwrap();
    let delta = e.finish().unwrap();
    let delta_s = t.elapsed().as_secs_f64();
    println!("{level}\t{pack_s:.3}\t{}\t{delta_s:.3}\t{}", packed.len(), delta.len());
}
R
for build in full thin; do
  flags=(); [ "$build" = thin ] && flags=(--features thin)
  rm -rf target
  cpu=$( { /usr/bin/time -f "%U %S" cargo build -q --release "${flags[@]}" >/dev/null; } 2>&1 | tail -1 | awk '{print $1 + $2}')
  echo "# zstd built $build: cargo build (zstd-sys and the program) took $cpu s CPU"
  echo -e "level\tpack s\tpack bytes\tdelta s\tdelta bytes"
  for level in 3 6 9; do ./target/release/zstd-levels "$old" "$new" "$level"; done
done

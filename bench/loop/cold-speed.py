#!/usr/bin/env python3
"""Cold builds compared across a noisy shared machine.

Each argument is a cargo timing report (`cargo build --timings`,
target/cargo-timings/cargo-timing-*.html) of a cold build of the
deployment binary. The first is the reference. For each report: the wall
time to the last unit, and that time divided by the machine's speed in
that run, measured on the units no change touches (every dependency
except the ones named in CHANGED, whose build we changed): if those took
19 % longer than in the reference, the machine was 19 % slower, and the
normalised time is what the build would have taken at the reference's
speed.

    bench/loop/cold-speed.py base.html new1.html new2.html ...
"""
import json
import re
import sys

# Units whose own build a change may have changed: not a measure of speed.
CHANGED = {"batou-core", "batou-cli", "batou-derive", "components", "zstd-sys", "zstd-safe", "zstd", "similar"}


def units(path):
    text = open(path, encoding="utf-8").read()
    data = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S).group(1))
    return {(u["name"], u["version"], u.get("mode", ""), u.get("target", "")): u for u in data}


def main(paths):
    ref = units(paths[0])
    print("report\twall s\tspeed\tnormalised s\tbatou-core s\tzstd-sys s")
    for path in paths:
        run = units(path)
        same = [k for k in run if k in ref and k[0] not in CHANGED]
        speed = sum(run[k]["duration"] for k in same) / sum(ref[k]["duration"] for k in same)
        end = max(u["start"] + u["duration"] for u in run.values())
        core = sum(u["duration"] for k, u in run.items() if k[0] == "batou-core")
        zstd = sum(u["duration"] for k, u in run.items() if k[0] == "zstd-sys")
        print(f"{path}\t{end:.1f}\t{speed:.3f}\t{end / speed:.1f}\t{core:.1f}\t{zstd:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])

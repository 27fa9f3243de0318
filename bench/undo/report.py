#!/usr/bin/env python3
"""Medians and on/off ratios of bench/undo/run.sh's lines (stdin or files)."""
import fileinput
import re
import statistics

LINE = re.compile(r"(on|off) first\(wall cpu\)=(\S+) (\S+) change\(wall cpu\)=(\S+) (\S+)"
                  r"(?: again\(wall cpu\)=(\S+) (\S+))?")
rows = {"on": [], "off": []}
for line in fileinput.input():
    m = LINE.match(line.strip())
    if m:
        rows[m.group(1)].append([float(x) if x else None for x in m.groups()[1:]])
names = ["first, wall", "first, CPU", "change, wall", "change, CPU", "again, wall", "again, CPU"]
print(f"| case, N = 1,000 | revert on | `revert = false` | on / off |")
print("|---|---:|---:|---:|")
for i, name in enumerate(names):
    on = [r[i] for r in rows["on"] if r[i] is not None]
    off = [r[i] for r in rows["off"] if r[i] is not None]
    if not on or not off:
        continue
    a, b = statistics.median(on), statistics.median(off)
    print(f"| {name} | {a:.3f} s | {b:.3f} s | {a / b:.2f} |")
print(f"\n{len(rows['on'])} runs each")

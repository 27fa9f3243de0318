"""Turns the samples of bench/agent/run.sh into RESULTS.md.

    report.py SAMPLES.tsv EXTRAS.tsv RESULTS.md

SAMPLES: case, hosts (or N), tool, seconds, bytes per line. EXTRAS: key,
value.
"""

import collections
import statistics
import sys


def main():
    samples_path, extras_path, results_path = sys.argv[1:4]
    secs = collections.defaultdict(list)
    wire = collections.defaultdict(list)
    with open(samples_path) as f:
        for line in f:
            case, n, tool, s, b = line.rstrip("\n").split("\t")
            secs[(case, int(n), tool)].append(float(s))
            wire[(case, int(n), tool)].append(int(b))
    extras = {}
    with open(extras_path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            extras[key] = value

    def med(d, key):
        return statistics.median(d[key]) if d.get(key) else None

    def s(v):
        return "–" if v is None else ("%.3f s" % v if v < 1 else "%.2f s" % v)

    def mb(v):
        return "–" if v is None else "%.2f MB" % (v / 1e6)

    out = []
    w = out.append
    w("# The static agent: shipping it, starting it, its allocator")
    w("")
    w("Written by `bench/agent/run.sh` (method in its header), %s, %s," % (extras.get("date", "?"), extras.get("cpu", "?")))
    w("load average %s at the end, code `%s`." % (extras.get("load", "?"), extras.get("ours_version", "?")))
    w("Hosts are OpenSSH sshds on 127.0.0.x; bytes are everything the run's")
    w("SSH connections carried, both directions. The agent: %s (static," % mb(int(extras.get("agent_bytes", "0"))))
    w("release, mimalloc, built with `cargo %s`); the controller: %s" % (extras.get("agent_builder", "?"), mb(int(extras.get("controller_bytes", "0")))))
    w("(glibc, dynamic).")
    w("")
    w("## A fresh host, and after a one-line change of a component")
    w("")
    w("`files` with N = 100 per host. Cold: the host has no agent and no")
    w("files (batou 2.7.1 builds its remote virtualenv). Change: one line")
    w("of the component's Rust code changed, so every host gets a new agent")
    w("(uploaded whole, compressed only by ssh); the first deploy after the")
    w("change also builds that agent on the controller.")
    w("")
    w("| case | hosts | seconds | bytes on the wire |")
    w("|---|---:|---:|---:|")
    n_many = max((n for (c, n, t) in secs if c == "cold" and t == "ours"), default=0)
    for case, label in [("cold", "cold first deploy, ours"), ("noop", "no-op re-deploy, ours"), ("change", "deploy after a one-line change, ours")]:
        for n in (1, n_many):
            key = (case, n, "ours")
            if key in secs:
                w("| %s | %d | %s | %s |" % (label, n, s(med(secs, key)), mb(med(wire, key))))
    key = ("cold", 1, "batou")
    if key in secs:
        w("| cold first deploy, batou 2.7.1 | 1 | %s | %s |" % (s(med(secs, key)), mb(med(wire, key))))
        o = med(secs, ("cold", 1, "ours"))
        if o:
            w("")
            w("A cold deploy to one host: batou 2.7.1 takes %.0f× as long." % (med(secs, key) / o))
    w("")
    w("Building after the one-line change (incremental, release): the")
    w("controller %s s, its agent %s s (once for all hosts)." % (extras.get("controller_build_seconds", "?"), extras.get("agent_build_seconds", "?")))
    w("")
    w("<!-- delta uploads: the wire-side numbers (agent sent as a delta")
    w("     against the one the host has) go here. -->")
    w("")
    w("## The allocator: musl's malloc against mimalloc")
    w("")
    w("The agent's hot path, a first deploy of N = 1,000 files (and a no-op")
    w("re-deploy), by builds of the same code: the controller's own (glibc")
    w("malloc), and static musl builds by `cargo build` (C dependencies by")
    w("musl-gcc, Rust's bundled musl) and by `cargo zigbuild` (zig's musl),")
    w("each with musl's malloc (`--features batou-core/musl-malloc`) and as")
    w("shipped (mimalloc). In process (`connect_method = local`: the build")
    w("configures, verifies and writes the files itself, to a tmpfs; wall")
    w("and user + system CPU seconds, median of %d runs) and as the agent" % (4 * int(extras.get("runs", "0"))))
    w("over ssh (`agent_binary`, wall, median of %s runs; `ssh HOST true`" % extras.get("runs", "?"))
    w("is the floor). The builds interleaved. The controller here builds its")
    w("agents with `%s`." % extras.get("agent_builder", "?"))
    w("")
    w("| build | in process: first deploy (CPU) | in process: no-op (CPU) | over ssh: first deploy | over ssh: no-op |")
    w("|---|---:|---:|---:|---:|")
    labels = {"glibc": "glibc (the controller's build)"}
    for tool in ("cargo", "zigbuild"):
        labels[tool + "-musl"] = "static, %s, musl malloc" % tool
        labels[tool + "-mimalloc"] = "static, %s, mimalloc (shipped)" % tool
    for a, label in labels.items():
        if ("local_first", 1000, a) not in secs:
            continue
        w("| %s | %s (%s) | %s (%s) | %s | %s |" % (
            label,
            s(med(secs, ("local_first", 1000, a))), s(med(secs, ("local_first_cpu", 1000, a))),
            s(med(secs, ("local_noop", 1000, a))), s(med(secs, ("local_noop_cpu", 1000, a))),
            s(med(secs, ("alloc_first", 1000, a))), s(med(secs, ("alloc_noop", 1000, a)))))
    w("| `ssh HOST true` | | | %s | |" % s(med(secs, ("ssh_true", 1, "floor"))))
    w("")
    with open(results_path, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()

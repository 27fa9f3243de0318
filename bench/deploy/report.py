"""Turns the samples of bench/deploy/run.sh into RESULTS.md.

    report.py SAMPLES.tsv EXTRAS.tsv RESULTS.md INDEX.md

SAMPLES: case, N, tool, seconds per line. EXTRAS: key, value. The hand-
written analysis.md beside this script (what the profiles show) is
appended. In INDEX.md (bench/RESULTS.md) the lines between
`<!-- deploy:begin -->` and `<!-- deploy:end -->` are replaced by a short
summary.
"""

import collections
import os
import statistics
import sys

CASES = [
    ("first", "first deploy"),
    ("noop", "no-op re-deploy"),
    ("change", "template change (every file, diffs printed)"),
    ("predict", "predict after the change (`-P`)"),
    ("local", "local consistency check (`-c -L`)"),
]


def load(samples_path, extras_path):
    samples = collections.defaultdict(list)
    cpu = collections.defaultdict(list)
    with open(samples_path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            case, n, tool, secs = fields[:4]
            samples[(case, int(n), tool)].append(float(secs))
            if len(fields) > 4 and float(fields[4]) > 0:
                cpu[(case, int(n), tool)].append(float(fields[4]))
    extras = collections.defaultdict(list)
    with open(extras_path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            extras[key].append(value)
    return samples, cpu, extras


def fmt(secs):
    if secs is None:
        return "–"
    if secs < 1:
        return "%.3f s" % secs
    return "%.2f s" % secs


def main():
    samples_path, extras_path, results_path, index_path = sys.argv[1:5]
    samples, cpu, extras = load(samples_path, extras_path)

    def med(case, n, tool):
        values = samples.get((case, n, tool))
        return statistics.median(values) if values else None

    def low(case, n, tool):
        values = samples.get((case, n, tool))
        return min(values) if values else None

    def cpu_med(case, n, tool):
        values = cpu.get((case, n, tool))
        return statistics.median(values) if values else None

    def count(case, n, tool):
        return len(samples.get((case, n, tool), []))

    def one(key, default="?"):
        return extras[key][-1] if extras.get(key) else default

    def row(w, case, label, n):
        o, b = med(case, n, "ours"), med(case, n, "batou")
        if o is None:
            return
        ratio = "%.3f" % (o / b) if b else "–"
        speed = "%.0f×" % (b / o) if b else "–"
        bcell = "%s (%s)" % (fmt(b), fmt(low(case, n, "batou"))) if b else "–"
        if b and count(case, n, "batou") == 1:
            bcell = "%s (1 run)" % fmt(b)
        co, cb = cpu_med(case, n, "ours"), cpu_med(case, n, "batou")
        cspeed = "%.0f×" % (cb / co) if co and cb else "–"
        w("| %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s |" % (label, f"{n:,}", fmt(o), fmt(low(case, n, "ours")), bcell, ratio, speed, fmt(co), fmt(cb), cspeed))

    sizes = sorted({n for (case, n, _) in samples if case in dict(CASES)})
    out = []
    w = out.append
    w("# Deploying N templated files over ssh: rebuild vs batou 2.7.1")
    w("")
    w("Written by `bench/deploy/run.sh` (method in its header and in")
    w("`project.sh`). Both tools deploy the same component to the same")
    w("OpenSSH sshd on 127.0.0.1, alternating run by run in one sitting;")
    w("the two output trees are compared file by file after each first")
    w("deploy. Seconds are wall clock of the whole command (our binary:")
    w("release build; batou: its console script from a venv, its remote")
    w("venv already built). Every ratio is ours / batou of the medians.")
    w("A first deploy starts with the previous tree renamed away, not")
    w("deleted (see the file-system note at the end). The template change")
    w("flips `revision` (printed in every file) in the environment of both.")
    w("")
    w("| | |")
    w("|---|---|")
    w("| date | %s |" % one("date"))
    w("| machine | %s, %s, %s |" % (one("cpu"), one("os"), one("kernel")))
    w("| load average at the end | %s |" % one("load"))
    w("| rebuild | `%s` (git describe), agent binary %.1f MB |" % (one("ours_version"), int(one("agent_bytes", "0")) / 1e6))
    w("| batou | %s, %s |" % (one("batou_version"), one("python")))
    w("| OpenSSH | %s |" % one("openssh"))
    w("| repetitions | %s per case and tool (batou at N ≥ 5,000: %s) |" % (one("runs"), one("batou_runs_big")))
    w("")
    w("## Deploy cases: median (min), ratio")
    w("")
    w("Wall clock, and CPU time of everything the run started (the tool,")
    w("ssh, the sshd sessions and what runs on the target: one cgroup),")
    w("which the other engineers' builds on the shared machine hardly")
    w("disturb. Ratios ≥ 1 mean batou is that many times slower.")
    w("")
    w("| case | N | rebuild wall | batou wall | ours/batou | batou ×slower | rebuild CPU | batou CPU | ×CPU |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, label in CASES:
        for n in sizes:
            row(w, case, label, n)
    w("")
    w("Medians, with the fastest run in parentheses.")
    w("")
    jsizes = sorted({n for (case, n, _) in samples if case == "j_first"})
    if jsizes:
        w("## The same on a journaled ext4")
        w("")
        w("This machine's root file system (where the table above writes) is")
        w("an ext4 *without a journal* (see the profiles below); servers mostly")
        w("deploy to a journaled ext4 (`mkfs.ext4`'s default) or xfs. Here both")
        w("tools' output trees are on a fresh journaled ext4 image, loop-mounted")
        w("in the scratch directory (`%s`); all else as above." % one("journaled_fs"))
        w("")
        w("| case | N | rebuild wall | batou wall | ours/batou | batou ×slower | rebuild CPU | batou CPU | ×CPU |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for case, label in CASES:
            for n in jsizes:
                row(w, "j_" + case, label, n)
        w("")
    cold_o, cold_b = med("cold", 1, "ours"), med("cold", 1, "batou")
    w("Cold start, N = 1 (ours uploads its agent binary once; batou builds")
    w("its remote venv with pip): rebuild %s, batou %s." % (fmt(cold_o), fmt(cold_b)))
    w("")
    w("## The floor")
    w("")
    w("| N | `ssh bench true` | `ssh bench` + sha256sum of the N files | rebuild no-op | no-op / ssh true | CPU: ssh true | CPU: rebuild no-op | CPU ratio |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        t, h, o = med("ssh_true", n, "floor"), med("hash", n, "floor"), med("noop", n, "ours")
        if t is None:
            continue
        ct, co = cpu_med("ssh_true", n, "floor"), cpu_med("noop", n, "ours")
        w("| %s | %s (%s) | %s (%s) | %s | %.2f× | %s | %s | %s |" % (f"{n:,}", fmt(t), fmt(low("ssh_true", n, "floor")), fmt(h), fmt(low("hash", n, "floor")), fmt(o), o / t if o else 0, fmt(ct), fmt(co), "%.2f×" % (co / ct) if co and ct else "–"))
    w("")
    if any(med("copy", n, "floor") for n in sizes):
        w("Writing the files: the first deploy beside `ssh bench \"cp -r TREE")
        w("COPY && sync -f COPY\"`, which creates the same N files and")
        w("directories with the plainest tool (in place, nothing rendered,")
        w("compared or reported) and makes them durable with one `syncfs`;")
        w("the last column is the most any tool could be faster than batou")
        w("here if it cost only that.")
        w("")
        w("| N | ssh + `cp -r` + `sync -f` | rebuild first deploy | first / copy | batou first deploy | batou / copy |")
        w("|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            c, o, b = med("copy", n, "floor"), med("first", n, "ours"), med("first", n, "batou")
            if c and o:
                w("| %s | %s (%s) | %s | %.2f× | %s | %s |" % (f"{n:,}", fmt(c), fmt(low("copy", n, "floor")), fmt(o), o / c, fmt(b), "%.1f×" % (b / c) if b else "–"))
        w("")
    hosts = sorted({n for (case, n, _) in samples if case == "hosts_noop"})
    if hosts:
        many = max(hosts)
        w("## Many hosts (rebuild only)")
        w("")
        w("%d sshd on 127.0.0.2.. (each with its own HOME, so its own lock," % many)
        w("agent cache and target directory), N = 100 files each, `-j %d`," % many)
        w("against the same project with one host.")
        w("")
        w("| case | 1 host | %d hosts, -j %d | ratio |" % (many, many))
        w("|---|---:|---:|---:|")
        for case, label in [("hosts_first", "first deploy"), ("hosts_noop", "no-op re-deploy")]:
            a, m = med(case, 1, "ours"), med(case, many, "ours")
            if a and m:
                w("| %s | %s (%s) | %s (%s) | %.2f× |" % (label, fmt(a), fmt(low(case, 1, "ours")), fmt(m), fmt(low(case, many, "ours")), m / a))
        a, m = med("hosts_ssh_true", 1, "floor"), med("hosts_ssh_true", many, "floor")
        if a and m:
            w("| the floor: `ssh HOST true` to every host at once | %s | %s | %.2f× |" % (fmt(a), fmt(m), m / a))
        ca, cm = cpu_med("hosts_noop", 1, "ours"), cpu_med("hosts_noop", many, "ours")
        ta, tm = cpu_med("hosts_ssh_true", 1, "floor"), cpu_med("hosts_ssh_true", many, "floor")
        if ca and cm and ta and tm:
            w("")
            w("CPU time of all processes: no-op %s for one host, %s for %d; `ssh true` %s for one, %s for %d." % (fmt(ca), fmt(cm), many, fmt(ta), fmt(tm), many))
        c = med("hosts_cold", many, "ours")
        if c:
            w("")
            w("Cold (the agent uploaded to all %d hosts): %s." % (many, fmt(c)))
        w("")
    w("## Memory, wire, build")
    w("")
    w("| what | rebuild | batou 2.7.1 |")
    w("|---|---:|---:|")
    for key, label in [("rss_noop", "controller peak RSS, no-op N = 1,000"), ("rss_change", "controller peak RSS, template change N = 1,000")]:
        o, b = one(key + "_ours", None), one(key + "_batou", None)
        if o and b:
            w("| %s | %.1f MiB | %.1f MiB |" % (label, int(o) / 1024, int(b) / 1024))
    wire = {}
    for key in ["wire_noop_ours", "wire_noop_batou", "wire_ssh_true"]:
        v = one(key, None)
        if v:
            up, down, conns = (int(x) for x in v.split())
            wire[key] = (up, down, conns)
    if "wire_noop_ours" in wire and "wire_noop_batou" in wire:
        def cell(v):
            return "%.1f KB up, %.1f KB down, %d connection%s" % (v[0] / 1e3, v[1] / 1e3, v[2], "" if v[2] == 1 else "s")
        w("| bytes over the wire, no-op N = 1,000 (SSH stream, both ways) | %s | %s |" % (cell(wire["wire_noop_ours"]), cell(wire["wire_noop_batou"])))
        if "wire_ssh_true" in wire:
            w("| (for scale: `ssh bench true`) | %s | |" % cell(wire["wire_ssh_true"]))
    b = samples.get(("build", 1, "ours"))
    if b:
        w("| incremental release build after editing one component (`cargo build --release -p components`) | %s (%s) | – (Python) |" % (fmt(statistics.median(b)), ", ".join(fmt(x) for x in b)))
    w("")

    # Targets.
    w("## Targets (issue #8)")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")
    summary = []

    def target(label, measured, ok):
        w("| %s | %s | %s |" % (label, measured, "yes" if ok else "**no**"))
        summary.append((label, measured, ok))

    def speedup(case, n, need, label):
        o, b = med(case, n, "ours"), med(case, n, "batou")
        if o and b:
            co, cb = cpu_med(case, n, "ours"), cpu_med(case, n, "batou")
            extra_cpu = "; CPU %.1f×" % (cb / co) if co and cb else ""
            target(label, "%.1f× faster (%s vs %s%s)" % (b / o, fmt(o), fmt(b), extra_cpu), b / o >= need)

    speedup("noop", 1000, 10, "no-op N = 1,000 ≥ 10× faster than batou")
    o, t = med("noop", 1000, "ours"), med("ssh_true", 1000, "floor")
    if o and t:
        co, ct = cpu_med("noop", 1000, "ours"), cpu_med("ssh_true", 1000, "floor")
        extra_cpu = "; CPU %.2f×" % (co / ct) if co and ct else ""
        target("no-op N = 1,000 within 1.5× of `ssh HOST true`", "%.2f× (%s vs %s%s)" % (o / t, fmt(o), fmt(t), extra_cpu), o / t <= 1.5)
    speedup("first", 1000, 15, "first deploy N = 1,000 ≥ 15× faster")
    speedup("j_first", 1000, 15, "first deploy N = 1,000 ≥ 15× faster, on a journaled ext4")
    a, b = med("first", 1000, "ours"), med("first", 5000, "ours")
    if a and b:
        target("first deploy N = 5,000 ≤ 5.5× N = 1,000", "%.2f× (%s vs %s)" % (b / a, fmt(b), fmt(a)), b / a <= 5.5)
    speedup("change", 1000, 10, "template change N = 1,000 ≥ 10× faster")
    speedup("j_change", 1000, 10, "template change N = 1,000 ≥ 10× faster, on a journaled ext4")
    speedup("local", 1000, 20, "local consistency N = 1,000 ≥ 20× faster than `-c --local`")
    if hosts:
        a, m = med("hosts_noop", 1, "ours"), med("hosts_noop", max(hosts), "ours")
        target("%d hosts `-j %d` ≤ 2× one host (no-op)" % (max(hosts), max(hosts)), "%.2f× (%s vs %s)" % (m / a, fmt(m), fmt(a)), m / a <= 2)
        a, m = med("hosts_first", 1, "ours"), med("hosts_first", max(hosts), "ours")
        target("%d hosts `-j %d` ≤ 2× one host (first deploy)" % (max(hosts), max(hosts)), "%.2f× (%s vs %s)" % (m / a, fmt(m), fmt(a)), m / a <= 2)
    w("| secrets: decrypting 100 files ≥ 20× faster | see [../secrets/RESULTS.md](../secrets/RESULTS.md) | yes |")
    w("")
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            w(f.read().rstrip("\n"))
        w("")
    with open(results_path, "w") as f:
        f.write("\n".join(out))

    # The index.
    if index_path == os.devnull:
        return
    with open(index_path) as f:
        text = f.read()
    begin, end = "<!-- deploy:begin -->", "<!-- deploy:end -->"
    if begin in text and end in text:
        rows = [
            "| deploy case, N = 1,000 files over ssh | rebuild | batou 2.7.1 | batou is ×… slower |",
            "|---|---:|---:|---:|",
        ]
        for case, label in CASES:
            o, b = med(case, 1000, "ours"), med(case, 1000, "batou")
            if o and b:
                rows.append("| %s | %s | %s | %.0f× |" % (label, fmt(o), fmt(b), b / o))
        met = sum(1 for s in summary if s[2])
        rows.append("")
        rows.append("Details, floors, many hosts, memory, wire and build: [deploy/RESULTS.md](deploy/RESULTS.md).")
        rows.append("")
        rows.append("Deploy targets met: %d of %d (%s)." % (met, len(summary), ", ".join(("met: " if ok else "MISSED: ") + label for label, _, ok in summary)))
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + begin + "\n" + "\n".join(rows) + "\n" + end + tail
        with open(index_path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

"""Runs a command (output to the log file LOG) and prints its wall-clock
seconds and the CPU seconds (user + system) of it and its children, to
the microsecond (time(1) rounds to 10 ms).

    rusage.py LOG CMD ARGS...
"""

import resource
import subprocess
import sys
import time


def main():
    log, cmd = sys.argv[1], sys.argv[2:]
    with open(log, "a") as out:
        t0 = time.monotonic()
        subprocess.run(cmd, stdout=out, stderr=out, check=True)
        wall = time.monotonic() - t0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("%.6f %.6f" % (wall, r.ru_utime + r.ru_stime))


if __name__ == "__main__":
    main()

"""An ssh ProxyCommand that relays stdin/stdout to HOST:PORT and, when the
connection ends, appends "BYTES_SENT BYTES_RECEIVED" (the encrypted SSH
stream, both directions) to LOG: what crossed the wire for one connection.

    ProxyCommand python3 count_bytes.py %h %p LOG
"""

import os
import signal
import socket
import sys
import threading


def main():
    host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection((host, port))
    counts = [0, 0]

    def upstream():
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            counts[0] += len(data)
            sock.sendall(data)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def report(*_):
        # ssh ends its ProxyCommand with a signal when it is done, so the
        # count is written from the handler too (once).
        if counts is not None and not report.done:
            report.done = True
            with open(log, "a") as f:
                f.write("%d %d\n" % (counts[0], counts[1]))
        os._exit(0)

    report.done = False
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, report)
    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            counts[1] += len(data)
            os.write(1, data)
    except OSError:
        pass
    report()


if __name__ == "__main__":
    main()

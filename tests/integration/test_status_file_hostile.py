#!/usr/bin/python3
"""test_status_file_hostile.py - `postmeter
status` reading a DATABASE.milter-status it did not write (the service
user writes it; a torn disk or a hostile user can put anything there)
while something answers the milter negotiation on the socket it names.

Every case must end in a verdict (exit 0 or 1), never in a crash or a
sanitizer report; a status file whose updated_at is far in the past is
called stale, however far (a time near the smallest long long made
`now - updated_at` overflow: UBSan aborts, a release build wraps and
calls a file from before the epoch fresh).

Needs no harness: a temporary directory only root can write (so status
runs as root, without privsep), a thread answering SMFIC_OPTNEG.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

BUILD = os.environ.get("POSTMETER_BUILD_DIR", "")
CLI = os.path.join(BUILD, "cli", "postmeter")

LLONG_MIN = -9223372036854775808
LLONG_MAX = 9223372036854775807

CASES = [
    # name, extra status file lines, a warning about the status file wanted
    ("updated_at long ago", {"updated_at": -5000}, True),
    ("updated_at the smallest long long", {"updated_at": LLONG_MIN}, True),
    ("updated_at just above it", {"updated_at": LLONG_MIN + 1000}, True),
    ("huge and negative counters", {"updated_at": 0, "ledger_put": LLONG_MAX,
                                    "ledger_dropped": LLONG_MIN, "ledger_spool_bytes": LLONG_MAX,
                                    "ledger_spool_bytes_before": LLONG_MIN,
                                    "started_at": LLONG_MIN, "config_loaded_at": LLONG_MAX,
                                    "reload_failed_at": LLONG_MIN, "config_mtime_ns": LLONG_MIN},
     True),
]


def answer(sock):
    """answer - a milter that answers every option negotiation"""
    while True:
        try:
            c, _ = sock.accept()
        except OSError:
            return
        try:
            c.recv(64)
            c.sendall(struct.pack(">I", 13) + b"O" + struct.pack(">III", 6, 0x1ff, 0))
        except OSError:
            pass
        c.close()


def main():
    if os.geteuid() != 0:
        print("needs root (a directory only root can write)")
        return 1
    d = tempfile.mkdtemp(prefix="pm-adv19-status-")
    os.chmod(d, 0o755)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(d, "m.sock"))
    sock.listen(8)
    threading.Thread(target=answer, args=(sock,), daemon=True).start()
    conf = os.path.join(d, "pm.conf")
    with open(conf, "w") as f:
        f.write("database = %s/db.sqlite\nuser = nobody\nmilter_socket = unix:%s/m.sock\n"
                "pid_file =\n" % (d, d))
    failed = 0
    try:
        for name, keys, want_warning in CASES:
            lines = {"format": 1, "pid": 1, "started_at": 1, "stopped_at": 0,
                     "milter_socket": "unix:%s/m.sock" % d, "config_file": conf}
            lines.update(keys)
            with open(os.path.join(d, "db.sqlite.milter-status"), "w") as f:
                for k, v in lines.items():
                    f.write("%s = %s\n" % (k, v))
            p = subprocess.run([CLI, "-c", conf, "status"], capture_output=True, timeout=60)
            out = p.stdout.decode("utf-8", "replace")
            err = p.stderr.decode("utf-8", "replace")
            problems = []
            if p.returncode not in (0, 1):
                problems.append("exit %d" % p.returncode)
            if "runtime error" in err or "Sanitizer" in err:
                problems.append("sanitizer: " + err.strip().splitlines()[0])
            if "answers the milter negotiation" not in out:
                problems.append("the fake milter was not seen answering")
            stale = any(l.startswith("warning: ") and "status file" in l
                        for l in out.splitlines())
            if want_warning and not stale:
                problems.append("no warning about the status file")
            print("%s: %s" % (name, "; ".join(problems) if problems else "ok"))
            if problems:
                failed += 1
                print(out)
    finally:
        sock.close()
        shutil.rmtree(d)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

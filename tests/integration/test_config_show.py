#!/usr/bin/python3
"""test_config_show.py - postmeter config show, as an admin runs it.

No daemons: the built `postmeter` with a configuration file in a
temporary directory. A whole listing starts with "# read from FILE" (or
says no file was read and the defaults apply); -n prints only the keys
the file sets, and fed back as a configuration it gives the same values;
KEY... prints those keys; an unknown key exits 2 and names the nearest
key when one is close; -c with a missing file fails.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest import settings
from pmtest.runner import check, check_eq, run_tests

CLI = os.path.join(settings.BUILD_DIR, "cli", "postmeter")
TMP = tempfile.mkdtemp(prefix="pmtest-config-show-")
CONF = os.path.join(TMP, "postmeter.conf")


def pm(*args):
    """pm - postmeter ARGS: (exit status, stdout, stderr)"""
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_source_line():
    write(CONF, "# mine\nlog_subject = yes\ndatabase = %s/x.db\n" % TMP)
    rc, out, err = pm("-c", CONF, "config", "show")
    check_eq((rc, out.splitlines()[0]), (0, "# read from %s" % CONF), "first line names the file")
    check("log_subject = yes\n" in out and "user = postmeter\n" in out,
          "every key's effective value", out)
    check(all(line.startswith("#") or " = " in line for line in out.splitlines()),
          "stdout is key = value lines", out)
    rc, out, err = pm("config", "show")  # no -c: the default file, if there is one
    default = out.splitlines()[0]
    check_eq(rc, 0, "config show without -c")
    check(default.startswith("# read from /") or
          (default.startswith("# no configuration file (/") and
           default.endswith("does not exist): built-in defaults")),
          "without -c: the default file read, or none and the defaults", default)


def test_only_set():
    write(CONF, "log_subject = yes\n\ndatabase = %s/x.db\ndebug = no\n" % TMP)
    rc, out, err = pm("-c", CONF, "config", "show", "-n")
    check_eq((rc, out), (0, "# read from %s\ndatabase = %s/x.db\nlog_subject = yes\ndebug = no\n"
                         % (CONF, TMP)), "-n: the keys the file sets, in table order")
    again = os.path.join(TMP, "again.conf")
    write(again, out)
    _, full1, _ = pm("-c", CONF, "config", "show")
    _, full2, _ = pm("-c", again, "config", "show")
    check_eq(full2.splitlines()[1:], full1.splitlines()[1:], "-n output read back: same values")


def test_keys():
    write(CONF, "log_subject = yes\n")
    rc, out, err = pm("-c", CONF, "config", "show", "user", "log_subject")
    check_eq((rc, out, err), (0, "user = postmeter\nlog_subject = yes\n", ""),
             "KEY...: those keys only, no comment line")
    rc, out, err = pm("-c", CONF, "config", "show", "-n", "user", "log_subject")
    check_eq((rc, out), (0, "log_subject = yes\n"), "-n KEY...: those of them the file sets")


def test_unknown_key():
    write(CONF, "debug = no\n")
    rc, out, err = pm("-c", CONF, "config", "show", "databse")
    check_eq((rc, out, err), (2, "", 'postmeter: unknown key "databse"; did you mean database?\n'),
             "a misspelt key: exit 2 and the nearest key")
    rc, out, err = pm("-c", CONF, "config", "show", "user", "qqqqqqq")
    check_eq((rc, out), (2, ""), "a key nothing is close to: exit 2, nothing printed")
    check("did you mean" not in err and "qqqqqqq" in err, "no guess when nothing is close", err)


def test_missing_file():
    rc, out, err = pm("-c", os.path.join(TMP, "nope.conf"), "config", "show")
    check_eq((rc, out), (1, ""), "-c with a missing file fails")
    check("cannot open" in err, "and says so", err)


if __name__ == "__main__":
    try:
        passed, failed = run_tests([
            ("config show: the file read", test_source_line),
            ("config show -n: the keys set", test_only_set),
            ("config show KEY...", test_keys),
            ("config show: unknown key", test_unknown_key),
            ("config show: -c FILE missing", test_missing_file),
        ], None)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

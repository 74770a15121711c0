"""pmtest.runner - a small test runner for the integration test scripts.

Every test file is a list of (name, function) cases taking the harness
(or nothing); failures are counted, the last line is "N passed, M
failed". check() and check_eq() raise CheckFailed; run_tests() runs the
cases and main_with_harness() runs them all on one Harness and exits.
"""

import sys
import time
import traceback

from pmtest.procs import log


class CheckFailed(AssertionError):
    pass


def check(cond, what, *detail):
    """check - raise CheckFailed(what) unless cond"""
    if not cond:
        raise CheckFailed(what + ("".join("\n    %s" % (d,) for d in detail)))


def check_eq(got, want, what):
    if got != want:
        raise CheckFailed("%s: got %r, want %r" % (what, got, want))


def run_tests(cases, harness=None):
    """run_tests - run (name, fn) cases; return (passed, failed).

    With harness, each fn gets it and a failure marks it failed (so the
    state dir is kept and its logs are shown).
    """
    passed = failed = 0
    for name, fn in cases:
        t0 = time.monotonic()
        log("=== %s" % name)
        try:
            fn(harness) if harness is not None else fn()
        except Exception as e:
            failed += 1
            if harness is not None:
                harness.failed = True
            log("FAIL %s (%.1f s): %s" % (name, time.monotonic() - t0, e))
            traceback.print_exc()
            if harness is not None:
                harness.dump_logs()
        else:
            passed += 1
            log("ok   %s (%.1f s)" % (name, time.monotonic() - t0))
    return passed, failed


def main_with_harness(cases, harness_class=None, **harness_opts):
    """main_with_harness - one harness for all cases; print the summary, exit.

    The last line is "N passed, M failed"; a failed start counts every case
    as failed, and a bad teardown (daemon that would not stop, sanitizer
    report) counts as one more failure. harness_class: a subclass of
    Harness that a test needs (None: Harness itself).
    """
    from pmtest.harness import Harness  # here: pmtest.harness imports this module

    harness_class = harness_class or Harness

    t0 = time.monotonic()
    passed, failed = 0, 0
    h = None
    try:
        with harness_class(**harness_opts) as h:
            passed, failed = run_tests(cases, h)
            ok_before_teardown = not h.failed
        if ok_before_teardown and h.failed:
            log("FAIL teardown (see above)")
            failed += 1
    except Exception:
        traceback.print_exc()
        failed = len(cases) - passed
    log("total %.1f s" % (time.monotonic() - t0))
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)

"""
mxdtest.tap: the TAP runner for automake's tap-driver (each `test_*`
function of a test file is one test case), Skip, the assertions, the
common time bounds and patterns.  Standard library only.
"""

import os
import re
import shutil
import signal
import sys
import time
import traceback

TIMEOUT = 5.0           # every socket operation
START_TIMEOUT = 10.0    # a server must accept connections within this
LOG_TIMEOUT = 15.0      # a log line that is due now must appear within this (a bound for a loaded machine)
STOP_TIMEOUT = 10.0     # SIGTERM, then SIGKILL after this

QID_RE = re.compile(rb"^[0-9A-F]{16}$")
QUEUED_RE = re.compile(r"queued as ([0-9A-F]{16})\b")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                          r"runtime error:|SUMMARY: \w+Sanitizer")



class Skip(Exception):
    """Raise in a test to report `ok N - ... # SKIP reason`."""



def assert_eq(got, want, what="value"):
    if got != want:
        raise AssertionError("%s:\n  got  %r\n  want %r" % (what, got, want))


def assert_in(needle, hay, what="value"):
    if needle not in hay:
        raise AssertionError("%s: %r not in %r" % (what, needle, hay))


def wait_until(fn, timeout=TIMEOUT, what="condition"):
    """Poll fn() until it is true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("%s not met within %gs" % (what, timeout))
        time.sleep(0.02)



# -- the TAP runner ----------------------------------------------------------

def _tap_text(s):
    """One-line TAP description text: no newlines, no directives."""
    return " ".join(s.replace("#", "no.").split())


def _comment(text):
    for line in text.rstrip("\n").splitlines():
        print("# " + line)


def run(ns):
    """
    Run every `test_*` function of the namespace ns (a module's globals())
    in definition order, one TAP line each; then check that every mxd the
    file started exited 0 on SIGTERM with no sanitizer reports, and that
    no one-shot run_mxd() printed a sanitizer report either.  Prints
    the plan last and exits 0: the TAP driver judges by the lines.  With
    no usable $MXD it prints `not ok` and exits 1.
    """
    from .server import _oneshot, _servers, mxd_path
    sys.stdout.reconfigure(line_buffering=True)
    # A SIGTERM (a harness timeout) still runs the atexit clean-up.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    n = 0
    binary = mxd_path()
    if not binary or not os.path.isabs(binary) or \
            not os.access(binary, os.X_OK):
        print("not ok 1 - MXD must be the absolute path of the mxd binary "
              "(got %r)" % binary)
        print("1..1")
        sys.exit(1)
    tests = [(name, fn) for name, fn in ns.items()
             if name.startswith("test_") and callable(fn)]
    if not tests:
        print("not ok 1 - no test_* functions found")
        print("1..1")
        sys.exit(1)
    started = time.monotonic()
    for name, fn in tests:
        n += 1
        doc = _tap_text((fn.__doc__ or "").strip().split("\n\n")[0])
        desc = name + (": " + doc if doc else "")
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (n, desc, _tap_text(str(e))))
        except BaseException as e:       # noqa: every failure is reported
            print("not ok %d - %s" % (n, desc))
            _comment(traceback.format_exc())
            for srv in _servers:
                if srv.proc is not None:
                    _comment("mxd log tail (%s):\n%s" % (srv.logfile,
                                                         srv.log_tail(15)))
            if isinstance(e, KeyboardInterrupt):
                raise
        else:
            print("ok %d - %s" % (n, desc))
        dt = time.monotonic() - t0
        if dt > 2:
            print("# %s took %.1fs" % (name, dt))
    # Every mxd must exit 0 on SIGTERM, with no sanitizer report.
    if _servers:
        n += 1
        problems = []
        live = [s for s in _servers if s.proc is not None and not s.stopped]
        for s in live:                  # signal all, then wait for each
            s.terminate()
        for s in _servers:
            if s.proc is None:
                continue
            bad = []
            rc = s.stop()
            if rc != 0:
                bad.append("mxd on port %s: exit %r\n%s" %
                           (s.port, rc, s.log_tail(10)))
            for line in s.sanitizer_reports():
                bad.append("mxd on port %s: %s" % (s.port, line))
            if bad:
                bad.append("kept %s" % s.tmpdir)
                problems += bad
            else:
                shutil.rmtree(s.tmpdir, ignore_errors=True)
        if problems:
            print("not ok %d - every mxd exited 0 on SIGTERM, no sanitizer "
                  "reports" % n)
            _comment("\n".join(problems))
        else:
            print("ok %d - every mxd exited 0 on SIGTERM, no sanitizer "
                  "reports" % n)
    for s in _servers:
        if s.proc is None:
            shutil.rmtree(s.tmpdir, ignore_errors=True)
    # The same for every one-shot `mxd -t/-d/-q` the file ran.
    if _oneshot:
        n += 1
        bad = [(a, e) for a, e in _oneshot if e is not None]
        desc = ("%d one-shot mxd runs (-t, -d, -q) had no sanitizer reports"
                % len(_oneshot))
        if bad:
            print("not ok %d - %s" % (n, desc))
            for a, e in bad:
                _comment("mxd %s:\n%s" % (" ".join(a), e))
        else:
            print("ok %d - %s" % (n, desc))
    print("# %d tests in %.1fs" % (n, time.monotonic() - started))
    print("1..%d" % n)
    sys.exit(0)

#!/usr/bin/env python3
"""
t_first_hour.py: what a newcomer meets in the first hour.  `mxd -h`,
`--help` and `--version` answer without complaint; a foreground mxd says,
once it listens, where mail lands and the exact command that lists it;
the embedded default also listens on [::1], so `telnet localhost 2525`
works where localhost is ::1; `mxd -q` in the wrong directory says which
spool it looked for and how to name another; the installed paths agree
(binary, sample configuration, man page, systemd unit); and every
disconnect reason the log can print is explained in mxd(8).
"""

import os
import shutil
import re
import socket
import subprocess
import tempfile
import time

from mxdtest import (Server, assert_eq, assert_in, built_file, free_port,
                     mxd_path, run, run_mxd, simple_message, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "src")


def test_help():
    """-h and --help: usage on stdout, exit 0, no `invalid option`"""
    for flag in ("-h", "--help"):
        rc, out, err = run_mxd([flag])
        assert_eq((rc, err), (0, ""), "mxd %s exit and stderr" % flag)
        assert_in("usage: mxd", out, "mxd %s" % flag)
        assert_in("--version", out, "mxd %s lists --version" % flag)


def test_version():
    """--version prints `mxd <version>` and exits 0"""
    rc, out, err = run_mxd(["--version"])
    assert_eq(rc, 0, "exit")
    assert re.fullmatch(r"mxd \d+\.\d+\.\d+\n", out), out


def test_bad_option_still_usage():
    """an unknown option: exit 2, the usage on stderr"""
    rc, out, err = run_mxd(["-x"])
    assert_eq(rc, 2, "exit")
    assert_in("usage: mxd", err, "stderr")


def test_ready_lines():
    """a foreground mxd, once listening, names the queue directory and
    the exact `mxd -q` command for its spool (which works); its stderr
    is a file here (as under systemd: the journal), so it does not say
    Ctrl-C stops it"""
    with Server() as srv:
        log = srv.log_text()
        assert_in("mxd: ready; SMTP on 127.0.0.1:%d" % srv.port, log,
                  "ready line")
        assert_in("mail lands in %s/queue/" % srv.spool, log, "queue")
        assert "Ctrl-C" not in log, "no Ctrl-C line off a terminal"
        m = re.search(r"list it with: (.*)\n", log)
        assert m, log
        with srv.client() as c:
            c.expect("EHLO x", 250)
            qid = c.mail_tx("a@b.example", ["c@d.example"],
                            simple_message("listed"))
        p = subprocess.run(m.group(1).split(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10,
                           cwd=tempfile.gettempdir())
        assert_eq(p.returncode, 0, "the printed command's exit")
        assert_in(qid, p.stdout.decode(), "the printed command lists it")


def test_ctrl_c_line_on_a_terminal():
    """with stderr on a terminal (a pty), mxd says the log follows in
    this terminal and that Ctrl-C stops it"""
    import pty
    import select
    master, slave = pty.openpty()
    spool = tempfile.mkdtemp(prefix="mxdtest.tty.")
    p = subprocess.Popen([mxd_path(), "-f", "-o", "listen=127.0.0.1:%d" %
                          free_port(), "-o", "pop3_listen=",
                          "-o", "http_listen=", "-o",
                          "spool_dir=" + spool + "/s"],
                         stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave)
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30
        while b"Ctrl-C stops mxd" not in out and \
                time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        assert_in(b"the log follows in this terminal; Ctrl-C stops mxd",
                  out, "the terminal's line")
    finally:
        p.terminate()
        p.wait(timeout=30)
        os.close(master)
        shutil.rmtree(spool, ignore_errors=True)


def test_default_listens_on_both_loopbacks():
    """the embedded default listens on 127.0.0.1:2525 and [::1]:2525;
    such a listener pair answers on ::1"""
    rc, out, err = run_mxd(["-d"])
    assert_eq(rc, 0, "mxd -d")
    assert_in("listen = 127.0.0.1:2525 [::1]:2525", out, "default listen")
    srv = Server()
    srv.command = lambda p: [mxd_path(), "-f",
                             "-o", "listen=127.0.0.1:%d [::1]:%d" % (p, p),
                             "-o", "spool_dir=%s" % srv.spool,
                             "-o", "pop3_listen=",
                             "-o", "hostname=mx.test",
                             "-o", "http_listen="]
    with srv:
        s = socket.create_connection(("::1", srv.port), timeout=5)
        try:
            assert s.recv(100).startswith(b"220 "), "greeting on ::1"
        finally:
            s.close()


def test_queue_list_elsewhere():
    """`mxd -q` where there is no spool: exit 1, naming the spool it
    looked for and how to name another (-c, -o spool_dir=)"""
    d = tempfile.mkdtemp(prefix="mxdtest.q.")
    try:
        rc, out, err = run_mxd(["-q"], cwd=d)
        assert_eq(rc, 1, "exit")
        assert_in("no spool at %s/spool" % os.path.realpath(d), err, "which")
        assert_in("-c FILE", err, "how: -c")
        assert_in("-o spool_dir=DIR", err, "how: -o")
    finally:
        os.rmdir(d)


def read(path):
    with open(path) as f:
        return f.read()


def test_installed_paths_agree():
    """the systemd unit runs <sbindir>/mxd with <sysconfdir>/mxd.conf,
    where make install puts them; mxd(8) and the sample configuration
    name that same file; no template marker is left"""
    sbindir = os.environ.get("MXD_SBINDIR")
    sysconfdir = os.environ.get("MXD_SYSCONFDIR")
    if not sbindir or not sysconfdir:
        raise AssertionError("MXD_SBINDIR/MXD_SYSCONFDIR not set by make")
    conf = "%s/mxd.conf" % sysconfdir
    unit = read(built_file("contrib/mxd.service"))
    assert_in("ExecStart=%s/mxd -f -c %s " % (sbindir, conf), unit, "unit")
    assert_in("ExecStartPre=%s/mxd -t -c %s\n" % (sbindir, conf), unit,
              "unit check")
    man8 = read(built_file("doc/mxd.8"))
    assert_in(".It Pa %s\n" % conf, man8, "mxd(8) FILES")
    assert_in("mxd -c %s" % conf, read(built_file("etc/mxd.conf")),
              "sample configuration")
    for f in ("contrib/mxd.service", "doc/mxd.8", "doc/mxd.conf.5",
              "etc/mxd.conf"):
        assert "@sbindir@" not in read(built_file(f)) and \
            "@sysconfdir@" not in read(built_file(f)), f


def test_disconnect_reasons_documented():
    """every reason= a disconnect line can print (from the source) is
    explained in mxd(8)"""
    reasons = set()
    with open(os.path.join(SRC, "smtp", "reply.c")) as f:
        reasons |= set(re.findall(r'\.closes = "([a-z-]+)"', f.read()))
    with open(os.path.join(SRC, "smtp", "session.c")) as f:
        for call in re.findall(r"session_close\([^;]*\);", f.read()):
            reasons |= set(re.findall(r'"([a-z-]+)"', call))
    with open(os.path.join(SRC, "conn.c")) as f:
        for call in re.findall(r"conn_gone\([^;]*\);", f.read()):
            reasons |= set(re.findall(r'"([a-z-]+)"', call))
    with open(os.path.join(SRC, "pop3", "reply.c")) as f:
        reasons |= set(re.findall(r'\{ [01], [^{}]*?"([a-z0-9-]+)" \},',
                                  f.read(), re.S))
    with open(os.path.join(SRC, "pop3", "session.c")) as f:
        for call in re.findall(r"pop3_session_close\([^;]*\);", f.read()):
            reasons |= set(re.findall(r'"([a-z-]+)"', call))
    assert len(reasons) >= 14, reasons
    man8 = read(built_file("doc/mxd.8"))
    missing = [r for r in sorted(reasons) if ".It Li %s\n" % r not in man8]
    assert_eq(missing, [], "reasons missing from mxd(8)")


if __name__ == "__main__":
    run(globals())

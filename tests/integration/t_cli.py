#!/usr/bin/env python3
"""
t_cli.py: the command line and the configuration file.  `mxd -t` finds
errors with file and line, `-o` overrides the file, `-d` shows the
result; the daemon writes its pid file, cleans pool/ at start, times out
idle clients, and exits 0 on SIGTERM or SIGINT.
"""

import atexit
import os
import shutil
import signal
import socket
import tempfile
import time

from mxdtest import (Server, Skip, check, queued_qid, simple_message,
                     mxd_path, run_mxd, assert_eq, assert_in, wait_until,
                     free_port, run, built_file)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = built_file("etc/mxd.conf")

_tmp = tempfile.mkdtemp(prefix="mxdtest.cli.")
atexit.register(shutil.rmtree, _tmp, True)


def conf(name, text):
    """Write a configuration file in the scratch directory."""
    path = os.path.join(_tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def dump(*args):
    """`mxd -d ...` parsed into {name: value}."""
    rc, out, err = run_mxd(["-d"] + list(args))
    assert_eq(rc, 0, "mxd -d exit status (stderr %r)" % err)
    d = {}
    for line in out.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        d[k.strip()] = v.strip()
    return d


def check_fails(args, *needles):
    rc, out, err = run_mxd(args)
    assert rc not in (0, None), "exit status 0 for %r; stdout %r" % (args,
                                                                    out)
    for n in needles:
        assert_in(n, err, "stderr of mxd %s" % " ".join(args))
    return err


def test_check_unknown_setting():
    """mxd -t -c bad.conf with an unknown setting: non-zero, `bad.conf:3:`"""
    path = conf("bad.conf", "# a comment\nhostname = mx.test\n"
                "max_size = 10M\nmax_recipients = 5\n")
    check_fails(["-t", "-c", path], "bad.conf:3:", "max_size")


def test_check_bad_value():
    """`max_recipients = zero` is an error naming file, line and setting"""
    path = conf("badvalue.conf", "hostname = mx.test\n\n"
                "max_recipients = zero\n")
    check_fails(["-t", "-c", path], "badvalue.conf:3:", "max_recipients")


def test_check_bad_values():
    """out-of-range and malformed values are errors with file:line"""
    for i, line in enumerate(["max_recipients = 0", "max_recipients = -1",
                              "max_message_size = 1000",
                              "max_message_size = 10x",
                              "command_timeout = 0", "data_timeout = 2w",
                              "spool_sync = maybe", "bare_lf_end = 2",
                              "listen = localhost:25",
                              "listen = 127.0.0.1:0",
                              "listen = 127.0.0.1",
                              "spool_dir =",
                              "hostname mx.test"]):
        path = conf("bad%d.conf" % i, "# line 1\n" + line + "\n")
        check_fails(["-t", "-c", path], "bad%d.conf:2:" % i)


def test_check_continued_setting_line():
    """an error in a continued setting names its first line"""
    path = conf("cont.conf", "hostname = mx.test\ndomains = a.test,\n"
                "   b.test\nmax_recipients =\n   zero\n")
    check_fails(["-t", "-c", path], "cont.conf:4:")


def test_check_good_config():
    """a good config passes mxd -t (exit 0); -d shows its values"""
    path = conf("good.conf", "# mxd test configuration\n"
                "hostname = file.test   # trailing comment\n"
                "domains = a.test,\n"
                "\tb.test  .c.test\n"
                "max_message_size = 1m\n"
                "max_recipients = 2\n"
                "command_timeout = 2m\n"
                "spool_sync = no\n")
    rc, out, err = run_mxd(["-t", "-c", path])
    assert_eq((rc, err), (0, ""), "mxd -t exit status and stderr")
    assert_in("ok", out, "mxd -t output")
    d = dump("-c", path)
    assert_eq((d["hostname"], d["domains"], d["max_message_size"],
               d["max_recipients"], d["command_timeout"], d["spool_sync"]),
              ("file.test", "a.test b.test .c.test", "1048576", "2", "120",
               "no"), "effective configuration")


def test_sample_config_passes():
    """the shipped etc/mxd.conf passes mxd -t"""
    if not os.path.exists(SAMPLE):
        raise AssertionError("no sample configuration at " + SAMPLE)
    rc, out, err = run_mxd(["-t", "-c", SAMPLE])
    assert_eq((rc, err), (0, ""), "mxd -t etc/mxd.conf")


def test_o_overrides_file_in_dump():
    """-o overrides a file value; the last -o wins"""
    path = conf("over.conf", "max_recipients = 2\nhostname = file.test\n")
    d = dump("-c", path, "-o", "max_recipients=7")
    assert_eq((d["max_recipients"], d["hostname"]), ("7", "file.test"),
              "values after -o")
    d = dump("-c", path, "-o", "hostname=a.test", "-o", "hostname=b.test")
    assert_eq(d["hostname"], "b.test", "last -o")


def test_o_errors():
    """a bad -o names `-o:N` (counting -o options from 1)"""
    check_fails(["-t", "-o", "hostname=x", "-o", "nosuch=1"], "-o:2:",
                "nosuch")
    check_fails(["-t", "-o", "max_recipients"], "-o:1:")


def test_missing_config_file():
    """-c with a missing file fails and names it"""
    check_fails(["-t", "-c", os.path.join(_tmp, "nope.conf")], "nope.conf")


def test_usage():
    """an unknown flag or a stray argument: exit 2 with usage"""
    rc, out, err = run_mxd(["-Z"])
    assert_eq(rc, 2, "exit status for -Z")
    assert_in("usage", err, "stderr")
    rc, out, err = run_mxd(["-t", "stray"])
    assert_eq(rc, 2, "exit status for a stray argument")


def test_relative_spool_dir():
    """a relative spool_dir is taken from the start directory"""
    rc, out, err = run_mxd(["-d", "-o", "spool_dir=rel/spool"], cwd=_tmp)
    assert_eq(rc, 0, "exit status")
    assert_in("spool_dir = %s/rel/spool" % os.path.realpath(_tmp),
              out.splitlines(), "-d output")


def test_server_uses_file_and_override():
    """a live server: -o hostname beats the file, the file's limit applies"""
    path = conf("live.conf", "hostname = file.test\nmax_recipients = 2\n"
                "domains = example.org\n")
    with Server(args=["-c", path]) as srv:       # adds -o hostname=mx.test
        with srv.client() as c:
            assert_eq(c.greeting[1][0].split()[0], "mx.test", "greeting")
            c.expect("EHLO client.example", 250)
            c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
            c.expect("RCPT TO:<x@elsewhere.test>", 550, "5.7.1")
            c.expect("RCPT TO:<r1@example.org>", 250, "2.1.5")
            c.expect("RCPT TO:<r2@example.org>", 250, "2.1.5")
            c.expect("RCPT TO:<r3@example.org>", 452, "4.5.3")
            check(c.cmd("DATA"), 354)
            c.send(b"Subject: conf\r\n\r\nx\r\n.\r\n")
            qid = queued_qid(c.reply())
        e = srv.eml(qid)
        assert_in("by mx.test (mxd) with ESMTP id %s" % qid,
                  e.received_text, "Received")
        assert_eq((e.sender, e.recipients, e.body),
                  ("a@b.c", ["r1@example.org", "r2@example.org"],
                   b"Subject: conf\r\n\r\nx\r\n"), "stored message")


def test_sigterm_exits_zero():
    """SIGTERM: idle clients get 421 4.3.2, mxd exits 0 within 5 s"""
    srv = Server()
    srv.start()
    try:
        c = srv.client()
        c.expect("EHLO client.example", 250)
        port = srv.port
        t0 = time.monotonic()
        srv.terminate()
        check(c.reply(), 421, "4.3.2", "reply to an idle client")
        assert c.wait_closed(), "connection open after 421"
        c.close()
        rc = srv.stop(timeout=5)
        assert_eq(rc, 0, "exit status after SIGTERM")
        assert time.monotonic() - t0 < 5, "took too long"
        assert_in("mxd stopped", srv.log_text(), "log")
        s = socket.socket()
        s.settimeout(2)
        try:
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        finally:
            s.close()
        assert refused, "still accepting after exit"
    finally:
        srv.stop()


def test_sigterm_lets_data_finish():
    """SIGTERM during DATA: the message may finish (250, then 421); exit 0"""
    srv = Server()
    srv.start()
    try:
        c = srv.client()
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<d@e.f>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: finishing\r\n\r\nfirst half, ")
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.terminate()
        srv.wait_log(r"signal 15", timeout=2)
        c.send(b"second half\r\n.\r\n")
        qid = queued_qid(c.reply())
        check(c.reply(), 421, "4.3.2", "reply after the message")
        assert c.wait_closed(), "connection open after 421"
        c.close()
        assert_eq(srv.stop(timeout=5), 0, "exit status")
        assert time.monotonic() - t0 < 5, "took too long"
        assert_eq(srv.eml(qid).body,
                  b"Subject: finishing\r\n\r\nfirst half, second half\r\n",
                  "stored message")
        assert_eq(srv.unfinished_files(), [], "pool/")
    finally:
        srv.stop()


def test_sigterm_grace_over_keeps_nothing():
    """SIGTERM, shutdown_grace=1, stalled DATA: dropped, none kept, exit 0"""
    srv = Server(shutdown_grace="1")
    srv.start()
    try:
        c = srv.client()
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<d@e.f>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\nand then nothing")
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.terminate()
        assert c.wait_closed(timeout=8), "connection open after the grace"
        c.close()
        assert_eq(srv.stop(timeout=8), 0, "exit status")
        assert time.monotonic() - t0 < 8, "took too long"
        assert_eq((srv.queue_names(), srv.unfinished_files()), ([], []),
                  "queue/ and pool/")
    finally:
        srv.stop()


def test_sigint_exits_zero():
    """SIGINT also stops mxd with exit 0"""
    srv = Server()
    srv.start()
    try:
        srv.signalled = True
        srv.proc.send_signal(signal.SIGINT)
        assert_eq(srv.stop(timeout=5), 0, "exit status after SIGINT")
    finally:
        srv.stop()


def test_pid_file():
    """pid_file holds the pid while running and is removed at exit (or
    emptied, when mxd runs as a user that may not remove it)"""
    pidfile = os.path.join(_tmp, "mxd.pid")
    srv = Server(pid_file=pidfile)
    srv.start()
    try:
        with open(pidfile) as f:
            assert_eq(f.read(), "%d\n" % srv.proc.pid, "pid file")
        assert_eq(srv.stop(timeout=5), 0, "exit status")
        if os.path.exists(pidfile):
            assert os.geteuid() == 0, "pid file left behind"
            assert_eq(os.path.getsize(pidfile), 0, "stale pid file size")
    finally:
        srv.stop()


def test_restart_keeps_queue_cleans_tmp():
    """a restart keeps queue/, empties unfinished files in pool/, removes
    an older mxd's tmp/ with its leftovers, and logs them"""
    srv = Server()
    srv.start()
    try:
        with srv.client() as c:
            c.expect("EHLO client.example", 250)
            m = simple_message("survives")
            qid = c.mail_tx("a@b.c", ["d@e.f"], m)
        assert_eq(srv.stop(timeout=5), 0, "exit status")
    finally:
        srv.stop()
    os.mkdir(os.path.join(srv.spool, "tmp"))
    with open(os.path.join(srv.spool, "tmp", "0123456789ABCDEF"), "wb") as f:
        f.write(b"X-Mxd-Queue-Id: 0123456789ABCDEF\r\nhalf a message")
    os.mkdir(os.path.join(srv.spool, "pool", "7FFFFF"))
    with open(os.path.join(srv.spool, "pool", "7FFFFF", "F0"), "wb") as f:
        f.write(b"X-Mxd-Queue-Id: 0123456789ABCDEE\r\nhalf a message")
    srv2 = Server(spool=srv.spool)
    with srv2:
        assert_eq(srv2.unfinished_files(), [], "pool/ after start")
        assert not os.path.exists(os.path.join(srv.spool, "tmp")), \
            "tmp/ after start"
        srv2.wait_log(r"removed .*tmp/0123456789ABCDEF", timeout=1)
        srv2.wait_log(r"spool: emptied 1 unfinished or removed files? "
                      r"in pool/", timeout=1)
        assert_eq(srv2.eml(qid).body, m, "queued message after restart")
        rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
        assert_in(qid, out, "mxd -q after restart")


def test_listen_in_use():
    """a listen address that is in use: mxd exits non-zero and says so"""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        err = check_fails(["-f", "-o", "listen=127.0.0.1:%d" % port,
                           "-o", "spool_dir=" + os.path.join(_tmp, "inuse")],
                          "127.0.0.1:%d" % port)
        assert_in("in use", err, "stderr")
    finally:
        s.close()


def test_command_timeout():
    """command_timeout=1: an idle client gets 421 4.4.2 and is closed"""
    with Server(command_timeout="1") as srv:
        with srv.client() as c:
            c.expect("EHLO client.example", 250)
            t0 = time.monotonic()
            check(c.reply(timeout=5), 421, "4.4.2", "idle client")
            assert time.monotonic() - t0 >= 0.5, "timed out too early"
            assert c.wait_closed(), "open after 421"


def test_data_timeout():
    """data_timeout=1: a stalled DATA gets 421 4.4.2, nothing kept"""
    with Server(data_timeout="1", command_timeout="30") as srv:
        with srv.client() as c:
            c.expect("EHLO client.example", 250)
            c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
            c.expect("RCPT TO:<d@e.f>", 250, "2.1.5")
            check(c.cmd("DATA"), 354)
            c.send(b"Subject: stalled\r\n\r\nand then nothing")
            check(c.reply(timeout=5), 421, "4.4.2", "stalled DATA")
            assert c.wait_closed(), "open after 421"
        wait_until(lambda: srv.unfinished_files() == [], what="pool/ clean")
        assert_eq(srv.queue_names(), [], "queue/")


def start_log(args, timeout=10):
    """Start mxd -f with args, return its stderr up to `ready`, stop it."""
    import subprocess
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out, deadline = b"", time.monotonic() + timeout
    try:
        os.set_blocking(p.stderr.fileno(), False)
        while b" ready:" not in out and time.monotonic() < deadline:
            if p.poll() is not None:
                break
            out += p.stderr.read() or b""
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    return out.decode("utf-8", "replace")


def test_any_domain_on_public_address_warns():
    """domains=* (the sink default) on a non-loopback address logs a
    warning naming the address; with domains set, or on loopback, none.
    Run in a network namespace of its own (unshare -n), so binding
    0.0.0.0 reaches nobody"""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise Skip("needs root and unshare")
    spool = tempfile.mkdtemp(dir=_tmp)
    os.chmod(spool, 0o777)
    base = ["unshare", "-n", mxd_path(), "-f", "-o", "spool_dir=" + spool,
            "-o", "http_listen=", "-o", "pop3_listen="]
    warn = "domains = * accepts mail for every domain"
    out = start_log(base + ["-o", "listen=0.0.0.0:2525"])
    assert_in(" ready:", out, "started")
    assert_in("listen 0.0.0.0:2525 is not a loopback address", out, "log")
    assert_in(warn, out, "log")
    out = start_log(base + ["-o", "listen=0.0.0.0:2525",
                            "-o", "domains=example.org"])
    assert_in(" ready:", out, "started")
    assert warn not in out, out
    out = start_log(base + ["-o", "listen=127.0.0.1:2525"])
    assert_in(" ready:", out, "started")
    assert warn not in out, out


def _files_dir():
    """A scratch directory the run-as user can enter."""
    d = os.path.join(_tmp, "files")
    os.makedirs(d, exist_ok=True)
    os.chmod(_tmp, 0o755)
    os.chmod(d, 0o755)
    return d


def test_check_sasl_config_dir():
    """auth = yes with a sasl_config_dir that does not exist, or is a
    file: mxd -t fails and names the setting and the path"""
    d = _files_dir()
    missing = os.path.join(d, "no-such-sasl-dir")
    check_fails(["-t", "-o", "auth=yes", "-o", "sasl_config_dir=" +
                 missing], "sasl_config_dir " + missing, "No such file")
    afile = conf("files/not-a-dir", "x\n")
    check_fails(["-t", "-o", "auth=yes", "-o", "sasl_config_dir=" + afile],
                "sasl_config_dir " + afile, "not a directory")
    # auth = no: the setting is not used, so not checked.
    rc, out, err = run_mxd(["-t", "-o", "sasl_config_dir=" + missing])
    assert_eq((rc, err), (0, ""), "mxd -t with auth = no")


def test_check_files_as_run_as_user():
    """started as root, mxd runs as `user`: mxd -t, and a start, fail
    when that user cannot read tls_key (the openssl default: root, 0600),
    or the sasldb of <sasl_app>.conf, saying which file and why; readable
    again, -t says ok"""
    if os.geteuid() != 0:
        raise Skip("not running as root")
    import tlstest
    tlstest.need_tool("openssl")
    d = _files_dir()
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    tlstest.make_cert(cert, key, "mx.test")
    os.chmod(key, 0o600)
    tls = ["-o", "tls_cert=" + cert, "-o", "tls_key=" + key]
    check_fails(["-t"] + tls, "tls_key " + key,
                "not readable by user nobody", "mode 0600", "owner root")
    rc, out, err = run_mxd(["-f", "-o", "listen=127.0.0.1:%d" %
                            free_port(), "-o", "spool_dir=" +
                            os.path.join(d, "spool"), "-o", "pop3_listen=",
                            "-o", "http_listen="] + tls)
    assert rc not in (0, None), "mxd started; stderr %r" % err
    assert_in("tls_key " + key, err, "start-up error")
    os.chmod(key, 0o644)
    rc, out, err = run_mxd(["-t"] + tls)
    assert_eq((rc, err), (0, ""), "mxd -t with a readable key")
    # The sasldb named in <sasl_app>.conf.
    db = conf("files/sasldb2", "")
    os.chmod(db, 0o600)
    c = conf("files/mxdt.conf", "pwcheck_method: auxprop\n"
             "sasldb_path: %s\n" % db)
    os.chmod(c, 0o644)
    sasl = ["-o", "auth=yes", "-o", "sasl_app=mxdt", "-o",
            "sasl_config_dir=" + d]
    check_fails(["-t"] + sasl, "sasldb_path " + db,
                "not readable by user nobody")
    os.chmod(db, 0o644)
    rc, out, err = run_mxd(["-t"] + sasl)
    assert_eq((rc, err), (0, ""), "mxd -t with a readable sasldb")


if __name__ == "__main__":
    run(globals())

"""
t_review.py: behaviour fixed after the documentation review: stalled
readers are dropped, disconnect reasons are exact, the lab-mode hint is
true, long local parts get their own reply, settings are validated, a
daemon's start-up error reaches the terminal, SMTPUTF8 mail is recorded
as UTF8SMTP, and client text in the log is escaped.
"""

import os
import socket
import subprocess
import time

from mxdtest import (Server, check, run, run_mxd, simple_message, mxd_path,
                     free_port, assert_eq, assert_in, wait_until)


def test_stalled_reader_dropped():
    """a client that never reads its replies is closed after the timeout
    instead of getting 421 after 421"""
    with Server(command_timeout=1) as srv:
        c = srv.client(rcvbuf=2048)
        try:
            for _ in range(200):
                c.sock.setblocking(False)
                try:
                    c.sock.send(b"HELP\r\n" * 200)
                except (BlockingIOError, OSError):
                    break
        finally:
            c.sock.setblocking(True)
        srv.wait_log(r"disconnect client=\[127\.0\.0\.1\]:\d+ "
                     r"reason=timeout", timeout=10)
        c.close()


def test_disconnect_reasons():
    """the disconnect line says why: quit, timeout, too-many-errors"""
    with Server(command_timeout=1, max_errors=1) as srv:
        with srv.client() as c:
            c.expect("QUIT", 221)
        with srv.client() as c:
            check(c.reply(timeout=5), 421, "4.4.2")
        with srv.client() as c:
            c.send(b"FOO\r\n")
            check(c.reply(), 500, "5.5.2")
            check(c.reply(), 421, "4.7.0")
        for why in ("quit", "timeout", "too-many-errors"):
            srv.wait_log(r"disconnect .* reason=%s " % why)
        assert 'command="FOO"' in srv.log_text()
        assert 'reply="421 4.4.2' in srv.log_text()
        line = [l for l in srv.log_text().splitlines()
                if 'reply="421 4.4.2' in l][0]
        assert line.endswith('command=""'), line


def test_lab_hint_is_true():
    """with bare_lf_end=yes the 354 for a bare-LF client says a lone '.'
    ends the message, and it does"""
    with Server(bare_lf_end="yes") as srv, srv.client() as c:
        c.send(b"HELO lab\nMAIL FROM:<a@b.c>\nRCPT TO:<u@d.e>\nDATA\n")
        for _ in range(3):
            c.reply()
        code, lines = c.reply()
        assert_eq(code, 354, "DATA reply")
        assert "will NOT" not in lines[0], lines
        assert_in("bare_lf_end", lines[0], "354 text")
        c.send(b"Subject: lab\n\nhi\n.\n")
        check(c.reply(), 250, "2.0.0")


def test_long_local_part():
    """a local part over 64 octets gets the too-long reply: 5.1.3 for a
    recipient, 5.1.7 for a sender"""
    with Server() as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<%s@b.c>" % ("a" * 65), 501, "5.1.7")
        c.expect("MAIL FROM:<a@b.c>", 250)
        lines = c.expect("RCPT TO:<%s@d.e>" % ("u" * 65), 501, "5.1.3")
        assert_in("64 before the @", lines[0], "reply")


def test_settings_validated():
    """bad syslog_facility, hostname and tls_protocols are refused by -t,
    even without a certificate"""
    for opt in ("syslog_facility=kern2", "hostname=a b",
                "tls_protocols=SSLv3", "hostname=mx;evil"):
        rc, out, err = run_mxd(["-t", "-o", opt])
        assert rc != 0, "%s accepted" % opt
        assert_in("bad value", err, "message for %s" % opt)
    rc, out, err = run_mxd(["-t", "-o", "syslog_facility=local3",
                            "-o", "hostname=mx-1.example.org"])
    assert_eq(rc, 0, "good values: %s" % err)


def test_daemon_startup_error_reaches_terminal():
    """without -f, a start-up error (port in use) is printed and the exit
    status is 1; a good start exits 0 and leaves a daemon"""
    hog = socket.socket()
    hog.bind(("127.0.0.1", 0))
    hog.listen(1)
    port = hog.getsockname()[1]
    tmp = Server().tmpdir
    p = subprocess.run([mxd_path(), "-o", "listen=127.0.0.1:%d" % port,
                        "-o", "http_listen=", "-o", "pop3_listen=",
                        "-o", "spool_dir=%s/spool" % tmp],
                       capture_output=True, timeout=10)
    hog.close()
    assert_eq(p.returncode, 1, "exit status")
    assert_in(b"listen 127.0.0.1:%d" % port, p.stderr, "stderr")
    port = free_port()
    pidfile = os.path.join(tmp, "mxd.pid")
    p = subprocess.run([mxd_path(), "-o", "listen=127.0.0.1:%d" % port,
                        "-o", "http_listen=", "-o", "pop3_listen=",
                        "-o", "spool_dir=%s/spool" % tmp,
                        "-o", "pid_file=%s" % pidfile],
                       capture_output=True, timeout=10)
    assert_eq(p.returncode, 0, "daemon start: %r" % p.stderr)
    pid = int(open(pidfile).read())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert s.recv(100).startswith(b"220 ")
    finally:
        os.kill(pid, 15)
        wait_until(lambda: not os.path.exists("/proc/%d" % pid),
                   what="daemon exit")


def test_utf8smtp_and_log_escaping():
    """an SMTPUTF8 message is recorded `with UTF8SMTP`; 8-bit HELO and
    addresses are escaped in the log"""
    with Server() as srv, srv.client() as c:
        c.expect("EHLO h\xe9los", 250)
        qid = c.mail_tx("j\xf6rg@b.c", ["\xfc@d.e"],
                        simple_message("utf8"), " SMTPUTF8")
        assert_in("with UTF8SMTP id %s" % qid,
                  srv.eml(qid).received_text, "Received")
        # Escaped HELO, sender and recipient.
        srv.wait_log(r"helo=h\\xc3\\xa9los")
        srv.wait_log(r"qid=%s from=<j\\xc3\\xb6rg@b\.c>" % qid)
        srv.wait_log(r"qid=%s to=<\\xc3\\xbc@d\.e>$" % qid)


def test_sighup_config_reload():
    """SIGHUP rereads -c: a bad file keeps the running configuration (and
    says why), a good one applies (domains change) without dropping an
    open session"""
    import signal
    srv = Server()
    conf = os.path.join(srv.tmpdir, "mxd.conf")
    with open(conf, "w") as f:
        f.write("domains = one.test\n")
    # After dropping root, mxd rereads the file as its user.
    os.chmod(srv.tmpdir, 0o755)
    os.chmod(conf, 0o644)
    srv.args = ["-c", conf]
    with srv, srv.client() as c:
        c.expect("EHLO x", 250)
        c.expect("MAIL FROM:<a@b.c>", 250)
        c.expect("RCPT TO:<u@two.test>", 550, "5.7.1")
        with open(conf, "w") as f:
            f.write("domains = two.test\nmax_recipients = zero\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reload failed, keeping the running configuration: "
                     r".*mxd\.conf:2: bad value 'zero'")
        c.expect("RCPT TO:<u@two.test>", 550, "5.7.1")
        with open(conf, "w") as f:
            f.write("domains = two.test\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reloaded configuration from .*mxd\.conf")
        c.expect("RCPT TO:<u@two.test>", 250, "2.1.5")
        c.expect("RCPT TO:<u@one.test>", 550, "5.7.1")


def test_spool_sync_no_pipelined():
    """spool_sync=no (the test-sink mode) still writes every message
    whole, in order, even when 30 transactions arrive in one write"""
    with Server(spool_sync="no") as srv, srv.client() as c:
        c.expect("EHLO x", 250)
        blob = b""
        for i in range(30):
            blob += (b"MAIL FROM:<a@b.c>\r\nRCPT TO:<u@d.e>\r\nDATA\r\n" +
                     simple_message("fast %d" % i) + b".\r\n")
        c.send(blob)
        qids = []
        for i in range(30):
            check(c.reply(), 250, "2.1.0")
            check(c.reply(), 250, "2.1.5")
            check(c.reply(), 354)
            code, lines = c.reply()
            assert_eq(code, 250, "end of data %d" % i)
            qids.append(lines[0].split()[-1])
        msgs = srv.messages()
        for i, q in enumerate(qids):
            assert_in(b"Subject: fast %d\r\n" % i, msgs[q], "message %d" % i)
        assert_eq(qids, sorted(qids), "queue IDs in order")


def test_choices_any_case_and_absolute_paths():
    """choice values take any case and are stored in their own spelling;
    -d shows relative paths made absolute against the start directory"""
    rc, out, err = run_mxd(["-d", "-o", "tls_protocols=tlsv1.2",
                            "-o", "syslog_facility=LOCAL2"])
    assert_eq(rc, 0, "exit status: %s" % err)
    assert_in("tls_protocols = TLSv1.2\n", out, "-d output")
    assert_in("syslog_facility = local2\n", out, "-d output")
    tmp = Server().tmpdir
    rc, out, err = run_mxd(["-d", "-o", "pid_file=run/mxd.pid",
                            "-o", "spool_dir=sp"], cwd=tmp)
    real = os.path.realpath(tmp)
    assert_in("pid_file = %s/run/mxd.pid\n" % real, out, "-d output")
    assert_in("spool_dir = %s/sp\n" % real, out, "-d output")


if __name__ == "__main__":
    run(globals())

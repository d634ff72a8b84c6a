#!/usr/bin/env python3
"""
t_rcpt_lmtp.py: recipient_check = lmtp against Dovecot's real LMTP
server (a private instance, mxdtest/dovecot.py).  At RCPT mxd asks the
store: a known user (and bob+tag, Dovecot's delimiter) gets 250, an
unknown one 550 5.1.1 with the store's reason, over the unix socket and
the loopback port; pipelined RCPTs keep their order; the store stopped
gives 451 4.4.3 (never an accept), a store that never answers too, and
other sessions are served meanwhile; answers are cached (the log says
`cached` while Dovecot is stopped); `mxd -t rcpt` says what the store
answered; a bad recipient_lmtp is refused by `mxd -t`.  A scripted
store (FakeStore) shows that at most 4 connections are used however
many sessions ask at once, and that a reload moves to a new store.
"""

import os
import shutil
import signal
import tempfile
import threading

from mxdtest import (Server, check, run_mxd, assert_eq, assert_in,
                     free_port, wait_until, run)
from mxdtest.dovecot import Dovecot
from mxdtest.listener import Listener

DOMAINS = "example.test"


def server(target, **kw):
    return Server(domains=DOMAINS, recipient_check="lmtp",
                  recipient_lmtp=target, **kw)


def mail(c):
    c.expect("EHLO client.test", 250)
    check(c.cmd("MAIL FROM:<a@sender.test>"), 250, "2.1.0")


def test_known_and_unknown():
    """unix socket and loopback port: bob, Bob, bob+tag get 250; an
    unknown user 550 5.1.1 with Dovecot's reason; pipelined RCPTs are
    answered in order; the message is queued for the accepted ones"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        for target in (dc.lmtp_unix, dc.lmtp_inet):
            with server(target) as srv, srv.client() as c:
                mail(c)
                c.send(b"RCPT TO:<bob@example.test>\r\n"
                       b"RCPT TO:<ghost@example.test>\r\n"
                       b"RCPT TO:<Bob+news@example.test>\r\n"
                       b"RCPT TO:<ghost2@example.test>\r\n")
                r = c.replies(4)
                check(r[0], 250, "2.1.5", "bob via %s" % target)
                check(r[1], 550, "5.1.1", "ghost via %s" % target)
                assert_in("<ghost@example.test>", r[1][1][0], "address")
                assert_in("User doesn't exist", r[1][1][0],
                          "Dovecot's reason")
                check(r[2], 250, "2.1.5", "bob+news")
                check(r[3], 550, "5.1.1", "ghost2")
                check(c.cmd("DATA"), 354)
                c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n")
                check(c.reply(), 250, "2.0.0")
                srv.wait_log(r"rcpt-check to=<ghost@example.test> "
                             r"store=lmtp:.* answer=\"550 5\.1\.1")
        assert "Fatal" not in dc.log(), dc.log()


def test_store_down_and_cache():
    """Dovecot stopped: a new address gets 451 4.4.3; bob and ghost,
    asked while it ran, are answered from the cache (250 and 550, the
    log says cached); with the cache off (ttl 0), 451 for bob too"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        with server(dc.lmtp_unix) as srv, srv.client() as c:
            mail(c)
            check(c.cmd("RCPT TO:<bob@example.test>"), 250, "2.1.5")
            check(c.cmd("RCPT TO:<ghost@example.test>"), 550, "5.1.1")
            dc.stop()
            check(c.cmd("RCPT TO:<carol@example.test>"), 451, "4.4.3")
            check(c.cmd("RCPT TO:<BOB@example.test>"), 250, "2.1.5")
            check(c.cmd("RCPT TO:<ghost@example.test>"), 550, "5.1.1")
            srv.wait_log(r"rcpt-check to=<BOB@example.test> .*answer="
                         r"\"250 .*\" cached")
            srv.wait_log(r"rcpt-check to=<ghost@example.test> .*answer="
                         r"\"550 .*\" cached")
            srv.wait_log(r"reply=\"451 4\.4\.3 .*carol@example\.test")
        dc.start()
        with server(dc.lmtp_inet, recipient_cache_ttl=0,
                    recipient_cache_negative_ttl=0) as srv, \
                srv.client() as c:
            mail(c)
            check(c.cmd("RCPT TO:<bob@example.test>"), 250, "2.1.5")
            dc.stop()
            check(c.cmd("RCPT TO:<bob@example.test>"), 451, "4.4.3")
            check(c.cmd("RCPT TO:<postmaster@example.test>"), 250,
                  "2.1.5")
            check(c.cmd("RCPT TO:<x@elsewhere.test>"), 550, "5.7.1")


def silent_store():
    """A listener that accepts and never says a word: (close, port)."""
    lst = Listener(None, max_conns=16)
    return lst.close, lst.port


def test_silent_store():
    """a store that never answers: RCPT gets 451 4.4.3 after
    recipient_lmtp_timeout, and meanwhile another client is served"""
    close, port = silent_store()
    try:
        with server("lmtp:inet:127.0.0.1:%d" % port,
                    recipient_lmtp_timeout=2) as srv, \
                srv.client(timeout=20) as c:
            mail(c)
            c.send(b"RCPT TO:<bob@example.test>\r\n")
            with srv.client() as other:
                other.expect("EHLO other.test", 250)
                other.expect("NOOP", 250)
            check(c.reply(), 451, "4.4.3")
            srv.wait_log(r"lmtp lmtp:inet:127\.0\.0\.1:%d: no answer in "
                         r"time" % port)
    finally:
        close()


class FakeStore:
    """A scripted LMTP server on a loopback port: knows `users`; with
    hold set, each RCPT waits for release() before its answer.  Records
    the connections and, per connection, the RCPTs it was asked."""

    def __init__(self, users, hold=False, drop_second_mail=False):
        self.users = set(users)
        self.drop_second_mail = drop_second_mail
        self.hold = threading.Event()
        if not hold:
            self.hold.set()
        self.lock = threading.Lock()
        self.rcpts = []             # (connection number, address)
        self.listener = Listener(self._serve)
        self.port = self.listener.port
        self.target = "lmtp:inet:127.0.0.1:%d" % self.port

    @property
    def nconns(self):
        return self.listener.nconns

    def _serve(self, conn, n):
        conn.settimeout(30)
        f = conn.makefile("rb")
        nmail = 0
        try:
            conn.sendall(b"220 fake LMTP\r\n")
            for _ in range(1000):
                line = f.readline().decode().strip()
                verb = line.split(" ", 1)[0].upper()
                if verb == "LHLO":
                    conn.sendall(b"250-fake\r\n250 PIPELINING\r\n")
                elif verb == "MAIL" and self.drop_second_mail and \
                        nmail == 1:
                    return          # as if it had closed while idle
                elif verb in ("MAIL", "RSET"):
                    nmail += verb == "MAIL"
                    conn.sendall(b"250 2.0.0 OK\r\n")
                elif verb == "RCPT":
                    addr = line[line.index("<") + 1:line.rindex(">")]
                    with self.lock:
                        self.rcpts.append((n, addr))
                    self.hold.wait(30)
                    conn.sendall(b"250 2.1.5 OK\r\n"
                                 if addr in self.users else
                                 b"550 5.1.1 <%s> unknown\r\n" %
                                 addr.encode())
                else:
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def pending(self):
        with self.lock:
            return len(self.rcpts)

    def close(self):
        """Stop for good (mxdtest.Listener: the accepting thread first)."""
        self.hold.set()
        self.listener.close()


def test_pool_bounded():
    """ten sessions ask at once while the store holds its answers: at
    most 4 connections carry the questions, and all ten get their 250
    once the store answers"""
    users = ["u%d@example.test" % i for i in range(10)]
    store = FakeStore(users, hold=True)
    clients = []
    try:
        with server(store.target, recipient_lmtp_timeout=30) as srv:
            for u in users:
                c = srv.client(timeout=30)
                clients.append(c)
                mail(c)
                c.send(b"RCPT TO:<%s>\r\n" % u.encode())
            wait_until(lambda: store.pending() >= 4, timeout=20,
                       what="four questions at the store")
            store.hold.set()
            for c in clients:
                check(c.reply(), 250, "2.1.5")
            conns = {n for n, _ in store.rcpts}
            assert_eq(sorted(a for _, a in store.rcpts), sorted(users),
                      "each address asked once")
            assert len(conns) <= 4, "questions on %d connections" % \
                len(conns)
            assert store.nconns <= 4, "%d connections" % store.nconns
    finally:
        for c in clients:
            c.close()
        store.close()


def test_shutdown_while_asking():
    """SIGTERM while a session waits for the store: it gets 421, and
    mxd exits 0 at the end of shutdown_grace without the answer"""
    store = FakeStore(["bob@example.test"], hold=True)
    try:
        srv = server(store.target, recipient_lmtp_timeout=60,
                     shutdown_grace=1)
        with srv, srv.client(timeout=30) as c:
            mail(c)
            c.send(b"RCPT TO:<bob@example.test>\r\n")
            wait_until(lambda: store.pending() >= 1,
                       what="the question at the store")
            srv.terminate()
            check(c.reply(), 421, "4.3.2")
            assert_eq(srv.stop(timeout=30), 0, "exit status")
    finally:
        store.close()


def test_stale_connection_retried():
    """a reused connection that the store has closed dies at MAIL: the
    question is asked again on a new connection, not answered 451"""
    store = FakeStore(["bob@example.test", "carol@example.test"],
                      drop_second_mail=True)
    try:
        with server(store.target) as srv, srv.client() as c:
            mail(c)
            check(c.cmd("RCPT TO:<bob@example.test>"), 250, "2.1.5")
            check(c.cmd("RCPT TO:<carol@example.test>"), 250, "2.1.5")
            assert_eq(store.nconns, 2, "connections")
            srv.wait_log(r"lmtp lmtp:inet:.*: (eof|error)")
    finally:
        store.close()


def test_reload_moves_store():
    """SIGHUP with a new recipient_lmtp: the cache is emptied and the
    next question goes to the new store"""
    a = FakeStore(["bob@example.test"])
    b = FakeStore(["carol@example.test"])
    d = tempfile.mkdtemp(prefix="mxdtest.lmtp.")
    os.chmod(d, 0o755)
    conf = os.path.join(d, "mxd.conf")
    try:
        with open(conf, "w") as f:
            f.write("domains = example.test\nrecipient_check = lmtp\n"
                    "recipient_lmtp = %s\n" % a.target)
        with Server(args=["-c", conf]) as srv, srv.client() as c:
            mail(c)
            check(c.cmd("RCPT TO:<bob@example.test>"), 250, "2.1.5")
            check(c.cmd("RCPT TO:<carol@example.test>"), 550, "5.1.1")
            with open(conf, "w") as f:
                f.write("domains = example.test\nrecipient_check = lmtp\n"
                        "recipient_lmtp = %s\n" % b.target)
            srv.proc.send_signal(signal.SIGHUP)
            srv.wait_log(r"reloaded configuration")
            check(c.cmd("RCPT TO:<carol@example.test>"), 250, "2.1.5")
            check(c.cmd("RCPT TO:<bob@example.test>"), 550, "5.1.1")
            assert_eq(sorted(x for _, x in b.rcpts),
                      ["bob@example.test", "carol@example.test"],
                      "asked of the new store")
    finally:
        a.close()
        b.close()
        shutil.rmtree(d, ignore_errors=True)


def test_t_rcpt_lmtp():
    """mxd -t rcpt asks the store: 0 and its 250 for bob, 1 and its
    550 for ghost, 1 and 451 when it is stopped"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        args = ["-o", "domains=" + DOMAINS, "-o", "recipient_check=lmtp",
                "-o", "recipient_lmtp=" + dc.lmtp_unix]
        rc, out, err = run_mxd(["-t", "rcpt", "bob@example.test"] + args)
        assert_eq(rc, 0, "exit status for bob (stderr %r)" % err)
        assert_in("the store answered: 250", out, "output")
        rc, out, err = run_mxd(["-t", "rcpt", "ghost@example.test"] + args)
        assert_eq(rc, 1, "exit status for ghost")
        assert_in("the store answered: 550 5.1.1 <ghost@example.test> "
                  "User doesn't exist", out, "output")
        dc.stop()
        rc, out, err = run_mxd(["-t", "rcpt", "bob@example.test"] + args)
        assert_eq(rc, 1, "exit status with the store stopped")
        assert_in("the store could not be asked", out, "output")
        assert_in("451 4.4.3", out, "output")


def test_check_settings():
    """mxd -t: recipient_check = lmtp needs recipient_lmtp, and a bad
    target is refused"""
    rc, out, err = run_mxd(["-t", "-o", "recipient_check=lmtp"])
    assert_eq(rc, 1, "exit status")
    assert_in("recipient_check = lmtp needs recipient_lmtp", err, "stderr")
    for bad in ("unix:/x", "lmtp:unix:relative", "lmtp:inet:host",
                "lmtp:inet:mail.example:24", "lmtp:inet:127.0.0.1:0"):
        rc, out, err = run_mxd(["-t", "-o", "recipient_check=lmtp", "-o",
                                "recipient_lmtp=" + bad])
        assert_eq(rc, 1, "exit status for %s" % bad)
        assert_in("bad LMTP target '%s'" % bad, err, "stderr")
    rc, out, err = run_mxd(["-t", "-o", "recipient_check=lmtp", "-o",
                            "recipient_lmtp=lmtp:inet:localhost:%d" %
                            free_port()])
    assert_eq((rc, err), (0, ""), "localhost:port is fine")


if __name__ == "__main__":
    run(globals())

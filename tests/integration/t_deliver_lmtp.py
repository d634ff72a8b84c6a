#!/usr/bin/env python3
"""
t_deliver_lmtp.py: delivery = lmtp:... to Dovecot's real LMTP server (a
private instance, mxdtest/dovecot.py).  Messages reach the mailboxes
over the unix socket and the loopback port, byte for byte from mxd's
Received: on, with Delivered-To prepended (Return-Path from Dovecot);
bob+tag@ goes to bob; an alias to two users, and duplicates after
expansion, are delivered once each; a Bcc recipient is never in another
recipient's copy; the spool file and its state go once all are
delivered; one unwritable mailbox defers only that recipient, which is
retried; Dovecot stopped -> deferred, started + mxd -Q -> delivered;
a 5xx after the data -> dead/ and a notice to the postmaster;
mxd -q shows the per-recipient state; mxd -R removes a message; mxd -t
prints the pipeline.  With lmtp_recipient_limit above 1, the mailboxes
of one message share LMTP transactions (RFC 2033 4.2): one Dovecot
transaction for three, with no Delivered-To and no Bcc in any copy; a
4xx, a 5xx or a lost connection after the data touches only its own
recipients; at most lmtp_recipient_limit recipients per transaction.
"""

import email
import os
import re
import tempfile
import threading

from mxdtest import (Server, check, run_mxd, assert_eq, assert_in,
                     wait_until, run)
from mxdtest.deliverlog import DELAYS, check_delays
from mxdtest.dovecot import Dovecot
from mxdtest.listener import Listener

DOMAIN = "example.test"


def body(subject, extra=b""):
    return (b"From: a@sender.test\r\nTo: list@example.test\r\n"
            b"Message-ID: <" + subject.encode() + b"@sender.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n\r\nhello\r\n"
            b"..a line that began with a dot\r\n" + extra)


def after_received(msg):
    return msg[msg.index(b"Received: from client.test"):]


def headers_before(msg):
    return msg[:msg.index(b"Received: from client.test")]


def send(srv, rcpts, data):
    with srv.client() as c:
        c.expect("EHLO client.test", 250)
        return c.mail_tx("a@sender.test", rcpts, data)


def table(tmp, text):
    path = os.path.join(tmp, "recipients")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_unix_and_inet():
    """both targets: the copy equals the spool file from Received: on,
    Delivered-To is the mailbox, Return-Path the sender; the queue file
    and its state are removed; the log has a Postfix-style line"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        for target in (dc.lmtp_unix, dc.lmtp_inet):
            with Server(domains=DOMAIN, delivery=target,
                        spool_sync="yes") as srv:
                before = len(dc.messages("bob@example.test"))
                data = body("t-" + target[5:9])
                qid = send(srv, ["bob@example.test"], data)
                wait_until(lambda: len(dc.messages("bob@example.test")) >
                           before, what="delivery via %s" % target)
                got = [m for m in dc.messages("bob@example.test")
                       if qid.encode() in m]
                assert_eq(len(got), 1, "one copy of %s" % qid)
                got = got[0]
                # Dovecot's Maildir keeps LF line ends; the rest is byte
                # for byte: mxd's Received: (4 lines), then the message
                # as the client sent it, dot-stuffing undone.
                tail = after_received(got).replace(b"\n", b"\r\n")
                rec = b"".join(tail.split(b"\r\n", 4)[:4])
                assert_in(b"id " + qid.encode(), rec, "QID in Received")
                assert_eq(tail.split(b"\r\n", 4)[4],
                          data.replace(b"\r\n..", b"\r\n."),
                          "byte for byte after mxd's Received:")
                assert_in(b"\n.a line that began with a dot\n", got,
                          "mxd's dot-stuffing undone by the store")
                hdr = headers_before(got)
                # mxd's own, right above its Received: (Dovecot adds
                # another above its own Received: unless told not to).
                assert_eq(hdr.endswith(b"\nDelivered-To: bob@example.test\n"),
                          True, "Delivered-To prepended by mxd: %r" % hdr)
                assert_in(b"Return-Path: <a@sender.test>", hdr,
                          "Return-Path")
                assert_eq(b"X-Mxd-" in got, False, "no envelope block")
                check_delays(srv.wait_log(
                    r"qid=%s to=<bob@example.test> relay=%s %s "
                    r"dsn=2\.0\.0 status=sent" % (qid, re.escape(target),
                                                  DELAYS)))
                wait_until(lambda: not os.path.exists(os.path.join(
                    srv.spool, "queue", qid + ".eml")), what="queue file "
                    "removed")
                assert_eq(os.path.exists(os.path.join(srv.spool, "state",
                                                      qid)), False,
                          "state file removed")


def test_alias_tag_bcc_duplicates():
    """an alias to bob and carol plus bob himself and bob+tag: bob gets
    ONE copy (duplicates after expansion), carol one; neither copy names
    the other recipients (Bcc: no envelope block)"""
    tmp = tempfile.mkdtemp(prefix="mxdtest.")
    os.chmod(tmp, 0o755)        # mxd runs as nobody when started as root
    t = table(tmp, "bob@example.test\ncarol@example.test\n"
              "list@example.test bob, carol\n")
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        dc.add_user("carol@example.test")
        with Server(domains=DOMAIN, delivery=dc.lmtp_unix,
                    recipient_table=t, recipient_delimiter="+") as srv:
            qid = send(srv, ["list@example.test", "bob@example.test",
                             "bob+tag@example.test"], body("alias"))
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="all delivered")
            bob = dc.messages("bob@example.test")
            carol = dc.messages("carol@example.test")
            assert_eq((len(bob), len(carol)), (1, 1), "one copy each")
            assert_in(b"Delivered-To: carol@example.test", carol[0],
                      "carol's Delivered-To")
            for m in bob + carol:
                assert_eq(b"bob+tag" in m, False, "Bcc bob+tag not shown")
            assert_eq(b"carol" in bob[0], False, "carol not in bob's copy")
            srv.wait_log(r"qid=%s to=<carol@example.test> "
                         r"orig_to=<list@example.test> " % qid)


def test_bcc_single():
    """to: alice, Bcc: bob (envelope only): alice's copy never names bob"""
    with Dovecot() as dc:
        dc.add_user("alice@example.test")
        dc.add_user("bob@example.test")
        with Server(domains=DOMAIN, delivery=dc.lmtp_inet) as srv:
            data = (b"From: a@sender.test\r\nTo: alice@example.test\r\n"
                    b"Subject: bcc\r\n\r\nhi\r\n")
            send(srv, ["alice@example.test", "bob@example.test"], data)
            wait_until(lambda: dc.messages("alice@example.test") and
                       dc.messages("bob@example.test"), what="both")
            a = dc.messages("alice@example.test")[0]
            assert_eq(b"bob@" in a, False, "bob not in alice's copy")
            b = dc.messages("bob@example.test")[0]
            assert_eq(b"Delivered-To: bob@example.test" in b, True, "bob")


def unwritable_maildir(dc, address):
    """Add a Dovecot user whose Maildir exists but is read-only (mode
    0500, Dovecot's owner): deliveries to it fail with 4xx.  Its path
    (chmod it 0700 to let them succeed)."""
    home = dc.add_user(address)
    os.makedirs(home, exist_ok=True)
    os.chown(home, dc.uid, dc.gid)
    md = os.path.join(home, "Maildir")
    os.makedirs(md)
    os.chmod(md, 0o500)
    if os.geteuid() == 0:
        os.chown(md, dc.uid, dc.gid)
    return md


def test_unwritable_mailbox_deferred():
    """carol's Maildir unwritable: Dovecot says 4xx for her only; bob is
    delivered once; mxd -q shows carol deferred with the reason; carol
    made writable + mxd -Q: delivered, bob still has one copy"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        md = unwritable_maildir(dc, "carol@example.test")
        with Server(domains=DOMAIN, delivery=dc.lmtp_unix,
                    delivery_retry_min="1h") as srv:
            qid = send(srv, ["bob@example.test", "carol@example.test"],
                       body("defer"))
            srv.wait_log(r"qid=%s to=<carol@example.test> .*"
                         r"status=deferred" % qid)
            srv.wait_log(r"qid=%s to=<bob@example.test> .*status=sent"
                         % qid)
            assert_eq(len(dc.messages("bob@example.test")), 1, "bob once")
            rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -q")
            assert_in("delivered", out, "bob delivered in -q")
            assert_in("deferred", out, "carol deferred in -q")
            os.chmod(md, 0o700)
            rc, out, err = run_mxd(["-Q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -Q: " + err)
            wait_until(lambda: dc.messages("carol@example.test"),
                       what="carol after mxd -Q")
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="queue file gone")
            assert_eq(len(dc.messages("bob@example.test")), 1,
                      "bob still once")


def test_store_down_then_up():
    """Dovecot stopped: deferred, the message stays; started + mxd -Q:
    delivered"""
    dc = Dovecot()
    try:
        dc.add_user("bob@example.test")
        dc.start()
        dc.stop()
        with Server(domains=DOMAIN, delivery=dc.lmtp_inet,
                    delivery_retry_min="1h") as srv:
            qid = send(srv, ["bob@example.test"], body("down"))
            srv.wait_log(r"qid=%s to=<bob@example.test> .*dsn=4\.4\.2 "
                         r"status=deferred" % qid)
            assert_eq(os.path.exists(os.path.join(srv.spool, "queue",
                                                  qid + ".eml")), True,
                      "waits in the queue")
            dc.start()
            rc, out, err = run_mxd(["-Q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -Q")
            wait_until(lambda: dc.messages("bob@example.test"),
                       what="delivered after -Q")
    finally:
        dc.cleanup()


def test_remove_and_pipeline():
    """mxd -R removes a deferred message and its state; mxd -t prints the
    pipeline with the delivery target; a bad target is refused"""
    with Server(domains=DOMAIN, delivery="lmtp:inet:127.0.0.1:1",
                delivery_retry_min="1h") as srv:
        qid = send(srv, ["bob@example.test"], body("rm"))
        srv.wait_log(r"qid=%s .*status=deferred" % qid)
        rc, out, err = run_mxd(["-R", qid, "-o", "spool_dir=" + srv.spool])
        assert_eq(rc, 0, "mxd -R: " + err)
        assert_eq(os.path.exists(os.path.join(srv.spool, "queue",
                                              qid + ".eml")), False, "gone")
        assert_eq(os.path.exists(os.path.join(srv.spool, "state", qid)),
                  False, "state gone")
    rc, out, err = run_mxd(["-t", "-o", "delivery=lmtp:unix:/run/x"])
    assert_eq(rc, 0, "mxd -t")
    assert_in("delivery: lmtp:unix:/run/x", out, "pipeline")
    rc, out, err = run_mxd(["-t", "-o", "delivery=lmtp:unix:/run/x",
                            "-o", "lmtp_recipient_limit=20"])
    assert_in("lmtp: up to 20 mailboxes a transaction", out,
              "mxd -t: lmtp_recipient_limit")
    rc, out, err = run_mxd(["-t", "-o", "delivery=smtp:x"])
    assert_eq(rc, 1, "bad target refused")
    assert_in("bad delivery target", err, "why")


class FakeStore:
    """A scripted LMTP server: every RCPT 250, and after the data 550
    5.2.2 for full@, 250 for the others (RFC 2033 4.2: one reply per
    accepted recipient, in order)."""

    def __init__(self):
        self.data = []
        self.listener = Listener(self.session)
        self.port = self.listener.port

    def session(self, c, n):
        f = c.makefile("rb")
        c.sendall(b"220 fake LMTP\r\n")
        rcpts = []
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"LHLO":
                c.sendall(b"250-fake\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                rcpts.append(line)
                c.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                c.sendall(b"354 go\r\n")
                body = b""
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b""):
                        break
                    body += l
                self.data.append(body)
                for r in rcpts:
                    c.sendall(b"550 5.2.2 mailbox full\r\n"
                              if b"full@" in r else b"250 2.0.0 ok\r\n")
                rcpts = []
            elif verb == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                rcpts = [] if verb == b"RSET" else rcpts
                c.sendall(b"250 ok\r\n")

    def close(self):
        """Stop for good (mxdtest.Listener: the accepting thread first)."""
        self.listener.close()


def test_permanent_after_250():
    """the store says 5xx after the data: the message goes to dead/, the
    recipient is failed (status=bounced), the postmaster gets a notice
    with the original attached (message/rfc822) in its Maildir; the
    other recipient is delivered; the queue file goes"""
    fake = FakeStore()
    tmp = tempfile.mkdtemp(prefix="mxdtest.")
    os.chmod(tmp, 0o777)
    mp = os.path.join(tmp, "map")
    with open(mp, "w") as f:
        f.write("postmaster@mx.test maildir:%s/pm\n" % tmp)
    os.chmod(mp, 0o644)
    try:
        with Server(domains=DOMAIN, delivery="lmtp:inet:127.0.0.1:%d" %
                    fake.port, delivery_map=mp) as srv:
            qid = send(srv, ["full@example.test", "ok@example.test"],
                       body("perm"))
            srv.wait_log(r"qid=%s to=<full@example.test> .*dsn=5\.2\.2 "
                         r"status=bounced \(550 5\.2\.2 mailbox full\)"
                         % qid)
            srv.wait_log(r"qid=%s notice to=<postmaster@mx.test> "
                         r"relay=maildir:\S+ dsn=2\.0\.0 status=sent" % qid)
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="queue file gone")
            dead = open(os.path.join(srv.spool, "dead", qid + ".eml"),
                        "rb").read()
            assert_in(b"X-Mxd-Queue-Id: " + qid.encode(), dead,
                      "the spool file in dead/")
            new = os.path.join(tmp, "pm", "new")
            notes = [open(os.path.join(new, n), "rb").read()
                     for n in os.listdir(new)]
            assert_eq(len(notes), 1, "one notice")
            m = email.message_from_bytes(notes[0])
            assert_eq(m["Return-Path"], "<>", "null sender")
            assert_in(qid, m["Subject"], "subject names the message")
            parts = m.get_payload()
            assert_in("<full@example.test>: 550 5.2.2 mailbox full",
                      parts[0].get_payload(), "reason")
            assert_eq(parts[1].get_content_type(), "message/rfc822",
                      "original attached")
            orig = parts[1].get_payload()[0]
            assert_eq(orig["Subject"], "perm", "the original")
            assert_eq(orig["X-Mxd-Recipient"], None, "no envelope")
            # One transaction per mailbox: each copy has its own
            # Delivered-To.
            assert_eq(sorted(d.split(b"\r\n", 1)[0] for d in fake.data),
                      [b"Delivered-To: full@example.test",
                       b"Delivered-To: ok@example.test"], "two copies")
    finally:
        fake.close()


def test_lifetime_over():
    """a store that never comes back: after delivery_lifetime the
    recipient fails (status=expired), the message is in dead/ and the
    postmaster's notice says why; mxd -q showed it deferred before"""
    tmp = tempfile.mkdtemp(prefix="mxdtest.")
    os.chmod(tmp, 0o777)
    mp = os.path.join(tmp, "map")
    with open(mp, "w") as f:
        f.write("postmaster@mx.test maildir:%s/pm\n" % tmp)
    os.chmod(mp, 0o644)
    with Server(domains=DOMAIN, delivery="lmtp:unix:%s/nothing" % tmp,
                delivery_map=mp, delivery_retry_min="1s",
                delivery_lifetime="3s") as srv:
        qid = send(srv, ["bob@example.test"], body("expire"))
        srv.wait_log(r"qid=%s to=<bob@example.test> .*status=deferred" %
                     qid)
        rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
        assert_in("deferred, next try", out, "mxd -q: deferred")
        srv.wait_log(r"qid=%s to=<bob@example.test> status=expired "
                     r"\(delivery_lifetime over: " % qid, timeout=30)
        srv.wait_log(r"qid=%s notice to=<postmaster@mx.test> .*"
                     r"status=sent" % qid)
        wait_until(lambda: not os.path.exists(os.path.join(
            srv.spool, "queue", qid + ".eml")), what="queue file gone")
        assert_eq(os.path.exists(os.path.join(srv.spool, "dead",
                                              qid + ".eml")), True, "dead/")
        new = os.path.join(tmp, "pm", "new")
        note = open(os.path.join(new, os.listdir(new)[0]), "rb").read()
        assert_in(b"<bob@example.test>: delivery_lifetime over", note,
                  "the notice says why")


class ScriptStore:
    """A scripted LMTP server that keeps every transaction: self.tx is a
    list of {"mail": line, "rcpts": [address, ...], "body": bytes} in the
    order they reached DATA.  reply(address) gives the reply after the
    final dot for each accepted recipient (RFC 2033 4.2, in RCPT order;
    default 250); with drop_after=n the first transaction's connection is
    closed after n of its replies (later ones are answered in full); with
    max_rcpts=n a transaction takes n recipients, then RCPT gets 452
    4.5.3 (RFC 5321 4.5.3.1.10); with hang=(t, n) the t-th transaction
    (from 1) stops after n replies: self.hung is set, and the session
    ends when self.release is."""

    def __init__(self, reply=None, drop_after=None, max_rcpts=None,
                 hang=None):
        self.reply = reply or (lambda a: b"250 2.0.0 <%s> saved" % a)
        self.drop_after = drop_after
        self.max_rcpts = max_rcpts
        self.hang = hang
        self.hung = threading.Event()
        self.release = threading.Event()
        self.tx = []
        self.lock = threading.Lock()
        self.listener = Listener(self.session)
        self.port = self.listener.port
        self.target = "lmtp:inet:127.0.0.1:%d" % self.port

    @property
    def sessions(self):
        """Connections taken so far."""
        return self.listener.nconns

    def rcpts_of(self, address):
        """How many transactions named address."""
        return sum(t["rcpts"].count(address) for t in self.tx)

    def session(self, c, n):
        with c:
            f = c.makefile("rb")
            c.sendall(b"220 script LMTP\r\n")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"LHLO":
                    c.sendall(b"250-script\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    mail, rcpts = line.rstrip(), []
                    c.sendall(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    if self.max_rcpts == len(rcpts):
                        c.sendall(b"452 4.5.3 too many recipients\r\n")
                        continue
                    rcpts.append(line.rstrip()[9:-1])
                    c.sendall(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    c.sendall(b"354 go\r\n")
                    body = b""
                    while True:
                        l = f.readline()
                        if l in (b".\r\n", b""):
                            break
                        body += l
                    with self.lock:
                        self.tx.append({"mail": mail, "rcpts": rcpts,
                                        "body": body})
                        drop = self.drop_after
                        self.drop_after = None
                        hang = (self.hang[1] if self.hang is not None and
                                self.hang[0] == len(self.tx) else None)
                    for n, r in enumerate(rcpts):
                        if drop is not None and n == drop:
                            return
                        if hang is not None and n == hang:
                            self.hung.set()
                            self.release.wait(60)
                            return
                        c.sendall(self.reply(r) + b"\r\n")
                    mail, rcpts = None, []
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    if verb == b"RSET":
                        mail, rcpts = None, []
                    c.sendall(b"250 2.0.0 ok\r\n")

    def close(self):
        """Stop for good (mxdtest.Listener: the accepting thread first)."""
        self.release.set()
        self.listener.close()


def pm_map(tmp):
    """A delivery_map sending the postmaster's notices to a Maildir."""
    mp = os.path.join(tmp, "map")
    with open(mp, "w") as f:
        f.write("postmaster@mx.test maildir:%s/pm\n" % tmp)
    os.chmod(mp, 0o644)
    return mp


def qstate(srv, qid):
    """mxd -q's lines for qid, as text."""
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    assert_eq(rc, 0, "mxd -q: " + err)
    return out


def dovecot_id(srv, qid, addr):
    """The transaction id in Dovecot's 250 for addr (`<id>` or
    `<id>:R<n>` for the n-th recipient of one transaction)."""
    line = srv.wait_log(r"qid=%s to=<%s> .*status=sent \(250 2\.0\.0 "
                        r"<%s> \S+ Saved\)" % (qid, re.escape(addr),
                                              re.escape(addr)))
    m = re.search(r"<%s> (\S+) Saved" % re.escape(addr), line.string)
    return m.group(1).split(":R")[0]


def test_multi_dovecot_one_transaction():
    """lmtp_recipient_limit = 50: To alice, Bcc bob and carol go to
    Dovecot in ONE transaction (its three 250s carry one transaction id;
    each copy's Received: too), each mailbox gets one copy, and no copy
    names bob or carol: mxd prepends no Delivered-To, and Dovecot 2.3
    writes neither Delivered-To nor a Received: `for` clause when a
    transaction has several recipients (its lmtp_hdr_delivery_address
    is then `none`)"""
    with Dovecot() as dc:
        users = ["alice@example.test", "bob@example.test",
                 "carol@example.test"]
        for u in users:
            dc.add_user(u)
        with Server(domains=DOMAIN, delivery=dc.lmtp_unix,
                    lmtp_recipient_limit="50") as srv:
            data = (b"From: a@sender.test\r\nTo: alice@example.test\r\n"
                    b"Subject: multi\r\n\r\nhi\r\n")
            qid = send(srv, users, data)
            ids = set(dovecot_id(srv, qid, u) for u in users)
            assert_eq(len(ids), 1, "one Dovecot transaction: %r" % ids)
            tid = ids.pop()
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="all delivered")
            for u in users:
                got = dc.messages(u)
                assert_eq(len(got), 1, "one copy for %s" % u)
                m = got[0]
                assert_in(b"id " + tid.encode(), m,
                          "the transaction's id in Dovecot's Received:")
                assert_eq(b"bob@" in m or b"carol@" in m, False,
                          "no Bcc recipient in %s's copy" % u)
                assert_eq(b"Delivered-To:" in m, False,
                          "no Delivered-To with several recipients")
                assert_eq(re.search(rb"\bfor <", m), None,
                          "no Received: for clause")
                assert_in(b"Return-Path: <a@sender.test>", m, "Return-Path")


def test_multi_dovecot_unwritable():
    """lmtp_recipient_limit = 50, carol's Maildir unwritable: Dovecot
    answers 4xx after the data for her only; bob and dave are delivered
    in the same transaction, once; carol is deferred, and after mxd -Q
    delivered, while bob and dave still have one copy each"""
    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        dc.add_user("dave@example.test")
        md = unwritable_maildir(dc, "carol@example.test")
        with Server(domains=DOMAIN, delivery=dc.lmtp_unix,
                    lmtp_recipient_limit="50",
                    delivery_retry_min="1h") as srv:
            qid = send(srv, ["bob@example.test", "carol@example.test",
                             "dave@example.test"], body("multi-defer"))
            srv.wait_log(r"qid=%s to=<carol@example.test> .*"
                         r"status=deferred \(4" % qid)
            assert_eq(dovecot_id(srv, qid, "bob@example.test"),
                      dovecot_id(srv, qid, "dave@example.test"),
                      "bob and dave in one transaction")
            out = qstate(srv, qid)
            assert_in("deferred, next try", out, "carol deferred in -q")
            assert_eq(len(dc.messages("bob@example.test")), 1, "bob once")
            assert_eq(len(dc.messages("dave@example.test")), 1, "dave once")
            os.chmod(md, 0o700)
            rc, out, err = run_mxd(["-Q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -Q: " + err)
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="queue file gone")
            assert_eq(len(dc.messages("carol@example.test")), 1, "carol")
            assert_eq((len(dc.messages("bob@example.test")),
                       len(dc.messages("dave@example.test"))), (1, 1),
                      "bob and dave still once")


def test_multi_mixed_replies():
    """one transaction, three recipients; after the dot the store says
    250, 452, 550 in RCPT order: ok@ is delivered, busy@ deferred, full@
    failed (dead/, the postmaster's notice); each has its log line and
    its state in mxd -q; the retry (mxd -Q) sends busy@ alone"""
    codes = {b"ok@example.test": b"250 2.0.0 ok",
             b"busy@example.test": b"452 4.2.2 over quota, try later",
             b"full@example.test": b"550 5.2.2 mailbox full"}
    store = ScriptStore(reply=lambda a: codes[a])
    tmp = tempfile.mkdtemp(prefix="mxdtest.")
    os.chmod(tmp, 0o777)
    try:
        with Server(domains=DOMAIN, delivery=store.target,
                    delivery_map=pm_map(tmp), lmtp_recipient_limit="50",
                    delivery_retry_min="1h") as srv:
            qid = send(srv, ["ok@example.test", "busy@example.test",
                             "full@example.test"], body("mixed"))
            srv.wait_log(r"qid=%s to=<ok@example.test> .*dsn=2\.0\.0 "
                         r"status=sent \(250 2\.0\.0 ok\)" % qid)
            srv.wait_log(r"qid=%s to=<busy@example.test> .*dsn=4\.2\.2 "
                         r"status=deferred \(452 4\.2\.2 over quota" % qid)
            srv.wait_log(r"qid=%s to=<full@example.test> .*dsn=5\.2\.2 "
                         r"status=bounced \(550 5\.2\.2 mailbox full\)"
                         % qid)
            srv.wait_log(r"qid=%s notice to=<postmaster@mx.test> .*"
                         r"status=sent" % qid)
            assert_eq([t["rcpts"] for t in store.tx],
                      [[b"ok@example.test", b"busy@example.test",
                        b"full@example.test"]], "one transaction of three")
            assert_eq(store.tx[0]["body"].startswith(b"Received: "), True,
                      "nothing prepended with several recipients")
            out = qstate(srv, qid)
            rows = {a: re.search(r"<%s>[^\n]*" % a, out)
                    for a in ("ok@example.test", "busy@example.test",
                              "full@example.test")}
            assert_in("delivered", rows["ok@example.test"].group(0),
                      "-q: ok delivered")
            assert_in("deferred, next try", rows["busy@example.test"].group(0),
                      "-q: busy deferred")
            assert_in("452 4.2.2", rows["busy@example.test"].group(0),
                      "-q: busy's last error")
            assert_in("failed", rows["full@example.test"].group(0),
                      "-q: full failed")
            assert_eq(os.path.exists(os.path.join(srv.spool, "dead",
                                                  qid + ".eml")), True,
                      "dead/")
            rc, out, err = run_mxd(["-Q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -Q: " + err)
            wait_until(lambda: len(store.tx) == 2, what="the retry")
            assert_eq(store.tx[1]["rcpts"], [b"busy@example.test"],
                      "only busy@ again")
            assert_eq(store.tx[1]["body"].split(b"\r\n", 1)[0],
                      b"Delivered-To: busy@example.test",
                      "one recipient: mxd's Delivered-To")
            assert_eq(store.rcpts_of(b"ok@example.test"), 1, "ok@ once")
            assert_eq(store.rcpts_of(b"full@example.test"), 1, "full@ once")
    finally:
        store.close()


def test_multi_drop_after_first_reply():
    """the store closes the connection after the first of three replies
    after the dot: the first recipient is delivered and recorded, the
    other two deferred (lost the store); mxd -Q sends only those two, in
    one transaction, and the message is done with each delivered once"""
    store = ScriptStore(drop_after=1)
    try:
        with Server(domains=DOMAIN, delivery=store.target,
                    lmtp_recipient_limit="50",
                    delivery_retry_min="1h") as srv:
            rcpts = ["a@example.test", "b@example.test", "c@example.test"]
            qid = send(srv, rcpts, body("drop"))
            srv.wait_log(r"qid=%s to=<a@example.test> .*status=sent" % qid)
            for a in rcpts[1:]:
                srv.wait_log(r"qid=%s to=<%s> .*dsn=4\.4\.2 "
                             r"status=deferred \(lost the store" % (qid, a))
            out = qstate(srv, qid)
            assert_in("delivered", re.search(r"<a@example.test>[^\n]*",
                                             out).group(0), "-q: a")
            for a in rcpts[1:]:
                assert_in("deferred", re.search(r"<%s>[^\n]*" % a,
                                                out).group(0), "-q: " + a)
            rc, out, err = run_mxd(["-Q", "-o", "spool_dir=" + srv.spool])
            assert_eq(rc, 0, "mxd -Q: " + err)
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="queue file gone")
            assert_eq([t["rcpts"] for t in store.tx],
                      [[a.encode() for a in rcpts],
                       [a.encode() for a in rcpts[1:]]],
                      "the retry sends b and c only, together")
    finally:
        store.close()


def test_multi_limit_two():
    """lmtp_recipient_limit = 2 and five recipients: three transactions
    of 2, 2 and 1 recipients on one connection (RSET between them); the
    one-recipient copy has mxd's Delivered-To, the others none"""
    store = ScriptStore()
    try:
        with Server(domains=DOMAIN, delivery=store.target,
                    lmtp_recipient_limit="2") as srv:
            rcpts = ["r%d@example.test" % n for n in range(1, 6)]
            qid = send(srv, rcpts, body("limit"))
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="all delivered")
            for a in rcpts:
                srv.wait_log(r"qid=%s to=<%s> .*status=sent" % (qid, a))
            assert_eq([len(t["rcpts"]) for t in store.tx], [2, 2, 1],
                      "three transactions")
            assert_eq(sorted(a for t in store.tx for a in t["rcpts"]),
                      [a.encode() for a in rcpts], "each recipient once")
            assert_eq([t["body"].startswith(b"Delivered-To: ")
                       for t in store.tx], [False, False, True],
                      "Delivered-To only when alone")
            assert_eq(store.sessions, 1, "one connection")
    finally:
        store.close()


def test_multi_store_rcpt_limit():
    """a store that takes two recipients per transaction and says 452
    4.5.3 to the third RCPT (RFC 5321 4.5.3.1.10): the rest go in the
    next transactions at once, nobody is deferred, each gets one copy"""
    store = ScriptStore(max_rcpts=2)
    try:
        with Server(domains=DOMAIN, delivery=store.target,
                    lmtp_recipient_limit="50",
                    delivery_retry_min="1h") as srv:
            rcpts = ["r%d@example.test" % n for n in range(1, 6)]
            qid = send(srv, rcpts, body("store-limit"))
            wait_until(lambda: not os.path.exists(os.path.join(
                srv.spool, "queue", qid + ".eml")), what="all delivered")
            assert_eq([t["rcpts"] for t in store.tx],
                      [[b"r1@example.test", b"r2@example.test"],
                       [b"r3@example.test", b"r4@example.test"],
                       [b"r5@example.test"]], "2, 2, 1")
            assert_eq("status=deferred" in srv.log_text(), False,
                      "nobody deferred")
    finally:
        store.close()


def test_multi_kill9_repeats_one_transaction():
    """lmtp_recipient_limit = 2, four recipients: the first transaction
    (r1, r2) ends and is recorded; mxd is killed (kill -9) while the
    second (r3, r4) has had one of its two replies.  The next mxd on the
    same spool sends r3 and r4 again, together, and never r1 or r2: a
    crash repeats only the transaction under way"""
    store = ScriptStore(hang=(2, 1))
    opts = dict(domains=DOMAIN, delivery=store.target,
                lmtp_recipient_limit="2", delivery_retry_min="1h")
    rcpts = ["r%d@example.test" % n for n in range(1, 5)]
    try:
        srv = Server(**opts)
        srv.start()
        qid = send(srv, rcpts, body("kill9"))
        wait_until(store.hung.is_set, what="the second transaction")
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        srv.stopped, srv.rc = True, 0
        with open(os.path.join(srv.spool, "state", qid)) as f:
            lines = [l.split()[1:3] for l in f]
        assert_eq(lines, [["0", "delivered"], ["1", "delivered"]],
                  "r1 and r2 recorded before the second transaction, r3 "
                  "(replied to) and r4 not")
        store.release.set()
        with Server(spool=srv.spool, **opts) as again:
            wait_until(lambda: not os.path.exists(os.path.join(
                again.spool, "queue", qid + ".eml")), what="all delivered")
        assert_eq([t["rcpts"] for t in store.tx],
                  [[b"r1@example.test", b"r2@example.test"],
                   [b"r3@example.test", b"r4@example.test"],
                   [b"r3@example.test", b"r4@example.test"]],
                  "only the transaction under way again")
    finally:
        store.release.set()
        store.close()


if __name__ == "__main__":
    run(globals())

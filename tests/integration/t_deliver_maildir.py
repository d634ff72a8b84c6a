#!/usr/bin/env python3
"""
t_deliver_maildir.py: delivery = maildir:/path/%d/%u.  Messages land in
new/ (tmp/ left empty, cur/ untouched), read back with Python's
mailbox.Maildir byte for byte (LF line ends, as Maildir readers
expect): Return-Path and Delivered-To, then the spool file from mxd's
Received: on; bob+tag goes to bob's Maildir; a
local part with `/` or a leading `.` never leaves its domain's
directory; a delivery_map line sends one domain to another Maildir and
another to keep (it stays in the spool for POP3); SIGHUP from keep to
a Maildir starts delivery; Dovecot itself reads
the Maildir mxd wrote, over IMAP.
"""

import imaplib
import mailbox
import os
import pwd
import re
import signal
import tempfile
import time

from mxdtest import Server, check, run_mxd, assert_eq, assert_in, \
    thread_nices, \
    wait_until, run, Skip
from mxdtest.deliverlog import DELAYS, check_delays
from mxdtest.dovecot import Dovecot

DOMAIN = "example.test"


def send(srv, rcpts, data, sender="a@sender.test"):
    with srv.client() as c:
        c.expect("EHLO client.test", 250)
        return c.mail_tx(sender, rcpts, data)


def msg(subject):
    return (b"From: a@sender.test\r\nSubject: " + subject.encode() +
            b"\r\n\r\nbody line\r\n..dot line\r\n")


def tmpdir():
    d = tempfile.mkdtemp(prefix="mxdtest.md.")
    os.chmod(d, 0o777)          # mxd runs as nobody when started as root
    return d


def gone(srv, qid):
    return not os.path.exists(os.path.join(srv.spool, "queue",
                                           qid + ".eml"))


def test_maildir_bytes():
    """new/ holds Return-Path, Delivered-To, then mxd's Received: and the
    message as sent; tmp/ is empty; cur/ exists and is empty; the spool
    file goes; bob+tag is bob's"""
    d = tmpdir()
    with Server(domains=DOMAIN, delivery="maildir:%s/%%d/%%u" % d,
                recipient_delimiter="+") as srv:
        data = msg("md")
        qid = send(srv, ["bob@example.test", "Bob+news@example.test"], data)
        wait_until(lambda: gone(srv, qid), what="delivered, removed")
        md = os.path.join(d, "example.test", "bob")
        box = mailbox.Maildir(md, factory=None, create=False)
        keys = box.keys()
        assert_eq(len(keys), 1, "bob and Bob+news are one mailbox, once")
        raw = box.get_bytes(keys[0])
        # Maildir files have LF line ends (as Postfix and Dovecot write
        # them); otherwise the octets are the client's.
        want_head = (b"Return-Path: <a@sender.test>\n"
                     b"Delivered-To: bob@example.test\n"
                     b"Received: from client.test ([127.0.0.1])\n")
        assert_eq(raw[:len(want_head)], want_head, "prepended headers")
        assert_in(b"id " + qid.encode(), raw, "queue ID in Received:")
        assert_eq(raw.endswith(b"\n" + data.replace(b"\r\n..",
                                                      b"\r\n.").replace(
                                                          b"\r\n", b"\n")),
                  True,
                  "the message as sent: %r" % raw)
        assert_eq(os.listdir(os.path.join(md, "tmp")), [], "tmp/ empty")
        assert_eq(os.listdir(os.path.join(md, "cur")), [], "cur/ empty")
        name = os.listdir(os.path.join(md, "new"))[0]
        assert_in(",S=%d" % len(raw), name, "S= size in the name")
        check_delays(srv.wait_log(
            r"qid=%s to=<bob@example.test> relay=maildir:\S+ %s "
            r"dsn=2\.0\.0 status=sent" % (qid, DELAYS)))


def test_workers_yield_to_intake():
    """the delivery workers (threads named mxd-deliver) run at nice 10,
    the rest of mxd at 0; with delivery = keep there are none"""
    d = tmpdir()
    with Server(domains=DOMAIN, delivery="maildir:%s/%%d/%%u" % d,
                delivery_concurrency=3) as srv:
        # A worker names itself, then sets its nice, once it runs: wait
        # (bounded) for the three to have done both.
        wait_until(lambda: thread_nices(srv.proc.pid).get("mxd-deliver") ==
                   [10, 10, 10], what="three workers named, at nice 10")
        t = thread_nices(srv.proc.pid)
        assert_eq(t.get("mxd-deliver"), [10, 10, 10], "workers: %r" % t)
        assert_eq(set(t.get("mxd", [])), {0}, "the loop and the rest")
    with Server(domains=DOMAIN) as srv:
        assert "mxd-deliver" not in thread_nices(srv.proc.pid), "keep: none"


def test_check_maildir_writable():
    """mxd -t refuses a maildir target the run-as user cannot create
    mailboxes under, naming the directory, the user and its mode; the
    same tree made writable passes"""
    if os.geteuid() != 0:
        raise Skip("needs root (to check as user nobody)")
    d = tempfile.mkdtemp(prefix="mxdtest.")
    os.chmod(d, 0o755)
    root = os.path.join(d, "mail")
    os.mkdir(root, 0o755)
    args = ["-t", "-o", "domains=example.org", "-o", "user=nobody",
            "-o", "spool_dir=" + os.path.join(d, "spool")]
    rc, out, err = run_mxd(args + ["-o", "delivery=maildir:%s/%%d/%%u"
                                   % os.path.join(root, "not", "yet")])
    assert_eq(rc, 1, "exit status")
    assert_in("the mailboxes go under %s: not writable by user nobody"
              % root, err, "why")
    assert_in("mode 0755, owner root", err, "mode and owner")
    os.chown(root, pwd.getpwnam("nobody").pw_uid, -1)
    rc, out, err = run_mxd(args + ["-o", "delivery=maildir:%s/%%d/%%u"
                                   % root])
    assert_eq(rc, 0, "exit status once writable: %s" % err)


def test_maildir_escape():
    """a quoted local part with `/` and `..` stays inside its
    domain's directory: no `..`, no new directory level"""
    d = tmpdir()
    with Server(domains=DOMAIN, delivery="maildir:%s/%%d/%%u" % d) as srv:
        qid = send(srv, ['"../../etc"@example.test', '".x/y"@example.test'],
                   msg("evil"))
        wait_until(lambda: gone(srv, qid), what="delivered")
        names = sorted(os.listdir(d))
        assert_eq(names, ["example.test"], "nothing beside the domain")
        inside = sorted(os.listdir(os.path.join(d, "example.test")))
        # The quotes stay (a local part is as the client wrote it); `/`
        # becomes `_`, so no name is `..` and no new level is made.
        assert_eq(inside, ['".._.._etc"', '".x_y"'], "escaped names")
        for n in inside:
            assert_eq(len(os.listdir(os.path.join(d, "example.test", n,
                                                  "new"))), 1, n)


def test_delivery_map():
    """delivery_map: @other.test to its own Maildir, carol@ kept in the
    spool (keep: POP3's), lists@ into bob's Maildir++ folder .Lists;
    the rest by delivery"""
    d = tmpdir()
    mp = os.path.join(d, "map")
    with open(mp, "w") as f:
        f.write("# overrides\n@other.test maildir:%s/other/%%u\n"
                "carol@example.test keep\n"
                "lists@example.test maildir:%s/main/example.test/bob/"
                ".Lists\n" % (d, d))
    os.chmod(mp, 0o644)
    with Server(domains="example.test other.test",
                delivery="maildir:%s/main/%%d/%%u" % d,
                delivery_map=mp) as srv:
        qid = send(srv, ["bob@example.test", "zed@other.test",
                         "carol@example.test", "lists@example.test"],
                   msg("map"))
        wait_until(lambda: os.path.isdir(os.path.join(d, "other", "zed",
                                                      "new")) and
                   os.listdir(os.path.join(d, "other", "zed", "new")),
                   what="zed delivered")
        wait_until(lambda: os.path.isdir(os.path.join(
            d, "main", "example.test", "bob", "new")) and os.listdir(
            os.path.join(d, "main", "example.test", "bob", "new")),
            what="bob delivered")
        srv.wait_log(r"qid=%s to=<zed@other.test> .*status=sent" % qid)
        assert_eq(gone(srv, qid), False, "kept for carol (keep)")
        srv.wait_log(r"qid=%s to=<lists@example.test> .*status=sent" % qid)
        bob = mailbox.Maildir(os.path.join(d, "main", "example.test",
                                           "bob"), factory=None,
                              create=False)
        assert_eq(bob.list_folders(), ["Lists"], "a Maildir++ folder")
        assert_eq(len(bob.get_folder("Lists")), 1, "lists@ in .Lists")
        assert_eq(os.path.exists(os.path.join(
            d, "main", "example.test", "bob", ".Lists", "maildirfolder")),
            True, "maildirfolder file")
        assert_eq(os.path.exists(os.path.join(d, "main", "example.test",
                                              "carol")), False,
                  "carol not delivered")
    rc, out, err = run_mxd(["-t", "-o", "delivery_map=" + mp])
    assert_in("@other.test -> maildir:", out, "mxd -t shows the map")


def test_dovecot_reads_it():
    """Dovecot, with mail_location on the Maildir mxd wrote, serves the
    message over IMAP: the same octets as in new/"""
    with Dovecot(imap=True) as dc:
        dc.add_user("bob@example.test")
        home = dc.users["bob@example.test"]
        os.makedirs(home, exist_ok=True)
        os.chown(home, dc.uid, dc.gid)
        target = "maildir:%s/mail/%%u@%%d/Maildir" % dc.dir
        with Server(domains=DOMAIN, delivery=target) as srv:
            qid = send(srv, ["bob@example.test"], msg("imap"))
            wait_until(lambda: gone(srv, qid), what="delivered")
        ondisk = dc.messages("bob@example.test")
        assert_eq(len(ondisk), 1, "one message in new/")
        im = imaplib.IMAP4("127.0.0.1", dc.imap_port)
        try:
            im.login("bob@example.test", "secret")
            typ, data = im.select("INBOX")
            assert_eq((typ, data[0]), ("OK", b"1"), "one message")
            typ, data = im.fetch("1", "(BODY.PEEK[])")
            assert_eq(typ, "OK", "fetch")
            assert_eq(data[0][1], ondisk[0].replace(b"\n", b"\r\n"),
                      "IMAP gives mxd's octets (CRLF on the wire)")
        finally:
            im.logout()


def test_reload_starts_delivery():
    """started with delivery = keep, mail stays in the spool; the file
    changed to a Maildir and SIGHUP: the queued message and a new one
    are delivered"""
    d = tmpdir()
    conf = os.path.join(d, "mxd.conf")

    def write(delivery):
        with open(conf, "w") as f:
            f.write("domains = example.test\ndelivery = %s\n" % delivery)
        os.chmod(conf, 0o644)

    write("keep")
    with Server(args=["-c", conf]) as srv:
        q1 = send(srv, ["bob@example.test"], msg("before"))
        srv.wait_log(r"qid=%s .*queued" % q1)
        assert_eq(gone(srv, q1), False, "kept")
        write("maildir:%s/%%d/%%u" % d)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reloaded configuration")
        q2 = send(srv, ["bob@example.test"], msg("after"))
        wait_until(lambda: gone(srv, q1) and gone(srv, q2),
                   what="both delivered after SIGHUP")
        new = os.path.join(d, "example.test", "bob", "new")
        assert_eq(len(os.listdir(new)), 2, "two in bob's Maildir")


def test_relayed_mail_stays():
    """an authenticated client's mail for another domain is not ours to
    deliver: that recipient stays in the spool (keep) while the local
    one is delivered"""
    from tlstest import TlsServer
    from mxdtest.smtp import Client
    import base64
    d = tmpdir()
    with TlsServer(tls=False, sasl=True, auth_plaintext="loopback",
                   domains=DOMAIN,
                   delivery="maildir:%s/%%d/%%u" % d) as srv:
        with Client(srv.port) as c:
            c.expect("EHLO client.test", 250)
            ir = base64.b64encode(b"\0alice@mx.test\0secret").decode()
            c.expect("AUTH PLAIN " + ir, 235, "2.7.0")
            qid = c.mail_tx("alice@mx.test", ["bob@example.test",
                                             "far@elsewhere.test"],
                            msg("relay"))
        wait_until(lambda: os.path.isdir(os.path.join(
            d, "example.test", "bob", "new")) and os.listdir(os.path.join(
                d, "example.test", "bob", "new")), what="bob delivered")
        srv.wait_log(r"qid=%s to=<bob@example.test> .*status=sent" % qid)
        assert_eq(gone(srv, qid), False, "kept for far@elsewhere.test")
        assert_eq(os.listdir(d), ["example.test"], "nothing for elsewhere")


def test_intake_first_delivery_goes_on():
    """delivery makes way for busy SMTP intake (runner.c: one message a
    second while it lasts) but never stops: with a client sending
    without pause, three copies reach the Maildir before it stops; after
    it, every message is delivered, once, and the spool empties"""
    d = tmpdir()
    with Server(domains=DOMAIN, delivery="maildir:%s/%%d/%%u" % d,
                spool_sync="no") as srv:
        new = os.path.join(d, DOMAIN, "bob", "new")
        sent, seen = [], False
        deadline = time.monotonic() + 120
        with srv.client() as c:
            c.expect("EHLO client.test", 250)
            while len(sent) < 20000 and time.monotonic() < deadline:
                sent.append(c.mail_tx("a@sender.test", ["bob@example.test"],
                                      msg("n%d" % len(sent))))
                # The first goes at once (nothing was delivered in the
                # last second); the next ones only by the bound.
                if os.path.isdir(new) and len(os.listdir(new)) >= 3:
                    seen = True
                    break
            c.expect("QUIT", 221)
        assert seen, "under 3 delivered during %d messages of intake" % \
            len(sent)
        wait_until(lambda: all(gone(srv, q) for q in sent), timeout=120,
                   what="every message delivered")
        box = mailbox.Maildir(os.path.dirname(new), factory=None,
                              create=False)
        qids = sorted(re.search(rb"id ([0-9A-F]{16})",
                                box.get_bytes(k)).group(1).decode()
                      for k in box.keys())
        assert_eq(qids, sorted(sent), "each message once")


if __name__ == "__main__":
    run(globals())

#!/usr/bin/env python3
"""
t_deliver_crash.py: kill -9 of mxd during delivery to Dovecot over LMTP,
20 times in a loop, while a client sends continuously (every message to
bob and alice).  After each kill, Dovecot is stopped and every process
of it waited for (a copy it was still saving when mxd died then lands
before the count, never behind it), the state files are read, and a
recipient whose state says `delivered` (or whose message is already
gone from queue/) has its copies counted; Dovecot starts again before
the next mxd.  At the end, with mxd started again and the queue empty:
every message that got a 250 is in both mailboxes (zero lost), and no
recipient recorded as delivered got another copy afterwards (zero
delivered twice after a 250 was recorded).  Duplicates from a kill
between the store's 250 and mxd's state write are allowed, counted and
printed.

The same loop with delivery = maildir:/path/%d/%u (no Dovecot: mxd
writes the files itself), messages to bob, to alice and to both, every
third one large so that kills land in the middle of a write too: zero
lost, zero copies after `delivered` was recorded, and every file in
new/ (read with mailbox.Maildir) is complete byte for byte against what
was sent, for a recipient of that message (a Bcc never shows up in the
other's Maildir).  What a kill leaves in tmp/ (a partial file; a whole
one not linked yet; one already linked into new/ whose unlink was cut
off) is counted; readers never see it, and mxd removes its own tmp/
files once they are 36 hours old, as the Maildir convention says.  A
kill while mxd makes a new Maildir can leave it without cur/ or new/
(counted; it holds no mail, and the delivery at the next start, of the
message that made it, completes it).
"""

import mailbox
import os
import re
import shutil
import tempfile
import threading
import time

from mxdtest import Server, assert_eq, wait_until, run
from mxdtest.smtp import Client, queued_qid
from mxdtest.dovecot import Dovecot

USERS = ["bob@example.test", "alice@example.test"]
ROUNDS = int(os.environ.get("MXD_CRASH_ROUNDS", "20"))
QID_IN = re.compile(rb"\(mxd\) with \S+ id ([0-9A-F]{16})")


def lmtp_message(n, rnd):
    """Message n of round rnd of the LMTP stream: to everyone, small."""
    return ([0, 1], b"Subject: load %d\r\nMessage-ID: <%d.%d@load>\r\n"
            b"\r\nbody\r\n" % (n, rnd, n))


def sender(port, stop, accepted, lock, make=lmtp_message, rnd=0,
           users=USERS):
    """Send make(n, rnd) messages until stop is set or mxd goes away;
    note each 250 in accepted (qid -> (recipient numbers, data))."""
    n = 0
    while not stop.is_set():
        try:
            with Client(port, timeout=10) as c:
                c.expect("EHLO load.test", 250)
                while not stop.is_set():
                    n += 1
                    rcpts, data = make(n, rnd)
                    c.expect("MAIL FROM:<load@sender.test>", 250)
                    for i in rcpts:
                        c.expect("RCPT TO:<%s>" % users[i], 250)
                    c.expect("DATA", 354)
                    c.send(data + b".\r\n")
                    qid = queued_qid(c.reply())
                    with lock:
                        accepted[qid] = (rcpts, data)
        except Exception:
            return      # killed: the last message may be unanswered


def copies(dc):
    """(qid, recipient number) -> copies in the mailboxes."""
    out = {}
    for i, u in enumerate(USERS):
        for m in dc.messages(u):
            g = QID_IN.search(m)
            if g:
                k = (g.group(1).decode(), i)
                out[k] = out.get(k, 0) + 1
    return out


def delivered_in_state(spool):
    """(qid, envelope recipient number) that state/ says are delivered."""
    out = set()
    d = os.path.join(spool, "state")
    for qid in os.listdir(d) if os.path.isdir(d) else []:
        try:
            lines = open(os.path.join(d, qid), "rb").read().split(b"\n")
        except FileNotFoundError:
            continue
        for line in lines[:-1]:         # a torn last line does not count
            f = line.split(b" ")
            if len(f) >= 3 and f[2] == b"delivered":
                out.add((qid, int(f[1])))
    return out


def children(pid):
    """Every process below pid (from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def quiesce(dc):
    """Stop Dovecot and wait for every process of it: a copy it was
    still saving when mxd died is then in the mailbox (or never will
    be), so the counts that follow cannot change behind the test."""
    procs = children(dc.proc.pid)
    dc.stop()
    wait_until(lambda: not any(os.path.exists("/proc/%d" % p)
                               for p in procs),
               timeout=30, what="Dovecot's processes gone")


def kill_round(srv, accepted, lock, message, rnd, more):
    """One round of a kill -9 loop: start srv, send with sender() until
    `more` further messages got a 250 (a count, not a time: deliveries
    are under way then), SIGKILL mxd, stop the sender.  srv's spool."""
    srv.start()
    stop = threading.Event()
    t = threading.Thread(target=sender, args=(srv.port, stop, accepted,
                                              lock, message, rnd))
    t.start()
    with lock:
        base = len(accepted)
    wait_until(lambda: len(accepted) >= base + more, timeout=60,
               what="round %d load" % rnd)
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    srv.stopped, srv.rc = True, 0
    stop.set()
    t.join(timeout=30)
    return srv.spool


def test_kill9_loop():
    """20 kill -9 during delivery under load: zero lost, zero second
    copies after `delivered` was recorded"""
    with Dovecot() as dc:
        for u in USERS:
            dc.add_user(u)
        accepted, lock = {}, threading.Lock()
        recorded = {}           # (qid, n) -> copies when seen delivered
        spool = None
        for rnd in range(ROUNDS):
            srv = Server(spool=spool, domains="example.test",
                         delivery=dc.lmtp_unix, delivery_retry_min="1s",
                         delivery_concurrency=2)
            spool = kill_round(srv, accepted, lock, lmtp_message, rnd,
                               2 + rnd % 5)
            quiesce(dc)
            now = copies(dc)
            done = delivered_in_state(spool)
            # A message gone from queue/ had every recipient delivered
            # (recorded) first: mxd removes it only then.
            qdir = os.path.join(spool, "queue")
            with lock:
                for q in accepted:
                    if not os.path.exists(os.path.join(qdir, q + ".eml")):
                        done |= {(q, 0), (q, 1)}
            for k in done:
                if k not in recorded:
                    recorded[k] = now.get(k, 0)
            dc.start()
        # The last mxd finishes the queue.
        with Server(spool=spool, domains="example.test",
                    delivery=dc.lmtp_unix, delivery_retry_min="1s") as srv:
            qdir = os.path.join(spool, "queue")
            wait_until(lambda: not os.listdir(qdir), timeout=120,
                       what="queue empty after the last start")
        final = copies(dc)
        lost = sorted(k for q in accepted for k in
                      ((q, 0), (q, 1)) if final.get(k, 0) == 0)
        dups = sorted(k for k, n in final.items() if n > 1)
        again = sorted(k for k, n in recorded.items()
                       if final.get(k, 0) != n)
        print("# lmtp: %d kills, %d messages got 250, %d copies, %d "
              "recorded delivered at a kill, %d lost, %d duplicates (kill "
              "between the store's 250 and the state write): %r" %
              (ROUNDS, len(accepted), sum(final.values()), len(recorded),
               len(lost), len(dups), dups[:10]))
        assert_eq(lost, [], "messages lost")
        assert_eq(again, [], "copies after `delivered` was recorded")
        assert_eq(all(v >= 1 for v in recorded.values()), True,
                  "recorded delivered means in the mailbox")


# -- the same loop into Maildirs ---------------------------------------------

# Recipient numbers (into USERS) of message n: one, both, the other, both
# the other way round; both is one message with two mailboxes.
MD_ROTA = [[0], [0, 1], [1], [1, 0]]
MD_BIG = b"".join(b"%06d %s\r\n" % (k, b"x" * 64) for k in range(3000))
MSGID_IN = re.compile(rb"\nMessage-ID: <([^>]*)>")
HALF_MADE = set()      # Maildirs a kill left without all of tmp/ new/ cur/


def md_message(n, rnd):
    """Message n of round rnd of the Maildir stream: MD_ROTA's
    recipients; every third one ~200 KB, so a kill may cut a write."""
    body = MD_BIG if n % 3 == 0 else b"body %d\r\n" % n
    return (MD_ROTA[n % 4], b"Subject: md %d.%d\r\nMessage-ID: "
            b"<%d.%d@md>\r\n\r\n%s" % (rnd, n, rnd, n, body))


def md_dir(base, user):
    """The Maildir of user under maildir:base/%d/%u."""
    local, domain = user.split("@")
    return os.path.join(base, domain, local)


def md_sent(msgid):
    """What was sent with Message-ID <rnd.n@md> (also a message whose 250
    the kill cut off): (recipient numbers, data), or None."""
    g = re.fullmatch(rb"(\d+)\.(\d+)@md", msgid)
    return md_message(int(g.group(2)), int(g.group(1))) if g else None


def md_copies(base, bad):
    """(qid, user number) -> copies in the Maildirs, read with
    mailbox.Maildir; every file that is not the complete message as sent
    to one of its recipients (or whose ,S= is not its size) goes to bad."""
    out = {}
    for i, u in enumerate(USERS):
        if not os.path.isdir(md_dir(base, u)):
            continue
        subs = [os.path.join(md_dir(base, u), s) for s in
                ("tmp", "new", "cur")]
        if not all(os.path.isdir(d) for d in subs):
            # A kill while mxd made the Maildir: nothing may be in it.
            if any(os.listdir(d) for d in subs[1:] if os.path.isdir(d)):
                bad.append((u, "mail in a half-made Maildir"))
            HALF_MADE.add(u)
            continue
        box = mailbox.Maildir(md_dir(base, u), factory=None, create=False)
        for key in box.keys():
            raw = box.get_bytes(key)
            g, m = QID_IN.search(raw), MSGID_IN.search(raw)
            want = md_sent(m.group(1)) if m else None
            size = re.search(r",S=(\d+)", key)
            head = (b"Return-Path: <load@sender.test>\nDelivered-To: %s\n"
                    b"Received: " % u.encode())
            if g is None or want is None or i not in want[0] or \
                    not raw.startswith(head) or size is None or \
                    int(size.group(1)) != len(raw) or not raw.endswith(
                        b"\n" + want[1].replace(b"\r\n", b"\n")):
                bad.append((u, key, raw[:200], len(raw)))
                continue
            k = (g.group(1).decode(), i)
            out[k] = out.get(k, 0) + 1
    return out


def md_tmp_files(base):
    """Every file in a tmp/ of the Maildirs, and how many are links of a
    file in new/ (a kill between link(2) into new/ and the unlink)."""
    files, linked = [], 0
    for u in USERS:
        d = os.path.join(md_dir(base, u), "tmp")
        for name in os.listdir(d) if os.path.isdir(d) else []:
            files.append(os.path.join(d, name))
            if os.stat(files[-1]).st_nlink > 1:
                linked += 1
    return files, linked


def test_kill9_loop_maildir():
    """20 kill -9 during Maildir delivery under load (one and two
    recipients, large and small): zero lost, zero second copies after
    `delivered` was recorded, every file in new/ complete; mxd's tmp/
    leftovers go once 36 hours old"""
    base = tempfile.mkdtemp(prefix="mxdtest.crashmd.")
    os.chmod(base, 0o777)       # mxd runs as nobody when started as root
    target = "maildir:%s/%%d/%%u" % base
    accepted, lock = {}, threading.Lock()
    recorded = {}           # (qid, user number) -> copies when delivered
    bad, spool = [], None
    for rnd in range(ROUNDS):
        srv = Server(spool=spool, domains="example.test", delivery=target,
                     delivery_retry_min="1s", delivery_concurrency=2)
        spool = kill_round(srv, accepted, lock, md_message, rnd,
                           1 + rnd % 6)
        # mxd is gone with all its threads: nothing writes any more.
        now = md_copies(base, bad)
        with lock:
            numbers = {q: v[0] for q, v in accepted.items()}
        done = {(q, numbers[q][k]) for q, k in delivered_in_state(spool)
                if q in numbers and k < len(numbers[q])}
        qdir = os.path.join(spool, "queue")
        for q, rc in numbers.items():
            if not os.path.exists(os.path.join(qdir, q + ".eml")):
                done |= {(q, i) for i in rc}
        for k in done:
            if k not in recorded:
                recorded[k] = now.get(k, 0)
    # The last mxd finishes the queue.
    with Server(spool=spool, domains="example.test", delivery=target,
                delivery_retry_min="1s") as srv:
        qdir = os.path.join(spool, "queue")
        wait_until(lambda: not os.listdir(qdir), timeout=120,
                   what="queue empty after the last start")
    final = md_copies(base, bad)
    lost = sorted((q, i) for q, (rc, _) in accepted.items() for i in rc
                  if final.get((q, i), 0) == 0)
    dups = sorted(k for k, n in final.items() if n > 1)
    again = sorted(k for k, n in recorded.items() if final.get(k, 0) != n)
    files, linked = md_tmp_files(base)
    print("# maildir: %d kills, %d messages got 250 (%d to two mailboxes), "
          "%d copies, %d recorded delivered at a kill, %d lost, %d "
          "duplicates (kill between the link into new/ and the state "
          "write): %r" % (ROUNDS, len(accepted),
                          sum(1 for v in accepted.values() if len(v[0]) > 1),
                          sum(final.values()), len(recorded), len(lost),
                          len(dups), dups[:10]))
    print("# maildir tmp/ left by kills: %d files, %d of them already "
          "linked into new/ (kill between link and unlink); Maildirs seen "
          "half-made (no mail in them yet): %d" %
          (len(files), linked, len(HALF_MADE)))
    assert_eq(bad, [], "files in new/ that are not a complete copy")
    assert_eq(lost, [], "messages lost")
    assert_eq(again, [], "copies after `delivered` was recorded")
    assert_eq(all(v >= 1 for v in recorded.values()), True,
              "recorded delivered means in the Maildir")
    md_tmp_cleanup(base, target, files)
    shutil.rmtree(base, ignore_errors=True)     # kept when a check fails


def md_tmp_cleanup(base, target, files):
    """Once 36 hours old, the tmp/ files the kills left are removed by
    the next delivery into that Maildir; a fresh one (another writer's,
    under way) stays."""
    old = time.time() - 37 * 3600
    for f in files:
        os.utime(f, (old, old))
    fresh = []
    for u in USERS:
        os.makedirs(os.path.join(md_dir(base, u), "tmp"), exist_ok=True)
        fresh.append(os.path.join(md_dir(base, u), "tmp",
                                  "1.M1P1.other-writer"))
        open(fresh[-1], "wb").close()
    with Server(domains="example.test", delivery=target) as srv:
        with srv.client() as c:
            c.expect("EHLO client.test", 250)
            qid = c.mail_tx("a@sender.test", USERS,
                            b"Subject: after\r\n\r\nbody\r\n")
        qdir = os.path.join(srv.spool, "queue")
        wait_until(lambda: not os.path.exists(os.path.join(qdir, qid +
                                                           ".eml")),
                   what="delivered after the kills")
    assert_eq(sorted(md_tmp_files(base)[0]), sorted(fresh),
              "tmp/ after a delivery: only the fresh file")


if __name__ == "__main__":
    run(globals())

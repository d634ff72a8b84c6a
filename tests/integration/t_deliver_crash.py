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
"""

import os
import re
import threading

from mxdtest import Server, assert_eq, wait_until, run
from mxdtest.smtp import Client, queued_qid
from mxdtest.dovecot import Dovecot

USERS = ["bob@example.test", "alice@example.test"]
ROUNDS = int(os.environ.get("MXD_CRASH_ROUNDS", "20"))
QID_IN = re.compile(rb"\(mxd\) with \S+ id ([0-9A-F]{16})")


def sender(port, stop, accepted, lock):
    """Send messages until stop is set or mxd goes away; note each 250."""
    n = 0
    while not stop.is_set():
        try:
            with Client(port, timeout=10) as c:
                c.expect("EHLO load.test", 250)
                while not stop.is_set():
                    n += 1
                    c.expect("MAIL FROM:<load@sender.test>", 250)
                    for u in USERS:
                        c.expect("RCPT TO:<%s>" % u, 250)
                    c.expect("DATA", 354)
                    c.send(b"Subject: load %d\r\nMessage-ID: <%d.%d@load>"
                           b"\r\n\r\nbody\r\n.\r\n" % (n, port, n))
                    qid = queued_qid(c.reply())
                    with lock:
                        accepted.add(qid)
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
    """(qid, recipient number) that state/ says are delivered."""
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


def test_kill9_loop():
    """20 kill -9 during delivery under load: zero lost, zero second
    copies after `delivered` was recorded"""
    with Dovecot() as dc:
        for u in USERS:
            dc.add_user(u)
        accepted, lock = set(), threading.Lock()
        recorded = {}           # (qid, n) -> copies when seen delivered
        spool = None
        for rnd in range(ROUNDS):
            srv = Server(spool=spool, domains="example.test",
                         delivery=dc.lmtp_unix, delivery_retry_min="1s",
                         delivery_concurrency=2)
            srv.start()
            spool = srv.spool
            stop = threading.Event()
            t = threading.Thread(target=sender,
                                 args=(srv.port, stop, accepted, lock))
            t.start()
            with lock:
                base = len(accepted)
            # Kill after a varying number of accepted messages (a count,
            # not a time), while deliveries are under way.
            wait_until(lambda: len(accepted) >= base + 2 + rnd % 5,
                       timeout=60, what="round %d load" % rnd)
            srv.proc.kill()
            srv.proc.wait(timeout=10)
            srv.stopped, srv.rc = True, 0
            stop.set()
            t.join(timeout=30)
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
        print("# %d messages got 250, %d copies, %d recorded delivered at "
              "a kill, %d duplicates (kill between the store's 250 and the "
              "state write): %r" % (len(accepted), sum(final.values()),
                                    len(recorded), len(dups), dups[:10]))
        assert_eq(lost, [], "messages lost")
        assert_eq(again, [], "copies after `delivered` was recorded")
        assert_eq(all(v >= 1 for v in recorded.values()), True,
                  "recorded delivered means in the mailbox")


if __name__ == "__main__":
    run(globals())

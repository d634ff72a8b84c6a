#!/usr/bin/env python3
"""
t_http_index_load.py: the index under load (issue 12).  Indexing runs on
two threads of their own: a parser at the least CPU priority (nice 19,
so that intake wins the CPU) and a writer at normal priority.  A burst
sent while the index cannot be written (its write lock held by this
test: the writer is starved deterministically, no sleeps, no signals)
is taken with 250s, and once the lock is released the index catches up
with every message, found again from queue/; a rebuild yields exactly
the spool's messages with the same summaries as a full parse; the
free-text search keeps the first 64 KiB of a body's text and finds
addresses as written (an IDN domain in Unicode).
"""

import email.message
import os
import sqlite3

from mxdtest import assert_eq, run, thread_nices, wait_until
from mxdtest.http import get_json, http_server, wait_total
from mxdtest.server import Server
from mxdtest.smtp import Client


def burst(srv, n, tag):
    """n messages on one SMTP session; their queue IDs (each got 250)."""
    ids = []
    with Client(srv.port) as c:
        c.expect("EHLO load.test", 250)
        for i in range(n):
            data = ("From: a@example.com\r\nTo: b@example.org\r\n"
                    "Subject: %s %d\r\n\r\nbody %s%dx\r\n" %
                    (tag, i, tag, i)).encode()
            ids.append(c.mail_tx("a@example.com", ["b@example.org"], data))
    return ids


def listed(srv):
    v = get_json(srv.http_port, "/api/v1/messages?limit=0")
    return sorted(m["ID"] for m in v["messages"])


def search(srv, q):
    import urllib.parse
    v = get_json(srv.http_port, "/api/v1/search?limit=0&query=" +
                 urllib.parse.quote(q))
    return sorted(m["ID"] for m in v["messages"])


def test_thread_priorities():
    """the parser thread (mxd-index) runs at nice 19, the writer
    (mxd-indexw) and the loop at 0; without the API there are none"""
    srv = http_server()
    # The threads name themselves, then set their nice, once they run.
    wait_until(lambda: thread_nices(srv.proc.pid).get("mxd-index") == [19]
               and "mxd-indexw" in thread_nices(srv.proc.pid),
               what="the index's threads named, the parser at nice 19")
    t = thread_nices(srv.proc.pid)
    assert_eq(t.get("mxd-index"), [19], "parser: nice 19 (%r)" % t)
    assert_eq(t.get("mxd-indexw"), [0], "writer: nice 0 (%r)" % t)
    assert_eq(t.get("mxd"), [0] * len(t.get("mxd", [])), "the rest")
    srv.stop()
    srv = Server().start()
    t = thread_nices(srv.proc.pid)
    assert "mxd-index" not in t and "mxd-indexw" not in t, t
    srv.stop()


def test_burst_while_index_locked():
    """the index's write lock held by another process: a burst of 150
    messages all get their 250, none is listed yet; the writer's
    transaction fails and says so; once the lock is released every one
    of them is listed (found again from queue/, the truth), each with
    its own text searchable"""
    srv = http_server()
    first = burst(srv, 1, "warm")
    wait_total(srv.http_port, 1)
    db = sqlite3.connect(os.path.join(srv.spool, "index.sqlite"),
                         timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")       # the write lock: the writer waits
    try:
        ids = burst(srv, 150, "locked")
        assert_eq(len(set(ids)), 150, "150 250s with queue IDs")
        srv.wait_log(r"index: \d+ messages not written; reconciling "
                     r"with queue/ in \d+ s")
        assert_eq(listed(srv), first, "none listed while locked")
    finally:
        db.execute("ROLLBACK")
        db.close()
    wait_total(srv.http_port, 151)
    assert_eq(listed(srv), sorted(first + ids), "every one listed")
    assert_eq(sorted(srv.messages()), sorted(first + ids), "= queue/")
    assert_eq(search(srv, "locked77x"), [ids[77]], "its own text")
    srv.stop()


def rich(i):
    """A message with display names, Cc, an attachment and X-Tags."""
    m = email.message.EmailMessage()
    m["From"] = "Sender %d <s%d@example.org>" % (i, i)
    m["To"] = "Bob <bob@example.org>, carol@example.net"
    m["Cc"] = "Dave <dave@example.com>"
    m["Subject"] = "rich %d" % i
    m["Message-ID"] = "<rich-%d@example.org>" % i
    m["X-Tags"] = "alpha, beta%d" % (i % 2)
    m.set_content("Hello number %d,\nthe text.\n" % i)
    if i % 2:
        m.add_attachment(b"%d" % i * 100, maintype="application",
                         subtype="octet-stream", filename="f%d.bin" % i)
    return m.as_bytes().replace(b"\n", b"\r\n")


def summaries(srv):
    v = get_json(srv.http_port, "/api/v1/messages?limit=0")
    keys = ("ID", "MessageID", "From", "To", "Cc", "Bcc", "ReplyTo",
            "Subject", "Snippet", "Size", "Attachments", "Tags")
    return [{k: m.get(k) for k in keys} for m in v["messages"]]


def test_rebuild_is_the_spool():
    """index.sqlite removed: the rebuild lists exactly queue/'s messages
    with the same summaries as before, and each summary agrees with the
    message as read in full (GET /api/v1/message/ID)"""
    srv = http_server()
    ids = []
    with Client(srv.port) as c:
        c.expect("EHLO load.test", 250)
        for i in range(40):
            ids.append(c.mail_tx("s%d@example.org" % i,
                                 ["bob@example.org", "hidden@example.org"],
                                 rich(i)))
    wait_total(srv.http_port, 40)
    before = summaries(srv)
    srv.stop()
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(srv.spool, "index.sqlite" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    srv = Server(http=True, spool=srv.spool).start()
    wait_total(srv.http_port, 40)
    after = summaries(srv)
    assert_eq(after, before, "the same summaries")
    assert_eq(sorted(m["ID"] for m in after), sorted(srv.messages()),
              "exactly queue/")
    for s in after[:6]:
        m = get_json(srv.http_port, "/api/v1/message/" + s["ID"])
        for k in ("MessageID", "From", "To", "Cc", "Bcc", "ReplyTo",
                  "Subject", "Size", "Tags"):
            assert_eq(s[k], m[k], "%s of %s" % (k, s["ID"]))
        assert_eq(s["Attachments"], len(m["Attachments"]), "attachments")
    assert_eq(search(srv, "f7.bin"), [ids[7]], "a file name")
    assert_eq(search(srv, "Sender 12"), [ids[12]], "a display name")
    srv.stop()


def test_search_text_bound_and_idn():
    """the free text indexed is the first 64 KiB of the body's text: a
    word inside it is found, one past it is not; an address with an IDN
    domain is found as written (Unicode), not only as xn--"""
    srv = http_server()
    body = ("early-word\r\n" + ("y" * 78 + "\r\n") * 900 +
            "late-word\r\n")
    with Client(srv.port) as c:
        c.expect("EHLO load.test", 250)
        big = c.mail_tx("a@example.com", ["b@example.org"],
                        ("From: a@example.com\r\nSubject: big\r\n\r\n" +
                         body).encode())
        idn = c.mail_tx("a@example.com", ["b@example.org"],
                        ("From: Jo <jo@b\u00fccher.example>\r\n"
                         "Subject: idn\r\nContent-Type: text/plain; "
                         "charset=utf-8\r\n\r\nhi\r\n").encode())
    wait_total(srv.http_port, 2)
    assert_eq(search(srv, "early-word"), [big], "inside 64 KiB")
    assert_eq(search(srv, "late-word"), [], "past 64 KiB")
    assert_eq(search(srv, "b\u00fccher"), [idn], "IDN domain as written")
    srv.stop()


if __name__ == "__main__":
    run(globals())

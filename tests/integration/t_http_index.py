#!/usr/bin/env python3
"""
t_http_index.py: the index behind the HTTP API (spool_dir/index.sqlite)
follows the spool, which stays the truth: a message is visible within
a bounded wait after its 250 (the latency is printed, not asserted);
read state survives a restart, and a rebuild (spool_dir/seen); an
index that is deleted, corrupted with garbage bytes, or out of date (a
file removed, or added, while mxd was down) is rebuilt or reconciled at
start, giving the same list; and
wait-for-message (GET /api/v1/wait) is woken by a commit, answers at
once for an existing match, honours `after`, and times out with 408.
Deleting or marking thousands of messages runs in steps: an SMTP client
that arrives meanwhile is served before the last step, and the answer
comes after it.
"""

import os
import re
import signal
import socket
import threading
import time

from mxdtest import assert_eq, assert_in, run
from mxdtest.http import (get_json, http_server, request, send,
                          wait_total)
from mxdtest.server import Server


def restart(srv):
    """Stop srv and start a new mxd with the HTTP API on the same spool."""
    srv.stop()
    return Server(http=True, spool=srv.spool).start()


def corrupt_index(spool):
    """Overwrite index.sqlite's first 16 KiB with garbage (its WAL and
    shared memory removed first): mxd must rebuild it."""
    for suffix in ("-wal", "-shm"):
        p = os.path.join(spool, "index.sqlite" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    with open(os.path.join(spool, "index.sqlite"), "r+b") as f:
        f.write(os.urandom(4096) * 4)


def listing(srv):
    v = get_json(srv.http_port, "/api/v1/messages?limit=0")
    return [(m["ID"], m["Subject"], m["Read"]) for m in v["messages"]]


def test_visible_after_250():
    """each message is in the list within a bounded wait after its 250
    (the time from 250 to visible is printed as a TAP comment)"""
    srv = http_server()
    lat = []
    for i in range(20):
        qid = send(srv, subject="lat%d" % i)
        t0 = time.monotonic()
        deadline = t0 + 5
        while True:
            v = get_json(srv.http_port, "/api/v1/messages?limit=1")
            if v["messages"] and v["messages"][0]["ID"] == qid:
                break
            assert time.monotonic() < deadline, "not visible in 5 s"
            time.sleep(0.0005)
        lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    print("# 250 -> visible in the API: median %.2f ms, max %.2f ms "
          "(20 messages, polling)" % (lat[10], lat[-1]))
    srv.stop()


def test_read_state_survives_restart():
    """read flags are kept in the index: after a restart the same
    messages are read"""
    srv = http_server()
    a = send(srv, subject="a")
    b = send(srv, subject="b")
    wait_total(srv.http_port, 2)
    get_json(srv.http_port, "/api/v1/message/" + a)
    before = listing(srv)
    assert_eq(before, [(b, "b", False), (a, "a", True)], "before")
    srv = restart(srv)
    assert_eq(listing(srv), before, "after restart")
    srv.stop()


def test_read_state_survives_rebuild():
    """read flags are kept in the spool too (spool_dir/seen): after the
    index is corrupted and rebuilt, read, read-then-unread, mark-all and
    unread messages are as they were; a message removed meanwhile leaves
    no line in the journal; `mxd -q` and POP3 see every message"""
    from mxdtest import run_mxd
    srv = http_server(pop3=True)
    port = srv.http_port
    ids = [send(srv, subject="r%d" % i) for i in range(5)]
    wait_total(port, 5)
    get_json(port, "/api/v1/message/" + ids[0])            # read
    request(port, "PUT", "/api/v1/messages", {"IDs": ids[1:3], "Read": True})
    request(port, "PUT", "/api/v1/messages", {"IDs": [ids[2]], "Read": False})
    request(port, "PUT", "/api/v1/messages", {"Search": "subject:r3",
                                              "Read": True})
    request(port, "DELETE", "/api/v1/messages", {"IDs": [ids[3]]})
    wait_total(port, 4)
    before = listing(srv)
    assert_eq(sorted(i for i, s, r in before if r), sorted(ids[:2]),
              "read before")
    srv.stop()
    corrupt_index(srv.spool)
    srv = Server(http=True, pop3=True, spool=srv.spool).start()
    srv.wait_log(r"index: .*rebuilding it from the queue")
    wait_total(srv.http_port, 4)
    assert_eq(listing(srv), before, "after the rebuild")
    with open(os.path.join(srv.spool, "seen")) as f:
        lines = f.read().split("\n")
    assert_eq(sorted(lines), sorted(["", ids[0] + " read",
                                     ids[1] + " read"]),
              "the journal, written anew at start")
    port = srv.http_port
    request(port, "PUT", "/api/v1/messages", {"Read": True})
    request(port, "PUT", "/api/v1/messages", {"IDs": [ids[4]],
                                              "Read": False})
    want = listing(srv)
    srv.stop()
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(srv.spool, "index.sqlite" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    srv = Server(http=True, pop3=True, spool=srv.spool).start()
    wait_total(srv.http_port, 4)
    assert_eq(listing(srv), want, "mark all read, then one unread")
    rc, out, err = run_mxd(["-q", "-o", "spool_dir=" + srv.spool])
    for i in ids[:3] + ids[4:]:
        assert_in(i, out, "mxd -q")
    p = srv.pop3_client()
    p.user("b@example.org")
    p.pass_("any")
    assert_eq(p.stat()[0], 4, "POP3 STAT")
    p.quit()
    srv.stop()


def test_index_deleted_rebuilt():
    """index.sqlite (and its WAL) removed while mxd is down: rebuilt from
    queue/ at start, with the same list"""
    srv = http_server()
    for i in range(5):
        send(srv, subject="m%d" % i)
    wait_total(srv.http_port, 5)
    before = [(i, s) for i, s, r in listing(srv)]
    srv.stop()
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(srv.spool, "index.sqlite" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    srv = restart(srv)
    wait_total(srv.http_port, 5)
    assert_eq([(i, s) for i, s, r in listing(srv)], before, "rebuilt")
    srv.stop()


def test_index_corrupt_rebuilt():
    """index.sqlite overwritten with garbage bytes: mxd logs it, starts,
    and rebuilds the same list"""
    srv = http_server()
    for i in range(3):
        send(srv, subject="c%d" % i)
    wait_total(srv.http_port, 3)
    before = [(i, s) for i, s, r in listing(srv)]
    srv.stop()
    corrupt_index(srv.spool)
    srv = restart(srv)
    srv.wait_log(r"index: .*rebuilding it from the queue")
    wait_total(srv.http_port, 3)
    assert_eq([(i, s) for i, s, r in listing(srv)], before, "rebuilt")
    srv.stop()


def test_reconcile_at_start():
    """a spool file removed while mxd was down (as a crash between the
    unlink and the row's removal leaves it) is dropped from the index at
    start: no ghost; the others stay"""
    srv = http_server()
    a = send(srv, subject="stays")
    b = send(srv, subject="ghost")
    wait_total(srv.http_port, 2)
    srv.stop()
    os.unlink(os.path.join(srv.spool, "queue", b + ".eml"))
    srv = restart(srv)
    wait_total(srv.http_port, 1)
    assert_eq([i for i, s, r in listing(srv)], [a], "ghost dropped")
    r = request(srv.http_port, "GET", "/api/v1/message/" + b)
    assert_eq(r.status, 404, "the ghost's ID")
    srv.stop()


def test_spool_behind_closed_parent():
    """started as root, mxd serves the API as its run-as user even when
    the spool's parent directory is closed to that user (a sink started
    from /root): list, get, raw, delete all work"""
    import stat
    if os.geteuid() != 0:
        from mxdtest import Skip
        raise Skip("needs root (privileges are dropped)")
    srv = Server(http=True)
    assert_eq(stat.S_IMODE(os.stat(srv.tmpdir).st_mode), 0o700, "closed")
    srv.start()
    assert_in("running as user", srv.log_text(), "privileges dropped")
    qid = send(srv, subject="behind a closed door")
    v = wait_total(srv.http_port, 1)
    assert_eq(v["messages"][0]["ID"], qid, "listed")
    assert_eq(get_json(srv.http_port, "/api/v1/message/" + qid)["Subject"],
              "behind a closed door", "get")
    r = request(srv.http_port, "GET", "/api/v1/message/%s/raw" % qid)
    assert_eq(r.status, 200, "raw")
    r = request(srv.http_port, "DELETE", "/api/v1/messages",
                {"IDs": [qid]})
    assert_eq(srv.messages(), {}, "deleted")
    srv.stop()


def waiter(port, query, out, **params):
    """GET /api/v1/wait in a thread; the Response lands in out[0]."""
    import urllib.parse
    q = {"query": query}
    q.update(params)
    out.append(request(port, "GET", "/api/v1/wait?" +
                       urllib.parse.urlencode(q), timeout=30))


def test_wait_woken_by_commit():
    """GET /api/v1/wait?query=subject:token parks until a matching
    message is committed and then answers its MessageSummary; an
    unrelated message does not wake it"""
    srv = http_server()
    out = []
    t = threading.Thread(target=waiter, args=(srv.http_port,
                                              "subject:token-42", out),
                         kwargs={"timeout": "20"})
    t.start()
    # Give the request a moment to be parked; if it came late it would
    # find the match at once, which passes too: nothing here is timed.
    time.sleep(0.2)
    send(srv, subject="unrelated")
    qid = send(srv, subject="the token-42 arrives")
    t.join(25)
    assert not t.is_alive(), "wait did not return"
    assert_eq(out[0].status, 200, "woken")
    v = out[0].json()
    assert_eq((v["ID"], v["Subject"]), (qid, "the token-42 arrives"),
              "the matching message")
    srv.stop()


def test_wait_now_after_and_timeout():
    """an existing match answers at once; `after` the newest match it
    waits, and with timeout=1 ends in 408 with a JSON error; a bad
    `after` is 400"""
    srv = http_server()
    qid = send(srv, subject="early bird")
    wait_total(srv.http_port, 1)
    r = request(srv.http_port, "GET", "/api/v1/wait?query=subject:early"
                "&timeout=5")
    assert_eq((r.status, r.json()["ID"]), (200, qid), "at once")
    t0 = time.monotonic()
    r = request(srv.http_port, "GET", "/api/v1/wait?query=subject:early"
                "&timeout=1&after=" + qid, timeout=15)
    assert_eq(r.status, 408, "timed out")
    assert_in("Error", r.json(), "JSON error")
    assert time.monotonic() - t0 >= 0.9, "returned before the timeout"
    r = request(srv.http_port, "GET", "/api/v1/wait?after=../x")
    assert_eq(r.status, 400, "bad after")
    # A malformed timeout is refused at once, not waited out as 30 s.
    for bad in ("abc", "-5", "1.5", "301", "s", "3ms"):
        r = request(srv.http_port, "GET", "/api/v1/wait?query=subject:none"
                    "&timeout=" + bad, timeout=15)
        assert_eq(r.status, 400, "timeout=%s" % bad)
        assert_in("timeout", r.json()["Error"], "timeout=%s" % bad)
    r = request(srv.http_port, "GET", "/api/v1/wait?query=subject:early"
                "&timeout=1s&after=" + qid, timeout=15)
    assert_eq(r.status, 408, "timeout=1s: seconds with an s")
    srv.stop()


def test_retention():
    """sink_max_messages=3: after 6 messages the 3 newest remain, in the
    list and in queue/ (the oldest files are removed), and the log says
    so"""
    srv = http_server(sink_max_messages=3)
    ids = [send(srv, subject="r%d" % i) for i in range(6)]

    def settled():
        v = get_json(srv.http_port, "/api/v1/messages")
        return v if [m["ID"] for m in v["messages"]] == ids[:2:-1] else None

    from mxdtest import wait_until
    wait_until(settled, what="the 3 newest listed")
    wait_until(lambda: sorted(srv.messages()) == sorted(ids[3:]),
               what="the 3 oldest files removed")
    srv.wait_log(r"index: retention: removed the \d+ oldest messages")
    srv.stop()


def test_retention_by_size():
    """sink_max_size=5000: after 6 messages of ~2 KB each, the newest
    that fit in 5000 octets remain (as many as fit, no fewer), in the
    list and in queue/, and the log says so"""
    srv = http_server(sink_max_size=5000)
    body = "x" * 70 + "\r\n"
    ids = [send(srv, subject="s%d" % i, body=body * 28) for i in range(6)]

    def settled():
        v = get_json(srv.http_port, "/api/v1/messages")
        got = [m["ID"] for m in v["messages"]]
        if not got or got[0] != ids[-1] or got != ids[::-1][:len(got)] \
                or sum(m["Size"] for m in v["messages"]) > 5000:
            return None
        return v

    from mxdtest import wait_until
    v = wait_until(settled, what="the newest that fit listed")
    sizes = [m["Size"] for m in v["messages"]]
    assert 2000 < min(sizes) <= max(sizes) < 2500, sizes
    assert_eq(len(sizes), 5000 // max(sizes), "as many as fit: %r" % sizes)
    kept = ids[-len(sizes):]
    wait_until(lambda: sorted(srv.messages()) == sorted(kept),
               what="the older files removed")
    srv.wait_log(r"index: retention: removed the \d+ oldest messages "
                 r"\(sink_max_messages=0 sink_max_size=5000\)")
    srv.stop()




def fill(srv, n, sessions=4):
    """n small messages over pipelining-free SMTP, sessions at once."""
    from mxdtest import Client
    errors = []

    def one(k):
        try:
            with Client(srv.port) as c:
                c.expect("EHLO fill.test", 250)
                for i in range(k):
                    c.mail_tx("a@example.com", ["b@example.org"],
                              b"Subject: bulk\r\n\r\nbody\r\n")
        except Exception as e:      # reported below, in the main thread
            errors.append(e)
    ts = [threading.Thread(target=one, args=(n // sessions,))
          for _ in range(sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    assert not errors, errors


def test_index_goes_on_under_a_flood():
    """the index makes way for a flood of intake (index.c index_yield:
    16 messages a second while it lasts) but never stops: with clients
    sending without pause, the API's total grows by 32 once the flood is
    on, before they stop; after it, every message is listed"""
    from mxdtest import Client
    srv = http_server(spool_sync="no")
    stop, errors, count = threading.Event(), [], [0, 0, 0, 0]

    def one(k):
        try:
            with Client(srv.port) as c:
                c.expect("EHLO flood.test", 250)
                while not stop.is_set() and count[k] < 50000:
                    c.mail_tx("a@example.com", ["b@example.org"],
                              b"Subject: flood\r\n\r\nbody\r\n")
                    count[k] += 1
        except Exception as e:      # reported below, in the main thread
            errors.append(e)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    base, grew = None, False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and all(t.is_alive()
                                                  for t in ts):
            total = get_json(srv.http_port,
                             "/api/v1/messages?limit=1")["total"]
            if base is None and sum(count) >= 2000:
                base = total        # the flood is on (or never was)
            elif base is not None and total >= base + 32:
                grew = True
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for t in ts:
            t.join(60)
    assert not errors, errors
    assert grew, "total stuck at %r while %d messages came in" % (
        base, sum(count))
    wait_total(srv.http_port, sum(count), timeout=300)
    srv.stop()


def raw_http(port, method, path, body=b""):
    """Send one request on a new socket; the socket (read the answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
              b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
              % (method.encode(), path.encode(), len(body), body))
    return s


def status_line(s):
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, "closed before the status line"
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_bulk_delete_serves_others_meanwhile():
    """DELETE of every message (4 000) runs in steps on the event loop:
    an SMTP client that connects after the deletion began is accepted
    before it ends (mxd stopped with SIGSTOP while the client connects,
    so the order does not depend on timing); the DELETE is answered
    once every file and row is gone, and the log says how many"""
    n = 4000
    srv = http_server(spool_sync="no")
    fill(srv, n)
    wait_total(srv.http_port, n, timeout=300)
    mark = srv.log_mark()
    h = raw_http(srv.http_port, "DELETE", "/api/v1/messages")
    from mxdtest import wait_until
    wait_until(lambda: len(srv.queue_names()) < n, what="deletion began")
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        c = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        port = c.getsockname()[1]
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    assert_eq(status_line(h), b"HTTP/1.1 200 OK", "DELETE answered")
    h.close()
    assert_eq(srv.queue_names(), [], "every file gone at the answer")
    assert_eq(get_json(srv.http_port, "/api/v1/messages")["total"], 0,
              "every row gone at the answer")
    srv.wait_log(r"http: %d of %d messages deleted in \d+ ms" % (n, n))
    srv.wait_log(r"connect client=\[127\.0\.0\.1\]:%d\b" % port, since=mark)
    log = srv.log_text(mark)
    conn = re.search(r"connect client=\[127\.0\.0\.1\]:%d\b" % port, log)
    done = re.search(r"http: %d of %d messages deleted" % (n, n), log)
    assert conn is not None, "the client's connect line"
    assert conn.start() < done.start(), \
        "the client was accepted only after the whole deletion"
    c.close()
    srv.stop()


def test_bulk_mark_read_and_shutdown():
    """marking every message read (2 000) answers once all are read; a
    DELETE cut short by SIGTERM is answered 503 with a JSON error, mxd
    exits 0, and what it did not reach is still listed after a restart"""
    n = 2000
    srv = http_server(spool_sync="no")
    fill(srv, n)
    wait_total(srv.http_port, n, timeout=300)
    h = raw_http(srv.http_port, "PUT", "/api/v1/messages", b'{"Read":true}')
    assert_eq(status_line(h), b"HTTP/1.1 200 OK", "PUT answered")
    h.close()
    assert_eq(get_json(srv.http_port, "/api/v1/messages")["unread"], 0,
              "all read at the answer")
    srv.wait_log(r"http: %d of %d messages marked read" % (n, n))
    h = raw_http(srv.http_port, "DELETE", "/api/v1/messages")
    from mxdtest import wait_until
    wait_until(lambda: len(srv.queue_names()) < n, what="deletion began")
    os.kill(srv.proc.pid, signal.SIGSTOP)
    srv.terminate()
    os.kill(srv.proc.pid, signal.SIGCONT)
    line = status_line(h)
    h.close()
    assert line in (b"HTTP/1.1 503 Service Unavailable",
                    b"HTTP/1.1 200 OK"), line
    assert_eq(srv.stop(timeout=60), 0, "exit status")
    left = len(srv.queue_names())
    if line.endswith(b"OK"):
        assert_eq(left, 0, "answered 200: all gone")
    srv2 = Server(http=True, spool=srv.spool).start()
    wait_total(srv2.http_port, left, timeout=120)
    srv2.stop()


def test_bulk_tags():
    """PUT /api/v1/tags naming 2 000 messages is done in steps between
    other clients (bulk.c, like deletions and read marks) and answered
    "ok" once every message has its tags: the log says so, and a tag:
    search finds all of them at the answer"""
    import json
    import urllib.parse
    n = 2000
    srv = http_server(spool_sync="no")
    fill(srv, n)
    wait_total(srv.http_port, n, timeout=300)
    ids = [m["ID"] for m in get_json(
        srv.http_port, "/api/v1/messages?limit=%d" % n)["messages"]]
    assert_eq(len(set(ids)), n, "every ID listed")
    h = raw_http(srv.http_port, "PUT", "/api/v1/tags", json.dumps(
        {"IDs": ids, "Tags": ["bulk", "second"]}).encode())
    assert_eq(status_line(h), b"HTTP/1.1 200 OK", "PUT answered")
    h.close()
    v = get_json(srv.http_port, "/api/v1/search?query=" +
                 urllib.parse.quote("tag:bulk"))
    assert_eq(v["messages_count"], n, "every message tagged at the answer")
    assert_eq(get_json(srv.http_port, "/api/v1/tags"), ["bulk", "second"],
              "tags")
    srv.wait_log(r"http: %d of %d messages tagged in \d+ ms" % (n, n))
    srv.stop()


if __name__ == "__main__":
    run(globals())

#!/usr/bin/env python3
"""
t_pipelining.py: PIPELINING (RFC 2920).  Whole transactions sent in one
write get every reply, in order; the same bytes split into two writes at
every possible place give the same replies and the same stored messages;
a client that does not read its replies is flow-controlled, not dropped.
"""

import re
import threading
import time

from mxdtest import LazyServer, check, queued_qid, assert_eq, run

# No fsync: hundreds of messages in the split test.
srv = LazyServer(spool_sync="no")

BODY1 = b"Subject: one\r\n\r\n..dot\r\nline\r\n"
BODY2 = b"Subject: two\r\n\r\nx\r\n"
STREAM = (b"EHLO pipe.example\r\n"
          b"MAIL FROM:<a@example.com>\r\n"
          b"RCPT TO:<b@example.org>\r\n"
          b"RCPT TO:<c@example.org>\r\n"
          b"DATA\r\n" + BODY1 + b".\r\n"
          b"MAIL FROM:<d@example.com>\r\n"
          b"RCPT TO:<e@example.org>\r\n"
          b"DATA\r\n" + BODY2 + b".\r\n"
          b"QUIT\r\n")
# What each stored message must be (the first one dot-unstuffed).
WANT = [("a@example.com", ["b@example.org", "c@example.org"],
         b"Subject: one\r\n\r\n.dot\r\nline\r\n"),
        ("d@example.com", ["e@example.org"], BODY2)]
# The replies, as (code, enhanced code or None), in order.
WANT_CODES = [(250, None), (250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"),
              (354, None), (250, "2.0.0"), (250, "2.1.0"), (250, "2.1.5"),
              (354, None), (250, "2.0.0"), (221, "2.0.0")]


def read_all(c):
    """Every reply until the server closes the connection (bounded)."""
    out = []
    for _ in range(len(WANT_CODES) + 5):
        try:
            out.append(c.reply())
        except Exception:
            if c.eof:
                return out
            raise
    return out


def normalize(replies):
    """Replies with queue IDs and the client port blanked out."""
    out = []
    for code, lines in replies:
        out.append((code, [re.sub(r"[0-9A-F]{16}", "QID", l)
                           for l in lines]))
    return out


def codes_of(replies):
    """[(code, enhanced status code or None)] of a list of replies."""
    out = []
    for code, lines in replies:
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3}) ", lines[-1])
        out.append((code, m.group(1) if m else None))
    return out


def check_replies(replies, what):
    assert_eq(codes_of(replies), WANT_CODES, what + ": reply codes")


def check_stored(replies, what):
    qids = [queued_qid(r) for r in replies if r[0] == 250 and
            "queued as" in r[1][-1]]
    assert_eq(len(qids), 2, what + ": queued messages")
    assert qids[0] != qids[1], what + ": distinct queue IDs"
    for qid, (sender, rcpts, body) in zip(qids, WANT):
        e = srv.eml(qid)
        assert_eq((e.sender, e.recipients, e.body), (sender, rcpts, body),
                  what + ": message " + qid)
    return qids


def test_one_write():
    """EHLO..DATA, body, `.`, MAIL..DATA, body, `.`, QUIT in one write"""
    with srv.client(nodelay=True) as c:
        c.send(STREAM)
        replies = read_all(c)
    check_replies(replies, "one write")
    assert_eq(len(replies[0][1]) > 3, True, "EHLO is multi-line")
    check_stored(replies, "one write")


def test_rfc2920_groups():
    """client waits at EHLO and 354 only, as RFC 2920 says; same result"""
    with srv.client() as c:
        c.expect("EHLO pipe.example", 250)
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
               b"RCPT TO:<c@example.org>\r\nDATA\r\n")
        r = c.replies(4)
        c.send(BODY1 + b".\r\nMAIL FROM:<d@example.com>\r\n"
               b"RCPT TO:<e@example.org>\r\nDATA\r\n")
        r += c.replies(4)
        c.send(BODY2 + b".\r\nQUIT\r\n")
        r += read_all(c)
    replies = [(250, ["x"])] + r
    check_replies(replies, "groups")
    check_stored(replies, "groups")


def test_failed_command_in_group():
    """a refused RCPT inside a pipelined group: its reply, in order"""
    with srv.client() as c:
        c.expect("EHLO pipe.example", 250)
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<bad@>\r\n"
               b"RCPT TO:<good@example.org>\r\nNOOP\r\nDATA\r\n")
        r = c.replies(5)
        got = [(code, lines[0].split()[0]) for code, lines in r[:4]]
        assert_eq(got, [(250, "2.1.0"), (501, "5.1.3"), (250, "2.1.5"),
                        (250, "2.0.0")], "replies")
        check(r[4], 354)
        c.send(b"x\r\n.\r\n")
        qid = queued_qid(c.reply())
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients, e.body),
              ("a@example.com", ["good@example.org"], b"x\r\n"),
              "stored message")


def test_every_split_point():
    """the stream split in two writes at every octet: same replies and mail"""
    with srv.client(nodelay=True) as c:
        c.send(STREAM)
        ref = normalize(read_all(c))
    deadline = time.monotonic() + 40
    failures = []
    for k in range(1, len(STREAM)):
        if time.monotonic() > deadline:
            raise AssertionError("split test over time at split %d" % k)
        try:
            with srv.client(nodelay=True) as c:
                c.send(STREAM[:k])
                time.sleep(0.002)
                c.send(STREAM[k:])
                replies = read_all(c)
            assert_eq(normalize(replies), ref, "replies")
            for q in check_stored(replies, "split at %d" % k):
                srv.remove(q)
        except Exception as e:
            failures.append("split at %d (%r | %r): %s" %
                            (k, STREAM[max(0, k - 8):k],
                             STREAM[k:k + 8], e))
            if len(failures) > 5:
                break
    if failures:
        raise AssertionError("\n".join(failures))


def test_unread_replies_flow_control():
    """6000 pipelined HELPs (8 MB of replies) read late: every reply arrives"""
    # More output than the kernel buffers hold, so mxd must stop reading
    # and resume when the client catches up.
    n = 6000
    with srv.client(rcvbuf=4096) as c:
        c.expect("EHLO pipe.example", 250)
        err = []

        def writer():
            try:
                c.sock.sendall(b"HELP\r\n" * n + b"NOOP\r\nQUIT\r\n")
            except Exception as e:      # reported below
                err.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.5)                 # let the server's output fill up
        first = c.reply(timeout=10)
        check(first, 214, "2.0.0", "HELP")
        bad = 0
        for _ in range(n - 1):
            if c.reply(timeout=10) != first:
                bad += 1
        assert_eq(bad, 0, "HELP replies that differ from the first")
        check(c.reply(timeout=10), 250, "2.0.0", "NOOP after the HELPs")
        check(c.reply(timeout=10), 221, "2.0.0", "QUIT")
        t.join(10)
        assert not t.is_alive(), "writer blocked"
        assert_eq(err, [], "writer errors")
        assert c.wait_closed(), "open after QUIT"



def session_lines(since, port):
    """The session ID of the client on `port` that connected after the
    log mark `since`, and its log lines once its disconnect is logged
    (every line a session logs comes before that one)."""
    sid = srv.session_id(port)
    srv.wait_log(r"s=%s disconnect " % sid, since=since)
    return sid, [l for l in srv.log_text(since).splitlines()
                 if "s=%s " % sid in l]


def test_improper_pipelining_logged_once():
    """a command that must end a group (RFC 2920 3.1: EHLO, DATA, ...)
    with more behind it in one write: served, and logged once as
    improper command pipelining; a group that waits is not logged"""
    mark = srv.log_mark()
    with srv.client() as c:
        good = c.sock.getsockname()[1]
        c.expect("EHLO ok.example", 250)
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
               b"DATA\r\n")
        for want in (250, 250, 354):
            check(c.reply(), want)
        c.send(b"x\r\n.\r\n")
        queued_qid(c.reply())
        c.expect("QUIT", 221, "2.0.0")
    with srv.client() as c:
        bad = c.sock.getsockname()[1]
        c.send(b"EHLO bad.example\r\nNOOP\r\nNOOP\r\nDATA\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        assert_eq(codes, [250, 250, 250, 503, 221], "replies")
    sid, lines = session_lines(mark, bad)
    assert_eq(len([l for l in lines if re.search(
        r"s=%s improper command pipelining after EHLO " % sid, l)]), 1,
        "logged once, for the pipelining session: %r" % lines)
    sid, lines = session_lines(mark, good)
    assert_eq([l for l in lines if " improper " in l], [],
              "waiting client logged")


if __name__ == "__main__":
    run(globals())

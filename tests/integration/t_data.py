#!/usr/bin/env python3
"""
t_data.py: the message itself.  Dot-stuffing undone, 8-bit octets kept,
the size limit enforced after the final dot with nothing left behind, an
abandoned DATA leaving nothing in queue/ or pool/, the empty message.
"""

import smtplib
import socket
import struct
import time

from mxdtest import (LazyServer, check, queued_qid, simple_message,
                     assert_eq, assert_in, wait_until, run)

LIMIT = 2048
small = LazyServer(max_message_size="2k")
big = LazyServer()          # the default 10M limit


def ehlo(c):
    c.expect("EHLO client.example", 250)


def send_data(c, raw, sender="a@example.com", rcpt="b@example.org",
              params=""):
    """A transaction whose DATA part is raw (stuffed, ending in .CRLF)."""
    c.expect("MAIL FROM:<%s>%s" % (sender, params), 250, "2.1.0")
    c.expect("RCPT TO:<%s>" % rcpt, 250, "2.1.5")
    check(c.cmd("DATA"), 354)
    c.send(raw)
    return c.reply()


def test_ehlo_advertises_limit():
    """EHLO advertises the configured limit: SIZE 2048"""
    with small.client() as c:
        lines = c.expect("EHLO client.example", 250)
        assert_in("SIZE %d" % LIMIT, lines, "EHLO lines")


def test_dot_unstuffing():
    """`..x` is stored as `.x`, `...` as `..`, `..` as `.`; other dots stay"""
    sent = (b"Subject: dots\r\n\r\n"
            b"..x\r\n"
            b"...\r\n"
            b"..\r\n"
            b"a.b\r\n"
            b" .indented\r\n"
            b"end.\r\n"
            b".\r\n")
    want = (b"Subject: dots\r\n\r\n"
            b".x\r\n"
            b"..\r\n"
            b".\r\n"
            b"a.b\r\n"
            b" .indented\r\n"
            b"end.\r\n")
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, sent))
    assert_eq(small.eml(qid).body, want, "stored message")


def test_dot_only_line_in_body():
    """a `.` line of the body, sent stuffed as `..`, is stored as `.`"""
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, b"Subject: x\r\n\r\nabove\r\n..\r\n"
                                   b"below\r\n.\r\n"))
    assert_eq(small.eml(qid).body, b"Subject: x\r\n\r\nabove\r\n.\r\n"
              b"below\r\n", "stored message")


def test_smtplib_dot_lines_intact():
    """smtplib sends lines starting with `.`: they arrive intact"""
    msg = (b"From: a@example.com\r\nTo: b@example.org\r\n"
           b"Subject: smtplib dots\r\n\r\n"
           b".starts with a dot\r\n"
           b"..two dots\r\n"
           b".\r\n"
           b"...\r\n"
           b"last line\r\n")
    with smtplib.SMTP("127.0.0.1", small.port, local_hostname="client.example",
                      timeout=5) as s:
        s.ehlo()
        s.mail("a@example.com")
        s.rcpt("b@example.org")
        code, resp = s.data(msg)
    qid = queued_qid((code, [resp.decode()]))
    e = small.eml(qid)
    assert_eq(e.body, msg, "stored message")
    assert_eq((e.sender, e.recipients), ("a@example.com", ["b@example.org"]),
              "envelope")


def test_8bit_body_byte_exact():
    """an 8-bit body with BODY=8BITMIME is stored byte for byte"""
    body = (b"Subject: =?utf-8?q?8bit?=\r\nContent-Type: text/plain; "
            b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            "Gr\u00fc\u00dfe, \u65e5\u672c\u8a9e, \U0001f600\r\n".encode() +
            bytes(range(0x80, 0x100)) + b"\r\n" +
            bytes(range(0x20, 0x7f)) + b"\r\n" +
            b"\x1b[0m\x01\x7f tail\r\n")
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, body + b".\r\n",
                                   params=" BODY=8BITMIME"))
    assert_eq(small.eml(qid).body, body, "stored message")


def test_bare_cr_and_lf_are_content():
    """a bare CR or LF inside a line is message content, stored intact"""
    body = b"Subject: bare\r\n\r\na\rb\nc\r\r\n\n.\n\r.x\r\nend\r\n"
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, body + b".\r\n"))
    assert_eq(small.eml(qid).body, body, "stored message")


def test_empty_message():
    """DATA then `.` at once: 250 and an empty message after Received"""
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, b".\r\n"))
    e = small.eml(qid)
    assert_eq(e.body, b"", "stored message")
    assert e.raw.endswith(e.received), "file ends with the Received header"


def test_message_at_limit_accepted():
    """a message of exactly max_message_size octets is accepted"""
    head = b"Subject: limit\r\n\r\n"
    line = b"x" * 62 + b"\r\n"
    body = head + line * ((LIMIT - len(head)) // len(line))
    body += b"y" * (LIMIT - len(body) - 2) + b"\r\n"
    assert_eq(len(body), LIMIT, "test message size")
    with small.client() as c:
        ehlo(c)
        qid = queued_qid(send_data(c, body + b".\r\n"))
    assert_eq(small.eml(qid).body, body, "stored message")


def assert_spool_clean(srv, before, what):
    assert_eq(set(srv.queue_names()), before, "queue/ after " + what)
    assert_eq(srv.unfinished_files(), [], "pool/ after " + what)


def test_message_over_limit_refused():
    """one octet over the limit: 552 5.3.4 after the final dot, nothing kept"""
    head = b"Subject: too big\r\n\r\n"
    body = head + b"z" * (LIMIT + 1 - len(head) - 2) + b"\r\n"
    assert_eq(len(body), LIMIT + 1, "test message size")
    before = set(small.queue_names())
    with small.client() as c:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(body)
        assert_eq(c.pending(0.3), b"", "reply before the final dot")
        c.send(b".\r\n")
        check(c.reply(), 552, "5.3.4", "end of an oversized message")
        assert_spool_clean(small, before, "552")
        # The session goes on: the next message is accepted.
        m = simple_message("after 552")
        qid = c.mail_tx("a@example.com", ["b@example.org"], m)
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(small.eml(qid).body, m, "message after 552")
    assert_eq(set(small.queue_names()), before | {qid + ".eml"}, "queue/")


def test_message_far_over_limit_refused():
    """a 300 KiB message against a 2 KiB limit: 552 5.3.4, nothing kept"""
    before = set(small.queue_names())
    with small.client() as c:
        ehlo(c)
        r = send_data(c, b"Subject: huge\r\n\r\n" +
                      (b"w" * 98 + b"\r\n") * 3000 + b".\r\n")
        check(r, 552, "5.3.4", "end of a huge message")
        c.expect("NOOP", 250, "2.0.0")
    assert_spool_clean(small, before, "552")


def test_declared_size_ok_actual_too_big():
    """SIZE=100 declared but 3000 octets sent: still 552 5.3.4"""
    before = set(small.queue_names())
    with small.client() as c:
        ehlo(c)
        r = send_data(c, b"Subject: liar\r\n\r\n" + b"q" * 3000 + b"\r\n.\r\n",
                      params=" SIZE=100")
        check(r, 552, "5.3.4", "end of an oversized message")
    assert_spool_clean(small, before, "552")


def abandon_data(srv, payload, reset=False):
    """Open DATA, send payload, then go away; check nothing is left."""
    before = set(srv.queue_names())
    mark = srv.log_mark()
    c = srv.client()
    try:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(payload)
        port = c.sock.getsockname()[1]
        time.sleep(0.1)
        if reset:       # RST instead of FIN
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
    finally:
        c.close()
    srv.wait_log(r"disconnect client=\[127\.0\.0\.1\]:%d reason=" % port,
                 since=mark)
    wait_until(lambda: srv.unfinished_files() == [], what="pool/ clean")
    assert_spool_clean(srv, before, "the client left in DATA")


def test_disconnect_mid_data():
    """a client that disconnects mid-DATA leaves nothing in queue/ or pool/"""
    abandon_data(small, b"Subject: gone\r\n\r\nhalf a mess")


def test_disconnect_mid_data_large():
    """leaving after 300 KiB of DATA (written to pool/) leaves nothing behind"""
    abandon_data(big, b"Subject: gone\r\n\r\n" + (b"v" * 98 + b"\r\n") * 3000)


def test_reset_mid_data():
    """a TCP reset mid-DATA leaves nothing in queue/ or pool/"""
    abandon_data(big, b"Subject: reset\r\n\r\n" + (b"r" * 98 + b"\r\n") * 100,
                 reset=True)


def test_disconnect_after_dot_before_reply():
    """a client that sends the final dot and leaves: the message is kept"""
    m = simple_message("fire and forget")
    mark = big.log_mark()
    c = big.client()
    try:
        ehlo(c)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<ff@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(m + b".\r\n")
        port = c.sock.getsockname()[1]
    finally:
        c.close()
    qid = big.wait_log(r"qid=([0-9A-F]{16}) to=<ff@example\.org>$",
                       since=mark).group(1)
    big.wait_log(r"qid=%s from=<a@example\.com> size=%d nrcpt=1\b" %
                 (qid, len(m)), timeout=1, since=mark)
    big.wait_log(r"disconnect client=\[127\.0\.0\.1\]:%d " % port,
                 since=mark)
    e = big.eml(qid)
    assert_eq((e.recipients, e.body), (["ff@example.org"], m), "message")
    assert_eq(big.unfinished_files(), [], "pool/")


def test_long_data_line_stored_unchanged():
    """lines of 5000 and 100 000 octets (over RFC 5322's 998) are accepted
    and stored byte for byte (doc/mxd.8, Long lines)"""
    for n in (5000, 100000):
        line = bytes(b"0123456789abcdef"[i % 16] for i in range(n))
        body = b"Subject: long line\r\n\r\n" + line + b"\r\nafter\r\n"
        with big.client() as c:
            ehlo(c)
            qid = queued_qid(send_data(c, body + b".\r\n"))
        assert_eq(big.eml(qid).body, body, "stored %d-octet line" % n)


if __name__ == "__main__":
    run(globals())

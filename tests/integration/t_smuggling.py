#!/usr/bin/env python3
"""
t_smuggling.py: SMTP smuggling (RFC 5321 4.1.1.4).  Only <CRLF>.<CRLF>
ends DATA; a dot line framed by a bare LF or a bare CR is content.  For
each such end-of-data look-alike, a second transaction hidden after it
must stay inside the first message: one message stored, byte for byte,
and the hidden MAIL, RCPT and DATA never get replies of their own.
"""

import time

from mxdtest import (LazyServer, check, queued_qid, assert_eq, assert_in,
                     run)

srv = LazyServer(domains="local.test")

TAILS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n",
         b"\r\n.\r", b"\r\r\n.\r\r\n"]

HIDDEN = (b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@local.test>\r\nDATA\r\n"
          b"From: ceo@x\r\n\r\nsmuggled\r\n")


def smuggle(tail, writes):
    """Send line1 + tail + the hidden transaction + .CRLF in the given
    number of pieces (1, or one per octet); check the outcome."""
    payload = b"line1" + tail + HIDDEN
    before = set(srv.queue_names())
    with srv.client(nodelay=True) as c:
        c.expect("EHLO attacker.example", 250)
        c.expect("MAIL FROM:<a@x>", 250, "2.1.0")
        c.expect("RCPT TO:<v@local.test>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        data = payload + b".\r\n"
        if writes == 1:
            c.send(data)
        else:
            for i in range(len(data)):
                c.send(data[i:i + 1])
                time.sleep(0.0005)
        qid = queued_qid(c.reply())
        # Anything the hidden commands caused would come before the 221.
        check(c.cmd("QUIT"), 221, "2.0.0", "reply after the message")
        assert c.wait_closed(), "connection open after QUIT"
        assert_eq(c.buf, b"", "bytes after 221")
    new = set(srv.queue_names()) - before
    assert_eq(new, {qid + ".eml"}, "new queue files")
    e = srv.eml(qid)
    assert_eq((e.sender, e.recipients), ("a@x", ["v@local.test"]),
              "envelope")
    assert_in(b"smuggled", e.body, "body")
    assert_eq(e.body, payload, "stored message")
    assert_eq(srv.unfinished_files(), [], "pool/")
    # One transaction in the log for this message, none for evil@x.
    log = srv.log_text()
    assert "from=<evil@x>" not in log, "smuggled MAIL reached the log"


def make(tail, writes):
    def t():
        smuggle(tail, writes)
    how = "one write" if writes == 1 else "one octet per write"
    t.__doc__ = "tail %s (%s): one message, smuggled text inside it" % (
        repr(tail)[1:], how)
    return t


for _i, _tail in enumerate(TAILS):
    globals()["test_tail_%d" % _i] = make(_tail, 1)
for _i, _tail in enumerate(TAILS):
    globals()["test_tail_%d_octets" % _i] = make(_tail, 0)


def test_real_end_still_works():
    """control: after the look-alikes, a real CRLF.CRLF ends DATA as usual"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@x>", 250, "2.1.0")
        c.expect("RCPT TO:<v@local.test>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"line1\r\n.\r\nMAIL FROM:<b@x>\r\n")
        qid = queued_qid(c.reply())
        check(c.reply(), 250, "2.1.0", "pipelined MAIL after the real end")
    assert_eq(srv.eml(qid).body, b"line1\r\n", "stored message")


if __name__ == "__main__":
    run(globals())

#!/usr/bin/env python3
"""
t_header.py: client bytes never become part of a header field mxd writes
(the X-Mxd-* envelope block and Received:).  Each stored file is read
back with Python's email parser, as a mail reader would.
"""

import email
import email.policy
import email.utils

from mxdtest import (LazyServer, check, queued_qid, assert_eq, assert_in,
                     run)

srv = LazyServer()


def send(helo, rcpts, data, params=""):
    """One transaction; the stored bytes."""
    with srv.client() as c:
        c.expect("EHLO " + helo, 250)
        c.expect("MAIL FROM:<sender@client.example>" + params, 250, "2.1.0")
        for r in rcpts:
            c.expect("RCPT TO:<%s>" % r, 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(data + b".\r\n")
        return srv.message(queued_qid(c.reply()))


def received_ok(raw):
    """mxd's Received: as the email parser sees it; it must end in
    mxd's own date, the client's first line left out of it."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    recv = msg.get_all("Received")
    assert recv, "no Received: field in %r" % raw[:400]
    value = str(recv[0])
    date = value.rsplit(";", 1)[1].strip()
    assert email.utils.parsedate_to_datetime(date) is not None, value
    assert_eq(date.count(":"), 2, "date part of %r" % value)
    return msg, value


def test_first_line_space_not_folded():
    """a message whose first line starts with a space does not continue
    Received:; its bytes follow a blank line, unchanged"""
    data = b" X-Folded: appended\r\nSubject: s\r\n\r\nbody\r\n"
    raw = send("client.example", ["a@b.example"], data)
    msg, value = received_ok(raw)
    assert "X-Folded" not in value, "client bytes in Received: %r" % value
    assert raw.endswith(b"\r\n\r\n" + data), "message bytes %r" % raw[-80:]


def test_first_line_tab_and_dot_stuffed():
    """the same for a tab, and for ". X" (a space once unstuffed)"""
    for data, stored in ((b"\tX-Tab: yes\r\n\r\nb\r\n",
                          b"\tX-Tab: yes\r\n\r\nb\r\n"),
                         (b". X-Dot: yes\r\n\r\nb\r\n",
                          b" X-Dot: yes\r\n\r\nb\r\n")):
        raw = send("client.example", ["a@b.example"], data)
        msg, value = received_ok(raw)
        assert "X-" not in value, "client bytes in Received: %r" % value
        assert raw.endswith(b"\r\n\r\n" + stored), raw[-60:]


def test_normal_message_unchanged():
    """a message that starts with a header field gets no blank line"""
    data = b"Subject: plain\r\n\r\nbody\r\n"
    raw = send("client.example", ["a@b.example"], data)
    msg, value = received_ok(raw)
    assert_eq(msg["Subject"], "plain", "Subject")
    assert not raw.endswith(b"\r\n\r\n" + data), "blank line inserted"


def test_client_values_stay_out_of_received():
    """HELO name and recipient with ( ) ; < > \" do not close the
    comment or the field: the for clause is left out, the date is ours"""
    helo = "evil);x(y"
    rcpt = '"a;b(c)>d"@b.example'
    raw = send(helo, [rcpt], b"Subject: q\r\n\r\nx\r\n")
    msg, value = received_ok(raw)
    for bad in (";x", "(y", 'a;b', "(c)"):
        assert bad not in value, "%r in Received: %r" % (bad, value)
    assert_in("from evil__x_y ", value, "sanitised HELO")
    assert " for " not in value, "for clause with a quoted recipient"
    # A plain recipient still gets its for clause.
    raw = send("client.example", ["plain@b.example"], b"S: x\r\n\r\nx\r\n")
    msg, value = received_ok(raw)
    assert_in("for <plain@b.example>", value, "for clause")


run(globals())

#!/usr/bin/env python3
"""
t_barelf.py: the lab client that ends lines in a bare LF, like plain `nc`.
Its commands work; DATA's 354 and HELP tell it about `nc -C`; a lone
`.` LF does not end the message (only CRLF.CRLF does) unless the lab-only
bare_lf_end=yes is set, and then only for such a client.
"""

from mxdtest import (LazyServer, check, queued_qid, assert_eq, assert_in,
                     run)

strict = LazyServer()                   # bare_lf_end=no, the default
lab = LazyServer(bare_lf_end="yes")


def lf_cmd(c, line, code, esc=None):
    c.send(line.encode() + b"\n")
    r = c.reply()
    check(r, code, esc, "reply to %r + LF" % line)
    return r[1]


def lf_transaction(c, rcpt="b@example.org"):
    lf_cmd(c, "EHLO nc.example", 250)
    lf_cmd(c, "MAIL FROM:<a@example.com>", 250, "2.1.0")
    lf_cmd(c, "RCPT TO:<%s>" % rcpt, 250, "2.1.5")
    return lf_cmd(c, "DATA", 354)


def test_bare_lf_commands_work():
    """commands ending in a bare LF get their normal replies"""
    with strict.client() as c:
        lines = lf_cmd(c, "EHLO nc.example", 250)
        assert_in("PIPELINING", lines, "EHLO over bare LF")
        lf_cmd(c, "NOOP", 250, "2.0.0")
        lf_cmd(c, "MAIL FROM:<a@example.com>", 250, "2.1.0")
        lf_cmd(c, "RCPT TO:<b@example.org>", 250, "2.1.5")
        lf_cmd(c, "RSET", 250, "2.0.0")
        lf_cmd(c, "FOO", 500, "5.5.2")
        lf_cmd(c, "QUIT", 221, "2.0.0")
        assert c.wait_closed(), "connection open after QUIT"


def test_first_bare_lf_command_is_told():
    """the first command that ends in a bare LF gets, after its own
    reply, a note naming `nc -C`, telnet and bare_lf_end; once only"""
    with strict.client() as c:
        c.send(b"HELO nc.example\n")
        code, lines = c.reply()
        assert_eq(code, 250, "HELO reply code")
        text = " ".join(lines)
        assert lines[0].startswith("mx.test Hello nc.example"), lines
        for want in ("bare LF", "nc -C", "telnet", "bare_lf_end",
                     "will NOT end"):
            assert_in(want, text, "note on the first bare-LF reply")
        lines = lf_cmd(c, "MAIL FROM:<a@example.com>", 250, "2.1.0")
        assert_eq(len(lines), 1, "the note comes once: %r" % lines)


def test_bare_lf_note_on_errors_and_ehlo():
    """the note follows whatever the first bare-LF command got: an
    error keeps its codes on every line, EHLO keeps its keywords first"""
    with strict.client() as c:
        lines = lf_cmd(c, "FOO", 500, "5.5.2")
        assert_in("nc -C", " ".join(lines), "note after a 500")
    with strict.client() as c:
        lines = lf_cmd(c, "EHLO nc.example", 250)
        assert_in("PIPELINING", lines, "EHLO keywords")
        assert_in("nc -C", lines[-1], "note last")


def test_crlf_client_not_told():
    """a CRLF client never gets the note"""
    with strict.client() as c:
        lines = c.expect("EHLO client.example", 250)
        assert "nc -C" not in " ".join(lines), lines
        lines = c.expect("NOOP", 250)
        assert_eq(len(lines), 1, "NOOP reply lines")


def test_354_hint_mentions_nc_c():
    """after DATA from a bare-LF client the 354 text mentions `nc -C`"""
    with strict.client() as c:
        lines = lf_transaction(c)
        assert_in("nc -C", " ".join(lines), "354 text")


def test_354_crlf_client_no_hint():
    """a CRLF client's 354 has no `nc -C` hint"""
    with strict.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        code, lines = c.cmd("DATA")
        check((code, lines), 354)
        assert "nc -C" not in " ".join(lines), lines


def test_help_mentions_nc_c():
    """HELP from a bare-LF client mentions `nc -C`"""
    with strict.client() as c:
        lines = lf_cmd(c, "HELP", 214, "2.0.0")
        assert_in("nc -C", "\n".join(lines), "HELP text")
        assert_in("MAIL FROM:<sender>", "\n".join(lines), "HELP text")


def test_lone_dot_lf_does_not_end():
    """a lone `.` LF does not end DATA; CRLF.CRLF does; the `.` line is kept"""
    with strict.client() as c:
        lf_transaction(c)
        c.send(b"Subject: from nc\n\nhello\n.\n")
        assert_eq(c.pending(0.4), b"", "reply after `.` LF")
        c.send(b"NOOP\n")               # still message text
        assert_eq(c.pending(0.2), b"", "reply to NOOP inside DATA")
        c.send(b"\r\n.\r\n")
        qid = queued_qid(c.reply())
        lf_cmd(c, "QUIT", 221, "2.0.0")
    e = strict.eml(qid)
    assert_eq(e.body, b"Subject: from nc\n\nhello\n.\nNOOP\n\r\n",
              "stored message")
    assert_eq((e.sender, e.recipients), ("a@example.com", ["b@example.org"]),
              "envelope")


def test_bare_lf_end_yes_ends_on_dot_lf():
    """with bare_lf_end=yes a bare-LF client's `.` LF ends the message"""
    with lab.client() as c:
        lf_transaction(c)
        c.send(b"Subject: lab\n\n..stuffed\nhello\n.\n")
        qid = queued_qid(c.reply())
        # and a second message in the same session
        lf_cmd(c, "MAIL FROM:<a@example.com>", 250, "2.1.0")
        lf_cmd(c, "RCPT TO:<c@example.org>", 250, "2.1.5")
        lf_cmd(c, "DATA", 354)
        c.send(b"Subject: lab 2\n\nbye\n.\n")
        qid2 = queued_qid(c.reply())
        lf_cmd(c, "QUIT", 221, "2.0.0")
    assert_eq(lab.eml(qid).body, b"Subject: lab\n\n.stuffed\nhello\n",
              "first stored message")
    e2 = lab.eml(qid2)
    assert_eq((e2.recipients, e2.body),
              (["c@example.org"], b"Subject: lab 2\n\nbye\n"),
              "second stored message")


def test_bare_lf_end_yes_crlf_end_too():
    """with bare_lf_end=yes a bare-LF client may still end with CRLF.CRLF"""
    with lab.client() as c:
        lf_transaction(c)
        c.send(b"Subject: mixed\r\n\r\nx\r\n.\r\n")
        qid = queued_qid(c.reply())
    assert_eq(lab.eml(qid).body, b"Subject: mixed\r\n\r\nx\r\n",
              "stored message")


def test_bare_lf_end_yes_crlf_client_not_affected():
    """with bare_lf_end=yes a CRLF client's `\\n.\\n` is still content"""
    with lab.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@example.com>", 250, "2.1.0")
        c.expect("RCPT TO:<b@example.org>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"line1\n.\nMAIL FROM:<evil@x>\r\n")
        assert_eq(c.pending(0.4), b"", "reply after LF.LF")
        c.send(b"more\r\n.\r\n")
        qid = queued_qid(c.reply())
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(lab.eml(qid).body, b"line1\n.\nMAIL FROM:<evil@x>\r\nmore\r\n",
              "stored message")


if __name__ == "__main__":
    run(globals())

#!/usr/bin/env python3
"""
t_sink_faults.py: failures asked for by the recipient address
(sink_faults, src/smtp/fault.c, doc/faults.md), through Python's smtplib
as an application's mailer would meet them, and a raw client where the
timing of a reply matters.  Every fault leaves the spool as it says:
refused or failed messages are not stored, a delayed one is stored
before its 250, and the session goes on (except after +drop).
"""

import smtplib
import time

from mxdtest import (LazyServer, Server, assert_eq, assert_in, check,
                     queued_qid, run, simple_message, wait_until)

srv = LazyServer(domains="example.test")

MSG = simple_message("fault test")


def smtp():
    return smtplib.SMTP("127.0.0.1", srv.port, timeout=30)


def test_rcpt_refused_550():
    """x+fail-550@ is refused at RCPT with 550 5.1.1; the other
    recipient of the same message gets it, alone in the envelope"""
    srv.clear_queue()
    with smtp() as s:
        refused = s.sendmail("app@client.example",
                             ["ok@example.test", "x+fail-550@example.test"],
                             MSG)
    code, text = refused["x+fail-550@example.test"]
    assert_eq(code, 550, "code")
    assert text.startswith(b"5.1.1 "), text
    assert_in(b"+fail-550", text, "reply text")
    names = srv.queue_names()
    assert_eq(len(names), 1, "stored messages")
    raw = srv.message(names[0][:-4])
    assert b"ok@example.test" in raw and b"fail-550" not in raw, raw[:600]


def test_every_rcpt_code():
    """each +fail-NNN gives NNN and an enhanced code of its class"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        for code in (450, 451, 452, 550, 551, 552, 553, 554):
            r = c.cmd("RCPT TO:<u+fail-%d@example.test>" % code)
            check(r, code)
            assert_eq(r[1][0][:2], "%d." % (code // 100), "class of %r" % (r,))
        c.expect("RCPT TO:<u@example.test>", 250, "2.1.5")


def test_mistyped_fault_refused():
    """a tag that starts like a fault but is none (fail-999, delay-0s,
    delay-3x) is refused with 501 5.1.3 naming the forms, never taken as
    an ordinary recipient; +failed and +news are ordinary subaddresses"""
    srv.clear_queue()
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        for tag in ("fail-999", "FAIL-data-550", "delay-0s", "delay-301s",
                    "delay-3x"):
            r = c.cmd("RCPT TO:<u+%s@example.test>" % tag)
            check(r, 501, "5.1.3")
            assert_in("+fail-NNN, +fail-data-NNN, +delay-Ns or +drop",
                      r[1][0], "reply to +%s" % tag)
        c.expect("RCPT TO:<u+failed@example.test>", 250, "2.1.5")
        c.expect("RCPT TO:<u+news@example.test>", 250, "2.1.5")


def test_all_refused_smtplib():
    """the only recipient refused: smtplib raises SMTPRecipientsRefused"""
    with smtp() as s:
        try:
            s.sendmail("app@client.example", ["x+FAIL-451@example.test"],
                       MSG)
        except smtplib.SMTPRecipientsRefused as e:
            assert_eq(e.recipients["x+FAIL-451@example.test"][0], 451,
                      "code")
        else:
            raise AssertionError("no SMTPRecipientsRefused")


def test_data_451_nothing_stored_session_goes_on():
    """x+fail-data-451@: 451 4.3.0 after the data, nothing stored; the
    next message on the same connection is queued"""
    srv.clear_queue()
    with smtp() as s:
        try:
            s.sendmail("app@client.example",
                       ["x+fail-data-451@example.test"], MSG)
        except smtplib.SMTPDataError as e:
            assert_eq(e.smtp_code, 451, "code")
            assert e.smtp_error.startswith(b"4.3.0 "), e.smtp_error
        else:
            raise AssertionError("no SMTPDataError")
        assert_eq(srv.queue_names(), [], "queue after fail-data-451")
        s.sendmail("app@client.example", ["ok@example.test"], MSG)
    assert_eq(len(srv.queue_names()), 1, "queue after the next message")


def test_data_codes():
    """each +fail-data-NNN gives NNN after the dot"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        for code in (451, 452, 552, 554):
            c.expect("MAIL FROM:<app@client.example>", 250)
            c.expect("RCPT TO:<d+fail-data-%d@example.test>" % code, 250)
            check(c.cmd("DATA"), 354)
            c.send(MSG + b".\r\n")
            check(c.reply(), code)


def test_delay_holds_250_after_storing():
    """x+delay-Ns@: the file is in queue/ while the 250 is held back;
    then the 250 names that file's queue ID"""
    srv.clear_queue()
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        c.expect("RCPT TO:<slow+delay-4s@example.test>", 250)
        check(c.cmd("DATA"), 354)
        start = time.monotonic()
        c.send(MSG + b".\r\n")
        wait_until(lambda: len(srv.queue_names()) == 1, 30, "stored")
        stored = time.monotonic()
        r = c.reply(timeout=60)
        waited = time.monotonic() - start
        qid = queued_qid(r)
        assert_eq(srv.queue_names(), [qid + ".eml"], "the stored file")
        # A lower bound only: load can make the wait longer, never shorter.
        assert waited >= 4.0, "250 after %.2f s" % waited
        print("# stored after %.3f s, 250 after %.3f s" %
              (stored - start, waited))
        c.expect("NOOP", 250)


def test_delay_client_gone():
    """the client leaves while its 250 is held back: the message stays,
    mxd goes on (and frees the session: the ASan run checks leaks)"""
    srv.clear_queue()
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        c.expect("RCPT TO:<gone+delay-60s@example.test>", 250)
        check(c.cmd("DATA"), 354)
        c.send(MSG + b".\r\n")
        wait_until(lambda: len(srv.queue_names()) == 1, 30, "stored")
        qid = srv.queue_names()[0][:-4]
    # Seen at once, not after the 60 s: mxd reads while it holds the 250.
    srv.wait_log(r"disconnect client=\S+ reason=eof .*qids=%s" % qid, 30)
    with smtp() as s:
        s.noop()


def test_delay_cut_short_by_shutdown():
    """mxd stopping while a 250 is held back: the client hears its 250,
    then 421, at once; the message is stored"""
    with Server(domains="example.test") as one:
        with one.client() as c:
            c.expect("EHLO client.example", 250)
            c.expect("MAIL FROM:<app@client.example>", 250)
            c.expect("RCPT TO:<stop+delay-300s@example.test>", 250)
            check(c.cmd("DATA"), 354)
            c.send(MSG + b".\r\n")
            wait_until(lambda: len(one.queue_names()) == 1, 30, "stored")
            one.terminate()
            qid = queued_qid(c.reply(timeout=30))
            check(c.reply(timeout=30), 421)
        assert_eq(one.queue_names(), [qid + ".eml"], "stored")


def test_drop_closes_nothing_stored():
    """x+drop@: the connection closes after the data without a reply;
    nothing is stored"""
    srv.clear_queue()
    with smtp() as s:
        try:
            s.sendmail("app@client.example", ["x+drop@example.test"], MSG)
        except smtplib.SMTPServerDisconnected:
            pass
        else:
            raise AssertionError("sendmail returned after +drop")
    assert_eq(srv.queue_names(), [], "queue after +drop")
    srv.wait_log(r"fault drop size=\d+; nothing kept")
    srv.wait_log(r"reason=fault-drop")


def test_first_data_fault_wins():
    """two recipients asking for different failures: the first wins"""
    srv.clear_queue()
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        c.expect("RCPT TO:<a+fail-data-554@example.test>", 250)
        c.expect("RCPT TO:<b+drop@example.test>", 250)
        check(c.cmd("DATA"), 354)
        c.send(MSG + b".\r\n")
        check(c.reply(), 554, "5.6.0")
        c.expect("NOOP", 250)
    assert_eq(srv.queue_names(), [], "queue")


def test_off_means_ordinary_subaddress():
    """sink_faults = no: the same addresses are ordinary recipients"""
    with Server(domains="example.test", sink_faults="no") as off:
        with smtplib.SMTP("127.0.0.1", off.port, timeout=30) as s:
            refused = s.sendmail(
                "app@client.example",
                ["x+fail-550@example.test", "y+fail-data-451@example.test",
                 "z+drop@example.test"], MSG)
        assert_eq(refused, {}, "refused")
        assert_eq(len(off.queue_names()), 1, "stored")


def test_relay_denied_wins():
    """a fault tag does not open relaying: another domain is still
    refused as a relay"""
    with srv.client() as c:
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<app@client.example>", 250)
        c.expect("RCPT TO:<x+fail-450@elsewhere.example>", 550, "5.7.1")


if __name__ == "__main__":
    run(globals())

#!/usr/bin/env python3
"""
t_auth.py: SMTP AUTH (RFC 4954) through cyrus-sasl with a sasldb made at
test time, typed by hand: which mechanisms are offered before and after
TLS (auth_plaintext), PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256 dialogues,
cancel and bad base64, growing delays and the failure limit, the
submission port (RFC 6409) and relaying only for authenticated clients.
"""

import base64
import os
import smtplib
import subprocess
import time

from mxdtest import (LazyServer, Skip, check, queued_qid, assert_eq,
                     assert_in, need_tool, run)
from tlstest import (LazyTlsServer, TlsServer, USER, PASSWORD, REALM, b64,
                     default_pki, plain_ir, cram_md5_response, Scram,
                     new_qids, check_stored, check_logged, timed_reply,
                     session_of, run_tool)

WRONG = "wr0ng-pw-xyzzy"

# auth_plaintext=tls (the default): PLAIN and LOGIN only under TLS.
tlsauth = LazyTlsServer(sasl=True, smtps=True, submission=True,
                        domains="example.org", auth_delay_max=0)
# The lab: PLAIN and LOGIN in plaintext from 127.0.0.1.
lab = LazyTlsServer(sasl=True, submission=True, domains="example.org",
                    auth_plaintext="loopback", auth_delay_max=0,
                    auth_max_failures=2)
# Real delays, capped at 2 s.
slow = LazyTlsServer(tls=False, sasl=True, auth_plaintext="loopback",
                     auth_delay_max=2)
noauth = LazyServer()


def mechs(kw):
    return kw.get("AUTH", "").split()


def test_no_plaintext_mechs_before_tls():
    """auth_plaintext=tls: before TLS EHLO offers CRAM-MD5/SCRAM but not
    PLAIN/LOGIN; AUTH PLAIN and AUTH LOGIN get 538 5.7.11"""
    with tlsauth.client() as c:
        m = mechs(c.ehlo())
        assert "PLAIN" not in m and "LOGIN" not in m, m
        assert_in("CRAM-MD5", m, "mechanisms before TLS")
        r = c.expect("AUTH PLAIN " + plain_ir(), 538, "5.7.11")
        assert_in("STARTTLS", r[0], "538 where STARTTLS is offered")
        c.expect("AUTH LOGIN", 538, "5.7.11")
        c.expect("AUTH plain", 538, "5.7.11")
        # Refused, not failed: no 535, no delay, session still fine.
        c.expect("NOOP", 250, "2.0.0")
        sid = session_of(tlsauth, c)
    assert tlsauth.count_log(r"s=%s auth failed " % sid) == 0, \
        "a 538 counted as a failed authentication"


def test_plaintext_mechs_after_starttls():
    """after STARTTLS, EHLO offers PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 and
    AUTH PLAIN works; the message is `with ESMTPSA`"""
    before = set(tlsauth.queue_names())
    with tlsauth.client() as c:
        c.ehlo()
        c.starttls()
        m = mechs(c.ehlo())
        for want in ("PLAIN", "LOGIN", "CRAM-MD5"):
            assert_in(want, m, "mechanisms under TLS")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        # Authenticated: AUTH is no longer offered.
        assert "AUTH" not in c.ehlo(), "AUTH offered after success"
        qid = c.send_message(sender="a@b.c", rcpts=["r@example.org"])
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(new_qids(tlsauth, before), [qid], "new messages")
    check_stored(tlsauth, qid, "ESMTPSA", tls=True, auth=("PLAIN", USER))
    check_logged(tlsauth, qid, "ESMTPSA", tls=True, auth=("PLAIN", USER))


def test_cram_md5_without_tls():
    """CRAM-MD5 is allowed before TLS: 334 challenge, response, 235; the
    message is `with ESMTPA`, no TLS comment"""
    before = set(tlsauth.queue_names())
    with tlsauth.client() as c:
        c.ehlo()
        r = c.cmd("AUTH CRAM-MD5")
        check(r, 334, None, "AUTH CRAM-MD5")
        chal = r[1][0]
        assert_in(b"@mx.test>", base64.b64decode(chal),
                  "challenge names the server")
        c.expect(cram_md5_response(chal), 235, "2.7.0")
        qid = c.send_message(sender="a@b.c", rcpts=["r@example.org"])
    assert_eq(new_qids(tlsauth, before), [qid], "new messages")
    check_stored(tlsauth, qid, "ESMTPA", tls=False, auth=("CRAM-MD5", USER))
    check_logged(tlsauth, qid, "ESMTPA", tls=False, auth=("CRAM-MD5", USER))


def test_scram_sha_256():
    """SCRAM-SHA-256 (RFC 7677): client-first, server-first, proof, the
    server signature as a 334, an empty line, 235"""
    with lab.client() as c:
        m = mechs(c.ehlo())
        if "SCRAM-SHA-256" not in m:
            raise Skip("libsasl2 has no SCRAM-SHA-256 plugin")
        sc = Scram()
        r = c.cmd("AUTH SCRAM-SHA-256 " + sc.first())
        check(r, 334, None, "server-first")
        r = c.cmd(sc.final(r[1][0]))
        check(r, 334, None, "server-final")
        sc.verify(r[1][0])
        c.expect("", 235, "2.7.0")
    lab.wait_log(r"auth ok client=\[127\.0\.0\.1\] sasl_method=SCRAM-SHA-256 "
                 r"sasl_username=%s$" % USER)


def test_lab_plain_loopback():
    """auth_plaintext=loopback: PLAIN works on 127.0.0.1 without TLS; the
    message is `with ESMTPA` `(authenticated as alice@mx.test with PLAIN)`"""
    before = set(lab.queue_names())
    with lab.client() as c:
        m = mechs(c.ehlo())
        assert_in("PLAIN", m, "mechanisms")
        assert_in("LOGIN", m, "mechanisms")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        qid = c.send_message(sender="a@b.c", rcpts=["r@example.org"])
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(new_qids(lab, before), [qid], "new messages")
    e = check_stored(lab, qid, "ESMTPA", tls=False, auth=("PLAIN", USER))
    assert_in("(authenticated as alice@mx.test with PLAIN)",
              e.received_text, "Received:")
    check_logged(lab, qid, "ESMTPA", tls=False, auth=("PLAIN", USER))


def test_auth_login_by_hand():
    """the tutorial's AUTH LOGIN: 334 VXNlcm5hbWU6, 334 UGFzc3dvcmQ6,
    235 2.7.0 Authentication successful"""
    with lab.client() as c:
        c.ehlo()
        assert_eq(c.cmd("AUTH LOGIN"), (334, ["VXNlcm5hbWU6"]), "first 334")
        assert_eq(c.cmd(b64(USER)), (334, ["UGFzc3dvcmQ6"]), "second 334")
        assert_eq(c.cmd(b64(PASSWORD)),
                  (235, ["2.7.0 Authentication successful"]), "235")
    lab.wait_log(r"auth ok client=\[127\.0\.0\.1\] sasl_method=LOGIN "
                 r"sasl_username=%s$" % USER)


def test_auth_login_initial_response():
    """`AUTH LOGIN <base64 user>` skips the Username: prompt"""
    with lab.client() as c:
        c.ehlo()
        assert_eq(c.cmd("AUTH LOGIN " + b64(USER)), (334, ["UGFzc3dvcmQ6"]),
                  "334 Password:")
        c.expect(b64(PASSWORD), 235, "2.7.0")


def test_auth_plain_no_initial_response():
    """`AUTH PLAIN` alone: `334 ` (empty challenge), then the response"""
    with lab.client() as c:
        c.ehlo()
        assert_eq(c.cmd("AUTH PLAIN"), (334, [""]), "empty challenge")
        c.expect(plain_ir(), 235, "2.7.0")


def test_auth_cancel():
    """`*` cancels an exchange: 501 5.7.0; cancels are not failures, and
    AUTH can be tried again"""
    with lab.client() as c:
        c.ehlo()
        check(c.cmd("AUTH LOGIN"), 334)
        c.expect("*", 501, "5.7.0")
        check(c.cmd("AUTH PLAIN"), 334)
        c.expect("*", 501, "5.7.0")
        # auth_max_failures=2: were the cancels failures, this were 421.
        c.expect("AUTH PLAIN " + plain_ir(password=WRONG), 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")


def test_auth_bad_base64():
    """bad base64 as initial response or as a response: 501 5.5.2"""
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN !!not*base64!!", 501, "5.5.2")
        check(c.cmd("AUTH LOGIN"), 334)
        c.expect("%%% ???", 501, "5.5.2")
        # Not in an exchange any more: a normal command works.
        c.expect("NOOP", 250, "2.0.0")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")


def test_auth_response_too_long():
    """RFC 4954 4: an AUTH line may be 12288 octets; a response or an
    initial response over that gets 500 5.5.6 (RFC 4954 6) and ends the
    exchange: the next line is a command again, not a response"""
    with lab.client() as c:
        c.ehlo()
        check(c.cmd("AUTH LOGIN"), 334)
        check(c.cmd("QUJD" * 3250), 500, "5.5.6", "13000-octet response")
        c.expect("NOOP", 250, "2.0.0")
        check(c.cmd("AUTH PLAIN " + "QUJD" * 3250), 500, "5.5.6",
              "AUTH PLAIN with a 13000-octet initial response")
        c.expect("NOOP", 250, "2.0.0")
        # 12288 octets exactly is a response: libsasl2 judges it (535).
        check(c.cmd("AUTH PLAIN"), 334)
        check(c.cmd("QUJD" * 3072), 535, "5.7.8", "12288-octet response")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")


LONG_USER = "u" * (150 - len("@" + REALM)) + "@" + REALM
LONG_PASSWORD = "".join(chr(33 + i % 94) for i in range(255))


def long_user():
    """Add LONG_USER (150 octets) with LONG_PASSWORD (255 octets) to the
    sasldb of the shared Pki; RFC 4616 2 says PLAIN takes both."""
    pki = default_pki()
    pki.sasl_opts()
    if "long" in pki.sasl_done:
        return
    p = subprocess.run([need_tool("saslpasswd2"), "-p", "-f",
                        os.path.join(pki.dir, "sasldb2"), "-u", REALM,
                        LONG_USER.split("@")[0]],
                       input=(LONG_PASSWORD + "\n").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=15)
    if p.returncode != 0:
        raise AssertionError("saslpasswd2: %r" % p.stdout)
    pki.sasl_done.add("long")


def test_long_plain_credentials():
    """a 150-octet user and a 255-octet password (RFC 4616 2): the PLAIN
    response is 544 octets, more than a command line; AUTH PLAIN with it
    as initial response (555 octets) and as a response both get 235"""
    long_user()
    ir = plain_ir(user=LONG_USER, password=LONG_PASSWORD)
    assert_eq(len(ir), 544, "PLAIN response length")
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + ir, 235, "2.7.0")
    with lab.client() as c:
        c.ehlo()
        assert_eq(c.cmd("AUTH PLAIN"), (334, [""]), "empty challenge")
        c.expect(ir, 235, "2.7.0")
    lab.wait_log(r"auth ok client=\[127\.0\.0\.1\] sasl_method=PLAIN "
                 r"sasl_username=%s$" % LONG_USER)
    assert LONG_PASSWORD not in lab.log_text(), "password in the log"
    assert ir not in lab.log_text(), "PLAIN response in the log"


def test_long_credentials_smtplib():
    """smtplib logs in with the 150-octet user and 255-octet password by
    PLAIN (initial response and without), LOGIN and CRAM-MD5, and sends"""
    long_user()
    for mech, ir_ok in (("PLAIN", True), ("PLAIN", False),
                        ("LOGIN", True), ("CRAM-MD5", True)):
        with smtplib.SMTP("127.0.0.1", lab.port, timeout=10) as s:
            s.ehlo("client.test")
            s.user, s.password = LONG_USER, LONG_PASSWORD
            fn = getattr(s, "auth_" + mech.lower().replace("-", "_"))
            code, _ = s.auth(mech, fn, initial_response_ok=ir_ok)
            assert_eq(code, 235, "smtplib %s (initial response %s)" %
                      (mech, ir_ok))
            s.sendmail("a@b.c", ["r@example.org"],
                       b"Subject: long\r\n\r\nhi\r\n")


def test_long_credentials_swaks():
    """swaks --auth PLAIN with the 150-octet user and 255-octet password"""
    swaks = need_tool("swaks")
    long_user()
    rc, out = run_tool([swaks, "--server", "127.0.0.1", "--port",
                        str(lab.port), "--from", "a@b.c", "--to",
                        "r@example.org", "--auth", "PLAIN", "--auth-user",
                        LONG_USER, "--auth-password", LONG_PASSWORD])
    assert_eq(rc, 0, "swaks exit status; output:\n%s" % out)
    assert_in("235 2.7.0", out, "swaks output")


def test_auth_syntax_and_order():
    """bare AUTH 501 5.5.4; unknown mechanism 504 5.5.4; AUTH twice
    503 5.5.1"""
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH", 501, "5.5.4")
        c.expect("AUTH NOSUCHMECH", 504, "5.5.4")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        c.expect("AUTH PLAIN " + plain_ir(), 503, "5.5.1")
        c.expect("AUTH LOGIN", 503, "5.5.1")


def test_auth_before_ehlo():
    """AUTH before EHLO is 503 5.5.1, and its initial response (the
    password in base64) is not written to the log"""
    ir = plain_ir(password="early-pw-plugh")
    with lab.client() as c:
        c.expect("AUTH PLAIN " + ir, 503, "5.5.1")
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        sid = session_of(lab, c)
    m = lab.wait_log(r"s=%s reject client=\[127\.0\.0\.1\] reply=\"503 "
                     r"5\.5\.1 .*" % sid)
    assert ir not in lab.log_text(), "AUTH secret in the log: %r" % \
        m.group(0)


def test_auth_bad_octet_not_logged():
    """an AUTH line with a control character is 500 5.5.2, and its
    initial response is not written to the log"""
    ir = plain_ir(password="ctl-pw-plover")
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + ir + "\x01", 500, "5.5.2")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        sid = session_of(lab, c)
    m = lab.wait_log(r"s=%s reject client=\[127\.0\.0\.1\] reply=\"500 "
                     r"5\.5\.2 .*" % sid)
    assert ir not in lab.log_text(), "AUTH secret in the log: %r" % \
        m.group(0)


def test_auth_in_transaction():
    """AUTH after MAIL is 503 5.5.1; after RSET it works"""
    with lab.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("AUTH PLAIN " + plain_ir(), 503, "5.5.1")
        c.expect("RSET", 250, "2.0.0")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")


def test_mail_auth_parameter():
    """`MAIL FROM:<a@b.c> AUTH=<>` and AUTH=xtext are accepted (250 2.1.0)"""
    with lab.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c> AUTH=<>", 250, "2.1.0")
        c.expect("RSET", 250, "2.0.0")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        c.expect("MAIL FROM:<a@b.c> AUTH=alice+40mx.test", 250, "2.1.0")


def test_wrong_password():
    """wrong password 535 5.7.8, logged as `auth failed`; the right one
    then works"""
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(password=WRONG), 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        sid = session_of(lab, c)
    lab.wait_log(r"s=%s auth failed client=\[127\.0\.0\.1\] "
                 r"sasl_method=PLAIN failures=1 reason=\"authentication "
                 r"failure\"$" % sid)
    lab.wait_log(r"s=%s reject client=\[127\.0\.0\.1\] reply=\"535 5\.7\.8 "
                 r".*\" command=\"AUTH PLAIN( \*\*\*)?\"$" % sid)
    lab.wait_log(r"s=%s auth ok client=\[127\.0\.0\.1\] sasl_method=PLAIN "
                 r"sasl_username=%s$" % (sid, USER))


def test_unknown_user_and_authzid():
    """unknown user 535 5.7.8; PLAIN with someone else's authzid 535 5.7.8"""
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(user="mallory@mx.test"), 535,
                 "5.7.8")
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(authzid="bob@mx.test"), 535,
                 "5.7.8")


def test_too_many_failures():
    """auth_max_failures=2: the second failure is 421 4.7.0 and the
    server closes the connection"""
    with lab.client() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(password=WRONG), 535, "5.7.8")
        check(c.cmd("AUTH LOGIN"), 334)
        check(c.cmd(b64(USER)), 334)
        r = c.cmd(b64(WRONG))
        check(r, 421, "4.7.0", "second failure")
        assert_in("Too many failed authentications", r[1][0], "421 text")
        assert c.wait_closed(), "connection open after 421"
    lab.wait_log(r"auth failed client=\[127\.0\.0\.1\] sasl_method=LOGIN "
                 r"failures=2 ")


def test_failure_delay_grows():
    """auth_delay_max=2: the 1st 535 comes after ~1 s, the 2nd after ~2 s
    (a pipelined NOOP waits behind it); then the right password is quick"""
    with slow.client(nodelay=True) as c:
        c.ehlo()
        t1, r = timed_reply(c, "AUTH PLAIN " + plain_ir(password=WRONG))
        check(r, 535, "5.7.8", "first failure")
        t0 = time.monotonic()
        c.send("AUTH PLAIN %s\r\nNOOP\r\n" % plain_ir(password=WRONG))
        check(c.reply(), 535, "5.7.8", "second failure")
        t2 = time.monotonic() - t0
        check(c.reply(), 250, "2.0.0", "NOOP after the delayed 535")
        t3, r = timed_reply(c, "AUTH PLAIN " + plain_ir())
        check(r, 235, "2.7.0", "right password")
    assert 0.9 <= t1 < 1.8, "first delay %.2fs, want ~1s" % t1
    assert 1.9 <= t2 < 3.0, "second delay %.2fs, want ~2s" % t2
    assert t2 > t1 + 0.5, "delay did not grow: %.2f then %.2f" % (t1, t2)
    assert t3 < 1.0, "success took %.2fs" % t3


def test_submission_needs_auth():
    """submission port: MAIL without AUTH 530 5.7.0, in plaintext and
    under TLS; after AUTH a foreign domain is accepted and stored"""
    before = set(tlsauth.queue_names())
    with tlsauth.submission() as c:
        kw = c.ehlo()
        assert_in("STARTTLS", kw, "EHLO on the submission port")
        assert_in("AUTH", kw, "EHLO on the submission port")
        c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
        c.starttls()
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
        assert_eq(tlsauth.queue_names(), sorted(before), "queue")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        c.expect("MAIL FROM:<alice@mx.test>", 250, "2.1.0")
        c.expect("RCPT TO:<friend@foreign.example>", 250, "2.1.5")
        check(c.cmd("DATA"), 354)
        c.send(b"Subject: submitted\r\n\r\nhi\r\n.\r\n")
        qid = queued_qid(c.reply())
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(new_qids(tlsauth, before), [qid], "new messages")
    e = check_stored(tlsauth, qid, "ESMTPSA", tls=True, auth=("PLAIN", USER))
    assert_eq(e.recipients, ["friend@foreign.example"], "recipients")
    sid = check_logged(tlsauth, qid, "ESMTPSA", auth=("PLAIN", USER))
    tlsauth.wait_log(r"s=%s connect client=\[127\.0\.0\.1\]:\d+ submission$"
                     % sid)
    tlsauth.wait_log(r"s=%s reject client=\[127\.0\.0\.1\] reply=\"530 "
                     r"5\.7\.0 " % sid)


def test_smtps_auth_login():
    """smtps port: EHLO offers PLAIN and LOGIN at once; AUTH LOGIN works"""
    with tlsauth.smtps() as c:
        m = mechs(c.ehlo())
        assert_in("PLAIN", m, "mechanisms on smtps")
        check(c.cmd("AUTH LOGIN"), 334)
        check(c.cmd(b64(USER)), 334)
        c.expect(b64(PASSWORD), 235, "2.7.0")


def test_no_open_relay():
    """port 25 without AUTH: a foreign domain is 550 5.7.1, ours is 250;
    with AUTH (over TLS) the foreign domain is accepted"""
    with tlsauth.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<x@foreign.example>", 550, "5.7.1")
        c.expect("RCPT TO:<x@example.org>", 250, "2.1.5")
        c.expect("RSET", 250, "2.0.0")
        c.starttls()
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<x@foreign.example>", 550, "5.7.1")
        c.expect("RSET", 250, "2.0.0")
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<x@foreign.example>", 250, "2.1.5")


def test_auth_not_configured():
    """without auth=yes: no AUTH in EHLO and AUTH is 502 5.5.1"""
    with noauth.client() as c:
        lines = c.expect("EHLO client.test", 250)
        kw = [l.split()[0].upper() for l in lines[1:]]
        assert "AUTH" not in kw, lines
        r = c.expect("AUTH PLAIN " + plain_ir(), 502, "5.5.1")
        assert_in("auth = no", r[0], "reason")


def test_sasl_app_and_mech_list():
    """sasl_app names the <app>.conf read from sasl_config_dir: a
    mech_list of CRAM-MD5 alone is what EHLO offers; PLAIN is 504"""
    default_pki().sasl_opts("mxdcram", mechs="CRAM-MD5")
    s = TlsServer(tls=False, sasl=True, sasl_app="mxdcram",
                  auth_plaintext="always", auth_delay_max=0)
    with s:
        with s.client() as c:
            assert_eq(mechs(c.ehlo()), ["CRAM-MD5"], "mechanisms")
            c.expect("AUTH PLAIN " + plain_ir(), 504, "5.5.4")
            r = c.cmd("AUTH CRAM-MD5")
            check(r, 334)
            c.expect(cram_md5_response(r[1][0]), 235, "2.7.0")


def test_auth_mechanisms_allow_list():
    """with no mech_list in <app>.conf libsasl2 would offer every plugin,
    NTLM and DIGEST-MD5 included; mxd offers only auth_mechanisms (by
    default PLAIN LOGIN CRAM-MD5 SCRAM-* GSSAPI), and refuses the others
    with 504 5.5.4; auth_mechanisms=* offers what libsasl2 has"""
    default_pki().sasl_opts("mxdall", mechs=None)
    default = TlsServer(tls=False, sasl=True, sasl_app="mxdall",
                        auth_plaintext="always", auth_delay_max=0)
    with default:
        with default.client() as c:
            offered = mechs(c.ehlo())
            assert_in("PLAIN", offered, "default mechanisms")
            assert_in("CRAM-MD5", offered, "default mechanisms")
            for m in offered:
                assert m in ("PLAIN", "LOGIN", "CRAM-MD5", "GSSAPI") or \
                    m.startswith("SCRAM-SHA-"), "offered %s" % m
            c.expect("AUTH NTLM", 504, "5.5.4")
            c.expect("AUTH DIGEST-MD5", 504, "5.5.4")
            c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
    every = TlsServer(tls=False, sasl=True, sasl_app="mxdall",
                      auth_plaintext="always", auth_delay_max=0,
                      auth_mechanisms="*")
    with every:
        with every.client() as c:
            offered = mechs(c.ehlo())
            assert_in("DIGEST-MD5", offered, "auth_mechanisms=*")
            assert_in("NTLM", offered, "auth_mechanisms=*")


def test_starttls_forgets_auth():
    """RFC 3207 4.2: after STARTTLS the server forgets what it learned in
    plaintext, AUTH included (or refuses STARTTLS after AUTH with 503)"""
    before = set(lab.queue_names())
    with lab.submission() as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        r = c.cmd("STARTTLS")
        if r[0] == 503:
            check(r, 503, "5.5.1", "STARTTLS after AUTH")
            return
        check(r, 220, "2.0.0", "STARTTLS after AUTH")
        c.wrap()
        kw = c.ehlo()
        # The submission port must ask for AUTH again ...
        r = c.cmd("MAIL FROM:<a@b.c>")
        check(r, 530, "5.7.0", "MAIL on submission after STARTTLS without "
              "a new AUTH (AUTH offered again: %r)" % kw.get("AUTH"))
        assert_in("PLAIN", mechs(kw), "AUTH offered again under TLS")
        # ... and a new AUTH then works.
        c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
        qid = c.send_message(sender="a@b.c", rcpts=["x@foreign.example"])
    assert_eq(new_qids(lab, before), [qid], "new messages")
    check_stored(lab, qid, "ESMTPSA", tls=True, auth=("PLAIN", USER))


def test_no_secrets_in_log():
    """no password, and no base64 of one, ever reaches the log"""
    for srv in (tlsauth, lab, slow):
        log = srv.log_text()
        for secret in (PASSWORD, WRONG, b64(PASSWORD), b64(WRONG),
                       plain_ir(), plain_ir(password=WRONG)):
            assert secret not in log, "%r in the log:\n%s" % (
                secret, "\n".join(l for l in log.splitlines()
                                  if secret in l))
    # The bad-base64 response of test_auth_bad_base64 is logged masked.
    assert_in('command="(AUTH response)"', lab.log_text(), "masked response")


def broken_sasl(app, conf):
    """<app>.conf in the Pki directory with conf as its back end (one that
    cannot work); the AUTH settings for mxd (TlsServer takes sasl_app
    for itself, so it goes in args)."""
    pki = default_pki()
    opts = pki.sasl_opts(app)
    opts["args"] = ["-o", "sasl_app=" + opts.pop("sasl_app")]
    path = os.path.join(pki.dir, app + ".conf")
    with open(path, "w") as f:
        f.write(conf % {"dir": pki.dir})
    os.chmod(path, 0o644)
    return opts


def test_backend_down_is_temporary():
    """the SASL back end cannot work (the sasldb is a directory; saslauthd
    is not running): every AUTH, by initial response or by steps, is
    454 4.7.0 at once (RFC 4954 6), not 535; it is not a failed attempt,
    so four of them (auth_max_failures=2) neither delay nor close; the
    log warns what broke; mail can still be sent"""
    dbdir = os.path.join(default_pki().sasl_opts()["sasl_config_dir"],
                         "sasldb-is-a-dir")
    # A file at start (mxd checks the sasldb then), a directory later.
    if os.path.isdir(dbdir):
        os.rmdir(dbdir)
    with open(dbdir, "w"):
        pass
    os.chmod(dbdir, 0o644)
    backends = {
        "mxddbdir": "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %(dir)s/sasldb-is-a-dir\n"
                    "mech_list: PLAIN LOGIN CRAM-MD5\n",
        "mxdnosaslauthd": "pwcheck_method: saslauthd\n"
                          "saslauthd_path: %(dir)s/no-saslauthd/mux\n"
                          "mech_list: PLAIN LOGIN\n",
    }
    for app, conf in sorted(backends.items()):
        srv = TlsServer(tls=False, domains="example.org",
                        auth_plaintext="loopback", auth_max_failures=2,
                        auth_delay_max=8, **broken_sasl(app, conf))
        with srv:
            if os.path.isfile(dbdir):
                os.unlink(dbdir)
                os.mkdir(dbdir)
            with srv.client() as c:
                c.ehlo()
                sid = session_of(srv, c)
                for i in range(2):
                    t, r = timed_reply(c, "AUTH PLAIN " + plain_ir())
                    check(r, 454, "4.7.0", "%s: AUTH PLAIN #%d" % (app, i))
                    assert t < 0.5, "%s: 454 after %.2fs" % (app, t)
                    check(c.cmd("AUTH LOGIN"), 334)
                    check(c.cmd(b64(USER)), 334)
                    t, r = timed_reply(c, b64(PASSWORD))
                    check(r, 454, "4.7.0", "%s: AUTH LOGIN #%d" % (app, i))
                    assert t < 0.5, "%s: 454 after %.2fs" % (app, t)
                c.expect("NOOP", 250, "2.0.0")
                c.send_message(sender="a@b.c", rcpts=["r@example.org"])
                c.expect("QUIT", 221, "2.0.0")
            srv.stop()
            assert_eq(srv.count_log(r"s=%s auth failed " % sid), 0,
                      "%s: failures counted" % app)
            assert_eq(srv.count_log(r"s=%s auth unavailable client=\[127"
                                    r"\.0\.0\.1\] sasl_method=(PLAIN|LOGIN) "
                                    r"reason=\"." % sid), 4,
                      "%s: warnings" % app)


def test_need_tls_without_tls():
    """auth = yes, no certificate, auth_plaintext=tls: EHLO offers no
    STARTTLS and no PLAIN/LOGIN; AUTH PLAIN is 538 5.7.11 saying there
    is no TLS and naming the mechanisms that do work (not `use
    STARTTLS`); the TLS handshake of a confused client is told there is
    no TLS"""
    srv = TlsServer(tls=False, sasl=True, auth_delay_max=0)
    with srv:
        with srv.client() as c:
            kw = c.ehlo()
            assert "STARTTLS" not in kw, kw
            m = mechs(kw)
            assert "PLAIN" not in m and "LOGIN" not in m, m
            assert_in("CRAM-MD5", m, "mechanisms")
            for cmd in ("AUTH PLAIN " + plain_ir(), "AUTH login"):
                r = c.expect(cmd, 538, "5.7.11")
                text = r[0]
                assert "STARTTLS" not in text, text
                assert_in("no TLS", text, "538 text")
                assert_in(cmd.split()[1].upper() + " sends the password",
                          text, "538 text")
                assert_in("CRAM-MD5", text, "538 text")
            r = c.cmd("AUTH CRAM-MD5")
            check(r, 334)
            c.expect(cram_md5_response(r[1][0]), 235, "2.7.0")
        with srv.client() as c:
            c.send(b"\x16\x03\x01\x00\x05hello")
            r = c.reply()
            check(r, 221, "2.7.0", "a TLS hello")
            assert "STARTTLS" not in r[1][0] and "smtps" not in r[1][0], r
            assert_in("no TLS", r[1][0], "221 text")


def test_submission_without_usable_mechanism():
    """submission port, no certificate, only PLAIN and LOGIN allowed:
    EHLO offers no AUTH and no STARTTLS; MAIL is 530 5.7.0 without
    `use AUTH first`; AUTH PLAIN is 538 5.7.11 saying nothing works"""
    srv = TlsServer(tls=False, sasl=True, submission=True,
                    auth_mechanisms="PLAIN LOGIN", auth_delay_max=0)
    with srv:
        with srv.submission() as c:
            kw = c.ehlo()
            assert "AUTH" not in kw and "STARTTLS" not in kw, kw
            r = c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
            assert "use AUTH" not in r[0] and "STARTTLS" not in r[0], r
            assert_in("no authentication mechanism is usable", r[0],
                      "530 text")
            r = c.expect("AUTH PLAIN " + plain_ir(), 538, "5.7.11")
            assert "STARTTLS" not in r[0], r
            assert_in("no mechanism is usable", r[0], "538 text")


def test_submission_needs_starttls_first():
    """submission port with a certificate, only PLAIN and LOGIN allowed:
    before TLS MAIL is 530 5.7.0 `use STARTTLS, then AUTH`"""
    srv = TlsServer(sasl=True, submission=True,
                    auth_mechanisms="PLAIN LOGIN", auth_delay_max=0)
    with srv:
        with srv.submission() as c:
            kw = c.ehlo()
            assert "AUTH" not in kw, kw
            r = c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
            assert_in("use STARTTLS, then AUTH", r[0], "530 text")
            c.starttls()
            assert_eq(mechs(c.ehlo()), ["PLAIN", "LOGIN"], "under TLS")
            r = c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
            assert_in("use AUTH first", r[0], "530 text under TLS")
            c.expect("AUTH PLAIN " + plain_ir(), 235, "2.7.0")


if __name__ == "__main__":
    run(globals())

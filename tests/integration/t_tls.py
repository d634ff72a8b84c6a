#!/usr/bin/env python3
"""
t_tls.py: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) against a real
mxd, with Python's ssl module as the client: what EHLO advertises where,
the reset after STARTTLS, the plaintext-injection defence
(CVE-2011-0411), failed handshakes, tls_protocols/tls_ciphers, the
certificate reload on SIGHUP, and `mxd -t` on TLS settings.
"""

import os
import socket
import ssl

from mxdtest import (LazyServer, check, run_mxd, assert_eq, assert_in,
                     run)
from tlstest import (LazyTlsServer, TlsServer, TlsClient, Pki, make_cert,
                     client_context, check_stored, check_logged,
                     new_qids, session_of)

srv = LazyTlsServer(smtps=True, domains="example.org")
plain = LazyServer(domains="example.org")        # no certificate


def test_ehlo_offers_starttls():
    """EHLO on the plain listener advertises STARTTLS when a cert is set"""
    with srv.client() as c:
        kw = c.ehlo()
        assert_in("STARTTLS", kw, "EHLO keywords")
        assert_eq(kw["STARTTLS"], "", "STARTTLS takes no parameter")
        c.expect("QUIT", 221, "2.0.0")


def test_no_starttls_without_cert():
    """without tls_cert: no STARTTLS in EHLO, STARTTLS gets 502 5.5.1
    saying why; HELP says so too"""
    with plain.client() as c:
        lines = c.expect("EHLO client.test", 250)
        kw = [l.split()[0].upper() for l in lines[1:]]
        assert "STARTTLS" not in kw, "STARTTLS advertised: %r" % lines
        assert_in("tls_cert", c.expect("STARTTLS", 502, "5.5.1")[0],
                  "reason")
        help = [l for l in c.expect("HELP", 214, "2.0.0")
                if "STARTTLS" in l]
        assert_in("not here", help[0], "HELP")
        # The session is still plaintext SMTP and still usable.
        c.expect("NOOP", 250, "2.0.0")
        c.expect("QUIT", 221, "2.0.0")


def test_starttls_then_ehlo():
    """after STARTTLS: TLS 1.3, no STARTTLS in EHLO, STARTTLS again is
    503 5.5.1"""
    with srv.client() as c:
        c.ehlo()
        c.starttls()
        assert_eq(c.version(), "TLSv1.3", "negotiated version")
        kw = c.ehlo()
        assert "STARTTLS" not in kw, "STARTTLS advertised under TLS: %r" % kw
        c.expect("STARTTLS", 503, "5.5.1")
        # Still a working TLS session after the refusal.
        c.expect("NOOP", 250, "2.0.0")
        c.expect("QUIT", 221, "2.0.0")
        assert c.wait_closed(), "open after QUIT"
    srv.wait_log(r"tls client=\[127\.0\.0\.1\]:\d+ TLSv1\.3 with cipher "
                 r"TLS_\S+ \(\d+/\d+ bits\)$")


def test_starttls_resets_session():
    """after STARTTLS, MAIL before a new EHLO is 503 5.5.1; after EHLO a
    message is stored `with ESMTPS` `(using TLSv1.3 ...)`"""
    before = set(srv.queue_names())
    with srv.client() as c:
        c.ehlo("plain.client.test")
        c.starttls()
        c.expect("MAIL FROM:<a@b.c>", 503, "5.5.1")
        c.expect("RCPT TO:<r@example.org>", 503, "5.5.1")
        c.ehlo("tls.client.test")
        qid = c.send_message(sender="a@b.c", rcpts=["r@example.org"])
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(new_qids(srv, before), [qid], "new messages")
    e = check_stored(srv, qid, "ESMTPS", tls=True, tls_version="TLSv1.3")
    # The name given before TLS is forgotten (RFC 3207 4.2).
    assert_eq(e.field("X-Mxd-Helo"), "tls.client.test", "X-Mxd-Helo")
    assert e.received_text.startswith("Received: from tls.client.test "), \
        e.received_text
    check_logged(srv, qid, "ESMTPS", tls=True)


def test_starttls_in_transaction_drops_it():
    """STARTTLS inside a transaction: the transaction does not survive TLS"""
    with srv.client() as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("RCPT TO:<r@example.org>", 250, "2.1.5")
        c.starttls()
        c.ehlo()
        c.expect("DATA", 503, "5.5.1")
        c.expect("RCPT TO:<r@example.org>", 503, "5.5.1")
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("QUIT", 221, "2.0.0")


def test_starttls_with_argument():
    """`STARTTLS now` is 501 5.5.4 and the session stays in plaintext"""
    with srv.client() as c:
        c.ehlo()
        c.expect("STARTTLS now", 501, "5.5.4")
        c.expect("NOOP", 250, "2.0.0")
        # Plain text is still understood: STARTTLS proper works now.
        c.starttls()
        c.ehlo()
        c.expect("QUIT", 221, "2.0.0")


def test_starttls_pipelined_last():
    """`EHLO`, `NOOP` and `STARTTLS` in one write (STARTTLS last, as RFC
    2920 allows): 250, 250, 220, then a working handshake"""
    with srv.client(nodelay=True) as c:
        c.send(b"EHLO pipe.test\r\nNOOP\r\nSTARTTLS\r\n")
        check(c.reply(), 250, None, "EHLO")
        check(c.reply(), 250, "2.0.0", "NOOP")
        check(c.reply(), 220, "2.0.0", "STARTTLS")
        c.wrap()
        c.ehlo()
        c.expect("QUIT", 221, "2.0.0")
        sid = session_of(srv, c)
    srv.wait_log(r"s=%s disconnect .* reason=quit " % sid)
    assert srv.count_log(r"s=%s starttls: discarded" % sid) == 0, \
        "octets discarded although nothing followed STARTTLS"


def injection(c, tail, first, want_code, want_esc):
    """EHLO, then `STARTTLS\\r\\n` + tail in ONE write before the
    handshake; the first command sent under TLS must get its own reply."""
    c.ehlo()
    c.send(b"STARTTLS\r\n" + tail)
    check(c.reply(), 220, "2.0.0", "reply to STARTTLS")
    # Nothing may follow the 220 in plaintext.
    assert_eq(c.pending(0.2), b"", "plaintext after 220")
    c.wrap()
    r = c.cmd(first)
    check(r, want_code, want_esc, "first reply under TLS (to %r)" % first)
    return r


def test_starttls_injection_noop():
    """CVE-2011-0411: MAIL pipelined after STARTTLS in plaintext is never
    run; the first TLS reply is NOOP's; the log says octets were discarded"""
    tail = b"MAIL FROM:<evil@x.example>\r\n"
    with srv.client(nodelay=True) as c:
        r = injection(c, tail, "NOOP", 250, "2.0.0")
        assert_in("nothing done", r[1][0], "NOOP reply text")
        c.ehlo()
        # No transaction was started by the injected MAIL.
        c.expect("RCPT TO:<r@example.org>", 503, "5.5.1")
        c.expect("MAIL FROM:<a@b.c>", 250, "2.1.0")
        c.expect("QUIT", 221, "2.0.0")
    srv.wait_log(r"starttls: discarded %d octets pipelined in plaintext$" %
                 len(tail))
    assert "evil@x.example" not in srv.log_text(), \
        "the injected command reached the log"


def test_starttls_injection_mail():
    """CVE-2011-0411: injected EHLO+MAIL+RCPT are discarded; MAIL first
    under TLS is 503 5.5.1 (EHLO needed again); nothing queued"""
    tail = (b"EHLO evil.example\r\nMAIL FROM:<evil2@x.example>\r\n"
            b"RCPT TO:<victim@example.org>\r\nDATA\r\n"
            b"Subject: injected\r\n\r\nevil\r\n.\r\n")
    before = set(srv.queue_names())
    with srv.client(nodelay=True) as c:
        r = injection(c, tail, "MAIL FROM:<a@b.c>", 503, "5.5.1")
        assert_in("HELO", r[1][0], "503 asks for EHLO")
        c.ehlo()
        qid = c.send_message(sender="a@b.c", rcpts=["r@example.org"])
        c.expect("QUIT", 221, "2.0.0")
    assert_eq(new_qids(srv, before), [qid], "only the real message")
    e = check_stored(srv, qid, "ESMTPS")
    assert_eq(e.sender, "a@b.c", "sender")
    srv.wait_log(r"starttls: discarded %d octets pipelined in plaintext$" %
                 len(tail))
    log = srv.log_text()
    assert "evil2@x.example" not in log and "evil.example" not in log, \
        "the injected commands reached the log"


def test_tls_hello_on_plain_port_names_starttls():
    """a TLS ClientHello on the plain port of a server with TLS and an
    smtps listener: 221 2.7.0 pointing at STARTTLS and the smtps port"""
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(range(160))
    with srv.client() as c:
        c.send(hello)
        r = c.reply()
        check(r, 221, "2.7.0")
        assert_in("use STARTTLS, or implicit TLS on the smtps port",
                  r[1][0], "reason")
        assert c.wait_closed(), "open after a ClientHello"


def test_garbage_handshake():
    """garbage after `220 Ready to start TLS`: closed, logged `tls failed`,
    and the next client is served"""
    mark = srv.log_mark()
    with srv.client() as c:
        c.ehlo()
        check(c.cmd("STARTTLS"), 220, "2.0.0")
        port = c.sock.getsockname()[1]
        c.send(b"EHLO this is not a TLS ClientHello\r\n" * 4)
        assert c.wait_closed(), "connection still open after a bad handshake"
        # At most a TLS alert may come back; never an SMTP reply.
        assert not c.buf.startswith(b"250"), c.buf
    srv.wait_log(r"tls failed client=\[127\.0\.0\.1\]:%d reason=\"" % port,
                 since=mark)
    srv.wait_log(r"disconnect client=\[127\.0\.0\.1\]:%d reason=tls-failed"
                 % port, since=mark)
    assert_eq(srv.log_text(mark).count(" tls failed "), 1, "tls failed lines")
    with srv.client() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.expect("QUIT", 221, "2.0.0")
    assert srv.alive()


def test_plaintext_on_smtps():
    """plain SMTP on the smtps port: no greeting in clear, closed, logged
    `tls failed`, next client served"""
    mark = srv.log_mark()
    with TlsClient(srv.smtps_port, greeting=False) as c:
        port = c.sock.getsockname()[1]
        c.send(b"EHLO client.test\r\n")
        assert c.wait_closed(), "smtps port kept a plaintext client"
        assert b"ESMTP" not in c.buf, "greeting sent in plaintext: %r" % \
            c.buf
    srv.wait_log(r"tls failed client=\[127\.0\.0\.1\]:%d reason=\"" % port,
                 since=mark)
    srv.wait_log(r"connect client=\[127\.0\.0\.1\]:%d smtps$" % port,
                 since=mark)
    srv.wait_log(r"disconnect client=\[127\.0\.0\.1\]:%d reason=tls-failed"
                 % port, since=mark)
    with srv.smtps() as c:
        c.ehlo()
        c.expect("QUIT", 221, "2.0.0")


def test_disconnect_during_handshake():
    """a client that connects to smtps and leaves mid-handshake does not
    disturb the server"""
    ports = []
    mark = srv.log_mark()
    for payload in (b"", b"\x16\x03\x01\x00\x05\x01", b"\x16\x03"):
        s = socket.create_connection(("127.0.0.1", srv.smtps_port), 5)
        ports.append(s.getsockname()[1])
        if payload:
            s.sendall(payload)      # part of a TLS record, then nothing
        s.close()
    for port in ports:
        srv.wait_log(r"tls failed client=\[127\.0\.0\.1\]:%d reason=" % port,
                     since=mark)
        srv.wait_log(r"disconnect client=\[127\.0\.0\.1\]:%d "
                     r"reason=tls-failed" % port, since=mark)
    with srv.smtps() as c:
        c.ehlo()
        c.expect("QUIT", 221, "2.0.0")
    assert srv.alive()


def test_smtps_session():
    """smtps: TLS from the first octet; EHLO without STARTTLS; STARTTLS is
    503 5.5.1; a message is stored `with ESMTPS` `(using TLSv1.3`"""
    before = set(srv.queue_names())
    with srv.smtps() as c:
        assert_eq(c.version(), "TLSv1.3", "negotiated version")
        assert_eq(c.greeting[1][0].split()[0], "mx.test", "greeting host")
        kw = c.ehlo()
        assert "STARTTLS" not in kw, "STARTTLS advertised on smtps: %r" % kw
        c.expect("STARTTLS", 503, "5.5.1")
        qid = c.send_message(sender="s@b.c", rcpts=["r@example.org"])
        c.expect("QUIT", 221, "2.0.0")
        assert c.wait_closed(), "open after QUIT"
    assert_eq(new_qids(srv, before), [qid], "new messages")
    check_stored(srv, qid, "ESMTPS", tls_version="TLSv1.3")
    sid = check_logged(srv, qid, "ESMTPS")
    srv.wait_log(r"s=%s connect client=\[127\.0\.0\.1\]:\d+ smtps$" % sid)


def test_smtps_helo_has_no_esmtps():
    """HELO over TLS: stored `with SMTP` (RFC 3848 has no SMTPS) but with
    the (using TLS...) comment"""
    before = set(srv.queue_names())
    with srv.smtps() as c:
        c.expect("HELO client.test", 250)
        qid = c.send_message(sender="h@b.c", rcpts=["r@example.org"])
    assert_eq(new_qids(srv, before), [qid], "new messages")
    check_stored(srv, qid, "SMTP", tls=True)


def test_protocols_and_ciphers():
    """tls_protocols=TLSv1.2 and a tls_ciphers list: the client gets
    TLSv1.2 with that cipher; a TLS-1.3-only client fails and is logged"""
    cipher = "ECDHE-RSA-AES128-GCM-SHA256"
    with TlsServer(tls_protocols="TLSv1.2", tls_ciphers=cipher) as s:
        before = set(s.queue_names())
        with s.client() as c:
            c.ehlo()
            c.starttls()
            assert_eq((c.version(), c.cipher()), ("TLSv1.2", cipher),
                      "negotiated")
            c.ehlo()
            qid = c.send_message()
        assert_eq(new_qids(s, before), [qid], "new messages")
        e = check_stored(s, qid, "ESMTPS", tls_version="TLSv1.2")
        assert_in("TLSv1.2 with cipher %s (128/128 bits)" % cipher,
                  e.field("X-Mxd-Tls"), "X-Mxd-Tls")
        with s.client() as c:
            c.ehlo()
            check(c.cmd("STARTTLS"), 220, "2.0.0")
            try:
                c.wrap(client_context(minimum=ssl.TLSVersion.TLSv1_3))
            except (ssl.SSLError, OSError):
                pass
            else:
                raise AssertionError("TLS 1.3-only client got %s" %
                                     c.version())
        s.wait_log(r"tls failed client=\[127\.0\.0\.1\]:\d+ reason=")
        with s.client() as c:
            c.expect("EHLO again", 250)


def test_sighup_reloads_certificate():
    """SIGHUP with a new cert: the open TLS session carries on and queues
    a message; new STARTTLS and smtps connections get the new cert"""
    pki = Pki()
    with TlsServer(pki=pki, smtps=True) as s:
        old = pki.fingerprint()
        c = s.client()
        with c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            assert_eq(c.peer_fingerprint(), old, "certificate before reload")
            assert b"mx.test" in c.peer_der()
            make_cert(pki.cert, pki.key, "mx2.test")
            new = pki.fingerprint()
            assert old != new
            s.hup()
            s.wait_log(r"reloaded configuration$")
            # The old session still works, on the old certificate.
            before = set(s.queue_names())
            qid = c.send_message(subject="after reload")
            c.expect("QUIT", 221, "2.0.0")
        assert_eq(new_qids(s, before), [qid], "new messages")
        check_stored(s, qid, "ESMTPS")
        with s.client() as c2:
            c2.ehlo()
            c2.starttls()
            assert_eq(c2.peer_fingerprint(), new, "STARTTLS certificate "
                      "after reload")
            assert b"mx2.test" in c2.peer_der(), "CN=mx2.test not seen"
            c2.ehlo()
            c2.expect("QUIT", 221, "2.0.0")
        with s.smtps() as c3:
            assert_eq(c3.peer_fingerprint(), new, "smtps certificate after "
                      "reload")
            c3.expect("QUIT", 221, "2.0.0")


def test_sighup_broken_cert_keeps_old():
    """SIGHUP with a broken cert (then a mismatched key): `reload failed`,
    the running certificate stays, new TLS connections still work"""
    pki = Pki()
    with TlsServer(pki=pki, smtps=True) as s:
        good = pki.fingerprint()
        with open(pki.cert, "rb") as f:
            pem = f.read()
        with open(pki.cert + ".tmp", "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                    b"-----END CERTIFICATE-----\n")
        os.replace(pki.cert + ".tmp", pki.cert)
        s.hup()
        s.wait_log(r"reload failed, keeping the running configuration: "
                   r"tls_cert %s" % pki.cert)
        with s.client() as c:
            c.ehlo()
            c.starttls()
            assert_eq(c.peer_fingerprint(), good, "certificate")
            c.ehlo()
            c.send_message()
            c.expect("QUIT", 221, "2.0.0")
        # A good certificate with the wrong key is refused too.
        with open(pki.cert + ".tmp", "wb") as f:
            f.write(pem)
        os.replace(pki.cert + ".tmp", pki.cert)
        other = Pki(cn="other.test")
        other.tls_opts()
        with open(other.key, "rb") as f:
            okey = f.read()
        with open(pki.key, "wb") as f:
            f.write(okey)
        s.hup()
        s.wait_log_count(r"reload failed, keeping the running "
                         r"configuration: tls_key %s" % pki.key, 1)
        with s.smtps() as c:
            assert_eq(c.peer_fingerprint(), good, "certificate")
            c.ehlo()
            c.expect("QUIT", 221, "2.0.0")
        assert s.count_log(r"reloaded configuration$") == 0
        assert s.alive()


def mxd_t(*opts):
    args = ["-t"]
    for o in opts:
        args += ["-o", o]
    return run_mxd(args)


def test_check_smtps_needs_cert():
    """`mxd -t` with smtps_listen but no cert: exit 1, says why"""
    rc, out, err = mxd_t("smtps_listen=127.0.0.1:4465")
    assert rc != 0, "exit %d; %r" % (rc, out + err)
    assert_in("smtps_listen needs tls_cert", err, "message")


def test_check_submission_needs_auth():
    """`mxd -t` with submission_listen but no `auth = yes`: exit 1"""
    rc, out, err = mxd_t("submission_listen=127.0.0.1:4587")
    assert rc != 0, "exit %d; %r" % (rc, out + err)
    assert_in("submission_listen needs auth = yes", err, "message")


def test_check_tls_settings():
    """`mxd -t`: cert without key, a missing cert file, a bad
    tls_protocols are errors; a good cert is ok"""
    pki = srv.pki
    srv.port                                    # the Pki is made
    rc, _, err = mxd_t("tls_cert=%s" % pki.cert)
    assert rc != 0 and "tls_cert and tls_key go together" in err, err
    rc, _, err = mxd_t("tls_cert=/nonexistent/cert.pem",
                       "tls_key=%s" % pki.key)
    assert rc != 0 and "tls_cert /nonexistent/cert.pem" in err, err
    rc, _, err = mxd_t("tls_cert=%s" % pki.cert, "tls_key=%s" % pki.key,
                       "tls_protocols=SSLv3")
    assert rc != 0 and "tls_protocols" in err, err
    rc, out, err = mxd_t("tls_cert=%s" % pki.cert, "tls_key=%s" % pki.key,
                         "smtps_listen=127.0.0.1:4465")
    assert_eq(rc, 0, "exit of a good TLS config (%r)" % err)
    assert_in("ok", out, "-t output")


if __name__ == "__main__":
    run(globals())

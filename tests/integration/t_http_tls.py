#!/usr/bin/env python3
"""
t_http_tls.py: the HTTP API over TLS (https_listen, RFC 2818) with
SMTP's certificate (tls_cert, tls_key), through urllib verifying the
certificate against the test CA and `curl --cacert` with the name in it;
the plain listener keeps working beside it; plain HTTP on the TLS port
gets no HTTP answer; https_listen without a certificate, or on a public
address without http_auth_file, stops mxd before it binds.
"""

import json
import socket
import ssl
import subprocess
import urllib.request

from mxdtest import (assert_eq, assert_in, free_port, need_tool, run,
                     run_mxd)
from mxdtest.http import get_json, send, wait_total
from tlstest import TlsServer, default_pki


class HttpsServer(TlsServer):
    """A TlsServer with the HTTP API on a free port over TLS
    (self.https_port) and in plain (self.http_port)."""

    def __init__(self, **kw):
        self.https_port = None
        super().__init__(http=True, **kw)

    def command(self, port):
        cmd = super().command(port)
        self.https_port = free_port()
        while self.https_port in (port, self.http_port):
            self.https_port = free_port()
        return cmd + ["-o", "https_listen=127.0.0.1:%d" % self.https_port]


_srv = []


def srv():
    if not _srv:
        _srv.append(HttpsServer().start())
    return _srv[0]


def context():
    """Verify mxd's certificate against the test's self-signed one (its
    name is mx.test, not 127.0.0.1: the chain is what is checked)."""
    ctx = ssl.create_default_context(cafile=default_pki().cert)
    ctx.check_hostname = False
    return ctx


def https_get(path):
    url = "https://127.0.0.1:%d%s" % (srv().https_port, path)
    with urllib.request.urlopen(url, context=context(), timeout=30) as r:
        return r.status, r.headers, r.read()


def test_list_over_tls():
    """a message sent over SMTP is listed over https, as over http"""
    qid = send(srv(), subject="over tls")
    wait_total(srv().http_port, 1)      # the index follows the 250
    status, headers, body = https_get("/api/v1/messages")
    assert_eq(status, 200, "status")
    assert_in("application/json", headers["Content-Type"], "type")
    v = json.loads(body)
    assert_eq([m["ID"] for m in v["messages"]], [qid], "IDs over https")
    assert_eq(get_json(srv().http_port, "/api/v1/messages")["total"], 1,
              "plain listener too")
    status, _, body = https_get("/api/v1/message/%s/raw" % qid)
    assert_in(b"Subject: over tls", body, "raw over https")


def test_tls_facts():
    """the handshake: mxd's certificate, TLS 1.2 or newer"""
    with socket.create_connection(("127.0.0.1", srv().https_port),
                                  timeout=30) as s:
        with context().wrap_socket(s) as t:
            assert_in(t.version(), ("TLSv1.2", "TLSv1.3"), "version")
            der = t.getpeercert(binary_form=True)
    assert_eq(der, ssl.PEM_cert_to_DER_cert(open(default_pki().cert)
                                            .read()), "certificate")


def test_plain_http_on_tls_port():
    """plain HTTP to the TLS port gets no HTTP reply (nothing is served
    without TLS there)"""
    with socket.create_connection(("127.0.0.1", srv().https_port),
                                  timeout=30) as s:
        s.sendall(b"GET /api/v1/messages HTTP/1.0\r\n\r\n")
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    assert not got.startswith(b"HTTP/"), got[:100]
    assert b"messages" not in got, got[:200]


def test_curl_cacert():
    """curl --cacert with the certificate's name (mx.test, resolved to
    127.0.0.1): verified, the list answers"""
    curl = need_tool("curl")
    port = srv().https_port
    p = subprocess.run([curl, "-sS", "--cacert", default_pki().cert,
                        "--resolve", "mx.test:%d:127.0.0.1" % port,
                        "-w", "\n%{http_code}",
                        "https://mx.test:%d/api/v1/info" % port],
                       capture_output=True, timeout=30)
    assert_eq(p.returncode, 0, "curl: %r" % p.stderr)
    body, _, code = p.stdout.rpartition(b"\n")
    assert_eq(code, b"200", "status")
    assert_in("Version", json.loads(body), "info")


def test_needs_certificate():
    """https_listen without tls_cert: exit 1, saying what to set"""
    rc, out, err = run_mxd(["-f", "-o", "listen=127.0.0.1:%d" % free_port(),
                            "-o", "https_listen=127.0.0.1:%d" % free_port(),
                            "-o", "spool_dir=/nonexistent/spool"])
    assert_eq(rc, 1, "exit status")
    assert_in("https_listen needs a certificate: set tls_cert and tls_key",
              err, "why")


def test_public_address_refused_without_auth():
    """https_listen on an address that is not loopback, no
    http_auth_file: refused as for http_listen (TEST-NET-1 address)"""
    pki = default_pki().tls_opts()
    rc, out, err = run_mxd(["-f", "-o", "listen=127.0.0.1:%d" % free_port(),
                            "-o", "https_listen=192.0.2.1:%d" % free_port(),
                            "-o", "tls_cert=" + pki["tls_cert"],
                            "-o", "tls_key=" + pki["tls_key"],
                            "-o", "spool_dir=/nonexistent/spool"])
    assert_eq(rc, 1, "exit status")
    assert_in("https_listen 192.0.2.1:", err, "which")
    assert_in("is not a loopback address: set http_auth_file", err, "why")


if __name__ == "__main__":
    run(globals())

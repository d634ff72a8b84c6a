#!/usr/bin/env python3
"""
t_http_auth.py: exposure and bounds of the HTTP listener.  An
http_listen address that is not loopback is refused at start without
http_auth_file or http_auth = none; with an htpasswd file (SHA-crypt
from `openssl passwd -6`), every request needs basic authentication:
401 with WWW-Authenticate without it or with a wrong password, 200 with
the right one; a password file with a hash crypt(3) does not do is
refused at start; an oversize request header gets a 4xx and mxd keeps
serving.
"""

import base64
import os
import shutil
import subprocess

from mxdtest import Skip, assert_eq, assert_in, free_port, run, run_mxd
from mxdtest.http import get_json, http_server, raw, request, status_of


def test_listen_defaults():
    """without a configuration file the sink's HTTP API is on
    127.0.0.1:8025 and [::1]:8025 (Mailpit's and MailHog's port); with
    one, there is none unless http_listen says so (checked with -d, so
    no test binds 8025)"""
    rc, out, err = run_mxd(["-d"])
    assert_eq(rc, 0, "mxd -d")
    assert_in("\nhttp_listen = 127.0.0.1:8025 [::1]:8025\n", out, "sink")
    probe = http_server()
    probe.stop()
    conf = os.path.join(probe.tmpdir, "empty.conf")
    open(conf, "w").close()
    rc, out, err = run_mxd(["-c", conf, "-d"])
    assert_eq(rc, 0, "mxd -c -d")
    assert_in("\nhttp_listen =\n", out, "with a file: none")


def test_public_address_refused_without_auth():
    """http_listen on an address that is not loopback, no
    http_auth_file: exit 1 before binding, saying what to set (the
    address is TEST-NET-1, never this host's)"""
    rc, out, err = run_mxd(["-f", "-o", "listen=127.0.0.1:%d" % free_port(),
                            "-o", "pop3_listen=",
                            "-o", "http_listen=192.0.2.1:%d" % free_port(),
                            "-o", "spool_dir=/nonexistent/spool"])
    assert_eq(rc, 1, "exit status")
    assert_in("is not a loopback address: set http_auth_file", err, "why")


def test_auth_none_warns():
    """http_auth = none allows a public address, with a warning (run in
    a network namespace of its own, so 0.0.0.0 reaches nobody)"""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise Skip("needs root and unshare")
    tmp = http_server().tmpdir
    spool = os.path.join(tmp, "ns-spool")
    os.makedirs(spool)
    os.chmod(spool, 0o777)
    p = subprocess.Popen(["unshare", "-n", os.environ["MXD"], "-f",
                          "-o", "listen=0.0.0.0:2525",
                          "-o", "http_listen=0.0.0.0:8025",
                          "-o", "http_auth=none",
                          "-o", "spool_dir=" + spool],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        err = b""
        while b" ready:" not in err and p.poll() is None:
            line = p.stderr.readline()
            if not line:
                break
            err += line
    finally:
        p.terminate()
        p.wait(timeout=10)
    assert_in(b" ready:", err, "started")
    assert_in(b"http_listen 0.0.0.0:8025 is not a loopback address and "
              b"http_auth = none", err, "warning")


def htpasswd(path, user, password):
    openssl = shutil.which("openssl")
    if openssl is None:
        raise Skip("openssl missing")
    h = subprocess.run([openssl, "passwd", "-6", password],
                       capture_output=True, check=True).stdout.decode().strip()
    with open(path, "w") as f:
        f.write("# users of the HTTP API\n%s:%s\n" % (user, h))
    os.chmod(path, 0o644)


def basic(user, password):
    return {"Authorization": "Basic " +
            base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def test_basic_auth():
    """with http_auth_file: 401 and WWW-Authenticate without
    credentials, with a wrong password, or an unknown user; 200 with the
    right ones"""
    probe = http_server()
    path = os.path.join(probe.tmpdir, "htpasswd")
    probe.stop()
    htpasswd(path, "alice", "s3cret pass")
    srv = http_server(http_auth_file=path)
    port = srv.http_port
    r = request(port, "GET", "/api/v1/messages")
    assert_eq(r.status, 401, "no credentials")
    assert_in("Basic", r.headers["WWW-Authenticate"], "challenge")
    assert_in("Error", r.json(), "JSON error")
    for user, pw in (("alice", "wrong"), ("bob", "s3cret pass"),
                     ("alice", "")):
        r = request(port, "GET", "/api/v1/messages", headers=basic(user, pw))
        assert_eq(r.status, 401, "%s/%s" % (user, pw))
    r = request(port, "GET", "/api/v1/messages",
                headers={"Authorization": "Basic !!!notbase64"})
    assert_eq(r.status, 401, "garbage")
    v = get_json(port, "/api/v1/messages",
                 headers=basic("alice", "s3cret pass"))
    assert_eq(v["total"], 0, "authenticated")
    curl = shutil.which("curl")
    if curl is not None:
        url = "http://127.0.0.1:%d/api/v1/messages" % port
        for cred, want in (("alice:s3cret pass", b"200"),
                           ("alice:nope", b"401")):
            p = subprocess.run([curl, "-s", "-o", "/dev/null", "-w",
                                "%{http_code}", "-u", cred, url],
                               capture_output=True, timeout=10)
            assert_eq(p.stdout, want, "curl -u " + cred)
    srv.stop()


def test_bad_password_file_refused():
    """an htpasswd line with Apache's MD5 ($apr1$), which crypt(3) does
    not do, stops mxd at start naming the file and line"""
    probe = http_server()
    path = os.path.join(probe.tmpdir, "htpasswd")
    probe.stop()
    with open(path, "w") as f:
        f.write("alice:$apr1$abc$0123456789abcdefghijkl\n")
    rc, out, err = run_mxd(["-f", "-o", "listen=127.0.0.1:%d" % free_port(),
                            "-o", "pop3_listen=",
                            "-o", "http_listen=127.0.0.1:%d" % free_port(),
                            "-o", "http_auth_file=" + path,
                            "-o", "spool_dir=" + probe.tmpdir + "/s2"])
    assert_eq(rc, 1, "exit status")
    assert_in("%s:1:" % path, err, "names the line")


def test_port_in_use():
    """http_listen on a port another program holds: exit 1, naming the
    address and the likely culprit"""
    import socket
    hog = socket.socket()
    hog.bind(("127.0.0.1", 0))
    hog.listen(1)
    port = hog.getsockname()[1]
    probe = http_server()
    probe.stop()
    try:
        # No POP3: the sink's default port may be taken on this host.
        rc, out, err = run_mxd(["-f", "-o", "pop3_listen=",
                                "-o", "listen=127.0.0.1:%d" % free_port(),
                                "-o", "http_listen=127.0.0.1:%d" % port,
                                "-o", "pop3_listen=",
                                "-o", "spool_dir=" + probe.spool])
    finally:
        hog.close()
    assert_eq(rc, 1, "exit status")
    assert_in("http_listen 127.0.0.1:%d: Address already in use" % port,
              err, "why")
    assert_in("Mailpit, MailHog or another mxd", err, "hint")


def test_oversize_header():
    """a 64 KiB header: a 4xx (or a closed connection), never a crash;
    the next request is served"""
    srv = http_server()
    reply = raw(srv.http_port, b"GET /api/v1/messages HTTP/1.1\r\n"
                b"Host: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    st = status_of(reply)
    assert st is None or 400 <= st < 500, reply[:100]
    assert_eq(get_json(srv.http_port, "/api/v1/messages")["total"], 0,
              "still serving")
    srv.stop()


def check_t(*opts):
    """mxd -t with these -o settings: (exit status, stdout + stderr)."""
    args = ["-t"]
    for o in opts:
        args += ["-o", o]
    rc, out, err = run_mxd(args)
    return rc, out + err


def test_t_public_address():
    """mxd -t catches a non-loopback http_listen or https_listen without
    http_auth_file, naming the setting and what to set"""
    for name in ("http_listen", "https_listen"):
        rc, text = check_t("%s=192.0.2.1:%d" % (name, free_port()))
        assert_eq(rc, 1, "exit status for " + name)
        assert_in("%s 192.0.2.1:" % name, text, "which setting")
        assert_in("is not a loopback address: set http_auth_file", text,
                  "why")
    rc, text = check_t("http_listen=192.0.2.1:%d" % free_port(),
                       "http_auth=none")
    assert_eq(rc, 0, "http_auth = none: allowed (%s)" % text)


def test_t_https_needs_certificate():
    """mxd -t: https_listen without tls_cert is an error"""
    rc, text = check_t("https_listen=127.0.0.1:%d" % free_port())
    assert_eq(rc, 1, "exit status")
    assert_in("https_listen needs a certificate", text, "why")


def test_t_htpasswd():
    """mxd -t reads http_auth_file as mxd does at start: missing and
    malformed (a line without a crypt(3) hash, no users) are errors with
    the file's name and line; a good file passes, also one only root
    may read (mxd reads it once, before it drops privileges)"""
    tmp = http_server().tmpdir
    good = os.path.join(tmp, "t-good")
    htpasswd(good, "alice", "pw")
    rc, text = check_t("http_auth_file=" + good)
    assert_eq(rc, 0, "good file: %s" % text)
    rc, text = check_t("http_auth_file=" + tmp + "/nonexistent")
    assert_eq(rc, 1, "missing")
    assert_in("http_auth_file %s/nonexistent: No such file" % tmp, text,
              "missing: why")
    for name, body, why in (
            ("t-md5", "bob:$apr1$abc$def\n", ":1: want user:hash"),
            ("t-nocolon", "# c\nbob\n", ":2: want user:hash"),
            ("t-empty", "# nobody\n", ": no users")):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(body)
        os.chmod(path, 0o644)
        rc, text = check_t("http_auth_file=" + path)
        assert_eq(rc, 1, name)
        assert_in(path + why, text, name + ": why")
    os.chmod(good, 0o600)
    rc, text = check_t("http_auth_file=" + good, "user=nobody")
    assert_eq(rc, 0, "a file only its owner reads: %s" % text)


if __name__ == "__main__":
    run(globals())

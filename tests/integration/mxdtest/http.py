"""
mxdtest.http: the HTTP API of a Server started with http=True, through
urllib (and a raw socket for requests urllib will not send: traversal
paths, oversize headers).  Every call has a timeout; every wait is
bounded.  Standard library only.
"""

import json
import socket
import time
import urllib.error
import urllib.request

from .server import Server
from .smtp import Client
from .tap import TIMEOUT


def http_server(**kw):
    """A started Server with the HTTP API on a free port."""
    return Server(http=True, **kw).start()


class LazyHttpServer:
    """http_server() started on first use, shared by a file's tests."""

    def __init__(self, **kw):
        self._kw, self._srv = kw, None

    def __getattr__(self, name):
        if self._srv is None:
            self._srv = http_server(**self._kw)
        return getattr(self._srv, name)


class Response:
    """status (int), headers (a message object), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def request(port, method, path, body=None, headers=None, timeout=TIMEOUT):
    """One request to 127.0.0.1:port; body: dict/list (sent as JSON),
    bytes, or None.  Returns a Response for every status."""
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


def get_json(port, path, status=200, **kw):
    """GET path; assert the status and a JSON content type; the value."""
    r = request(port, "GET", path, **kw)
    if r.status != status:
        raise AssertionError("GET %s: want %d, got %r" % (path, status, r))
    ctype = r.headers.get("Content-Type", "")
    if not ctype.startswith("application/json"):
        raise AssertionError("GET %s: Content-Type %r" % (path, ctype))
    return r.json()


def raw(port, data, timeout=TIMEOUT):
    """Send raw bytes, read until the server closes or the timeout; the
    bytes received (b"" if it closed without a word)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length: " in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(rest) >= n:
                    break
    finally:
        s.close()
    return out


def status_of(raw_reply):
    """The status code of a raw HTTP reply, or None."""
    try:
        return int(raw_reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def send(srv, subject="hello", body="hello\r\n", sender="a@example.com",
         rcpts=("b@example.org",), data=None):
    """One message over SMTP to srv; its queue ID."""
    if data is None:
        data = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" %
                (sender, ", ".join(rcpts), subject, body)).encode()
    with Client(srv.port) as c:
        c.expect("EHLO http.test", 250)
        return c.mail_tx(sender, list(rcpts), data)


def wait_total(port, n, timeout=TIMEOUT):
    """Poll GET /api/v1/messages until total == n (bounded); the value."""
    deadline = time.monotonic() + timeout
    while True:
        v = get_json(port, "/api/v1/messages")
        if v["total"] == n:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("total %d, want %d within %gs" %
                                 (v["total"], n, timeout))
        time.sleep(0.01)

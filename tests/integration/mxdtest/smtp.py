"""
mxdtest.smtp: a raw-socket SMTP client: send() bytes, reply() reads one
whole (possibly multi-line) reply, cmd() sends a line and reads the
reply; every socket has a timeout and every loop is bounded.  Plus the
reply checks every SMTP test uses.
"""

import re
import socket
import time

from .tap import QUEUED_RE, TIMEOUT

# -- the SMTP client ------------------------------------------------------

class ProtocolError(Exception):
    pass


REPLY_LINE_RE = re.compile(rb"^([2-5][0-9][0-9])([ -]?)(.*)$", re.S)


class Client:
    """
    A raw SMTP connection.  reply() returns (code, [text of each line]),
    the text being what follows `NNN-` or `NNN `.  The greeting is read by
    the constructor (self.greeting) unless greeting=False.
    """

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT,
                 greeting=True, nodelay=False, rcvbuf=None, source=None):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source is not None:
                self.sock.bind((source, 0))
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        except BaseException:
            self.sock.close()
            raise
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.greeting = None
        if greeting:
            self.greeting = self.reply()
            if self.greeting[0] != 220:
                raise ProtocolError("greeting: %r" % (self.greeting,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        if time.monotonic() >= deadline:
            raise socket.timeout("no complete reply within %gs; have %r" %
                                 (self.timeout, self.buf[:300]))
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            raise ProtocolError("connection closed by server; unread %r" %
                                self.buf[:300])
        self.buf += data

    def _line(self, deadline):
        while b"\n" not in self.buf:
            if len(self.buf) > 100000:
                raise ProtocolError("reply line too long")
            self._fill(deadline)
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        if not line.endswith(b"\r\n"):
            raise ProtocolError("reply line not ended by CRLF: %r" % line)
        if len(line) > 512:
            raise ProtocolError("reply line of %d octets; RFC 5321 "
                                "4.5.3.1.5 allows 512 with CRLF: %r" %
                                (len(line), line[:80]))
        return line[:-2]

    def reply(self, timeout=None):
        """Read one complete reply: (code, [line texts])."""
        deadline = time.monotonic() + (timeout or self.timeout)
        code, lines = None, []
        for _ in range(10000):
            raw = self._line(deadline)
            m = REPLY_LINE_RE.match(raw)
            if m is None or (m.group(2) == b"" and m.group(3) != b""):
                raise ProtocolError("malformed reply line %r" % raw)
            c = int(m.group(1))
            if code is not None and c != code:
                raise ProtocolError("code changed inside a reply: %r" % raw)
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) != b"-":
                return code, lines
        raise ProtocolError("reply with too many lines")

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line):
        """Send line + CRLF and return its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply()

    def expect(self, line, code, esc=None):
        """cmd(line) and assert the code (and enhanced code); the lines."""
        r = self.cmd(line)
        check(r, code, esc, "reply to %r" % (line,))
        return r[1]

    def pending(self, wait=0.3):
        """Bytes the server sends within `wait` seconds (b"" if none)."""
        deadline = time.monotonic() + wait
        got = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            finally:
                self.sock.settimeout(self.timeout)
            if not data:
                self.eof = True
                break
            got += data
        self.buf += got
        return self.buf

    def wait_closed(self, timeout=None):
        """True if the server closes the connection in time, unread
        bytes being discarded; False on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            finally:
                self.sock.settimeout(self.timeout)
            if not data:
                self.eof = True
                return True
            self.buf += data
        return False

    # -- whole transactions ------------------------------------------------

    def mail_tx(self, sender, rcpts, data, mail_params=""):
        """MAIL, each RCPT (all must be accepted), DATA, data (already
        dot-stuffed, without the final dot), `.`; return the queue ID."""
        check(self.cmd("MAIL FROM:<%s>%s" % (sender, mail_params)), 250,
              "2.1.0")
        for r in rcpts:
            check(self.cmd("RCPT TO:<%s>" % r), 250, "2.1.5")
        check(self.cmd("DATA"), 354)
        self.send(data + b".\r\n")
        return queued_qid(self.reply())


def check(r, code, esc=None, what="reply"):
    """Assert a reply's code and, if esc is given, that every line
    starts with that enhanced status code."""
    got_code, lines = r
    if got_code != code:
        raise AssertionError("%s: want %d, got %r" % (what, code, r))
    if esc is not None:
        for l in lines:
            if l.split(" ", 1)[0] != esc:
                raise AssertionError("%s: want enhanced code %s, got %r" %
                                     (what, esc, r))
    return r


def queued_qid(r):
    """The queue ID of a `250 2.0.0 Ok: queued as QID` reply."""
    check(r, 250, "2.0.0", "end of data")
    m = QUEUED_RE.search(r[1][-1])
    if m is None:
        raise AssertionError("no queue ID in %r" % (r,))
    return m.group(1)


def simple_message(subject, body="hello\r\n"):
    """A small message: headers, blank line, body (CRLF)."""
    return ("From: sender@example.com\r\nTo: rcpt@example.org\r\n"
            "Subject: %s\r\n\r\n%s" % (subject, body)).encode()

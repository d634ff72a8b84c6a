#!/usr/bin/env python3
"""
run-dialogs.py: byte-exact dialogues against the real mxd, one scenario
per file (tests/dialog/*.smtp and *.pop3), as TAP: one test per file.

A dialogue file is what a person sees in a terminal:

    # a comment (the first one is the scenario's description)
    ! name=value      an mxd setting for this dialogue (-o), before any
                      exchange; the server is mx.test, domains = *;
                      $DIALOG_DIR in the value is this directory
    > text            the client sends text and CRLF, one write per line
    >| text           the same, ended in a bare LF (a plain `nc` user)
    < text            the next line mxd sends must be text; `*` matches
                      any run of characters (a queue ID, a port)
    = closed          mxd closes the connection now, with nothing more
    @ smtp, @ pop3    open a new connection to mxd's SMTP or POP3 port
                      (after the last one said all it had to)

A *.smtp file starts on the SMTP port, a *.pop3 file on the POP3 port
(or where its first `@` line says): so one file can send a message
over SMTP and read it back over POP3, as the lab tutorial does.

Every line of every reply must be matched, in order: nothing mxd says
goes unchecked until the file ends, and then it must have said nothing
more.  The same files are the lab's tutorials and seed the session
fuzzer (run-fuzz.sh takes their `>` lines).
"""

import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from mxdtest import Server, run  # noqa: E402

READ_TIMEOUT = 10.0


def matches(pattern, line):
    """Does line equal pattern, where `*` matches any run of octets?"""
    rx = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(rx, line, re.S) is not None


def parse(path):
    """(description, settings, steps) of one dialogue file."""
    desc, opts, steps, head = [], {}, [], True
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("#"):
                text = line.lstrip("#").strip()
                if head and text:
                    desc.append(text)
                elif desc:
                    head = False    # the first paragraph describes it
                continue
            head = False
            if not line.strip():
                continue
            op, _, text = line.partition(" ")
            if op in (">", ">|") and line == op:
                text = ""           # an empty line of the message
            if op == "!":
                k, _, v = text.partition("=")
                opts[k.strip()] = v.strip().replace("$DIALOG_DIR", HERE)
            elif op in (">", ">|", "<", "=", "@"):
                steps.append((n, op, text))
            else:
                raise AssertionError("%s:%d: unknown line %r" %
                                     (path, n, line))
    return " ".join(desc) or os.path.basename(path), opts, steps


class Conn:
    """A raw connection that hands out whole lines."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=READ_TIMEOUT)
        self.buf = b""
        self.eof = False

    def line(self, where):
        deadline = time.monotonic() + READ_TIMEOUT
        while b"\r\n" not in self.buf:
            if self.eof or time.monotonic() > deadline:
                raise AssertionError("%s: mxd said %s, not a whole line: %r"
                                     % (where, "nothing more" if self.eof
                                        else "nothing in time", self.buf))
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def closed(self, where):
        deadline = time.monotonic() + READ_TIMEOUT
        while not self.eof and time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
            self.buf += data
        if not self.eof or self.buf:
            raise AssertionError("%s: want the connection closed, got %r"
                                 % (where, self.buf))

    def quiet(self, where):
        """Nothing more arrives (a short wait: only a safety net; the
        steps above already waited for every reply)."""
        self.sock.settimeout(0.2)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = b""
        if data or self.buf:
            raise AssertionError("%s: mxd said more than the dialogue: %r"
                                 % (where, self.buf + data))


def play(path):
    desc, opts, steps = parse(path)
    name = os.path.basename(path)
    pop3 = path.endswith(".pop3") or any(op == "@" for _, op, _ in steps)
    with Server(pop3=pop3, **opts) as srv:
        ports = {"smtp": srv.port, "pop3": srv.pop3_port}
        c = None
        if not steps or steps[0][1] != "@":
            c = Conn(srv.pop3_port if path.endswith(".pop3") else srv.port)
        try:
            for n, op, text in steps:
                where = "%s:%d" % (name, n)
                if op == "@":
                    if c is not None:
                        if not c.eof:
                            c.quiet(where)
                        c.sock.close()
                    c = Conn(ports[text])
                elif op == ">":
                    c.sock.sendall(text.encode("utf-8") + b"\r\n")
                elif op == ">|":
                    c.sock.sendall(text.encode("utf-8") + b"\n")
                elif op == "<":
                    got = c.line(where)
                    if not matches(text, got):
                        raise AssertionError("%s:\n  want %r\n  got  %r" %
                                             (where, text, got))
                elif op == "=" and text == "closed":
                    c.closed(where)
                else:
                    raise AssertionError("%s: unknown %r" % (where, text))
            if not c.eof:
                c.quiet("%s:end" % name)
        finally:
            if c is not None:
                c.sock.close()


def make_test(path):
    def test():
        play(path)
    test.__doc__ = parse(path)[0]
    return test


if __name__ == "__main__":
    files = sorted(f for f in os.listdir(HERE)
                   if f.endswith(".smtp") or f.endswith(".pop3"))
    tests = {}
    for f in files:
        tests["test_" + f[:-5].replace("-", "_") +
              ("_pop3" if f.endswith(".pop3") else "")] = \
            make_test(os.path.join(HERE, f))
    run(tests)

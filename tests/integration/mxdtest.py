"""
mxdtest.py: the shared helpers of the mxd integration tests.

Standard library only.  Three parts:

  Server   a running `mxd -f` on a free loopback port with its own spool
           (a temporary directory), its stderr captured to a log file.
  Client   a raw-socket SMTP client: send() bytes, reply() reads one whole
           (possibly multi-line) reply, cmd() sends a line and reads the
           reply.  Every socket has a timeout and every loop is bounded.
  run()    a tiny TAP runner for automake's tap-driver: each `test_*`
           function of the calling module is one test case.

Test files run as `python3 tests/integration/t_x.py` with MXD set to the
absolute path of src/mxd and PYTHONPATH set to this directory.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TIMEOUT = 5.0           # every socket operation
START_TIMEOUT = 10.0    # a server must accept connections within this
STOP_TIMEOUT = 10.0     # SIGTERM, then SIGKILL after this

QID_RE = re.compile(rb"^[0-9A-F]{16}$")


def pool_files(spool):
    """{name: os.stat} of the files in spool/pool/ (pool/DDDDDD/NN)."""
    out = {}
    d = os.path.join(spool, "pool")
    try:
        subs = os.listdir(d)
    except FileNotFoundError:
        return {}
    for sub in subs:
        try:
            names = os.listdir(os.path.join(d, sub))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            try:
                out[sub + "/" + name] = os.stat(os.path.join(d, sub, name))
            except FileNotFoundError:
                continue
    return out


def pool_leftovers(spool):
    """Files in spool/pool/ that hold a message that is not in queue/: one
    link and some data.  The pool's other files are queued messages (a
    second link in queue/) and empty spare files."""
    return sorted(n for n, st in pool_files(spool).items()
                  if st.st_nlink == 1 and st.st_size > 0)
QUEUED_RE = re.compile(r"queued as ([0-9A-F]{16})\b")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                          r"runtime error:|SUMMARY: \w+Sanitizer")


class Skip(Exception):
    """Raise in a test to report `ok N - ... # SKIP reason`."""


def mxd_path():
    """The binary under test, from $MXD (absolute path)."""
    return os.environ.get("MXD", "")


def built_file(rel):
    """A file the build makes from a template (etc/mxd.conf, doc/mxd.8):
    under $MXD_BUILDDIR, or next to the binary's src/ directory."""
    top = os.environ.get("MXD_BUILDDIR") or \
        os.path.dirname(os.path.dirname(mxd_path()))
    return os.path.join(top, rel)


def need_tool(name):
    """The full path of a client tool, or Skip if it is not installed."""
    path = shutil.which(name)
    if path is None:
        raise Skip("%s missing" % name)
    return path


def free_port():
    """A loopback TCP port that nobody was listening on a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def run_mxd(args, timeout=10, cwd=None):
    """Run mxd with args to completion; return (rc, stdout, stderr) text."""
    p = subprocess.run([mxd_path()] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    err = p.stderr.decode("utf-8", "replace")
    _oneshot.append((list(args), err if SANITIZER_RE.search(err) else None))
    return (p.returncode, p.stdout.decode("utf-8", "replace"), err)


# Every one-shot run_mxd() of this process: (args, stderr if it holds a
# sanitizer report else None); run() turns the reports into a test case.
_oneshot = []


# Every Server started by this process, so run() can check each one's exit.
_servers = []


def _kill_leftovers():
    """At exit, however the test process ends: no mxd outlives it."""
    for srv in _servers:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            try:
                srv.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_leftovers)


class ServerError(Exception):
    pass


class Server:
    """
    A running `mxd -f` for a test file or a group of tests.  Leaving the
    `with` block sends SIGTERM; run() waits for the exit and checks it.

        with Server(domains="example.org", max_recipients=3) as srv:
            with srv.client() as c:
                c.expect("EHLO x", 250)

    Keyword arguments become `-o name=value` (in order, after listen,
    spool_dir and hostname, so they can override those too); args are
    extra command-line arguments put before the -o options (e.g. ["-c",
    file]).  The spool is a fresh temporary directory unless spool= is
    given.  The port is a free loopback port; binding is retried.
    """

    def __init__(self, args=(), spool=None, hostname="mx.test", **opts):
        self.args = list(args)
        self.opts = opts
        self.hostname = hostname
        self.tmpdir = tempfile.mkdtemp(prefix="mxdtest.")
        self.spool = spool or os.path.join(self.tmpdir, "spool")
        self.logfile = os.path.join(self.tmpdir, "mxd.log")
        self.proc = None
        self.port = None
        self.rc = None
        self.stopped = False
        self.signalled = False
        self._log_start = 0
        _servers.append(self)

    # -- lifecycle ---------------------------------------------------------

    def command(self, port):
        cmd = [mxd_path(), "-f"] + self.args + [
            "-o", "listen=127.0.0.1:%d" % port,
            "-o", "spool_dir=%s" % self.spool]
        if self.hostname is not None:
            cmd += ["-o", "hostname=%s" % self.hostname]
        for k, v in self.opts.items():
            cmd += ["-o", "%s=%s" % (k, v)]
        return cmd

    def start(self):
        if not mxd_path() or not os.access(mxd_path(), os.X_OK):
            raise ServerError("MXD=%r is not an executable" % mxd_path())
        why = ""
        for attempt in range(5):
            port = free_port()
            log = open(self.logfile, "ab")
            self._log_start = log.tell()    # this attempt's part of the log
            try:
                self.proc = subprocess.Popen(
                    self.command(port), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log)
            finally:
                log.close()
            self.port = port
            why = self._wait_ready()
            if why is None:
                return self
            self._kill()
            if "Address already in use" not in self._attempt_log():
                break
        raise ServerError("mxd did not start: %s\n--- log:\n%s" %
                          (why, self.log_text()))

    def _wait_ready(self):
        """None once this mxd accepts and greets; else why not."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited with %d" % self.proc.returncode
            # Our log proves that *this* process owns the port (another
            # program might listen there if our bind failed).
            log = self._attempt_log()
            if " ready" in log or \
                    "listening on 127.0.0.1:%d" % self.port in log:
                try:
                    with Client(self.port) as c:
                        c.cmd("QUIT")
                    return None
                except (OSError, ProtocolError):
                    pass
            time.sleep(0.02)
        return "not ready within %gs" % START_TIMEOUT

    def _attempt_log(self):
        return self.log_text_bytes()[self._log_start:].decode("utf-8",
                                                                "replace")

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def terminate(self):
        """Send SIGTERM once, without waiting."""
        if self.proc is not None and not self.signalled and \
                self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, SIGKILL if needed; return the exit status."""
        if self.proc is None or self.stopped:
            return self.rc
        self.stopped = True
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
                self.rc = "killed: no exit within %gs of SIGTERM" % timeout
                return self.rc
        self.rc = self.proc.returncode
        return self.rc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        # Only signal: run() waits for every server at the end and checks
        # its exit status, so servers stop in parallel.  Call stop() to
        # wait here.
        self.terminate()

    # -- observation -------------------------------------------------------

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        return Client(self.port, **kw)

    def log_text_bytes(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log_text(self):
        """Everything mxd wrote to stderr so far."""
        return self.log_text_bytes().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=TIMEOUT):
        """Wait until a log line matches the regex; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() >= deadline:
                raise AssertionError("no log line matches %r within %gs; "
                                     "log:\n%s" % (pattern, timeout,
                                                   self.log_tail()))
            time.sleep(0.02)

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def sanitizer_reports(self):
        return [l for l in self.log_text().splitlines()
                if SANITIZER_RE.search(l)]

    def _dir(self, sub):
        return os.path.join(self.spool, sub)

    def queue_names(self):
        try:
            return sorted(os.listdir(self._dir("queue")))
        except FileNotFoundError:
            return []

    def messages(self):
        """{qid: bytes} of every queued message."""
        out = {}
        for name in self.queue_names():
            if name.endswith(".eml"):
                out[name[:-4]] = self.message(name[:-4])
        return out

    def message(self, qid):
        """The bytes of queue/<qid>.eml (fails if it is not there)."""
        with open(os.path.join(self._dir("queue"), qid + ".eml"), "rb") as f:
            return f.read()

    def eml(self, qid):
        """queue/<qid>.eml parsed into an Eml."""
        return Eml(self.message(qid))

    def unfinished_files(self):
        """Files in pool/ holding a message that is not in queue/ (see
        pool_leftovers): an unfinished or abandoned message."""
        return pool_leftovers(self.spool)

    def remove(self, qid):
        """Delete queue/<qid>.eml."""
        os.unlink(os.path.join(self._dir("queue"), qid + ".eml"))

    def clear_queue(self):
        for name in self.queue_names():
            os.unlink(os.path.join(self._dir("queue"), name))


class LazyServer:
    """A Server started on first use, for sharing across a file's tests."""

    def __init__(self, *a, **kw):
        self._a, self._kw, self._srv = a, kw, None

    def __getattr__(self, name):
        if self._srv is None:
            self._srv = Server(*self._a, **self._kw)
            self._srv.start()
        elif not self._srv.alive() and not self._srv.stopped:
            raise ServerError("mxd died (exit %r); log:\n%s" %
                              (self._srv.proc.returncode,
                               self._srv.log_tail()))
        return getattr(self._srv, name)


# -- the stored message ----------------------------------------------------

def xtext_decode(s):
    """RFC 3461 xtext to text."""
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), s)


class Eml:
    """
    A queue file split into its parts: the X-Mxd-* envelope lines, the
    Received: header mxd added, and the message exactly as received.
    """

    def __init__(self, raw):
        self.raw = raw
        self.fields = []            # [(name, raw value)] in order
        pos = 0
        while raw.startswith(b"X-Mxd-", pos):
            end = raw.index(b"\r\n", pos)
            line = raw[pos:end]
            if b"\n" in line or b"\r" in line:
                raise AssertionError("bare CR/LF in envelope: %r" % line)
            name, _, value = line.decode("ascii").partition(":")
            self.fields.append((name, value.strip()))
            pos = end + 2
        if not raw.startswith(b"Received: ", pos):
            raise AssertionError("no Received: after the envelope: %r" %
                                 raw[pos:pos + 80])
        # "...id QID[\r\n\tfor <rcpt>];\r\n\t<date>\r\n"
        semi = raw.index(b";\r\n\t", pos)
        end = raw.index(b"\r\n", semi + 4) + 2
        self.received = raw[pos:end]
        self.body = raw[end:]

    def field(self, name):
        v = [val for (n, val) in self.fields if n == name]
        if len(v) != 1:
            raise AssertionError("%d %s fields in %r" % (len(v), name,
                                                         self.fields))
        return v[0]

    def field_lines(self, name):
        return [val for (n, val) in self.fields if n == name]

    @property
    def qid(self):
        return self.field("X-Mxd-Queue-Id")

    @property
    def sender(self):
        """The envelope sender, decoded, without the brackets."""
        return _unbracket(xtext_decode(self.field("X-Mxd-Sender")))

    @property
    def recipients(self):
        return [_unbracket(xtext_decode(v))
                for v in self.field_lines("X-Mxd-Recipient")]

    @property
    def received_text(self):
        """The Received: header unfolded into one line of text."""
        return re.sub(r"\r\n[ \t]+", " ",
                      self.received.decode("utf-8", "replace")).strip()


def _unbracket(v):
    if not (v.startswith("<") and v.endswith(">")):
        raise AssertionError("envelope address not in <>: %r" % v)
    return v[1:-1]


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


def assert_eq(got, want, what="value"):
    if got != want:
        raise AssertionError("%s:\n  got  %r\n  want %r" % (what, got, want))


def assert_in(needle, hay, what="value"):
    if needle not in hay:
        raise AssertionError("%s: %r not in %r" % (what, needle, hay))


def wait_until(fn, timeout=TIMEOUT, what="condition"):
    """Poll fn() until it is true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("%s not met within %gs" % (what, timeout))
        time.sleep(0.02)


# -- the TAP runner ----------------------------------------------------------

def _tap_text(s):
    """One-line TAP description text: no newlines, no directives."""
    return " ".join(s.replace("#", "no.").split())


def _comment(text):
    for line in text.rstrip("\n").splitlines():
        print("# " + line)


def run(ns):
    """
    Run every `test_*` function of the namespace ns (a module's globals())
    in definition order, one TAP line each; then check that every mxd the
    file started exited 0 on SIGTERM with no sanitizer reports, and that
    no one-shot run_mxd() printed a sanitizer report either.  Prints
    the plan last and exits 0: the TAP driver judges by the lines.  With
    no usable $MXD it prints `not ok` and exits 1.
    """
    sys.stdout.reconfigure(line_buffering=True)
    # A SIGTERM (a harness timeout) still runs the atexit clean-up.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    n = 0
    binary = mxd_path()
    if not binary or not os.path.isabs(binary) or \
            not os.access(binary, os.X_OK):
        print("not ok 1 - MXD must be the absolute path of the mxd binary "
              "(got %r)" % binary)
        print("1..1")
        sys.exit(1)
    tests = [(name, fn) for name, fn in ns.items()
             if name.startswith("test_") and callable(fn)]
    if not tests:
        print("not ok 1 - no test_* functions found")
        print("1..1")
        sys.exit(1)
    started = time.monotonic()
    for name, fn in tests:
        n += 1
        doc = _tap_text((fn.__doc__ or "").strip().split("\n\n")[0])
        desc = name + (": " + doc if doc else "")
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (n, desc, _tap_text(str(e))))
        except BaseException as e:       # noqa: every failure is reported
            print("not ok %d - %s" % (n, desc))
            _comment(traceback.format_exc())
            for srv in _servers:
                if srv.proc is not None:
                    _comment("mxd log tail (%s):\n%s" % (srv.logfile,
                                                         srv.log_tail(15)))
            if isinstance(e, KeyboardInterrupt):
                raise
        else:
            print("ok %d - %s" % (n, desc))
        dt = time.monotonic() - t0
        if dt > 2:
            print("# %s took %.1fs" % (name, dt))
    # Every mxd must exit 0 on SIGTERM, with no sanitizer report.
    if _servers:
        n += 1
        problems = []
        live = [s for s in _servers if s.proc is not None and not s.stopped]
        for s in live:                  # signal all, then wait for each
            s.terminate()
        for s in _servers:
            if s.proc is None:
                continue
            bad = []
            rc = s.stop()
            if rc != 0:
                bad.append("mxd on port %s: exit %r\n%s" %
                           (s.port, rc, s.log_tail(10)))
            for line in s.sanitizer_reports():
                bad.append("mxd on port %s: %s" % (s.port, line))
            if bad:
                bad.append("kept %s" % s.tmpdir)
                problems += bad
            else:
                shutil.rmtree(s.tmpdir, ignore_errors=True)
        if problems:
            print("not ok %d - every mxd exited 0 on SIGTERM, no sanitizer "
                  "reports" % n)
            _comment("\n".join(problems))
        else:
            print("ok %d - every mxd exited 0 on SIGTERM, no sanitizer "
                  "reports" % n)
    for s in _servers:
        if s.proc is None:
            shutil.rmtree(s.tmpdir, ignore_errors=True)
    # The same for every one-shot `mxd -t/-d/-q` the file ran.
    if _oneshot:
        n += 1
        bad = [(a, e) for a, e in _oneshot if e is not None]
        desc = ("%d one-shot mxd runs (-t, -d, -q) had no sanitizer reports"
                % len(_oneshot))
        if bad:
            print("not ok %d - %s" % (n, desc))
            for a, e in bad:
                _comment("mxd %s:\n%s" % (" ".join(a), e))
        else:
            print("ok %d - %s" % (n, desc))
    print("# %d tests in %.1fs" % (n, time.monotonic() - started))
    print("1..%d" % n)
    sys.exit(0)

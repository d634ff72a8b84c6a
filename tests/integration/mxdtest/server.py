"""
mxdtest.server: a running `mxd -f` on a free loopback port with its own
spool (a temporary directory), its stderr captured to a log file; and
the one-shot runs (`mxd -t`, `-d`, `-q`).
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .eml import Eml
from .smtp import Client, ProtocolError
from .tap import (LOG_TIMEOUT, SANITIZER_RE, START_TIMEOUT, STOP_TIMEOUT,
                  TIMEOUT, Skip)

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


def thread_nices(pid):
    """{thread name: [nice, ...]} of process pid, from /proc.  A thread
    names itself once it runs: wait for the names a test expects."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:         # the thread ended meanwhile
            continue
        name = st.split("(", 1)[1].rsplit(")", 1)[0]
        out.setdefault(name, []).append(int(st.rsplit(")", 1)[1].split()[16]))
    return out


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
    given.  The port is a free loopback port; binding is retried.  With
    pop3=True (pop3s=True) a POP3 (POP3S) listener gets a free port of
    its own, pop3_port (pop3s_port); without, POP3 is off, so that test
    servers never fight over the embedded sink's port 1110.
    """

    def __init__(self, args=(), spool=None, hostname="mx.test", pop3=False,
                 pop3s=False, http=False, **opts):
        # http=True: the HTTP API on a free loopback port (self.http_port);
        # otherwise none, so no test takes the embedded default's 8025.
        self.http = http
        self.http_port = None
        self.args = list(args)
        self.pop3 = pop3
        self.pop3s = pop3s
        self.pop3_port = None
        self.pop3s_port = None
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
        cmd += ["-o", "pop3_listen=%s" % ("127.0.0.1:%d" % self.pop3_port
                                          if self.pop3 else "")]
        if self.pop3s:
            cmd += ["-o", "pop3s_listen=127.0.0.1:%d" % self.pop3s_port]
        if self.http:
            self.http_port = free_port()
            while self.http_port == port:
                self.http_port = free_port()
            cmd += ["-o", "http_listen=127.0.0.1:%d" % self.http_port]
        else:
            cmd += ["-o", "http_listen="]
        for k, v in self.opts.items():
            cmd += ["-o", "%s=%s" % (k, v)]
        return cmd

    def start(self):
        if not mxd_path() or not os.access(mxd_path(), os.X_OK):
            raise ServerError("MXD=%r is not an executable" % mxd_path())
        why = ""
        for attempt in range(5):
            port = free_port()
            if self.pop3:
                self.pop3_port = free_port()
            if self.pop3s:
                self.pop3s_port = free_port()
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

    def pop3_client(self, **kw):
        """A poplib.POP3 on this server's POP3 port."""
        import poplib
        return poplib.POP3("127.0.0.1", self.pop3_port,
                           timeout=kw.get("timeout", TIMEOUT))

    def log_mark(self):
        """The log's length now, in octets: pass it as since= to read or
        wait for only what is logged after this point (a client port or
        a pattern seen earlier in the log then cannot match)."""
        try:
            return os.path.getsize(self.logfile)
        except OSError:
            return 0

    def log_text_bytes(self, since=0):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(since)
                return f.read()
        except OSError:
            return b""

    def log_text(self, since=0):
        """Everything mxd wrote to stderr so far (after log_mark() since)."""
        return self.log_text_bytes(since).decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=LOG_TIMEOUT, since=0):
        """Wait until a log line (after log_mark() since) matches the
        regex; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text(since).splitlines():
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() >= deadline:
                raise AssertionError("no log line matches %r within %gs; "
                                     "log:\n%s" % (pattern, timeout,
                                                   self.log_tail()))
            time.sleep(0.02)

    def session_id(self, port, timeout=LOG_TIMEOUT):
        """The s=ID of the newest session from 127.0.0.1:port.  A client
        port comes back once an earlier session on it ended, so the
        first connect line for a port may be another session's; a
        session's connect line is logged before its greeting is sent."""
        rx = re.compile(r"s=([0-9a-f]+) (?:pop3 )?connect "
                        r"client=\[127\.0\.0\.1\]:%d\b" % port)
        deadline = time.monotonic() + timeout
        while True:
            sids = rx.findall(self.log_text())
            if sids:
                return sids[-1]
            if time.monotonic() >= deadline:
                raise AssertionError("no session from port %d within %gs; "
                                     "log:\n%s" % (port, timeout,
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

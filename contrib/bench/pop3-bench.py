#!/usr/bin/env python3
"""pop3-bench.py: mxd's POP3 beside Dovecot's, in one run (stdlib only).

    contrib/bench/pop3-bench.py [--mxd build/src/mxd] [--small N]
        [--large N] [--idle N] [--login N,N...] [--login-only]
        [--json FILE]

Starts a private mxd (a temporary spool, POP3 on a free loopback port)
and a private Dovecot POP3 server (Debian dovecot-pop3d; a throw-away
configuration under the same temporary directory: static passdb, any
password, Maildir), puts the same messages into both (over SMTP for
mxd; as Maildir files for Dovecot), then measures with one client:

  msgs/s   RETR of N small messages (10 KiB), one session, one command
           at a time: per-message cost
  MB/s     RETR of N large messages (4 MiB): streaming throughput
  idle     RSS of the server (every process of it, proportional set
           size) per logged-in idle POP3 session, over N sessions

and prints a Markdown table ready to paste, under a line that names the
machine and its load.  With --login, mxd alone: a spool of N messages
(written into queue/ directly, in the spool's format), a login as the
special user `*` (the whole spool) five times, and meanwhile an SMTP
client sending NOOP after NOOP: the login's time (PASS to +OK, median)
and the longest NOOP wait (the first NOOP goes right after PASS), which
is the time the event loop was not serving others (run it with an older --mxd for a before/after).  Needs
root only for Dovecot (it drops to its own users); install it with
`apt-get install dovecot-pop3d`.
"""
import argparse
import json
import os
import platform
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited with %d" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s does not listen on %d" % (what, port))


def message(n, size):
    """A message of about size octets, CRLF lines of 76 characters."""
    head = ("From: bench@example.org\r\nTo: user@example.org\r\n"
            "Subject: bench %d\r\nMessage-ID: <%d@bench>\r\n\r\n" % (n, n))
    line = ("%-74d\r\n" % n).replace(" ", "x")
    return (head + line * max(1, (size - len(head)) // 76)).encode()


# ------------------------------------------------------------ the servers

def fill_spool(spool, n):
    """n small messages for <u@example.org> in spool/queue/, as mxd
    writes them (doc/spool.md): envelope block, Received:, message."""
    queue = os.path.join(spool, "queue")
    os.makedirs(queue)
    start = int(time.time() * 1e6) - n - 1000
    for i in range(n):
        qid = ("%013X%03X" % (start + i, 0xBE0)).encode()
        with open(os.path.join(queue, qid.decode() + ".eml"), "wb") as f:
            f.write(b"X-Mxd-Queue-Id: " + qid + b"\r\n"
                    b"X-Mxd-Arrival: 2026-11-29T15:44:33Z\r\n"
                    b"X-Mxd-Client: [127.0.0.1]:42394\r\n"
                    b"X-Mxd-Helo: client.test\r\n"
                    b"X-Mxd-Sender: <a@example.org>\r\n"
                    b"X-Mxd-Recipient: <u@example.org>\r\n"
                    b"Received: from client.test ([127.0.0.1])\r\n"
                    b"\tby mx.test (mxd) with ESMTP id " + qid + b"\r\n"
                    b"\tfor <u@example.org>;\r\n"
                    b"\tSun, 29 Nov 2026 15:44:33 +0000\r\n" +
                    message(i, 1024))


class Mxd:
    name = "mxd"

    def __init__(self, binary, tmp, sub="mxd", prefill=0):
        self.dir = os.path.join(tmp, sub)
        os.makedirs(self.dir)
        if prefill:
            fill_spool(os.path.join(self.dir, "spool"), prefill)
        self.smtp, self.port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [binary, "-f", "-o", "listen=127.0.0.1:%d" % self.smtp,
             "-o", "pop3_listen=127.0.0.1:%d" % self.port,
             "-o", "http_listen=",
             "-o", "spool_dir=%s" % os.path.join(self.dir, "spool"),
             "-o", "http_listen=",
             "-o", "spool_sync=no", "-o", "max_message_size=64M",
             "-o", "max_connections=5000", "-o", "user=%s" % "nobody"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "log"), "wb"),
            cwd=self.dir)
        wait_port(self.port, self.proc, "mxd")

    def put(self, user, msgs):
        with smtplib.SMTP("127.0.0.1", self.smtp) as s:
            for m in msgs:
                s.sendmail("bench@example.org", [user], m)

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Dovecot:
    name = "dovecot"

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "dovecot")
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "home"))
        os.chmod(tmp, 0o755)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""
base_dir = {d}/run
state_dir = {d}/run
log_path = {d}/log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{d}/home/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = static
  args = password=x
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/home/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  process_limit = 5000
}}
service pop3 {{
  process_limit = 5000
}}
default_process_limit = 5000
default_client_limit = 5000
service anvil {{
  client_limit = 10003
}}
""".format(d=self.dir, port=self.port))
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.proc = subprocess.Popen([dovecot, "-F", "-c", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "dovecot")

    def put(self, user, msgs):
        """Maildir files with LF line ends (Dovecot sends CRLF)."""
        md = os.path.join(self.dir, "home", user, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        for i, m in enumerate(msgs):
            with open(os.path.join(md, "new", "%d.%d.bench" %
                                   (time.time(), i)), "wb") as f:
                f.write(m.replace(b"\r\n", b"\n"))
        subprocess.run(["chown", "-R", "dovecot:dovecot",
                        os.path.join(self.dir, "home")], check=True)

    def pids(self):
        """The master and every process under it."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def pss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ------------------------------------------------------------ the client

class Pop3:
    """A small, fast POP3 client: reads replies in big chunks."""

    def __init__(self, port, user):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.line()
        self.cmd(b"USER " + user.encode())
        self.cmd(b"PASS x")

    def fill(self):
        data = self.s.recv(1 << 20)
        if not data:
            raise EOFError("server closed")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        if not line.startswith(b"+OK"):
            raise RuntimeError(line)
        return line

    def cmd(self, c):
        self.s.sendall(c + b"\r\n")
        return self.line()

    def multi(self, c):
        """A multi-line reply; its octets on the wire, without the final
        dot.  Nothing is pipelined, so the reply ends where the data
        ends in CRLF.CRLF; only the tail is looked at."""
        self.cmd(c)
        total, tail = len(self.buf), self.buf[-5:]
        self.buf = b""
        while not ((tail == b".\r\n" and total == 3) or
                   tail.endswith(b"\r\n.\r\n")):
            data = self.s.recv(1 << 20)
            if not data:
                raise EOFError("server closed")
            total += len(data)
            tail = (tail + data)[-5:]
        return total - 3

    def stat(self):
        return int(self.cmd(b"STAT").split()[1])

    def quit(self):
        try:
            self.cmd(b"QUIT")
        finally:
            self.s.close()


def retr_all(port, user):
    """(messages, octets, seconds) for RETR of every message."""
    c = Pop3(port, user)
    n = c.stat()
    t0 = time.monotonic()
    octets = sum(c.multi(b"RETR %d" % i) for i in range(1, n + 1))
    dt = time.monotonic() - t0
    c.quit()
    return n, octets, dt


def idle(server, port, n):
    """PSS per logged-in idle session, in KiB."""
    base = pss_kb(server.pids())
    conns = [Pop3(port, "idle%d" % i) for i in range(n)]
    time.sleep(0.5)
    used = pss_kb(server.pids()) - base
    for c in conns:
        c.quit()
    return used / n


def bench(server, args):
    small = [message(i, 10 * 1024) for i in range(args.small)]
    large = [message(i, 4 * 1024 * 1024) for i in range(args.large)]
    server.put("small@example.org", small)
    server.put("large@example.org", large)
    n, octets, dt = retr_all(server.port, "small@example.org")
    row = {"server": server.name, "small_msgs": n,
           "msgs_per_s": n / dt}
    n, octets, dt = retr_all(server.port, "large@example.org")
    row.update(large_msgs=n, mb_per_s=octets / dt / 1e6)
    row["idle_kib_per_session"] = idle(server, server.port, args.idle)
    return row


class Smtp:
    """A raw SMTP connection for NOOP round trips; mxd closes one after
    many NOOPs (a client that only idles), so it reconnects."""

    def __init__(self, port):
        self.port = port
        self.connect()

    def connect(self):
        self.s = socket.create_connection(("127.0.0.1", self.port),
                                          timeout=300)
        self.buf = b""
        self.reply()

    def reply(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(4096)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def noop(self):
        """One NOOP round trip; its seconds."""
        t0 = time.monotonic()
        self.s.sendall(b"NOOP\r\n")
        line = self.reply()
        dt = time.monotonic() - t0
        if line is None or not line.startswith(b"250"):
            self.s.close()
            self.connect()
        return dt


def login_round(port, smtp):
    """Log in as *: (seconds from PASS to +OK, longest NOOP meanwhile).
    Raw reads: a reply that came with an earlier one must not hide in a
    file object's buffer while select() looks at the socket."""
    p = socket.create_connection(("127.0.0.1", port), timeout=300)
    buf = [b""]

    def line():
        while b"\r\n" not in buf[0]:
            data = p.recv(65536)
            if not data:
                raise EOFError("POP3 closed")
            buf[0] += data
        got, _, buf[0] = buf[0].partition(b"\r\n")
        return got

    line()
    t0 = time.monotonic()
    p.sendall(b"USER *\r\nPASS x\r\n")
    worst = smtp.noop()     # sent as the login starts: a stalled loop shows
    line()
    while not buf[0] and not select.select([p], [], [], 0)[0]:
        worst = max(worst, smtp.noop())
    got = line()
    dt = time.monotonic() - t0
    if not got.startswith(b"+OK"):
        raise RuntimeError(got)
    p.sendall(b"QUIT\r\n")
    line()
    p.close()
    return dt, worst, got


def login_bench(binary, tmp, n, rounds=5):
    """Login time for * on a spool of n messages, and the loop's stall."""
    server = Mxd(binary, tmp, "login%d" % n, prefill=n)
    try:
        smtp = Smtp(server.smtp)
        times, worst = [], 0.0
        for _ in range(rounds):
            dt, w, line = login_round(server.port, smtp)
            times.append(dt)
            worst = max(worst, w)
        smtp.s.close()
    finally:
        server.stop()
    times.sort()
    return {"messages": n, "login_ms": times[len(times) // 2] * 1e3,
            "noop_max_ms": worst * 1e3, "reply": line.decode().strip()}


def machine_line():
    """What ran the benchmark: date, CPU, cores, load, mxd's commit."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rev = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout.strip() or "?"
    return ("%s UTC; %s, %d CPUs, load %s; %s; mxd git %s" % (
        time.strftime("%Y-%m-%d %H:%M", time.gmtime()), cpu,
        os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg()),
        platform.platform(terse=True), rev))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mxd", default=os.path.join(TOP, "build", "src",
                                                  "mxd"))
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=25)
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--login", default="",
                    help="spool sizes for the login bench, e.g. 1000,20000")
    ap.add_argument("--login-only", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    print(machine_line())
    print()
    if args.login:
        login_main(args)
    if args.login_only:
        return
    if shutil.which("dovecot") is None and \
            not os.path.exists("/usr/sbin/dovecot"):
        sys.exit("dovecot is not installed: apt-get install dovecot-pop3d")
    tmp = tempfile.mkdtemp(prefix="pop3-bench.")
    rows = []
    try:
        for make in (lambda: Mxd(args.mxd, tmp), lambda: Dovecot(tmp)):
            server = make()
            try:
                rows.append(bench(server, args))
            except Exception:
                log = os.path.join(server.dir, "log")
                if os.path.exists(log):
                    sys.stderr.write(open(log, errors="replace").read()[-3000:])
                raise
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| server  | RETR msgs/s (%d x 10 KiB) | RETR MB/s (%d x 4 MiB) "
          "| idle KiB per session (%d) |" % (args.small, args.large,
                                             args.idle))
    print("|---------|----------------------------:|-----------------------:"
          "|---------------------------:|")
    for r in rows:
        print("| %-7s | %27.0f | %22.0f | %26.1f |" % (
            {"mxd": "mxd", "dovecot": "Dovecot"}[r["server"]],
            r["msgs_per_s"], r["mb_per_s"], r["idle_kib_per_session"]))
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")


def login_main(args):
    """The --login table: one row per spool size."""
    tmp = tempfile.mkdtemp(prefix="pop3-bench.")
    rows = []
    try:
        for n in [int(x) for x in args.login.split(",") if x]:
            rows.append(login_bench(args.mxd, tmp, n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| messages in the spool | login as `*` (ms, median of 5) "
          "| longest SMTP NOOP wait meanwhile (ms) |")
    print("|----------------------:|-------------------------------:"
          "|--------------------------------------:|")
    for r in rows:
        print("| %21d | %30.0f | %37.1f |" % (r["messages"], r["login_ms"],
                                             r["noop_max_ms"]))
    print()
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

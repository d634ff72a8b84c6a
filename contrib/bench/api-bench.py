#!/usr/bin/env python3
"""
api-bench.py: the HTTP API and its index, measured (issue 12), beside
maildev.  Run by contrib/bench/api-bench.sh, which installs, builds mxd
and smtp-pipe, installs maildev with npm and passes their paths here.

In: --mxd BINARY --pipe SMTP-PIPE --work DIR [--maildev BIN] [--quick]
[--doc FILE].  Out: a Markdown section on stdout (and, with --doc,
written into FILE between the markers below); progress on stderr.

Phases (each bounded in time):
 1. SMTP throughput, 1 KiB, pipelined smtp-pipe at 10 and 100 sessions,
    durable and spool_sync=no, with the HTTP listener (and so the
    index: it only runs with http_listen) on and off.
 2. 250 -> visible in the API: one message at a time, a long poll on
    /api/v1/wait?after=<previous ID> sent before the message; the time
    from the client reading the 250 to the wait's answer arriving.
 3. List / get / search latency at growing spool sizes (filled over
    pipelined SMTP, spool_sync=no, distinct subjects), index catch-up,
    mxd's RSS, and the index's rebuild time from the spool.
 4. maildev (npm) in the same run: ingest with the same client, and the
    latency of its list endpoints at growing sizes.

Python 3 standard library only.
"""
import argparse
import http.client
import json
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

BEGIN = "<!-- BEGIN API RESULTS (written by contrib/bench/api-bench.py) -->"
END = "<!-- END API RESULTS -->"

A = None            # the parsed arguments
T0 = time.monotonic()
children = []       # every process started, stopped at exit


def log(msg):
    """One progress line on stderr, with the elapsed time."""
    print("%s api-bench [%4.0fs]: %s" % (time.strftime("%H:%M:%S"),
          time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def free_port():
    """A free TCP port on 127.0.0.1."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, limit=120.0):
    """Until something accepts on port (or proc died, or the limit)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit("server exited (%s) before listening on %d"
                             % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def stop(proc):
    """SIGTERM, wait up to 20 s, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def mem_kib(pid):
    """(VmRSS, VmHWM) of pid in KiB."""
    v = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                v[k] = int(rest.split()[0])
    return v.get("VmRSS", 0), v.get("VmHWM", 0)


def pct(xs, p):
    """The p-th percentile of xs (nearest rank), or None."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s))) - 1))]


def bury(path):
    """
    Move a finished spool to the graveyard, deleted at the end of the
    run: on ext4 without a journal, new inodes skip those freed in the
    last minutes, so deleting one cell's spool would slow the next cells
    (doc/performance.md, "Emptying spools between cells").
    """
    g = os.path.join(A.work, "graveyard")
    os.makedirs(g, exist_ok=True)
    os.rename(path, os.path.join(g, "%s.%d" % (os.path.basename(path),
                                               len(os.listdir(g)))))


class Mxd:
    """One mxd on a fresh spool (or an existing one with fresh=False)."""

    def __init__(self, spool, sync=True, api=True, fresh=True):
        self.spool = spool
        self.port = free_port()
        self.hport = free_port() if api else None
        if fresh and os.path.exists(spool):
            bury(spool)
        cmd = [A.mxd, "-f", "-o", "listen=127.0.0.1:%d" % self.port,
               "-o", "spool_dir=" + spool, "-o", "hostname=bench.test",
               "-o", "shutdown_grace=2s", "-o", "pop3_listen=",
               "-o", "http_listen=" + ("127.0.0.1:%d" % self.hport
                                       if api else "")]
        if not sync:
            cmd += ["-o", "spool_sync=no"]
        self.logf = open(os.path.join(A.work, "mxd.log"), "ab")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.logf,
                                     stderr=self.logf)
        children.append(self.proc)
        wait_port(self.port, self.proc)
        if api:
            wait_port(self.hport, self.proc)
            self.http = Http(self.hport)

    def queued(self):
        """Files in queue/ (what landed)."""
        return sum(1 for n in os.listdir(os.path.join(self.spool, "queue"))
                   if n.endswith(".eml"))

    def indexed(self):
        """Messages the API lists (its index)."""
        return self.http.json("/api/v1/messages?limit=1")["total"]

    def catch_up(self, want, limit):
        """Seconds until the index lists want messages (None: limit)."""
        t = time.monotonic()
        while time.monotonic() - t < limit:
            if self.indexed() >= want:
                return time.monotonic() - t
            time.sleep(0.05)
        return None

    def stop(self):
        """Stop it (SIGTERM; its spool stays)."""
        stop(self.proc)
        self.logf.close()


class Http:
    """A keep-alive HTTP/1.1 client for one server."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path):
        """(status, body, milliseconds) of GET path."""
        for attempt in (0, 1):
            t = time.perf_counter()
            try:
                self.c.request("GET", path)
                r = self.c.getresponse()
                body = r.read()
                return r.status, body, (time.perf_counter() - t) * 1000
            except (http.client.HTTPException, OSError):
                self.c.close()
                if attempt:
                    raise

    def json(self, path):
        """The JSON answer to GET path (200 only)."""
        st, body, _ = self.get(path)
        if st != 200:
            raise SystemExit("GET %s: %d %r" % (path, st, body[:200]))
        return json.loads(body)


# ------------------------------------------------------------ SMTP clients

def message(k):
    """Message k: distinct subject (token k%07dx), ~1 KiB."""
    body = "".join("line %02d of the benchmark message, some words to "
                   "index: alpha beta gamma delta\r\n" % i
                   for i in range(12))
    return ("From: Sender %d <sender%d@bench.test>\r\n"
            "To: Someone <rcpt@bench.test>\r\n"
            "Subject: bench message k%07dx\r\n"
            "Date: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
            "Message-ID: <k%d.apibench@bench.test>\r\n\r\n%s"
            % (k % 97, k % 97, k, k, body)).encode()


ENV = b"MAIL FROM:<s@bench.test>\r\nRCPT TO:<rcpt@bench.test>\r\nDATA\r\n"


class PipeConn:
    """One pipelining session of the filler."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pend = ["greet"]
        self.cur = None
        self.done = False
        self.nextk = self.cur = None


def fill(port, first, count, keep, limit):
    """
    Send messages first..first+count-1 over 8 pipelining sessions (one
    round trip per message, as smtp-pipe); keep[k] = queue ID for the k
    in keep.  Returns (messages acknowledged, seconds).
    """
    sel = selectors.DefaultSelector()
    st = {"next": first, "acked": 0}
    end, t = first + count, time.monotonic()
    want = {"greet": b"220", "ehlo": b"250", "mail": b"250",
            "rcpt": b"250", "data": b"354", "dot": b"250", "quit": b"221"}

    def more(c, out):
        """Pipeline the next envelope, if any: else None."""
        if st["next"] < end and time.monotonic() - t < limit:
            out.append(ENV)
            c.pend += ["mail", "rcpt", "data"]
            c.nextk = st["next"]
            st["next"] += 1
        else:
            c.nextk = None

    conns = [PipeConn(port) for _ in range(8)]
    for c in conns:
        sel.register(c.s, selectors.EVENT_READ, c)
    live = len(conns)
    while live:
        if time.monotonic() - t > limit + 60:
            raise SystemExit("filler: stuck")
        for key, _ in sel.select(5):
            c = key.data
            data = c.s.recv(65536)
            if not data:
                raise SystemExit("filler: connection closed")
            c.buf += data
            out = []
            while b"\r\n" in c.buf and not c.done:
                line, c.buf = c.buf.split(b"\r\n", 1)
                if line[3:4] == b"-":
                    continue
                what = c.pend.pop(0)
                if line[:3] != want[what]:
                    raise SystemExit("filler: %s: %r" % (what, line))
                if what == "greet":
                    out.append(b"EHLO filler.test\r\n")
                    c.pend.append("ehlo")
                elif what == "ehlo":
                    more(c, out)
                elif what == "data":
                    c.cur = c.nextk
                    out.append(message(c.cur) + b".\r\n")
                    c.pend.append("dot")
                    more(c, out)
                elif what == "dot":
                    st["acked"] += 1
                    if c.cur in keep:
                        keep[c.cur] = line.rsplit(b" ", 1)[1].decode()
                elif what == "quit":
                    sel.unregister(c.s)
                    c.s.close()
                    c.done = True
                    live -= 1
                if not c.done and not c.pend and c.nextk is None:
                    out.append(b"QUIT\r\n")
                    c.pend.append("quit")
            if out:
                c.s.sendall(b"".join(out))
    return st["acked"], time.monotonic() - t


def pipe_run(port, sessions, seconds, warm, extra=()):
    """
    smtp-pipe -P against port for warm + seconds: (msgs/s over the
    window after the warm-up, acked at the end).
    """
    cf = os.path.join(A.work, "count")
    p = subprocess.Popen([A.pipe, "-P", "-s", str(sessions), "-l", "1024",
                          "-T", str(int(warm + seconds + 1)), "-c", cf]
                         + list(extra) + ["127.0.0.1:%d" % port],
                         stderr=subprocess.DEVNULL)
    children.append(p)

    def count():
        try:
            with open(cf) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
    time.sleep(warm)
    c0, t0 = count(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = count(), time.monotonic()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait()
    return (c1 - c0) / (t1 - t0), count()


def pipe_fill(port, n, limit):
    """smtp-pipe -P -s 10 -m n: (acked, seconds)."""
    cf = os.path.join(A.work, "count")
    t = time.monotonic()
    p = subprocess.Popen([A.pipe, "-P", "-s", "10", "-l", "1024", "-m",
                          str(n), "-T", str(int(limit)), "-c", cf,
                          "127.0.0.1:%d" % port], stderr=subprocess.DEVNULL)
    children.append(p)
    try:
        p.wait(limit + 30)
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait()
    with open(cf) as f:
        return int(f.read().strip() or 0), time.monotonic() - t


# ------------------------------------------------------------ phases

def phase_throughput(R):
    """SMTP msgs/s with the API (and index) on and off."""
    reps = 1 if A.quick else 3
    warm, win = (1, 3) if A.quick else (1, 5)
    for sync in (True, False):
        for sess in (10, 100):
            runs = {True: [], False: []}
            lag, load = [], []
            for r in range(reps):
                order = (True, False) if r % 2 == 0 else (False, True)
                for api in order:
                    m = Mxd(os.path.join(A.work, "spool-tp"), sync, api)
                    rate, acked = pipe_run(m.port, sess, win, warm)
                    landed = m.queued()
                    if landed < acked:
                        raise SystemExit("only %d files for %d 250s"
                                         % (landed, acked))
                    if api:
                        lag.append(m.catch_up(landed, 120))
                    load.append(os.getloadavg()[0])
                    m.stop()
                    runs[api].append(rate)
                    log("throughput sync=%s sessions=%d api=%s: %.0f "
                        "msg/s" % (sync, sess, api, rate))
            on = statistics.median(runs[True])
            off = statistics.median(runs[False])
            R["tp"].append({"sync": sync, "sessions": sess, "on": on,
                            "off": off, "on_runs": runs[True],
                            "off_runs": runs[False], "lag": lag,
                            "load": load})


def phase_visible(R):
    """250 -> visible through /api/v1/wait, one message at a time."""
    n = 500
    m = Mxd(os.path.join(A.work, "spool-vis"), True, True)
    s = socket.create_connection(("127.0.0.1", m.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line
    reply()
    s.sendall(b"EHLO vis.test\r\n")
    reply()
    prev, lat, rtt = "", [], []
    sel = selectors.DefaultSelector()
    t_lim = time.monotonic() + 300
    for k in range(n):
        if time.monotonic() > t_lim:
            break
        h = socket.create_connection(("127.0.0.1", m.hport))
        h.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        q = "/api/v1/wait?timeout=30&query=" + (
            ("&after=" + prev) if prev else "")
        h.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "\r\n" % q).encode())
        s.sendall(ENV)
        for _ in range(3):
            reply()
        s.sendall(message(k) + b".\r\n")
        t_dot = time.perf_counter()
        # Wait for both: the 250 (on s) and the wait's answer (on h).
        sel.register(s, selectors.EVENT_READ, "smtp")
        sel.register(h, selectors.EVENT_READ, "http")
        t250 = tvis = None
        while t250 is None or tvis is None:
            for key, _ in sel.select(30):
                now = time.perf_counter()
                if key.data == "smtp" and t250 is None:
                    t250 = now
                    sel.unregister(s)
                elif key.data == "http" and tvis is None:
                    tvis = now
                    sel.unregister(h)
        line = reply()
        if not line.startswith(b"250"):
            raise SystemExit("visible: %r" % line)
        qid = line.split()[-1].decode()
        resp = b""
        while True:
            d = h.recv(65536)
            if not d:
                break
            resp += d
        h.close()
        if not resp.startswith(b"HTTP/1.1 200") or qid.encode() not in resp:
            raise SystemExit("wait answered %r for %s" % (resp[:300], qid))
        lat.append((tvis - t250) * 1000)
        rtt.append((t250 - t_dot) * 1000)
        prev = qid
    s.close()
    m.stop()
    R["vis"] = {"n": len(lat), "lat": lat, "rtt": rtt}
    log("visible: %d messages, p50 %.2f ms p99 %.2f ms" %
        (len(lat), pct(lat, 50), pct(lat, 99)))


def measure(http, paths, reps, limit=60.0):
    """Latencies (ms) of GET on each path in turn, after 3 warm-ups."""
    out = []
    t = time.monotonic()
    for p in paths[:3]:
        http.get(p)
    for i in range(reps):
        st, _, ms = http.get(paths[i % len(paths)])
        if st != 200:
            raise SystemExit("GET %s: %d" % (paths[i % len(paths)], st))
        out.append(ms)
        if time.monotonic() - t > limit:
            break
    return out


def mxd_queries(m, n, keep, reps, R_row):
    """List, get, selective and broad search latency at n messages."""
    ks = [k for k, q in keep.items() if q]
    random.seed(n)
    gets = ["/api/v1/message/" + keep[random.choice(ks)]
            for _ in range(reps)]
    sel = ["/api/v1/search?query=" + urllib.parse.quote(
        "k%07dx" % random.choice(ks)) for _ in range(reps)]
    # Correctness first: one hit for a token, all for the broad word.
    r = m.http.json(sel[0])
    if r["messages_count"] != 1:
        raise SystemExit("selective search: %d hits" % r["messages_count"])
    r = m.http.json("/api/v1/search?query=bench")
    if r["messages_count"] != n:
        raise SystemExit("broad search: %d hits, %d messages"
                         % (r["messages_count"], n))
    R_row["list"] = measure(m.http, ["/api/v1/messages"], reps)
    R_row["get"] = measure(m.http, gets, reps)
    R_row["ssel"] = measure(m.http, sel, reps)
    R_row["sbroad"] = measure(m.http, ["/api/v1/search?query=bench"],
                              max(20, reps // 5))


def phase_scale(R):
    """Latency at growing sizes, catch-up, RSS, rebuild."""
    sizes = [1000, 10000] if A.quick else [1000, 100000, 1000000]
    # Seconds for the whole phase (APIBENCH_SCALE_S overrides).
    budget = int(os.environ.get("APIBENCH_SCALE_S",
                                150 if A.quick else 1500))
    reps = 100 if A.quick else 300
    t_phase = time.monotonic()
    spool = os.path.join(A.work, "spool-scale")
    m = Mxd(spool, False, True)
    keep, have = {}, 0
    for n in sizes:
        left = budget - (time.monotonic() - t_phase)
        if left < 60:
            R["scale_skipped"].append((n, "phase time budget spent"))
            break
        free = os.statvfs(A.work)
        if free.f_bavail * free.f_frsize < (n - have) * 12 * 1024 + 2**30:
            R["scale_skipped"].append((n, "not enough disk"))
            break
        for k in range(have, n, max(1, (n - have) // 2000)):
            keep[k] = None
        log("filling to %d messages" % n)
        acked, secs = fill(m.port, have, n - have, keep, left - 30)
        have += acked
        lag = m.catch_up(have, max(30, left - secs - 20))
        row = {"n": have, "fill_rate": acked / secs, "lag": lag,
               "partial": have < n}
        if lag is None:
            R["scale_skipped"].append((n, "index did not catch up"))
            break
        idx = sum(os.path.getsize(os.path.join(spool, f))
                  for f in os.listdir(spool) if f.startswith("index"))
        row["index_bytes"] = idx
        mxd_queries(m, have, keep, reps, row)
        row["rss"], row["hwm"] = mem_kib(m.proc.pid)
        R["scale"].append(row)
        log("at %d: list p99 %.1f, get p99 %.1f, search p99 %.1f/%.1f ms,"
            " rss %d KiB" % (have, pct(row["list"], 99),
                             pct(row["get"], 99), pct(row["ssel"], 99),
                             pct(row["sbroad"], 99), row["rss"]))
        if have < n:
            break
        # The rebuild at 100 000 (the largest size of --quick).
        if n == (sizes[-1] if A.quick else 100000):
            m.stop()
            for f in os.listdir(spool):
                if f.startswith("index.sqlite"):
                    os.unlink(os.path.join(spool, f))
            t = time.monotonic()
            m = Mxd(spool, False, True, fresh=False)
            secs = m.catch_up(have, 1200)
            rss, hwm = mem_kib(m.proc.pid)
            R["rebuild"] = {"n": have, "secs": (time.monotonic() - t
                                                if secs is not None
                                                else None),
                            "rss": rss, "hwm": hwm}
            log("rebuild of %d: %s s" % (have, R["rebuild"]["secs"]))
    m.stop()
    bury(spool)


def phase_maildev(R):
    """maildev: ingest with smtp-pipe, list latency at growing sizes."""
    if not A.maildev:
        return
    sport, wport = free_port(), free_port()
    logf = open(os.path.join(A.work, "maildev.log"), "ab")
    p = subprocess.Popen([A.maildev, "-s", str(sport), "-w", str(wport),
                          "--ip", "127.0.0.1", "--web-ip", "127.0.0.1",
                          "--silent"], stdout=logf, stderr=logf)
    children.append(p)
    wait_port(sport, p)
    wait_port(wport, p)
    h = Http(wport)
    md = {"rows": []}
    R["maildev"] = md
    md["version"] = subprocess.run([A.maildev, "--version"],
                                   capture_output=True,
                                   text=True).stdout.strip()
    warm, win = (1, 3) if A.quick else (1, 5)
    md["ingest"], have = pipe_run(sport, 10, win, warm)
    log("maildev ingest %.0f msg/s" % md["ingest"])
    sizes = [1000, 5000] if A.quick else [1000, 10000, 50000, 100000]
    budget = int(os.environ.get("APIBENCH_MAILDEV_S",
                                100 if A.quick else 600))
    t_phase = time.monotonic()

    def total():
        return h.json("/api/email/summary?limit=1")["storeTotal"]
    have = total()
    if have > sizes[0]:
        # The ingest run left more than the first size: clear it.
        h.c.request("DELETE", "/api/email/all")
        h.c.getresponse().read()
        have = total()
    for n in sizes:
        left = budget - (time.monotonic() - t_phase)
        if left < 20:
            md["skipped"] = "%d: phase time budget spent" % n
            break
        if n > have:
            acked, secs = pipe_fill(sport, n - have, left - 10)
            end = time.monotonic() + 60
            while total() < have + acked and time.monotonic() < end:
                time.sleep(0.1)
            have = total()
            md["fill_rate_%d" % n] = acked / secs
        reps = 50 if n <= 10000 else 10
        row = {"n": have,
               "summary": measure(h, ["/api/email/summary?limit=50"],
                                  reps, 60),
               "all": measure(h, ["/api/email"], reps, 60)}
        row["rss"], row["hwm"] = mem_kib(p.pid)
        md["rows"].append(row)
        log("maildev at %d: summary p99 %.1f ms, /api/email p99 %.1f ms,"
            " rss %d KiB" % (have, pct(row["summary"], 99),
                             pct(row["all"], 99), row["rss"]))
        if have < n:
            break
    stop(p)
    logf.close()


# ------------------------------------------------------------ report

def f_ms(x):
    return "–" if x is None else ("%.2f" % x if x < 10 else "%.1f" % x)


def mark(ok):
    return "met" if ok else "**NOT met**"


def report(R):
    """The Markdown section."""
    L = [BEGIN, "", "## HTTP API and index: results of one run (%s mode)"
         % ("quick" if A.quick else "full"), "",
         "Every figure below comes from one run of "
         "`contrib/bench/api-bench.sh%s` on %s, mxd git %s, maildev %s."
         % (" --quick" if A.quick else "", R["date"], R["git"],
            R.get("maildev", {}).get("version", "(not run)")),
         "Load average at start: %s; at end: %s (the run's own clients "
         "and servers make about 2 of it on these 2 cores; anything "
         "else that ran beside it is said below the tables by hand)."
         % (R["load0"], R["load1"]), ""]
    L += ["### SMTP throughput with the API and index on and off", "",
          "1 KiB messages, `smtp-pipe -P` (pipelined), messages/s over "
          "a %s window, median of %d run(s) alternating on/off; *on* = "
          "`http_listen` set (the index runs only then), *off* = "
          "`-o http_listen=` (no listener, no index, no index.sqlite)."
          % ("3 s" if A.quick else "5 s", 1 if A.quick else 3), "",
          "| spool_sync | sessions | API off msg/s | API on msg/s | on/off "
          "| target ≥ 80 % | index caught up after the window | load average (1 min) |",
          "|---|---|---|---|---|---|---|---|"]
    for t in R["tp"]:
        ratio = t["on"] / t["off"] if t["off"] else 0
        lags = [x for x in t["lag"] if x is not None]
        L.append("| %s | %d | %.0f | %.0f | %.0f %% | %s | %s | %s |" % (
            "yes (durable)" if t["sync"] else "no", t["sessions"],
            t["off"], t["on"], 100 * ratio, mark(ratio >= 0.8),
            ("%.1f s" % max(lags)) if lags else "–",
            "%.1f–%.1f" % (min(t["load"]), max(t["load"]))))
    v = R.get("vis")
    if v:
        L += ["", "### From the 250 to visible in the API", "",
              "%d messages, one at a time, durable spool, each preceded by "
              "a long poll `GET /api/v1/wait?after=<previous ID>`; the "
              "time from the client's socket having the `250` to its "
              "having the wait's answer (which names the new ID)." % v["n"],
              "", "| | p50 | p99 | max |", "|---|---|---|---|",
              "| 250 → visible (ms) | %s | %s | %s |" % (
                  f_ms(pct(v["lat"], 50)), f_ms(pct(v["lat"], 99)),
                  f_ms(max(v["lat"]))),
              "| for scale: end of data → 250 (ms) | %s | %s | %s |" % (
                  f_ms(pct(v["rtt"], 50)), f_ms(pct(v["rtt"], 99)),
                  f_ms(max(v["rtt"])))]
    L += ["", "### List, get and search at growing sizes", "",
          "One mxd, `spool_sync=no`, filled over pipelined SMTP (8 "
          "sessions of a Python client, each message with its own "
          "subject token `kNNNNNNNx`, ~1.2 KiB); after each fill the "
          "script waits until the index lists every message, then times "
          "sequential requests on one keep-alive connection (ms, "
          "request to last body byte).  *list*: `GET /api/v1/messages` "
          "(first page, 50); *get*: `GET /api/v1/message/<ID>` of random "
          "messages; *search 1 hit*: `query=k0012345x` (random tokens, "
          "exactly one hit); *search all*: `query=bench` (every message "
          "matches: the first page and the count of all hits).", "",
          "| messages | list p50 / p99 | get p50 / p99 | search 1 hit "
          "p50 / p99 | search all p50 / p99 | fill msg/s | index lag "
          "after fill | index file | mxd RSS (peak) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for s in R["scale"]:
        L.append("| %s%s | %s / %s | %s / %s | %s / %s | %s / %s | %.0f "
                 "| %.1f s | %.0f MiB | %.0f MiB (%.0f) |" % (
                     format(s["n"], ","), " (partial)" if s["partial"]
                     else "",
                     f_ms(pct(s["list"], 50)), f_ms(pct(s["list"], 99)),
                     f_ms(pct(s["get"], 50)), f_ms(pct(s["get"], 99)),
                     f_ms(pct(s["ssel"], 50)), f_ms(pct(s["ssel"], 99)),
                     f_ms(pct(s["sbroad"], 50)),
                     f_ms(pct(s["sbroad"], 99)),
                     s["fill_rate"], s["lag"], s["index_bytes"] / 2**20,
                     s["rss"] / 1024, s["hwm"] / 1024))
    for n, why in R["scale_skipped"]:
        L.append("")
        L.append("Not measured at %s messages: %s." % (format(n, ","),
                                                       why))
    at = [s for s in R["scale"] if s["n"] == 100000]
    if at:
        s = at[0]
        L += ["", "Targets at 100 000: list p99 ≤ 20 ms %s, get p99 ≤ 20 "
              "ms %s, search p99 ≤ 100 ms %s (1 hit) and %s (all)." % (
                  mark(pct(s["list"], 99) <= 20),
                  mark(pct(s["get"], 99) <= 20),
                  mark(pct(s["ssel"], 99) <= 100),
                  mark(pct(s["sbroad"], 99) <= 100))]
    else:
        L += ["", "100 000 messages were not reached in this run: the "
              "targets at 100 000 are not checked."]
    rb = R.get("rebuild")
    if rb:
        L += ["", "**Rebuild**: with mxd stopped, `index.sqlite*` removed "
              "and mxd started again on the spool of %s messages, the "
              "API listed all of them %s after the start (mxd's RSS then "
              "%.0f MiB, peak %.0f MiB)." % (
                  format(rb["n"], ","),
                  "%.1f s" % rb["secs"] if rb["secs"] is not None
                  else "not within 1 200 s", rb["rss"] / 1024,
                  rb["hwm"] / 1024)]
    md = R.get("maildev")
    if md:
        L += ["", "### maildev, same run", "",
              "maildev %s (npm, its default in-memory store, node %s), "
              "SMTP and HTTP on 127.0.0.1.  Ingest: the same `smtp-pipe "
              "-P`, 10 sessions, 1 KiB, as mxd above: **%.0f msg/s** "
              "(mxd in this run, 10 sessions, API on: %s).  Lists: "
              "`GET /api/email/summary?limit=50` (its paged list, newest "
              "first) and `GET /api/email` (its whole inbox in one "
              "answer, as the older clients read it)." % (
                  md["version"], R["node"], md["ingest"],
                  ", ".join("%s %.0f msg/s" % (
                      "durable" if t["sync"] else "spool_sync=no",
                      t["on"]) for t in R["tp"] if t["sessions"] == 10)),
              "", "| messages | summary p50 / p99 | /api/email p50 / p99 "
              "| fill msg/s | node RSS (peak) |", "|---|---|---|---|---|"]
        for r in md["rows"]:
            L.append("| %s | %s / %s | %s / %s | %s | %.0f MiB (%.0f) |" % (
                format(r["n"], ","), f_ms(pct(r["summary"], 50)),
                f_ms(pct(r["summary"], 99)), f_ms(pct(r["all"], 50)),
                f_ms(pct(r["all"], 99)),
                "%.0f" % md["fill_rate_%d" % r["n"]]
                if ("fill_rate_%d" % r["n"]) in md else "–",
                r["rss"] / 1024, r["hwm"] / 1024))
        if md.get("skipped"):
            L += ["", "Not measured: %s." % md["skipped"]]
        L += ["", "For context only (not installed, not measured here): "
              "Mailpit documents an ingest of about 70–100 messages/s."]
    L += ["", END]
    return "\n".join(L) + "\n"


def write_doc(path, section):
    """Put section between the markers of path (appended if none)."""
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        text = (text[:text.index(BEGIN)] + section.rstrip("\n")
                + text[text.index(END) + len(END):])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--mxd", required=True)
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--maildev")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--doc")
    ap.add_argument("--git", default="?")
    ap.add_argument("--only", default="tp,vis,scale,maildev")
    A = ap.parse_args()
    only = A.only.split(",")
    R = {"tp": [], "scale": [], "scale_skipped": [],
         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "git": A.git, "load0": " ".join(os.getloadavg().__repr__()
                                         .strip("()").split(", ")),
         "node": subprocess.run(["node", "--version"], capture_output=True,
                                text=True).stdout.strip()
         if A.maildev else "-"}
    try:
        if "tp" in only:
            phase_throughput(R)
        if "vis" in only:
            phase_visible(R)
        if "scale" in only:
            phase_scale(R)
        if "maildev" in only:
            phase_maildev(R)
    finally:
        for p in children:
            stop(p)
        subprocess.run(["rm", "-rf", os.path.join(A.work, "graveyard")])
    R["load1"] = " ".join("%.2f" % x for x in os.getloadavg())
    R["load0"] = " ".join("%.2f" % float(x) for x in R["load0"].split())
    sec = report(R)
    sys.stdout.write(sec)
    if A.doc:
        write_doc(A.doc, sec)
        log("wrote %s" % A.doc)


if __name__ == "__main__":
    main()

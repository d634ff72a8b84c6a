#!/usr/bin/env python3
"""
cpumsg.py: what one message costs a server, in CPU and system calls.

A diagnostic to go with bench.sh, for a machine that is busy with other
work, where messages per second mean little: it runs a pipelining client
(smtp-pipe) for a fixed number of messages against one mxd (or
smtp-sink) and reports, per message landed:

  cpu      the server's utime + stime from /proc/PID/stat (all threads)
  ctxsw    its context switches, voluntary and not, all threads
  client   the client's CPU (wait4 rusage)
  --strace system calls, by name (strace -c -f; slows everything down)
  --callgrind
           user-space instructions, which do not depend on the machine's
           load: the difference between a run of N/5 and one of N + N/5
           messages under valgrind --tool=callgrind, divided by N; with
           --api also the index threads' share
  --api    the HTTP listener on, and so the index threads: every run
           waits until the index holds every message (read from
           index.sqlite, not through the API) before it takes its figures
           (the index's work is in them); cpu also gives the index
           threads' own share (mxd-index and mxd-indexw, if so named)

  contrib/bench/cpumsg.py [--mxd BIN | --sink] [--dir DIR] [--sync yes|no]
                          [-s SESSIONS] [-n MESSAGES] [-r REPEAT]
                          [--strace | --callgrind] [--api]
                          [--pipe SMTP-PIPE]

Each repeat starts a new server on a new spool under DIR (default
/var/tmp; /dev/shm for tmpfs) and warms it up with N/10 messages.
Spools are left in DIR (cpumsg.*): removing many files makes the next
new files slower on journal-less ext4 for minutes (doc/performance.md),
so remove them when done measuring.  Run as root or as the user mxd
should run as; under --callgrind as root, mxd runs as nobody.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")
INDEX_THREADS = ("mxd-index", "mxd-indexw")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, secs=20):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("cpumsg: nothing listens on port %d" % port)


def cpu(pid):
    """utime + stime of every thread of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / HZ


def ctxsw(pid):
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            n += sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)
    return n


def client(a, port, n):
    """Run smtp-pipe for n messages; its CPU time in seconds."""
    p = subprocess.Popen([a.pipe, "-P", "-s", str(a.sessions), "-m", str(n),
                          "-l", "1024", "-f", "from@client.test", "-t",
                          "to@bench.test", "-M", "client.test",
                          "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit("cpumsg: smtp-pipe failed (status %d)" % status)
    return ru.ru_utime + ru.ru_stime


def thread_cpu(pid, name):
    """utime + stime of pid's threads called name, in seconds."""
    t = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue
        if st.split("(", 1)[1].rsplit(")", 1)[0] == name:
            f_ = st.rsplit(")", 1)[1].split()
            t += (int(f_[11]) + int(f_[12])) / HZ
    return t


def server_argv(a, port, spool, hport=None):
    if a.sink:
        return ["smtp-sink", "-u", "nobody", "-m", "1000",
                "127.0.0.1:%d" % port, "1024"]
    return [a.mxd, "-f", "-o", "listen=127.0.0.1:%d" % port, "-o",
            "spool_dir=" + spool, "-o", "hostname=bench.test", "-o",
            "shutdown_grace=2s", "-o", "pop3_listen=", "-o",
            "http_listen=" + ("127.0.0.1:%d" % hport if hport else ""),
            "-o", "spool_sync=" + a.sync]


def indexed(spool):
    """
    Messages in the index, read from its file (not through the API: a
    request costs mxd's loop far more than the poll is worth measuring).
    """
    import sqlite3
    try:
        db = sqlite3.connect("file:%s?mode=ro" %
                             os.path.join(spool, "index.sqlite"), uri=True,
                             timeout=30)
        try:
            return db.execute("SELECT count(*) FROM msg").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def catch_up(spool, want, secs=1200):
    """Wait until the index holds want messages (bounded: secs)."""
    deadline = time.monotonic() + secs
    while indexed(spool) < want:
        if time.monotonic() > deadline:
            sys.exit("cpumsg: the index did not catch up in %d s" % secs)
        time.sleep(0.05)


def queued(a, spool):
    return 0 if a.sink else len(os.listdir(os.path.join(spool, "queue")))


def strace_counts(path):
    """{syscall: calls} from an strace -c table."""
    calls = {}
    with open(path) as f:
        for line in f:
            f_ = line.split()
            if len(f_) >= 5 and f_[0][0].isdigit() and f_[-1] != "total":
                try:
                    calls[f_[-1]] = int(f_[3])
                except ValueError:
                    pass
    return calls


def run_once(a):
    """One server, one measured client run: a dict of per-message figures."""
    d = tempfile.mkdtemp(prefix="cpumsg.", dir=a.dir)
    os.chmod(d, 0o755)
    spool, port = os.path.join(d, "spool"), free_port()
    hport = free_port() if a.api else None
    with open(os.path.join(d, "server.log"), "w") as log:
        srv = subprocess.Popen(server_argv(a, port, spool, hport),
                               stdout=log, stderr=log)
    try:
        wait_port(port)
        client(a, port, max(a.n // 10, a.sessions))
        q0 = queued(a, spool)
        if hport:
            catch_up(spool, q0)
        tr = None
        if a.strace:
            tr = subprocess.Popen(["strace", "-c", "-f", "-o",
                                   os.path.join(d, "strace.txt"), "-p",
                                   str(srv.pid)], stderr=subprocess.DEVNULL)
            time.sleep(1)
        c0, x0 = cpu(srv.pid), ctxsw(srv.pid)
        i0 = sum(thread_cpu(srv.pid, t) for t in INDEX_THREADS)
        ccpu = client(a, port, a.n)
        time.sleep(0.2)
        landed = a.n if a.sink else queued(a, spool) - q0
        if hport:
            catch_up(spool, q0 + landed)
        c1, x1 = cpu(srv.pid), ctxsw(srv.pid)
        i1 = sum(thread_cpu(srv.pid, t) for t in INDEX_THREADS)
        r = {"landed": landed, "cpu": (c1 - c0) / landed * 1e6,
             "ctxsw": (x1 - x0) / landed, "client": ccpu / a.n * 1e6,
             "index": (i1 - i0) / landed * 1e6}
        if tr is not None:
            time.sleep(0.3)
            tr.send_signal(2)
            tr.wait()
            r["calls"] = {k: v / landed for k, v in
                          strace_counts(os.path.join(d, "strace.txt")).items()}
        return r
    finally:
        srv.terminate()
        srv.wait()


def callgrind_total(a, n):
    """
    User-space instructions of one mxd run under callgrind for n
    messages: (all threads, the index thread's).
    """
    d = tempfile.mkdtemp(prefix="cpumsg.", dir=a.dir)
    os.chmod(d, 0o777)
    out, port = os.path.join(d, "callgrind.out"), free_port()
    hport = free_port() if a.api else None
    spool = os.path.join(d, "spool")
    argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
            "--callgrind-out-file=" + out]
    argv += server_argv(a, port, spool, hport)
    if os.getuid() == 0:
        # mxd would drop to nobody, which then cannot write root's file.
        os.chown(d, 65534, 65534)
        argv = ["setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups"] + argv
    with open(os.path.join(d, "server.log"), "w") as log:
        srv = subprocess.Popen(argv, stdout=log, stderr=log)
    try:
        wait_port(port, 60)
        client(a, port, n)
        if hport:
            catch_up(spool, queued(a, spool))
    finally:
        srv.terminate()
        srv.wait()
    total = index = 0
    for f_ in os.listdir(d):
        if not re.match(r"callgrind\.out-\d+$", f_):
            continue
        with open(os.path.join(d, f_)) as f:
            text = f.read()
        m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if m is None:
            sys.exit("cpumsg: no totals in %s" % f_)
        total += int(m.group(1))
        if re.search(r"^c?fn=\(\d+\) index_\w*main$", text, re.M):
            index += int(m.group(1))
    return total, index


def build_pipe():
    tmp = tempfile.mkdtemp(prefix="cpumsg-pipe.")
    atexit.register(shutil.rmtree, tmp, True)
    exe = os.path.join(tmp, "smtp-pipe")
    subprocess.run(["cc", "-O2", "-o", exe,
                    os.path.join(HERE, "smtp-pipe.c")], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("--mxd", default=os.path.join(HERE, "../../build/src/mxd"))
    ap.add_argument("--sink", action="store_true", help="smtp-sink instead")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--sync", default="no", choices=("yes", "no"))
    ap.add_argument("-s", dest="sessions", type=int, default=10)
    ap.add_argument("-n", type=int, default=40000, help="messages per run")
    ap.add_argument("-r", dest="repeat", type=int, default=3)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--api", action="store_true",
                    help="the HTTP listener and the index on")
    ap.add_argument("--pipe", help="a built smtp-pipe (default: build it)")
    a = ap.parse_args()
    a.mxd = os.path.abspath(a.mxd)
    a.pipe = a.pipe or build_pipe()
    what = "smtp-sink" if a.sink else "%s spool_sync=%s%s" % (
        a.mxd, a.sync, ", API and index on" if a.api else "")
    print("%s, %s, %d pipelining sessions, 1 KiB messages" %
          (what, a.dir, a.sessions))
    if a.callgrind:
        k = max(a.n // 5, a.sessions)
        few, many = callgrind_total(a, k), callgrind_total(a, k + a.n)
        print("user-space instructions per message: %.0f" %
              ((many[0] - few[0]) / a.n))
        if a.api:
            print("  of which the index threads: %.0f" %
                  ((many[1] - few[1]) / a.n))
        return
    cpus = []
    for i in range(a.repeat):
        r = run_once(a)
        cpus.append(r["cpu"])
        print("run %d: %d landed, cpu %.1f us/msg%s, ctxsw %.2f/msg, "
              "client cpu %.1f us/msg" % (
                  i + 1, r["landed"], r["cpu"], " (index thread %.1f)" %
                  r["index"] if a.api else "", r["ctxsw"], r["client"]))
        if "calls" in r:
            calls = sorted(r["calls"].items(), key=lambda kv: -kv[1])
            print("  system calls %.2f/msg: %s" % (
                sum(r["calls"].values()), ", ".join(
                    "%s %.2f" % kv for kv in calls if kv[1] >= 0.01)))
    print("cpu us/msg: min %.1f, median %.1f, max %.1f" %
          (min(cpus), statistics.median(cpus), max(cpus)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench.py: the measuring half of contrib/bench/bench.sh (stdlib only).

bench.sh starts and stops the servers; this file measures them and writes
the report.  Subcommands (each appends one JSON object to --json):

  machine   describe the machine and the spool's file system
  fsync     single-writer durable-create rate in a directory
  cell      run a load generator against a running server for a fixed
            window; count messages that landed, server CPU and memory
            (--phase fresh|dirty, --rep I of --repeats N: after the
            last repeat, print min/median/max of the cell)
  consume   remove every queue/*.eml, as a consumer would (dirty phase)
  idle      hold N greeted+EHLO'd idle connections; mxd RSS per connection
  large     send one big message with smtp-source; mxd peak RSS
  report    turn the JSON lines into the Markdown results section and
            splice it into doc/performance.md between the markers
"""
import argparse
import datetime
import errno
import hashlib
import json
import os
import platform
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
BEGIN = "<!-- BEGIN RESULTS (written by contrib/bench/bench.py) -->"
END = "<!-- END RESULTS -->"


def emit(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj, sort_keys=True) + "\n")


def read_file(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(ppid, utime+stime, cutime+cstime) in ticks, or None if gone."""
    s = read_file("/proc/%d/stat" % pid)
    if not s:
        return None
    f = s[s.rindex(")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def proc_status_kb(pid, key):
    for line in read_file("/proc/%d/status" % pid).splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def tree(root):
    """root and all its descendants (Postfix: master and its daemons)."""
    kids = {}
    for p in all_pids():
        st = proc_stat(p)
        if st:
            kids.setdefault(st[0], []).append(p)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(root, with_tree):
    """CPU of a server in ticks.  For a process tree (Postfix) this is
    the root's own and reaped children's time plus every live
    descendant's, so daemons that exit (max_use) are still counted."""
    st = proc_stat(root)
    if st is None:
        return None
    if not with_tree:
        return st[1]
    total = st[1] + st[2]
    for p in tree(root):
        if p == root:
            continue
        s = proc_stat(p)
        if s:
            total += s[1] + s[2]
    return total


def rss_kb(root, with_tree):
    if not with_tree:
        return proc_status_kb(root, "VmRSS")
    return sum(proc_status_kb(p, "VmRSS") for p in tree(root))


def machine_busy():
    """(busy, steal) ticks of the whole machine from /proc/stat."""
    f = [int(x) for x in read_file("/proc/stat").split("\n", 1)[0]
         .split()[1:]]
    steal = f[7] if len(f) > 7 else 0
    return sum(f[:8]) - f[3] - f[4] - steal, steal


PF_KTHREAD = 0x00200000


def kthread_ticks():
    """utime+stime of all kernel threads (kworker, jbd2, ksoftirqd...):
    work the kernel does on a server's behalf (writeback, journal
    commits, network softirqs) that no server process is charged for."""
    total = 0
    for p in all_pids():
        s = read_file("/proc/%d/stat" % p)
        if not s:
            continue
        f = s[s.rindex(")") + 2:].split()
        if int(f[6]) & PF_KTHREAD:
            total += int(f[11]) + int(f[12])
    return total


def self_ticks():
    t = os.times()
    return (t.user + t.system) * CLK_TCK


def count_files(d):
    if not d:
        return 0
    try:
        with os.scandir(d) as it:
            return sum(1 for e in it if not e.name.startswith("."))
    except FileNotFoundError:
        return 0


def last_int(path):
    """Last decimal number in a counter file (smtp-source -c writes
    "\\r1\\r2...", smtp-pipe -c rewrites one number)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64))
            tail = f.read().decode("ascii", "replace")
    except OSError:
        return 0
    nums = re.findall(r"\d+", tail)
    return int(nums[-1]) if nums else 0


# ---------------------------------------------------------------- bury

def cmd_bury(a):
    """Empty finished spools without freeing their inodes.  On ext4
    without a journal, every new inode skips over the inodes freed in
    the last 1 to 6 minutes (fs/ext4/ialloc.c, recently_deleted()), so
    deleting one cell's 40 000 files would make file creation in the
    next cells several times slower.  Truncating frees the data blocks;
    the files move to a graveyard that is deleted at the end of the
    run."""
    os.makedirs(a.grave, exist_ok=True)
    n = len(os.listdir(a.grave))
    count = 0
    for d in a.dirs:
        if not os.path.isdir(d):
            continue
        if a.contents:              # move the files out of d (Postfix)
            dst = os.path.join(a.grave, str(n))
            n += 1
            os.mkdir(dst)
            with os.scandir(d) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        os.truncate(e.path, 0)
                        os.rename(e.path, os.path.join(dst, e.name))
                        count += 1
        else:                       # move the whole directory (mxd)
            for root, _, files in os.walk(d):
                for f in files:
                    os.truncate(os.path.join(root, f), 0)
                    count += 1
            os.rename(d, os.path.join(a.grave, str(n)))
            n += 1
    return count


# ---------------------------------------------------------------- machine

def cmd_machine(a):
    cpu = "unknown"
    for line in read_file("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in read_file("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    fs = subprocess.run(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T",
                         a.dir], capture_output=True, text=True).stdout.split()
    dev = fs[0] if fs else "?"
    journal = "n/a"
    if len(fs) > 1 and fs[1] in ("ext3", "ext4"):
        try:
            jb = os.listdir("/proc/fs/jbd2")
        except OSError:
            jb = []
        journal = "yes" if any(e.startswith(os.path.basename(dev) + "-")
                               for e in jb) else "no"
    rot = "?"
    base = os.path.basename(dev)
    for cand in (base, re.sub(r"p?\d+$", "", base)):
        r = read_file("/sys/block/%s/queue/rotational" % cand).strip()
        if r:
            rot = "rotational" if r == "1" else "non-rotational"
            break
    virt = "vm" if re.search(r"^flags\s*:.*\bhypervisor\b",
                             read_file("/proc/cpuinfo"), re.M) else "none"
    emit(a.json, {
        "type": "machine",
        "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib":
        round(mem_kb / 1048576, 1), "kernel": platform.release(),
        "os": (re.search(r'PRETTY_NAME="([^"]*)"',
                         read_file("/etc/os-release")) or [None, "?"])[1],
        "spool_dir": a.dir, "spool_dev": dev,
        "spool_fs": fs[1] if len(fs) > 1 else "?",
        "spool_mount": fs[2] if len(fs) > 2 else "?",
        "spool_disk": rot, "virt": virt, "spool_journal": journal,
        "loadavg": read_file("/proc/loadavg").split()[:3],
        "mxd_version": a.mxd_version, "postfix_version": a.postfix_version,
        "git": a.git, "mode": a.mode, "dirty": a.dirty,
        "mxd_sha256": hashlib.sha256(open(a.mxd, "rb").read()).hexdigest()
        if a.mxd else "?",
    })


# ---------------------------------------------------------------- fsync

def create_files(tmp, dst, dfd, prefix, secs, limit):
    """Create 1 KiB files in tmp and rename them into dst for secs
    seconds (at most limit files); with dfd, fsync each file and then
    the directory, as a durable spool does.  Returns (files, elapsed
    seconds, CPU seconds of this process)."""
    data = b"x" * 1024
    n, c0, t0 = 0, time.process_time(), time.monotonic()
    while time.monotonic() - t0 < secs and n < limit:
        name = "%s%d" % (prefix, n)
        p = os.path.join(tmp, name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        if dfd is not None:
            os.fsync(fd)
        os.close(fd)
        os.rename(p, os.path.join(dst, name))
        if dfd is not None:
            os.fsync(dfd)
        n += 1
    return n, time.monotonic() - t0, time.process_time() - c0


def cmd_fsync(a):
    """write+fsync a small new file, rename it, fsync the directory;
    then the same without any sync, for the file system's CPU alone
    (what mxd spool_sync=no pays per message and smtp-sink does not)."""
    tmp = os.path.join(a.dir, "probe-tmp")
    dst = os.path.join(a.dir, "probe-queue")
    os.makedirs(tmp, exist_ok=True)
    os.makedirs(dst, exist_ok=True)
    dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    n, el, _ = create_files(tmp, dst, dfd, "d", a.secs, 1000000)
    m, _, cpu = create_files(tmp, dst, None, "n", a.secs, 100000)
    cpu_us = cpu / max(m, 1) * 1e6
    os.close(dfd)
    os.rmdir(tmp)
    cmd_bury(argparse.Namespace(grave=os.path.join(a.dir, "graveyard"),
                                dirs=[dst], contents=False))
    emit(a.json, {"type": "fsync", "ops": n, "secs": round(el, 3),
                  "per_s": round(n / el, 1), "nosync_ops": m,
                  "nosync_cpu_us": round(cpu_us, 1)})
    print("fsync probe: %.0f durable creates/s (%d in %.1fs); without "
          "sync %.1f us of CPU per file" % (n / el, n, el, cpu_us))


# ---------------------------------------------------------------- cell

def stop(proc, grace=5.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_cell(a):
    """One attempt at a cell; returns the result dict."""
    tree_mode = a.server == "postfix"
    client_out = open(a.countfile, "wb") if a.client_stdout else \
        subprocess.DEVNULL
    err = open(a.countfile + ".err", "wb")
    res = {"type": "cell", "server": a.server, "size": a.size,
           "sessions": a.sessions, "mode": a.mode, "phase": a.phase,
           "rep": a.rep,
           "client": " ".join(a.client), "error": None}
    landed_start = count_files(a.queue)    # earlier tries' messages
    proc = subprocess.Popen(a.client, stdout=client_out, stderr=err)
    try:
        deadline = time.monotonic() + a.warmup
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError("client exited during warm-up")
        landed0 = count_files(a.queue)
        acked0 = last_int(a.countfile)
        cpu0 = cpu_ticks(a.pid, tree_mode)
        ccpu0 = cpu_ticks(proc.pid, False)
        busy0, steal0 = machine_busy()
        kt0, me0 = kthread_ticks(), self_ticks()
        t0 = time.monotonic()
        peak = rss_kb(a.pid, tree_mode)
        procs = len(tree(a.pid)) if tree_mode else 1
        while time.monotonic() - t0 < a.secs and proc.poll() is None:
            time.sleep(0.2)
            peak = max(peak, rss_kb(a.pid, tree_mode))
            if tree_mode:
                procs = max(procs, len(tree(a.pid)))
        landed1 = count_files(a.queue)
        acked1 = last_int(a.countfile)
        cpu1 = cpu_ticks(a.pid, tree_mode)
        ccpu1 = cpu_ticks(proc.pid, False)
        busy1, steal1 = machine_busy()
        kt1, me1 = kthread_ticks(), self_ticks()
        t1 = time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError("client exited during the window")
        if cpu0 is None or cpu1 is None:
            raise RuntimeError("server died")
    except RuntimeError as e:
        stop(proc)
        res["error"] = "%s: %s" % (e, read_file(a.countfile + ".err")
                                   .strip()[-300:])
        return res
    stop(proc)
    time.sleep(0.3)          # let commits in flight finish
    landed_end = count_files(a.queue) - landed_start
    acked_end = last_int(a.countfile)
    dt = t1 - t0
    msgs = (landed1 - landed0) if a.queue else (acked1 - acked0)
    if a.queue and a.counter == "sent":
        # smtp-source counts a message when it has sent the dot: each
        # session may have one sent message whose 250 it has not read
        # (and, stopped between the dot and the count, one it has not
        # counted yet).
        landed_ok = acked_end - a.sessions <= landed_end <= \
            acked_end + a.sessions
    elif a.queue:
        # smtp-pipe counts 250s: every 250 must have a file; each session
        # may have one complete message whose 250 was not read yet.
        landed_ok = acked_end <= landed_end <= acked_end + a.sessions
    else:
        landed_ok = None
    srv_ticks = cpu1 - cpu0
    cli_ticks = (ccpu1 - ccpu0) if ccpu0 is not None and \
        ccpu1 is not None else 0
    res.update({
        "secs": round(dt, 3), "msgs": msgs,
        "rate": round(msgs / dt, 1) if dt > 0 else 0,
        "acked_rate": round((acked1 - acked0) / dt, 1) if dt > 0 else 0,
        "cpu_ms_per_msg": round((cpu1 - cpu0) * 1000.0 / CLK_TCK / msgs, 4)
        if msgs > 0 else None,
        "cpu_util": round((cpu1 - cpu0) / CLK_TCK / dt, 3),
        # Kernel threads during the window (mostly the server's own
        # writeback, journal commits and softirqs), and everything else
        # on the machine besides server, client, kernel threads and this
        # script (other work on a shared machine makes figures noisy).
        "kthread_util": round((kt1 - kt0) / CLK_TCK / dt, 3),
        "kthread_ms_per_msg": round((kt1 - kt0) * 1000.0 / CLK_TCK / msgs,
                                    4) if msgs > 0 else None,
        "other_cpu_util": round(max(0, busy1 - busy0 - srv_ticks -
                                    cli_ticks - (kt1 - kt0) -
                                    (me1 - me0)) / CLK_TCK / dt, 3),
        "steal_util": round((steal1 - steal0) / CLK_TCK / dt, 3),
        "client_cpu_util": round((ccpu1 - ccpu0) / CLK_TCK / dt, 3)
        if ccpu0 is not None and ccpu1 is not None else None,
        "rss_peak_kb": proc_status_kb(a.pid, "VmHWM") if not tree_mode
        else peak,
        "landed_total": landed_end if a.queue else None,
        "acked_total": acked_end, "counter": a.counter,
        "landed_ok": landed_ok, "server_procs": procs,
        "loadavg": read_file("/proc/loadavg").split()[0],
    })
    return res


def take_retry(path):
    """Take one retry from the run's budget (a number in a file)."""
    if not path:
        return False
    try:
        n = int(read_file(path).strip() or 0)
    except ValueError:
        n = 0
    if n <= 0:
        return False
    with open(path, "w") as f:
        f.write(str(n - 1))
    return True


def cmd_cell(a):
    """Run a cell; if other load on the machine disturbed it, run it
    again (within the run's retry budget) and keep the quieter try."""
    best = None
    for attempt in range(1 + a.retries):
        res = run_cell(a)
        res["attempt"] = attempt + 1
        if res.get("error"):
            best = res
            break
        if best is None or res["other_cpu_util"] < best["other_cpu_util"]:
            best = res
        if res["other_cpu_util"] <= a.noisy or attempt == a.retries or \
                not take_retry(a.retry_budget):
            break
        print("  %-5s %-10s %6s %3d %-9s #%d other load %.2f cores: once "
              "more" % (a.phase, a.server, a.size, a.sessions, a.mode, a.rep,
                        res["other_cpu_util"]))
    res = best
    emit(a.json, res)
    if res.get("error"):
        print("  %-10s %6s %3d %-9s ERROR %s" % (a.server, a.size,
              a.sessions, a.mode, res["error"]))
        return
    print("  %-5s %-10s %6s %3d %-9s #%d %8.1f msg/s  cpu %.3f ms/msg  "
          "rss %6d KiB  landed %s/%s %d  others %.2f cores%s" % (
              a.phase, a.server, a.size, a.sessions, a.mode, a.rep,
              res["rate"], res["cpu_ms_per_msg"] or 0, res["rss_peak_kb"],
              res["landed_total"], a.counter, res["acked_total"],
              res["other_cpu_util"],
              "" if res["landed_ok"] in (None, True) else "  CHECK FAILED"))
    if a.rep >= a.repeats and a.repeats > 1:
        runs = load_cells(a.json).get((a.phase, a.server, a.size,
                                       a.sessions, a.mode), [])
        st = spread(runs, "rate")
        if st:
            print("  %-5s %-10s %6s %3d %-9s min/median/max %.0f / %.0f / "
                  "%.0f msg/s (spread %.2fx), cpu/msg median %.3f ms" % (
                      a.phase, a.server, a.size, a.sessions, a.mode, st[0],
                      st[1], st[2], st[3],
                      median_run(runs)["cpu_ms_per_msg"] or 0))


def load_cells(path):
    """{(phase, server, size, sessions, mode): [runs without error]}."""
    cells = {}
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("type") != "cell" or r.get("error"):
            continue
        k = (r.get("phase", "fresh"), r["server"], r["size"],
             r["sessions"], r["mode"])
        cells.setdefault(k, []).append(r)
    return cells


def median_run(runs):
    """The run with the median rate (the lower one of an even count)."""
    if not runs:
        return None
    rs = sorted(runs, key=lambda r: r["rate"])
    return rs[(len(rs) - 1) // 2]


def spread(runs, field):
    """(min, median, max, max/min) of a field over the runs, or None."""
    v = [r[field] for r in runs if r.get(field) is not None]
    if not v:
        return None
    lo, hi = min(v), max(v)
    # The lower middle of an even count, as median_run() picks.
    return lo, statistics.median_low(v), hi, (hi / lo if lo > 0 else
                                              float("inf"))


# ---------------------------------------------------------------- consume

def cmd_consume(a):
    """Remove every <QID>.eml in the given queue directories, one unlink
    each, as a consumer of the spool does."""
    t0, n = time.monotonic(), 0
    for d in a.dirs:
        try:
            with os.scandir(d) as it:
                names = [e.name for e in it if e.name.endswith(".eml")]
        except FileNotFoundError:
            continue
        for name in names:
            os.unlink(os.path.join(d, name))
            n += 1
    dt = time.monotonic() - t0
    emit(a.json, {"type": "consume", "what": a.what, "removed": n,
                  "secs": round(dt, 3)})
    print("  removed %d messages from queue/ (%s) in %.1f s" % (n, a.what,
                                                                  dt))


# ---------------------------------------------------------------- idle

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle(host, port, n, timeout, batch=400):
    """Open n connections, each greeted and EHLO'd; return (socks, stats).
    At most `batch` are in their handshake at once so the listen
    backlog never overflows."""
    sel = selectors.DefaultSelector()
    done, failed, pending = [], [], 0
    started = 0
    state = {}
    deadline = time.monotonic() + timeout
    while (len(done) + len(failed) < n) and time.monotonic() < deadline:
        while started < n and pending < batch:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError as e:
                failed.append(str(e))
                s.close()
                started += 1
                continue
            state[s] = [b"", "greet"]
            sel.register(s, selectors.EVENT_READ)
            started += 1
            pending += 1
        for key, _ in sel.select(0.5):
            s = key.fileobj
            st = state[s]
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data, why = b"", str(e)
            else:
                why = "closed by server"
            if not data:
                failed.append(why + (" in " + st[1]))
                sel.unregister(s)
                s.close()
                pending -= 1
                continue
            st[0] += data
            # Wait for a final reply line ("ddd " ... CRLF).
            lines = st[0].split(b"\r\n")
            final = [ln for ln in lines[:-1] if len(ln) >= 4 and
                     ln[3:4] == b" "]
            if not final:
                continue
            code = final[-1][:3]
            st[0] = b""
            if st[1] == "greet" and code == b"220":
                st[1] = "ehlo"
                s.send(b"EHLO idle.test\r\n")
            elif st[1] == "ehlo" and code == b"250":
                sel.unregister(s)
                done.append(s)
                pending -= 1
            else:
                failed.append("%s: %s" % (st[1], final[-1][:80]))
                sel.unregister(s)
                s.close()
                pending -= 1
    for key in list(sel.get_map().values()):
        failed.append("timeout")
        key.fileobj.close()
    sel.close()
    return done, failed


def still_open(socks):
    """Connections the server has not closed (nothing readable)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    readable = len(sel.select(0.2))
    sel.close()
    return len(socks) - readable


def cmd_idle(a):
    limit = raise_nofile(a.n + 1000)
    res = {"type": "idle", "n": a.n, "client_nofile": limit,
           "server_nofile": None}
    for line in read_file("/proc/%d/limits" % a.pid).splitlines():
        if line.startswith("Max open files"):
            res["server_nofile"] = int(line.split()[3])
    # Warm up the allocator with a few sessions, then take the baseline.
    warm, _ = open_idle(a.host, a.port, 50, 20)
    for s in warm:
        s.close()
    time.sleep(0.5)
    before = proc_status_kb(a.pid, "VmRSS")
    t0 = time.monotonic()
    socks, failed = open_idle(a.host, a.port, a.n, a.timeout)
    el = time.monotonic() - t0
    time.sleep(1.0)
    after = proc_status_kb(a.pid, "VmRSS")
    time.sleep(a.hold)
    alive = still_open(socks)
    reasons = {}
    for f in failed:
        reasons[f] = reasons.get(f, 0) + 1
    res.update({
        "served": len(socks), "failed": len(failed),
        "fail_reasons": dict(sorted(reasons.items(),
                                    key=lambda x: -x[1])[:5]),
        "still_open_after_hold": alive, "hold_secs": a.hold,
        "open_secs": round(el, 2),
        "rss_before_kb": before, "rss_after_kb": after,
        "rss_per_conn_kb": round((after - before) / max(1, len(socks)), 3),
        "hwm_kb": proc_status_kb(a.pid, "VmHWM"),
    })
    for s in socks:
        s.close()
    time.sleep(1.0)
    res["rss_after_close_kb"] = proc_status_kb(a.pid, "VmRSS")
    emit(a.json, res)
    print("idle %d: served %d failed %d (%s) open after %ss: %d; "
          "VmRSS %d -> %d KiB = %.2f KiB/conn" % (
              a.n, len(socks), len(failed), res["fail_reasons"] or "-",
              a.hold, alive, before, after, res["rss_per_conn_kb"]))


# ---------------------------------------------------------------- large

def cmd_large(a):
    hwm0 = proc_status_kb(a.pid, "VmHWM")
    rss0 = proc_status_kb(a.pid, "VmRSS")
    cmd = ["smtp-source", "-m", "1", "-l", str(a.bytes), "-f",
           "from@client.test", "-t", "to@bench.test", "-M", "client.test",
           "%s:%d" % (a.host, a.port)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=a.timeout)
    el = time.monotonic() - t0
    files = [os.path.join(a.queue, f) for f in os.listdir(a.queue)]
    sizes = [os.path.getsize(f) for f in files]
    res = {"type": "large", "bytes": a.bytes, "client": " ".join(cmd),
           "rc": p.returncode, "stderr": p.stderr.strip()[-300:],
           "secs": round(el, 3), "mb_per_s": round(a.bytes / el / 1e6, 1),
           "landed": len(files), "file_bytes": sizes[0] if sizes else 0,
           "rss_before_kb": rss0, "hwm_before_kb": hwm0,
           "hwm_after_kb": proc_status_kb(a.pid, "VmHWM")}
    emit(a.json, res)
    print("large %d B: rc=%d %.2fs (%.1f MB/s) landed=%d (%d B); VmHWM "
          "%d -> %d KiB" % (a.bytes, p.returncode, el, res["mb_per_s"],
                            len(files), res["file_bytes"], hwm0,
                            res["hwm_after_kb"]))


# ---------------------------------------------------------------- report

SERVERS = [("mxd", "mxd durable"), ("mxd-nosync", "mxd spool_sync=no"),
           ("postfix", "Postfix smtpd"), ("sink", "smtp-sink")]


def fmt(v, nd=0):
    if v is None:
        return "—"
    if isinstance(v, float) and nd:
        return "%.*f" % (nd, v)
    return "{:,}".format(int(round(v)))


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def fr(x, nd=2):
    return "—" if x is None else "%.*f" % (nd, x)


def cmd_report(a):
    rows = [json.loads(l) for l in open(a.json) if l.strip()]
    mach = next((r for r in rows if r["type"] == "machine"), {})
    fs = next((r for r in rows if r["type"] == "fsync"), None)
    # Every run of every cell, by phase; the tables of the fresh phase
    # show each cell's median run (by rate), errors kept aside.
    runs = load_cells(a.json)
    errors = {}
    for r in rows:
        if r["type"] == "cell" and r.get("error"):
            errors.setdefault((r.get("phase", "fresh"), r["server"],
                               r["size"], r["sessions"], r["mode"]),
                              []).append(r["error"])
    cells = {}
    for (ph, srv, size, n, mode), rs in runs.items():
        if ph == "fresh":
            cells[(srv, size, n, mode)] = median_run(rs)
    for (ph, srv, size, n, mode), es in errors.items():
        if ph == "fresh" and (srv, size, n, mode) not in cells:
            cells[(srv, size, n, mode)] = {"error": es[0]}
    repeats = max([r.get("rep", 1) for r in rows if r["type"] == "cell"] +
                  [1])
    consumed = [r for r in rows if r["type"] == "consume"]
    idles = [r for r in rows if r["type"] == "idle"]
    large = next((r for r in rows if r["type"] == "large"), None)
    cmds = [r for r in rows if r["type"] == "command"]
    keys = sorted({k[1:] for k in cells},
                  key=lambda k: (k[0], k[1], k[2] != "plain"))

    def get(srv, k, field):
        r = cells.get((srv,) + k)
        if r is None or r.get("error"):
            return None
        return r.get(field)

    L = []
    L.append(BEGIN)
    L.append("")
    L.append("## Results of one run (%s mode)" % mach.get("mode", "?"))
    L.append("")
    L.append("Every figure below comes from the single run of `%s` on "
             "%s." % (a.command, mach.get("date", "?")))
    L.append("")
    L.append("### Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append("| CPU | %s, %s cores (%s) |" % (mach.get("cpu"),
             mach.get("cores"), "virtual machine"
             if mach.get("virt") not in (None, "none") else "bare metal"))
    L.append("| RAM | %s GiB |" % mach.get("mem_gib"))
    L.append("| OS, kernel | %s, Linux %s |" % (mach.get("os"),
             mach.get("kernel")))
    L.append("| spool file system | %s on %s (%s), journal: %s, mounted "
             "`%s` |" % (mach.get("spool_fs"), mach.get("spool_dev"),
                         mach.get("spool_disk"),
                         mach.get("spool_journal", "?"),
                         mach.get("spool_mount")))
    L.append("| spool directory | %s |" % mach.get("spool_dir"))
    L.append("| load average at start | %s |" %
             " ".join(mach.get("loadavg", [])))
    L.append("| mxd | %s, git %s%s; binary sha256 %s… |" % (
        mach.get("mxd_version"), mach.get("git"),
        (" (uncommitted changes in: %s)" % mach["dirty"])
        if mach.get("dirty") else (" (uncommitted changes only in "
                                   "contrib/bench/ and doc/)"
                                   if mach.get("git", "").endswith("-dirty")
                                   else ""),
        mach.get("mxd_sha256", "?")[:16]))
    L.append("| Postfix | %s (Debian package; smtpd, smtp-sink, "
             "smtp-source) |" % mach.get("postfix_version"))
    L.append("")
    if fs:
        L.append("**Disk, single writer:** %s durable creates/s "
                 "(write 1 KiB + fsync + rename + directory fsync, one "
                 "after another, %d in %.1f s, on the spool's file system)."
                 " A server that fsyncs each message on its own cannot "
                 "queue more than this per second; group commit can." %
                 (fmt(fs["per_s"]), fs["ops"], fs["secs"]))
        L.append("")
        if fs.get("nosync_cpu_us") is not None:
            L.append("**File system CPU per message, no sync:** %.1f µs "
                     "(create, write 1 KiB, close, rename, from Python; "
                     "%s files, CPU time of the process).  mxd "
                     "spool_sync=no pays this for every message on top of "
                     "the SMTP work; smtp-sink pays none of it." %
                     (fs["nosync_cpu_us"], fmt(fs["nosync_ops"])))
            L.append("")

    L.append("### Throughput: messages landed per second")
    L.append("")
    L.append("Each cell was run %d time%s against one server started for "
             "it; the tables show the median run (by rate), and "
             "\"Repeats\" below shows min / median / max.  " % (
                 repeats, "" if repeats == 1 else "s") +
             "Messages counted are files that appeared in the spool during "
             "the measuring window (mxd: `queue/*.eml`; Postfix: its "
             "`hold/` queue); smtp-sink keeps nothing, so for it the "
             "client's count of 250 replies is used. "
             "*plain* = Postfix `smtp-source -d` (HELO, one command per "
             "round trip); *pipelined* = `smtp-pipe -P` (EHLO, RFC 2920, "
             "one round trip per message).")
    L.append("")
    L.append("| size | sessions | mode | mxd durable | mxd sync=no | "
             "Postfix | smtp-sink | mxd/Postfix | mxd sync=no/sink | "
             "mxd/sink |")
    L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for k in keys:
        m, n, p, s = (get(x, k, "rate") for x in
                      ("mxd", "mxd-nosync", "postfix", "sink"))
        L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            "1 KiB" if k[0] == 1024 else "%d KiB" % (k[0] // 1024), k[1],
            k[2], fmt(m), fmt(n), fmt(p), fmt(s), fr(ratio(m, p)),
            fr(ratio(n, s)), fr(ratio(m, s))))
    L.append("")

    L.append("### Server CPU per message and peak memory")
    L.append("")
    L.append("CPU = utime+stime from /proc/<pid>/stat over the window "
             "divided by the messages landed.  Postfix: master plus every "
             "daemon under it (smtpd, cleanup, trivial-rewrite, qmgr, "
             "anvil, postlogd...), including daemons that exited during "
             "the window (the master's reaped-children time).  Kernel "
             "threads: CPU of all kernel threads during the window per "
             "message landed (mxd / sync=no / Postfix / sink): writeback, "
             "journal commits and softirqs done on the servers' behalf "
             "but charged to no process; not in the other columns.  "
             "Peak RSS: "
             "mxd and smtp-sink VmHWM; Postfix the highest sum of VmRSS "
             "over its processes, sampled every 0.2 s (shared pages "
             "counted once per process).")
    L.append("")
    L.append("| size | sessions | mode | mxd ms/msg | sync=no ms/msg | "
             "Postfix ms/msg | sink ms/msg | mxd/Postfix CPU | kernel "
             "threads ms/msg | mxd RSS KiB | sync=no RSS | Postfix RSS | "
             "sink RSS |")
    L.append("|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"
             "---:|")
    for k in keys:
        c = [get(x, k, "cpu_ms_per_msg") for x in
             ("mxd", "mxd-nosync", "postfix", "sink")]
        r = [get(x, k, "rss_peak_kb") for x in
             ("mxd", "mxd-nosync", "postfix", "sink")]
        np = get("postfix", k, "server_procs")
        kt = [get(x, k, "kthread_ms_per_msg") for x in
              ("mxd", "mxd-nosync", "postfix", "sink")]
        L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
                 "%s | %s |" % ("1 KiB" if k[0] == 1024 else "%d KiB" %
                                (k[0] // 1024), k[1], k[2],
                                fr(c[0], 3), fr(c[1], 3), fr(c[2], 3),
                                fr(c[3], 3), fr(ratio(c[0], c[2])),
                                " / ".join(fr(x, 3) for x in kt),
                                fmt(r[0]), fmt(r[1]), fmt(r[2]) + (
                                    " (%d procs)" % np if np else ""),
                                fmt(r[3])))
    L.append("")

    big = [k for k in keys if k[0] >= 102400]
    if big:
        L.append("### 100 KiB messages: payload MB/s")
        L.append("")
        L.append("MB/s = messages landed per second × the 102 400-octet "
                 "payload (headers not counted), 10^6 octets per MB.")
        L.append("")
        L.append("| sessions | mode | mxd durable | mxd sync=no | Postfix | "
                 "smtp-sink |")
        L.append("|---:|---|---:|---:|---:|---:|")
        for k in big:
            v = [get(x, k, "rate") for x in
                 ("mxd", "mxd-nosync", "postfix", "sink")]
            L.append("| %d | %s | %s |" % (k[1], k[2], " | ".join(
                "—" if x is None else "%.1f" % (x * k[0] / 1e6) for x in v)))
        L.append("")

    L.append("### Client side, other load, checks")
    L.append("")
    L.append("Per cell and server (order: mxd durable / mxd sync=no / "
             "Postfix / smtp-sink): the load generator's CPU, the kernel "
             "threads' CPU, and the CPU used by everything else on the "
             "machine during the window (besides server, client, kernel "
             "threads and the measuring script), in cores (this machine "
             "has %s; other load makes a cell noisy); and the end-of-cell "
             "spool check.  The check: "
             "smtp-source counts a message once it has sent the dot, so "
             "sent − sessions ≤ landed ≤ sent + sessions; smtp-pipe counts "
             "250 "
             "replies, so acked ≤ landed ≤ acked + sessions.  Either way "
             "every 250 the client read has a file in the spool." %
             mach.get("cores", "?"))
    L.append("")
    L.append("| size | sessions | mode | client CPU | kernel threads | "
             "other load | landed / client count (mxd, sync=no, Postfix) "
             "| check | errors |")
    L.append("|---|---:|---|---|---|---|---|---|---|")
    allok = True
    for k in keys:
        cc = [get(x, k, "client_cpu_util") for x in
              ("mxd", "mxd-nosync", "postfix", "sink")]
        oc = [get(x, k, "other_cpu_util") for x in
              ("mxd", "mxd-nosync", "postfix", "sink")]
        counts, oks = [], []
        for x in ("mxd", "mxd-nosync", "postfix"):
            r = cells.get((x,) + k)
            if r is None or r.get("error"):
                counts.append("—")
                continue
            counts.append("%s/%s" % (fmt(r["landed_total"]),
                                     fmt(r["acked_total"])))
            oks.extend(bool(q["landed_ok"]) for q in
                       runs.get(("fresh", x) + k, []))
        allok = allok and all(oks)
        errs = [x + ": " + e for x in
                ("mxd", "mxd-nosync", "postfix", "sink")
                for e in errors.get(("fresh", x) + k, [])]
        ku = [get(x, k, "kthread_util") for x in
              ("mxd", "mxd-nosync", "postfix", "sink")]
        L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            "1 KiB" if k[0] == 1024 else "%d KiB" % (k[0] // 1024), k[1],
            k[2], " / ".join(fr(x) for x in cc),
            " / ".join(fr(x) for x in ku),
            " / ".join(fr(x) for x in oc), ", ".join(counts),
            "ok" if all(oks) else "**FAILED**",
            "; ".join(e.replace("|", "/")[:160] for e in errs) or "none"))
    L.append("")

    def size_name(n):
        return "1 KiB" if n == 1024 else "%d KiB" % (n // 1024)

    def dget(srv, k, field):
        r = median_run(runs.get(("dirty", srv) + k, []))
        return None if r is None else r.get(field)

    dkeys = sorted({k[2:] for k in runs if k[0] == "dirty"},
                   key=lambda k: (k[0], k[1], k[2] != "plain"))
    if dkeys:
        fill = next((r for r in consumed if r["what"] == "fill"), None)
        L.append("### Dirty file system: the 1 KiB cells again")
        L.append("")
        L.append("After the matrix above, one mxd durable and one mxd "
                 "spool_sync=no were started on new spools and each "
                 "queued %s messages of 1 KiB, which were then removed "
                 "from `queue/` one by one (unlink), as a consumer does; "
                 "then the 1 KiB cells ran against the same two instances "
                 "(each cell %d time%s), and each cell's messages were "
                 "removed after it.  smtp-sink ran alongside for the "
                 "ratio.  Median runs:" % (
                     fmt(fill["removed"] // 2) if fill else "?", repeats,
                     "" if repeats == 1 else "s"))
        L.append("")
        L.append("| size | sessions | mode | mxd durable | mxd sync=no | "
                 "smtp-sink | sync=no/sink | mxd ms/msg | sync=no ms/msg "
                 "| sink ms/msg |")
        L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for k in dkeys:
            v = [dget(x, k, "rate") for x in ("mxd", "mxd-nosync", "sink")]
            c = [dget(x, k, "cpu_ms_per_msg") for x in
                 ("mxd", "mxd-nosync", "sink")]
            L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" %
                     (size_name(k[0]), k[1], k[2], fmt(v[0]), fmt(v[1]),
                      fmt(v[2]), fr(ratio(v[1], v[2])), fr(c[0], 3),
                      fr(c[1], 3), fr(c[2], 3)))
        dchecks = [bool(q["landed_ok"]) for kk, rs in runs.items()
                   if kk[0] == "dirty" and kk[1] != "sink" for q in rs]
        derrs = sum(len(e) for kk, e in errors.items() if kk[0] == "dirty")
        L.append("")
        L.append("Spool check (every 250 the client read has its file) in "
                 "the dirty phase: %s in %d runs; %d runs failed." % (
                     "ok" if all(dchecks) else "**FAILED**", len(dchecks),
                     derrs))
        L.append("")

    if repeats > 1:
        L.append("### Repeats: min / median / max msgs/s per cell")
        L.append("")
        L.append("Each cell ran %d times in a row against one server "
                 "(mxd: one process and one spool for all the runs of a "
                 "cell).  Spread = max / min." % repeats)
        L.append("")
        L.append("| phase | size | sessions | mode | mxd durable | spread "
                 "| mxd sync=no | spread | Postfix | smtp-sink |")
        L.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
        allk = sorted({k for k in runs}, key=lambda k: (
            k[0] != "fresh", k[2], k[3], k[4] != "plain"))
        seen = set()
        for k in allk:
            ck = (k[0],) + k[2:]
            if ck in seen:
                continue
            seen.add(ck)
            cols = []
            for x in ("mxd", "mxd-nosync", "postfix", "sink"):
                st = spread(runs.get((k[0], x) + k[2:], []), "rate")
                cell = "—" if st is None else "%s / %s / %s" % (
                    fmt(st[0]), fmt(st[1]), fmt(st[2]))
                cols.append(cell)
                if x in ("mxd", "mxd-nosync"):
                    cols.append("—" if st is None else "%.2f×" % st[3])
            L.append("| %s | %s | %d | %s | %s |" % (
                k[0], size_name(k[2]), k[3], k[4], " | ".join(cols)))
        L.append("")

    if idles:
        L.append("### Idle connections (mxd)")
        L.append("")
        L.append("| connections | served (220 + EHLO 250) | failed | still "
                 "open after hold | time to open | VmRSS before → after | "
                 "RSS growth per connection | after closing |")
        L.append("|---:|---:|---:|---:|---:|---|---:|---:|")
        for r in idles:
            L.append("| %s | %s | %s%s | %s (%ss) | %.1f s | %s → %s KiB | "
                     "**%.2f KiB** | %s KiB |" % (
                         fmt(r["n"]), fmt(r["served"]), fmt(r["failed"]),
                         (" " + json.dumps(r["fail_reasons"]).replace(
                             "|", "/")) if r["failed"] else "",
                         fmt(r["still_open_after_hold"]), r["hold_secs"],
                         r["open_secs"], fmt(r["rss_before_kb"]),
                         fmt(r["rss_after_kb"]), r["rss_per_conn_kb"],
                         fmt(r["rss_after_close_kb"])))
        L.append("")
    if large:
        L.append("### One large message (mxd, durable)")
        L.append("")
        L.append("`%s`: exit %d, %.2f s (%.1f MB/s), %d file of %s octets "
                 "in queue/; mxd VmHWM %s KiB before, **%s KiB** after "
                 "(peak growth %s KiB for a %s MiB message)." % (
                     large["client"], large["rc"], large["secs"],
                     large["mb_per_s"], large["landed"],
                     fmt(large["file_bytes"]), fmt(large["hwm_before_kb"]),
                     fmt(large["hwm_after_kb"]),
                     fmt(large["hwm_after_kb"] - large["hwm_before_kb"]),
                     large["bytes"] // 1048576))
        L.append("")

    # Targets.
    L.append("### Targets")
    L.append("")
    L.append("| target | measured | met? |")
    L.append("|---|---|---|")

    def yn(b):
        return "—" if b is None else ("met" if b else "**NOT met**")

    for n in (10, 100):
        for mode in ("plain", "pipelined"):
            k = (1024, n, mode)
            rt = ratio(get("mxd", k, "rate"), get("postfix", k, "rate"))
            L.append("| durable 1 KiB, %d sessions, %s: mxd ≥ 3× Postfix "
                     "msgs/s | %s× (%s vs %s) | %s |" % (
                         n, mode, fr(rt), fmt(get("mxd", k, "rate")),
                         fmt(get("postfix", k, "rate")),
                         yn(None if rt is None else rt >= 3)))
    for phase, pget in (("fresh", get), ("dirty", dget)):
        pk = keys if phase == "fresh" else dkeys
        rs = [(k, ratio(pget("mxd-nosync", k, "rate"),
                        pget("sink", k, "rate")))
              for k in pk if k[0] == 1024]
        rs = [(k, x) for k, x in rs if x is not None]
        for floor, which, sel in ((0.5, "every 1 KiB cell", None),
                                  (0.8, "the 1 KiB 10-session cells", 10)):
            sub = [(k, x) for k, x in rs if sel is None or k[1] == sel]
            if not sub:
                L.append("| %s spool: spool_sync=no ≥ %d%% of smtp-sink "
                         "msgs/s, %s | not measured | — |" % (
                             phase, floor * 100, which))
                continue
            bad = [k for k, x in sub if x < floor]
            worst = min(sub, key=lambda t: t[1])
            L.append("| %s spool: spool_sync=no ≥ %d%% of smtp-sink msgs/s, "
                     "%s | met in %d of %d cells; lowest %.0f%% (%d "
                     "sessions, %s) | %s |" % (
                         phase, floor * 100, which, len(sub) - len(bad),
                         len(sub), worst[1] * 100, worst[0][1], worst[0][2],
                         yn(not bad)))
    sp = [(k, spread(rs, "rate")) for k, rs in runs.items()
          if k[1] in ("mxd", "mxd-nosync") and len(rs) > 1]
    sp = [(k, st) for k, st in sp if st is not None]
    if sp:
        bad = [k for k, st in sp if st[3] > 1.3]
        worst = max(sp, key=lambda t: t[1][3])
        L.append("| spread between the repeats of a cell (max/min msgs/s) "
                 "≤ 1.3×, mxd and sync=no, both phases | met in %d of %d "
                 "cells; highest %.2f× (%s, %s, %s, %d sessions, %s) | %s |"
                 % (len(sp) - len(bad), len(sp), worst[1][3], worst[0][0],
                    worst[0][1], size_name(worst[0][2]), worst[0][3],
                    worst[0][4], yn(not bad)))
    cs = [(k, ratio(get("mxd", k, "cpu_ms_per_msg"),
                    get("postfix", k, "cpu_ms_per_msg"))) for k in keys]
    cs = [(k, x) for k, x in cs if x is not None]
    if cs:
        bad = [k for k, x in cs if x > 1 / 3]
        worst = max(cs, key=lambda t: t[1])
        L.append("| mxd durable CPU/msg ≤ 1/3 of Postfix, every cell | "
                 "met in %d of %d cells; highest %.2f (%s) | %s |" % (
                     len(cs) - len(bad), len(cs), worst[1],
                     "%d B, %d sessions, %s" % worst[0], yn(not bad)))

        def withk(srv, k):
            c, kt = get(srv, k, "cpu_ms_per_msg"), \
                get(srv, k, "kthread_ms_per_msg")
            return None if c is None or kt is None else c + kt
        ck = [(k, ratio(withk("mxd", k), withk("postfix", k)))
              for k in keys]
        ck = [(k, x) for k, x in ck if x is not None]
        if ck:
            badk = [k for k, x in ck if x > 1 / 3]
            worstk = max(ck, key=lambda t: t[1])
            L.append("| the same, kernel threads' CPU added to each side | "
                     "met in %d of %d cells; highest %.2f (%s) | %s |" % (
                         len(ck) - len(badk), len(ck), worstk[1],
                         "%d B, %d sessions, %s" % worstk[0],
                         yn(not badk)))
    for r in idles:
        L.append("| RSS growth ≤ 4 KiB per idle connection (%s) | %.2f KiB "
                 "| %s |" % (fmt(r["n"]), r["rss_per_conn_kb"],
                             yn(r["rss_per_conn_kb"] <= 4)))
    big_idle = [r for r in idles if r["n"] >= 10000]
    if big_idle:
        r = big_idle[-1]
        ok = r["served"] >= 10000 and r["still_open_after_hold"] >= 10000
        L.append("| 10 000 connections served | %s served, %s still open "
                 "after %ss | %s |" % (fmt(r["served"]),
                                       fmt(r["still_open_after_hold"]),
                                       r["hold_secs"], yn(ok)))
    L.append("")

    if cmds:
        L.append("### Exact commands")
        L.append("")
        L.append("```")
        for c in cmds:
            L.append(c["text"])
        L.append("```")
        L.append("")
    L.append(END)
    section = "\n".join(L) + "\n"

    if a.out:
        text = read_file(a.out)
        if BEGIN in text and END in text:
            head = text[:text.index(BEGIN)]
            tail = text[text.index(END) + len(END):].lstrip("\n")
            text = head + section + ("\n" + tail if tail else "")
        elif text:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = section
        with open(a.out, "w") as f:
            f.write(text)
        print("report written to %s" % a.out)
    else:
        sys.stdout.write(section)


# ---------------------------------------------------------------- syscalls

def parse_strace_c(path):
    """{syscall: calls} from an `strace -c` summary."""
    calls = {}
    for line in read_file(path).splitlines():
        f = line.split()
        if len(f) < 5 or not re.match(r"^[\d.]+$", f[0]) or \
                f[-1] == "total":
            continue
        calls[f[-1]] = calls.get(f[-1], 0) + int(f[3])
    return calls


def cmd_syscalls(a):
    print("System calls per message, %s (strace -c -f):" % a.title)
    print()
    print("| server | syscalls/msg | the most frequent, per message |")
    print("|---|---:|---|")
    for spec in a.files:
        name, path = spec.rsplit("=", 1)
        calls = parse_strace_c(path)
        total = sum(calls.values())
        top = sorted(calls.items(), key=lambda x: -x[1])[:14]
        print("| %s | %.1f | %s |" % (name, total / a.messages, ", ".join(
            "%s %.2f" % (k, v / a.messages) for k, v in top
            if v / a.messages >= 0.05)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("machine")
    p.add_argument("--json", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--mode", default="full")
    p.add_argument("--git", default="?")
    p.add_argument("--dirty", default="",
                   help="files of the tree with uncommitted changes")
    p.add_argument("--mxd", default="", help="the mxd binary measured")
    p.add_argument("--mxd-version", default="?")
    p.add_argument("--postfix-version", default="?")
    p = sub.add_parser("fsync")
    p.add_argument("--json", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--secs", type=float, default=3)
    p = sub.add_parser("cell")
    p.add_argument("--json", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--queue", default="")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--sessions", type=int, required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--countfile", required=True)
    p.add_argument("--client-stdout", action="store_true",
                   help="the client writes its counter to stdout")
    p.add_argument("--counter", choices=("sent", "acked"), default="acked",
                   help="what the client's counter counts")
    p.add_argument("--noisy", type=float, default=0.5,
                   help="other load (cores) above which a cell is re-run")
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--retry-budget", default="",
                   help="file holding the retries left for the whole run")
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--secs", type=float, default=5)
    p.add_argument("--phase", default="fresh", choices=("fresh", "dirty"))
    p.add_argument("--rep", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("client", nargs="+")
    p = sub.add_parser("consume")
    p.add_argument("--json", required=True)
    p.add_argument("--what", default="")
    p.add_argument("dirs", nargs="+")
    p = sub.add_parser("idle")
    p.add_argument("--json", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--hold", type=float, default=3)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("large")
    p.add_argument("--json", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--bytes", type=int, default=50 * 1048576)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("syscalls")
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--title", default="")
    p.add_argument("files", nargs="+", help="name=strace-c-output")
    p = sub.add_parser("bury")
    p.add_argument("--grave", required=True)
    p.add_argument("--contents", action="store_true",
                   help="move the files out of each directory, not it")
    p.add_argument("dirs", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("--json", required=True)
    p.add_argument("--out", default="")
    p.add_argument("--command", default="contrib/bench/bench.sh")
    a = ap.parse_args()
    {"machine": cmd_machine, "fsync": cmd_fsync, "cell": cmd_cell,
     "idle": cmd_idle, "large": cmd_large, "report": cmd_report,
     "bury": cmd_bury, "consume": cmd_consume,
     "syscalls": cmd_syscalls}[a.cmd](a)


if __name__ == "__main__":
    main()

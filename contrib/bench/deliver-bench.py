#!/usr/bin/env python3
"""deliver-bench.py: delivery to Dovecot over LMTP, mxd beside Postfix,
in one run (stdlib only; figures, no assertions).

    contrib/bench/deliver-bench.py [--mxd build/src/mxd] [-n N] [-s S] [-r R]

Starts a private Dovecot LMTP server (tests/integration/mxdtest/
dovecot.py: a throw-away configuration, passwd-file users, Maildir),
then sends N messages of about 2 KiB with Postfix's smtp-source over S
parallel sessions to:

  mxd keep   delivery = keep: intake msgs/s (SMTP 250s a second)
  mxd lmtp   delivery = lmtp:unix:<Dovecot>: intake msgs/s while the
             runner delivers, and end to end msgs/s: from the first
             message sent to the last one in the Dovecot mailbox
  postfix    a private Postfix instance, virtual_transport =
             lmtp:unix:<the same Dovecot>: the same two figures

then, with R > 1 (default 5), N messages with R recipients each (R
mailboxes, smtp-source -r) to mxd with lmtp_recipient_limit = 1 (one
LMTP transaction per mailbox), mxd with lmtp_recipient_limit = 50 (one
transaction per message) and Postfix (lmtp_destination_recipient_limit
50, its default); end to end is then from the first message sent to
the last of the N x R copies in the mailboxes.

Every server syncs to disk before its 250 (mxd spool_sync = yes,
Postfix's default).  Needs root (Postfix's daemons and Dovecot drop to
their own users) and the Debian packages postfix, dovecot-lmtpd.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from mxdtest.dovecot import Dovecot            # noqa: E402
from mxdtest.server import free_port           # noqa: E402


def wait_port(port, timeout=20):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("nothing listens on %d" % port)


def mailboxes(rcpt, nrcpt):
    """The mailboxes smtp-source -r sends to: rcpt, 2rcpt, 3rcpt, ..."""
    return [rcpt] + ["%d%s" % (k, rcpt) for k in range(2, nrcpt + 1)]


def count(dc, addr, nrcpt=1):
    n = 0
    for a in mailboxes(addr, nrcpt):
        try:
            n += len(os.listdir(os.path.join(dc.maildir(a), "new")))
        except FileNotFoundError:
            pass
    return n


def load(port, rcpt, n, sessions, nrcpt=1):
    """smtp-source: n messages to rcpt (nrcpt recipients each); the
    start and the seconds it took."""
    t0 = time.monotonic()
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(n),
                    "-r", str(nrcpt), "-l", "2048", "-f",
                    "bench@sender.test", "-t", rcpt,
                    "127.0.0.1:%d" % port], check=True,
                   stdout=subprocess.DEVNULL)
    return t0, time.monotonic() - t0


def wait_count(dc, addr, n, timeout=600, nrcpt=1):
    deadline = time.monotonic() + timeout
    while count(dc, addr, nrcpt) < n:
        if time.monotonic() > deadline:
            sys.exit("only %d of %d copies reached %s" %
                     (count(dc, addr, nrcpt), n, addr))
        time.sleep(0.01)
    return time.monotonic()


def cpu(pid):
    """utime + stime of pid (every thread), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_mxd(mxd, work, dc, delivery, rcpt, n, sessions, nrcpt=1,
            opts=()):
    """intake and end-to-end seconds; mxd's CPU seconds in
    run_mxd.cpu."""
    port = free_port()
    spool = tempfile.mkdtemp(prefix="spool-", dir=work)
    log = open(os.path.join(work, "mxd.log"), "ab")
    args = [mxd, "-f", "-o", "listen=127.0.0.1:%d" % port,
            "-o", "spool_dir=" + spool, "-o",
            "domains=example.test", "-o", "delivery=" +
            delivery, "-o", "hostname=bench.test",
            "-o", "pop3_listen=", "-o", "http_listen="]
    for o in opts:
        args += ["-o", o]
    p = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        wait_port(port)
        t0, intake = load(port, rcpt, n, sessions, nrcpt)
        e2e = None
        if delivery != "keep":
            e2e = wait_count(dc, rcpt, n * nrcpt, nrcpt=nrcpt) - t0
        run_mxd.cpu = cpu(p.pid)
        return intake, e2e
    finally:
        p.terminate()
        p.wait(timeout=60)
        log.close()


PF_MAIN = """compatibility_level = 3.6
queue_directory = {pf}/queue
data_directory = {pf}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
in_flow_delay = 0
default_process_limit = 250
message_size_limit = 0
virtual_mailbox_domains = example.test
virtual_mailbox_maps = static:OK
virtual_transport = lmtp:unix:{sock}
maillog_file = {pf}/maillog
biff = no
"""

PF_MASTER = """127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def run_postfix(work, dc, rcpt, n, sessions, nrcpt=1):
    pf = tempfile.mkdtemp(prefix="pf-", dir=work)
    os.chmod(pf, 0o755)
    for d in ("etc", "queue", "data"):
        os.makedirs(os.path.join(pf, d), exist_ok=True)
    shutil.chown(os.path.join(pf, "data"), "postfix")
    port = free_port()
    with open(os.path.join(pf, "etc", "main.cf"), "w") as f:
        f.write(PF_MAIN.format(pf=pf, sock=dc.lmtp_socket))
    with open(os.path.join(pf, "etc", "master.cf"), "w") as f:
        f.write(PF_MASTER.format(port=port))
    etc = os.path.join(pf, "etc")
    subprocess.run(["postfix", "-c", etc, "check"], check=True)
    subprocess.run(["postfix", "-c", etc, "start"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        t0, intake = load(port, rcpt, n, sessions, nrcpt)
        return intake, wait_count(dc, rcpt, n * nrcpt, nrcpt=nrcpt) - t0
    finally:
        subprocess.run(["postfix", "-c", etc, "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mxd", default=os.path.join(TOP, "build", "src", "mxd"))
    ap.add_argument("-n", type=int, default=1000, help="messages per run")
    ap.add_argument("-s", type=int, default=10, help="parallel sessions")
    ap.add_argument("-r", type=int, default=5, help="recipients per "
                    "message in the second table (1: no second table)")
    a = ap.parse_args()
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    for tool in ("smtp-source", "postfix", "dovecot"):
        if shutil.which(tool) is None:
            sys.exit("missing %s (Debian: postfix dovecot-lmtpd)" % tool)
    work = tempfile.mkdtemp(prefix="deliver-bench.", dir="/var/tmp")
    os.chmod(work, 0o755)
    rows = []
    # Every user before Dovecot starts: it rereads its passwd-file only
    # when the file's mtime changes, which a second write within the
    # same second does not do.
    dc = Dovecot()
    for u in ("keep", "mxd", "postfix"):
        dc.add_user(u + "@example.test")
    for base in ("one", "many", "pf") if a.r > 1 else ():
        for box in mailboxes(base + "@example.test", a.r):
            dc.add_user(box)
    with dc:
        i, _ = run_mxd(a.mxd, work, dc, "keep", "keep@example.test", a.n,
                       a.s)
        rows.append(("mxd, delivery = keep", a.n / i, None))
        i, e = run_mxd(a.mxd, work, dc, dc.lmtp_unix, "mxd@example.test",
                       a.n, a.s)
        rows.append(("mxd, delivery = lmtp (Dovecot)", a.n / i, a.n / e))
        i, e = run_postfix(work, dc, "postfix@example.test", a.n, a.s)
        rows.append(("Postfix, virtual_transport = lmtp (Dovecot)",
                     a.n / i, a.n / e))
        multi = []
        if a.r > 1:
            i, e = run_mxd(a.mxd, work, dc, dc.lmtp_unix,
                           "one@example.test", a.n, a.s, a.r,
                           ["lmtp_recipient_limit=1"])
            multi.append(("mxd, lmtp_recipient_limit = 1", a.n / i,
                          a.n / e, 1000 * run_mxd.cpu / a.n))
            i, e = run_mxd(a.mxd, work, dc, dc.lmtp_unix,
                           "many@example.test", a.n, a.s, a.r,
                           ["lmtp_recipient_limit=50"])
            multi.append(("mxd, lmtp_recipient_limit = 50", a.n / i,
                          a.n / e, 1000 * run_mxd.cpu / a.n))
            i, e = run_postfix(work, dc, "pf@example.test", a.n, a.s, a.r)
            multi.append(("Postfix (lmtp_destination_recipient_limit = "
                          "50)", a.n / i, a.n / e, None))
    shutil.rmtree(work, ignore_errors=True)
    print("%d messages of 2 KiB, %d sessions, one recipient each, %d CPUs"
          % (a.n, a.s, os.cpu_count()))
    table(rows)
    if multi:
        print()
        print("%d messages of 2 KiB, %d sessions, %d recipients each "
              "(%d copies)" % (a.n, a.s, a.r, a.n * a.r))
        print("| server | intake msgs/s | SMTP 250 to the last copy, "
              "msgs/s | mxd CPU ms/msg |")
        print("|---|---:|---:|---:|")
        for name, intake, e2e, ms in multi:
            print("| %s | %.0f | %.0f | %s |" % (name, intake, e2e, "-" if
                                               ms is None else "%.2f" % ms))


def table(rows):
    print("| server | intake msgs/s | SMTP 250 to Dovecot mailbox, msgs/s |")
    print("|---|---:|---:|")
    for name, intake, e2e in rows:
        print("| %s | %.0f | %s |" % (name, intake, "-" if e2e is None
                                        else "%.0f" % e2e))


if __name__ == "__main__":
    main()

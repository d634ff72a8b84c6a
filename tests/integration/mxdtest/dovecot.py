"""
mxdtest.dovecot: a private Dovecot for a test (Debian's dovecot-lmtpd,
and dovecot-imapd for IMAP), never the system's instance.  Everything
lives under one temporary directory: dovecot.conf, base_dir (the
sockets), state_dir, the log, a passwd-file user database and the
mailboxes (maildir:~/Maildir).  LMTP listens on a unix socket and on a
free loopback port.  As root, the mail files belong to `nobody`; as
another user, Dovecot runs as that user.

    with Dovecot() as dc:
        dc.add_user("bob@example.test")
        ... dc.lmtp_unix, dc.lmtp_inet (mxd target strings) ...
        dc.messages("bob@example.test")      # [bytes, ...]
        dc.stop(); dc.start()                # the store goes away, returns

Raises Skip if Dovecot is not installed.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .tap import START_TIMEOUT, STOP_TIMEOUT, Skip
from .server import free_port

CONF = """# A throw-away Dovecot for mxd's tests (mxdtest/dovecot.py).
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = {protocols}
ssl = no
listen = 127.0.0.1
mail_location = maildir:~/Maildir
auth_mechanisms = plain
disable_plaintext_auth = no
first_valid_uid = 1
{unprivileged}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

# Not root: Dovecot runs every process as the current user.
UNPRIVILEGED = """default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def need_dovecot():
    for tool in ("dovecot", "doveconf"):
        if shutil.which(tool) is None:
            raise Skip("%s missing (Debian: dovecot-lmtpd dovecot-imapd)"
                       % tool)


class Dovecot:
    """A private Dovecot; started by start() or `with`."""

    def __init__(self, imap=False):
        need_dovecot()
        self.dir = tempfile.mkdtemp(prefix="mxdtest.dovecot.")
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.users = {}         # address -> home
        self.lmtp_port = free_port()
        self.imap_port = free_port() if imap else 0
        self.protocols = "lmtp imap" if imap else "lmtp"
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        for sub in ("run", "state", "mail"):
            os.mkdir(os.path.join(self.dir, sub))
        os.chown(os.path.join(self.dir, "mail"), self.uid, self.gid)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.logfile = os.path.join(self.dir, "dovecot.log")
        self._write_users()
        self._write_conf()

    # -- where it listens --------------------------------------------------

    @property
    def lmtp_socket(self):
        return os.path.join(self.dir, "run", "lmtp")

    @property
    def lmtp_unix(self):
        """The mxd target for the unix socket."""
        return "lmtp:unix:" + self.lmtp_socket

    @property
    def lmtp_inet(self):
        """The mxd target for the loopback port."""
        return "lmtp:inet:127.0.0.1:%d" % self.lmtp_port

    # -- configuration -----------------------------------------------------

    def _write_conf(self):
        unpriv = ""
        if os.geteuid() != 0:
            unpriv = UNPRIVILEGED.format(
                user=pwd.getpwuid(os.getuid()).pw_name,
                group=os.getgid())
        with open(self.conf, "w") as f:
            f.write(CONF.format(d=self.dir, protocols=self.protocols,
                                lmtp_port=self.lmtp_port,
                                imap_port=self.imap_port,
                                unprivileged=unpriv))

    def _write_users(self):
        path = os.path.join(self.dir, "users")
        with open(path, "w") as f:
            for addr, home in sorted(self.users.items()):
                f.write("%s:{PLAIN}secret:%d:%d::%s::\n" %
                        (addr, self.uid, self.gid, home))
        os.chmod(path, 0o644)

    def add_user(self, addr):
        """Add a user (password `secret`); Dovecot rereads the file."""
        home = os.path.join(self.dir, "mail", addr)
        self.users[addr] = home
        self._write_users()
        return home

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        p = subprocess.run(["doveconf", "-c", self.conf, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        if p.returncode != 0:
            raise AssertionError("doveconf refused the test config: %s" %
                                 p.stderr.decode("utf-8", "replace"))
        log = open(os.path.join(self.dir, "dovecot.stderr"), "ab")
        try:
            self.proc = subprocess.Popen(
                ["dovecot", "-F", "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.proc.poll() is not None:
                raise AssertionError("dovecot exited with %d:\n%s" %
                                     (self.proc.returncode, self.log()))
            if time.monotonic() >= deadline:
                self.stop()
                raise AssertionError("dovecot not ready within %gs:\n%s" %
                                     (START_TIMEOUT, self.log()))
            time.sleep(0.02)
        return self

    def _ready(self):
        if not os.path.exists(self.lmtp_socket):
            return False
        ports = [self.lmtp_port] + ([self.imap_port] if self.imap_port
                                    else [])
        for port in ports:
            try:
                socket.create_connection(("127.0.0.1", port),
                                         timeout=1).close()
            except OSError:
                return False
        return True

    def stop(self):
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT); the sockets go."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None
        # Its children may outlive the master by a moment; the socket
        # file stays behind, and a connect to it is refused.

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- observation -------------------------------------------------------

    def log(self):
        out = []
        for name in ("dovecot.log", "dovecot.stderr"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def maildir(self, addr):
        return os.path.join(self.users[addr], "Maildir")

    def messages(self, addr, folder=""):
        """Every message in a user's INBOX (or a Maildir++ folder such as
        ".Junk"), new/ and cur/, oldest name first: [bytes, ...]."""
        base = os.path.join(self.maildir(addr), folder)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            try:
                names = sorted(os.listdir(d))
            except FileNotFoundError:
                continue
            for name in names:
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
        return out

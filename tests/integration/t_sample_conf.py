"""
t_sample_conf.py: etc/mxd.conf is a configuration that works.  As
shipped it passes `mxd -t`; with its TLS + submission block uncommented
(and its paths pointed at a test certificate and sasldb) it serves
STARTTLS on the port-25 listener, implicit TLS, and AUTH on submission,
and it still refuses to relay for strangers.
"""

import base64
import os
import re

from mxdtest import (check, run, run_mxd, simple_message, assert_eq,
                     assert_in, built_file)
from tlstest import TlsServer, TlsClient, default_pki, USER, PASSWORD

SAMPLE = built_file("etc/mxd.conf")


def sample_with_tls(path):
    """Write the sample with its TLS + submission block uncommented."""
    text = open(SAMPLE).read()
    block = re.search(r"^## BEGIN TLS \+ submission.*?^## END[^\n]*\n", text,
                      re.S | re.M)
    assert block, "no TLS + submission block in etc/mxd.conf"
    on = re.sub(r"^#([a-z_]+ = .*)$", r"\1", block.group(0), flags=re.M)
    assert_eq(len(re.findall(r"^[a-z_]+ = ", on, re.M)), 6,
              "settings in the block")
    with open(path, "w") as f:
        f.write(text.replace(block.group(0), on))
    os.chmod(path, 0o644)


def test_sample_checks():
    """etc/mxd.conf as shipped passes mxd -t"""
    rc, out, err = run_mxd(["-t", "-c", SAMPLE])
    assert_eq(rc, 0, "mxd -t: %s" % err)


def test_sample_tls_submission():
    """the uncommented block gives STARTTLS, smtps and AUTH on submission;
    no relay without AUTH"""
    pki = default_pki()
    opts = dict(pki.tls_opts())
    opts.update(pki.sasl_opts())
    opts.update(user="nobody", pid_file="")
    srv = TlsServer(tls=False, smtps=True, submission=True, **opts)
    conf = os.path.join(srv.tmpdir, "mxd.conf")
    sample_with_tls(conf)
    srv.args = ["-c", conf]
    plain = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                             PASSWORD.encode()).decode()
    with srv:
        with srv.client() as c:
            lines = c.expect("EHLO client.test", 250)
            assert_in("STARTTLS", lines, "EHLO on the port-25 listener")
            c.expect("MAIL FROM:<a@b.c>", 250)
            c.expect("RCPT TO:<u@elsewhere.test>", 550, "5.7.1")
            c.expect("RCPT TO:<u@example.org>", 250, "2.1.5")
        with srv.submission() as c:
            c.expect("EHLO client.test", 250)
            c.expect("MAIL FROM:<a@b.c>", 530, "5.7.0")
            c.expect("STARTTLS", 220)
            c.wrap()
            lines = c.expect("EHLO client.test", 250)
            assert any(l.startswith("AUTH ") and "PLAIN" in l
                       for l in lines), lines
            c.expect("AUTH PLAIN " + plain, 235, "2.7.0")
            qid = c.mail_tx("alice@example.org", ["friend@elsewhere.test"],
                            simple_message("submitted"))
            assert_in("with ESMTPSA", srv.eml(qid).received_text,
                      "Received")
        with TlsClient.smtps(srv.smtps_port) as c:
            c.expect("EHLO client.test", 250)
            c.expect("AUTH PLAIN " + plain, 235, "2.7.0")


if __name__ == "__main__":
    run(globals())

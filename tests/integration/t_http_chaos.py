#!/usr/bin/env python3
"""
t_http_chaos.py: Mailpit's chaos triggers, GET and PUT /api/v1/chaos
(src/http/api-chaos.c, src/chaos.c), through urllib in Mailpit's exact
JSON shape, and their effect seen by smtplib at the stage each names:
Sender at MAIL, Recipient at RCPT, Authentication at AUTH, with the code
asked for.  Probability 100 fires every time, 0 never (deterministic);
without sink_faults both calls answer Mailpit's 400 "Chaos is not
enabled".
"""

import base64
import smtplib

from mxdtest import assert_eq, assert_in, run
from mxdtest.http import get_json, request
from tlstest import PASSWORD, USER, LazyTlsServer

srv = LazyTlsServer(tls=False, sasl=True, auth_plaintext="loopback",
                    auth_delay_max=0, http=True, sink_faults="yes",
                    domains="example.test")
off = LazyTlsServer(tls=False, http=True, sink_faults="no")

DEFAULTS = {"Sender": {"ErrorCode": 451, "Probability": 0},
            "Recipient": {"ErrorCode": 451, "Probability": 0},
            "Authentication": {"ErrorCode": 535, "Probability": 0}}
MSG = b"Subject: chaos\r\n\r\nhello\r\n"


def put(body):
    return request(srv.http_port, "PUT", "/api/v1/chaos", body)


def smtp():
    return smtplib.SMTP("127.0.0.1", srv.port, timeout=30)


def test_get_defaults():
    """GET before any PUT: Mailpit's defaults, every trigger off"""
    assert_eq(put({}).json(), DEFAULTS, "reset")
    assert_eq(get_json(srv.http_port, "/api/v1/chaos"), DEFAULTS, "GET")


def test_put_shape():
    """PUT answers the triggers now; a stage left out is reset to its
    default, ErrorCode 0 means the default, names match in any case"""
    r = put({"Sender": {"ErrorCode": 550, "Probability": 100},
             "recipient": {"Probability": 0}})
    assert_eq(r.status, 200, "status")
    assert_in("application/json", r.headers["Content-Type"], "type")
    want = dict(DEFAULTS, Sender={"ErrorCode": 550, "Probability": 100})
    assert_eq(r.json(), want, "PUT answer")
    assert_eq(get_json(srv.http_port, "/api/v1/chaos"), want, "GET")
    assert_eq(put({}).json(), DEFAULTS, "{} resets")


def test_put_errors():
    """a bad code or probability: 400 text/plain, nothing changed"""
    put({"Recipient": {"ErrorCode": 452, "Probability": 100}})
    for body, why in (
            ({"Sender": {"ErrorCode": 300, "Probability": 1}},
             b"error code must be between 400 and 599"),
            ({"Sender": {"ErrorCode": 451, "Probability": 101}},
             b"probability must be between 0 and 100"),
            ({"Sender": {"ErrorCode": 499, "Probability": 1}},
             b"error code must be one of"),
            ({"Sender": {"ErrorCode": "451"}}, b"want"),
            (b"not json", b"want a JSON object")):
        r = put(body)
        assert_eq(r.status, 400, "status for %r" % (body,))
        assert_in(why, r.body, "text for %r" % (body,))
        assert_in("text/plain", r.headers["Content-Type"], "type")
    assert_eq(get_json(srv.http_port, "/api/v1/chaos")["Recipient"],
              {"ErrorCode": 452, "Probability": 100}, "unchanged")
    put({})


def test_sender_at_mail():
    """Sender 100%: MAIL is refused with the code; off again: accepted"""
    put({"Sender": {"ErrorCode": 550, "Probability": 100}})
    with smtp() as s:
        s.ehlo("client.example")
        code, text = s.mail("app@client.example")
        assert_eq(code, 550, "MAIL code")
        assert_in(b"Chaos sender error", text, "text")
        assert_eq(s.rcpt("u@example.test")[0], 503, "no transaction")
        put({})
        assert_eq(s.mail("app@client.example")[0], 250, "off again")


def test_recipient_at_rcpt():
    """Recipient 100%: MAIL passes, every RCPT gets the code; smtplib
    raises SMTPRecipientsRefused and nothing is stored"""
    put({"Recipient": {"ErrorCode": 452, "Probability": 100}})
    before = set(srv.queue_names())
    with smtp() as s:
        try:
            s.sendmail("app@client.example", ["u@example.test"], MSG)
            raise AssertionError("sendmail succeeded")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["u@example.test"]
            assert_eq(code, 452, "RCPT code")
            assert text.startswith(b"4.3.1 Chaos recipient error"), text
    assert_eq(set(srv.queue_names()), before, "nothing stored")
    put({})
    with smtp() as s:
        assert_eq(s.sendmail("app@client.example", ["u@example.test"], MSG),
                  {}, "stored when off")


def test_auth():
    """Authentication 100%: AUTH gets 535 (the default), even with the
    right password; 0%: the same AUTH succeeds"""
    put({"Authentication": {"Probability": 100}})
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
    with smtp() as s:
        s.ehlo("client.example")
        code, text = s.docmd("AUTH", "PLAIN " + ir)
        assert_eq(code, 535, "AUTH code")
        assert text.startswith(b"5.7.8 Chaos authentication error"), text
        put({"Authentication": {"ErrorCode": 454, "Probability": 0}})
        assert_eq(s.docmd("AUTH", "PLAIN " + ir)[0], 235, "AUTH when off")
    put({})


def test_disabled():
    """sink_faults = no: GET and PUT answer 400 "Chaos is not enabled"
    and SMTP is not touched"""
    for method, body in (("GET", None), ("PUT", {})):
        r = request(off.http_port, method, "/api/v1/chaos", body)
        assert_eq((r.status, r.body), (400, b"Chaos is not enabled"),
                  method)


if __name__ == "__main__":
    run(globals())

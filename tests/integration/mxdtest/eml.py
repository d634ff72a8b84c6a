"""
mxdtest.eml: a stored message (queue/<QID>.eml) parsed into its
envelope fields, its Received: field and the body the client sent.
"""

import re

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

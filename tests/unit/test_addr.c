/*
 * test_addr.c: the MAIL/RCPT argument parser, ESMTP parameters and xtext.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mxd.h"
#include "tap.h"

/* Parse args with keyword; return the status and the address. */
static enum addr_status
parse(const char *args, const char *kw, struct smtp_path *p)
{
	static char	buf[1024];

	snprintf(buf, sizeof(buf), "%s", args);
	return (addr_parse_cmd(buf, kw, p));
}

static void
test_forms(void)
{
	static const struct {
		const char	*in;
		const char	*addr;
		const char	*params;
	} good[] = {
		{ "FROM:<a@b.c>", "a@b.c", "" },
		{ "from:user1@domain.com", "user1@domain.com", "" },
		{ "FROM: <a@b.c>", "a@b.c", "" },
		{ "From : <a@b.c> SIZE=10", "a@b.c", "SIZE=10" },
		{ "FROM:a@b.c  BODY=8BITMIME", "a@b.c", "BODY=8BITMIME" },
		{ "FROM:<@r1,@r2:a@b.c>", "a@b.c", "" },
		{ "FROM:<\"a b>c\"@b.c>", "\"a b>c\"@b.c", "" },
		{ "FROM:<a@[127.0.0.1]>", "a@[127.0.0.1]", "" },
		{ "FROM:<a@[IPv6:::1]>", "a@[IPv6:::1]", "" },
		{ "FROM:<a.b+tag@sub-1.example.org>",
		  "a.b+tag@sub-1.example.org", "" },
		{ "FROM:<>", "", "" },
	};
	static const struct {
		const char		*in;
		enum addr_status	 want;
	} bad[] = {
		{ "<a@b.c>", ADDR_SYNTAX },
		{ "FROM <a@b.c>", ADDR_SYNTAX },
		{ "TO:<a@b.c>", ADDR_SYNTAX },
		{ "FROM:", ADDR_SYNTAX },
		{ "FROM:<a@b.c", ADDR_BAD_PATH },
		{ "FROM:<a@b.c>x", ADDR_BAD_PATH },
		{ "FROM:<a>", ADDR_BAD_PATH },
		{ "FROM:<a@>", ADDR_BAD_PATH },
		{ "FROM:<@b.c>", ADDR_BAD_PATH },
		{ "FROM:<a..b@c.d>", ADDR_BAD_PATH },
		{ "FROM:<.a@c.d>", ADDR_BAD_PATH },
		{ "FROM:<a@b..c>", ADDR_BAD_PATH },
		{ "FROM:<a@-b.c>", ADDR_BAD_PATH },
		{ "FROM:<a b@c.d>", ADDR_BAD_PATH },
		{ "FROM:<a@[999.1.1.1]>", ADDR_BAD_PATH },
		{ "FROM:<a@[IPv6:zz]>", ADDR_BAD_PATH },
		{ "FROM:<\"unterminated@b.c>", ADDR_BAD_PATH },
	};
	struct smtp_path	p;
	size_t			i;
	enum addr_status	st;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		st = parse(good[i].in, "FROM", &p);
		ok(st == ADDR_OK, "parses '%s'", good[i].in);
		if (st == ADDR_OK) {
			is_str(p.addr, good[i].addr, "address of '%s'",
			    good[i].in);
			is_str(p.params, good[i].params, "params of '%s'",
			    good[i].in);
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(parse(bad[i].in, "FROM", &p) == bad[i].want,
		    "refuses '%s' with status %d", bad[i].in, bad[i].want);
	ok(parse("FROM:<>", "FROM", &p) == ADDR_OK && p.null, "<> is null");
	ok(parse("TO:<Postmaster>", "TO", &p) == ADDR_OK &&
	    addr_is_postmaster(p.addr, NULL), "bare <Postmaster>");
	ok(parse("TO:<user>", "TO", &p) == ADDR_BAD_PATH,
	    "a bare local part other than postmaster is refused");
	ok(addr_is_postmaster("postmaster@mx.test", "mx.test") &&
	    !addr_is_postmaster("postmaster@other.test", "mx.test") &&
	    !addr_is_postmaster("postmasterx", NULL),
	    "postmaster@hostname only");
	ok(parse("TO:<jos\xc3\xa9@example.org>", "TO", &p) == ADDR_OK &&
	    p.utf8, "UTF-8 local part is flagged");
	is_str(addr_domain("a@b.c"), "b.c", "addr_domain");
}

static void
test_lengths(void)
{
	char			buf[600], local[80];
	struct smtp_path	p;

	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(buf, sizeof(buf), "TO:<%s@b.c>", local);
	ok(parse(buf, "TO", &p) == ADDR_OK, "64-octet local part");
	memset(local, 'a', 65);
	local[65] = '\0';
	snprintf(buf, sizeof(buf), "TO:<%s@b.c>", local);
	ok(parse(buf, "TO", &p) == ADDR_TOO_LONG, "65-octet local part");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "TO:<a@", 6);
	memset(buf + 6, 'b', 300);
	buf[306] = '>';
	ok(parse(buf, "TO", &p) == ADDR_TOO_LONG, "path over 256 octets");
}

static void
test_params(void)
{
	struct mail_params	 mp;
	const char		*bad;
	char			 buf[128];

#define MP(s) (snprintf(buf, sizeof(buf), "%s", s), \
	esmtp_mail_params(buf, &mp, &bad))
	ok(MP("") == PARAM_OK && mp.size == -1 && mp.body == BODY_NONE,
	    "no parameters");
	ok(MP("SIZE=1000 body=8bitmime SMTPUTF8") == PARAM_OK &&
	    mp.size == 1000 && mp.body == BODY_8BITMIME && mp.smtputf8,
	    "SIZE, BODY, SMTPUTF8");
	ok(MP("BODY=7BIT") == PARAM_OK && mp.body == BODY_7BIT, "BODY=7BIT");
	ok(MP("AUTH=<>") == PARAM_OK, "AUTH= accepted");
	ok(MP("SIZE=x") == PARAM_BAD_VALUE, "SIZE=x");
	ok(MP("SIZE=") == PARAM_BAD_VALUE, "SIZE=");
	ok(MP("SIZE") == PARAM_BAD_VALUE, "SIZE without value");
	ok(MP("SIZE=99999999999999999999") == PARAM_OK &&
	    mp.size == LLONG_MAX, "SIZE of 20 digits is clamped");
	ok(MP("SIZE=123456789012345678901") == PARAM_BAD_VALUE,
	    "SIZE of 21 digits");
	ok(MP("SIZE=1 SIZE=2") == PARAM_DUPLICATE, "SIZE twice");
	ok(MP("BODY=9BIT") == PARAM_BAD_VALUE, "BODY=9BIT");
	ok(MP("SMTPUTF8=yes") == PARAM_BAD_VALUE, "SMTPUTF8 takes no value");
	ok(MP("FOO=bar") == PARAM_UNKNOWN && strcmp(bad, "FOO") == 0,
	    "unknown parameter is named");
	snprintf(buf, sizeof(buf), "NOTIFY=NEVER");
	ok(esmtp_rcpt_params(buf, &bad) == PARAM_UNKNOWN, "RCPT NOTIFY");
	snprintf(buf, sizeof(buf), "  ");
	ok(esmtp_rcpt_params(buf, &bad) == PARAM_OK, "RCPT blank");
#undef MP
}

static void
test_xtext(void)
{
	char	enc[256], dec[256];
	char	raw[] = "a+b=c\r\nd\x01\xc3\xa9 e";

	xtext_encode(raw, enc, sizeof(enc));
	is_str(enc, "a+2Bb+3Dc+0D+0Ad+01+C3+A9+20e", "xtext encode");
	xtext_decode(enc, dec, sizeof(dec));
	is_str(dec, raw, "xtext round trip");
	ok(strpbrk(enc, "\r\n") == NULL, "no CR or LF after encoding");
	xtext_decode("a+zz+0", dec, sizeof(dec));
	is_str(dec, "a+zz+0", "malformed xtext kept");
	ok(xtext_encode("abcdef", enc, 4) == 6 && strlen(enc) == 3,
	    "encode truncates safely and reports the needed length");
	/* An escape that does not fit ends the output: no hole after it. */
	memset(enc, 'Z', sizeof(enc));
	ok(xtext_encode("abcde#=fg", enc, 8) == 11 &&
	    strcmp(enc, "abcde#") == 0, "truncation stops at an escape");
}

int
main(void)
{
	test_forms();
	test_lengths();
	test_params();
	test_xtext();
	return (tap_done());
}

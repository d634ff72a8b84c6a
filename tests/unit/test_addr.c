/*
 * test_addr.c: the MAIL/RCPT argument parser, ESMTP parameters and xtext.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"
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
		{ "FROM: Dave <dave@b.c>", ADDR_DISPLAY_NAME },
		{ "FROM:\"Dave Smith\" <dave@b.c>", ADDR_DISPLAY_NAME },
		{ "FROM:dave@b.c SIZE=10", ADDR_OK },
		{ "FROM:<a>", ADDR_NO_DOMAIN },
		{ "FROM:<a@>", ADDR_BAD_DOMAIN },
		{ "FROM:<@b.c>", ADDR_BAD_ROUTE },
		{ "FROM:<a..b@c.d>", ADDR_BAD_LOCAL },
		{ "FROM:<.a@c.d>", ADDR_BAD_LOCAL },
		{ "FROM:<a@b..c>", ADDR_BAD_DOMAIN },
		{ "FROM:<a@-b.c>", ADDR_BAD_DOMAIN },
		{ "FROM:<a b@c.d>", ADDR_BAD_LOCAL },
		{ "FROM:<a@[999.1.1.1]>", ADDR_BAD_LITERAL },
		{ "FROM:<a@[IPv6:zz]>", ADDR_BAD_LITERAL },
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
	    recipient_is_postmaster(p.addr, NULL), "bare <Postmaster>");
	ok(parse("TO:<user>", "TO", &p) == ADDR_NO_DOMAIN,
	    "a bare local part other than postmaster is refused");
	ok(recipient_is_postmaster("postmaster@mx.test", "mx.test") &&
	    !recipient_is_postmaster("postmaster@other.test", "mx.test") &&
	    !recipient_is_postmaster("postmasterx", NULL),
	    "postmaster@hostname only");
	ok(parse("TO:<jos\xc3\xa9@example.org>", "TO", &p) == ADDR_OK &&
	    p.utf8, "UTF-8 local part is flagged");
	is_str(addr_domain("a@b.c"), "b.c", "addr_domain");
}

/*
 * RFC 5321 4.1.2 and 4.1.3, RFC 6531 3.3: valid and invalid examples of
 * each production of the path grammar, as a recipient (TO) and as a
 * sender (FROM).
 */
static void
test_productions(void)
{
	static const struct {
		const char		*prod;
		const char		*kw;
		const char		*in;
		enum addr_status	 want;
		const char		*addr;	/* stored, if ADDR_OK */
	} t[] = {
		/* Reverse-path = Path / "<>" */
		{ "Reverse-path", "FROM", "FROM:<>", ADDR_OK, "" },
		{ "Reverse-path", "FROM", "FROM:<a@b.c>", ADDR_OK, "a@b.c" },
		{ "Reverse-path", "FROM", "FROM:<Postmaster>",
		  ADDR_SENDER_POSTMASTER, NULL },
		{ "Reverse-path", "FROM", "FROM:<postmaster>",
		  ADDR_SENDER_POSTMASTER, NULL },
		{ "Reverse-path", "FROM", "from:POSTMASTER",
		  ADDR_SENDER_POSTMASTER, NULL },
		{ "Reverse-path", "FROM", "FROM: <PostMaster>",
		  ADDR_SENDER_POSTMASTER, NULL },
		{ "Reverse-path", "FROM", "FROM:<abuse>", ADDR_NO_DOMAIN, NULL },
		{ "Reverse-path", "FROM", "FROM:<postmaster@b.c>", ADDR_OK,
		  "postmaster@b.c" },
		/* Forward-path = Path, and "<Postmaster>" (4.1.1.3) */
		{ "Forward-path", "TO", "TO:<Postmaster>", ADDR_OK,
		  "Postmaster" },
		{ "Forward-path", "TO", "to:postmaster", ADDR_OK, "postmaster" },
		{ "Forward-path", "TO", "TO:<abuse>", ADDR_NO_DOMAIN, NULL },
		{ "Forward-path", "TO", "TO:<postmasters>", ADDR_NO_DOMAIN,
		  NULL },
		{ "Forward-path", "TO", "TO:<@a.b:postmaster>", ADDR_NO_DOMAIN,
		  NULL },
		/* Path = "<" [ A-d-l ":" ] Mailbox ">" */
		{ "Path", "TO", "TO:<a@b.c", ADDR_BAD_PATH, NULL },
		{ "Path", "TO", "TO:<a@b.c>junk", ADDR_BAD_PATH, NULL },
		/* A-d-l = At-domain *( "," At-domain ): accepted, ignored */
		{ "A-d-l", "TO", "TO:<@r.example:a@b.c>", ADDR_OK, "a@b.c" },
		{ "A-d-l", "TO", "TO:<@r1.example,@r2.example:a@b.c>", ADDR_OK,
		  "a@b.c" },
		{ "A-d-l", "TO", "TO:<@:a@b.c>", ADDR_BAD_ROUTE, NULL },
		{ "A-d-l", "TO", "TO:<@r1,r2:a@b.c>", ADDR_BAD_ROUTE, NULL },
		{ "A-d-l", "TO", "TO:<@r1,:a@b.c>", ADDR_BAD_ROUTE, NULL },
		{ "A-d-l", "TO", "TO:<@-r1:a@b.c>", ADDR_BAD_ROUTE, NULL },
		{ "A-d-l", "TO", "TO:<@r1 a@b.c>", ADDR_BAD_ROUTE, NULL },
		{ "A-d-l", "TO", "TO:<@r1:>", ADDR_BAD_LOCAL, NULL },
		/* Mailbox = Local-part "@" ( Domain / address-literal ) */
		{ "Mailbox", "TO", "TO:<a@b@c.d>", ADDR_BAD_DOMAIN, NULL },
		{ "Mailbox", "TO", "TO:<@>", ADDR_BAD_ROUTE, NULL },
		/* Dot-string = Atom *("." Atom) */
		{ "Dot-string", "TO", "TO:<a.b.c@d.e>", ADDR_OK, "a.b.c@d.e" },
		{ "Dot-string", "TO", "TO:<!#$%&'*+-/=?^_`{|}~@d.e>", ADDR_OK,
		  "!#$%&'*+-/=?^_`{|}~@d.e" },
		{ "Dot-string", "TO", "TO:<a.@d.e>", ADDR_BAD_LOCAL, NULL },
		{ "Dot-string", "TO", "TO:<a(b)@d.e>", ADDR_BAD_LOCAL, NULL },
		{ "Dot-string", "TO", "TO:<a,b@d.e>", ADDR_BAD_LOCAL, NULL },
		{ "Dot-string", "TO", "TO:<a[b@d.e>", ADDR_BAD_LOCAL, NULL },
		/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE */
		{ "Quoted-string", "TO", "TO:<\"a b\"@d.e>", ADDR_OK,
		  "\"a b\"@d.e" },
		{ "Quoted-string", "TO", "TO:<\"\"@d.e>", ADDR_OK, "\"\"@d.e" },
		{ "Quoted-string", "TO", "TO:<\"a\"b@d.e>", ADDR_BAD_QUOTED,
		  NULL },
		{ "Quoted-string", "TO", "TO:<\"a\"\"b\"@d.e>", ADDR_BAD_QUOTED,
		  NULL },
		/* QcontentSMTP = qtextSMTP / quoted-pairSMTP */
		{ "quoted-pairSMTP", "TO", "TO:<\"a\\\"b\\\\c\"@d.e>", ADDR_OK,
		  "\"a\\\"b\\\\c\"@d.e" },
		{ "quoted-pairSMTP", "TO", "TO:<\"a\\ b\"@d.e>", ADDR_OK,
		  "\"a\\ b\"@d.e" },
		{ "quoted-pairSMTP", "TO", "TO:<\"a\\\x7f\"@d.e>",
		  ADDR_BAD_QUOTED, NULL },
		{ "quoted-pairSMTP", "TO", "TO:<\"a\\\xc3\xa9\"@d.e>",
		  ADDR_BAD_QUOTED, NULL },
		{ "qtextSMTP", "TO", "TO:<\"a\x7f\"@d.e>", ADDR_BAD_QUOTED,
		  NULL },
		{ "qtextSMTP", "TO", "TO:<\"a\tb\"@d.e>", ADDR_BAD_QUOTED,
		  NULL },
		/* Domain = sub-domain *("." sub-domain) */
		{ "Domain", "TO", "TO:<a@B-1.Example.ORG>", ADDR_OK,
		  "a@B-1.Example.ORG" },
		{ "Domain", "TO", "TO:<a@localhost>", ADDR_OK, "a@localhost" },
		{ "Domain", "TO", "TO:<a@b.c.>", ADDR_BAD_DOMAIN, NULL },
		{ "Domain", "TO", "TO:<a@.b.c>", ADDR_BAD_DOMAIN, NULL },
		{ "Domain", "TO", "TO:<a@b_c.d>", ADDR_BAD_DOMAIN, NULL },
		{ "Domain", "TO", "TO:<a@b!c.d>", ADDR_BAD_DOMAIN, NULL },
		/* sub-domain = Let-dig [Ldh-str] */
		{ "sub-domain", "TO", "TO:<a@b-.c>", ADDR_BAD_DOMAIN, NULL },
		{ "sub-domain", "TO", "TO:<a@b.c->", ADDR_BAD_DOMAIN, NULL },
		{ "sub-domain", "TO", "TO:<a@-b.c>", ADDR_BAD_DOMAIN, NULL },
		{ "sub-domain", "TO", "TO:<a@xn--bcher-kva.example>", ADDR_OK,
		  "a@xn--bcher-kva.example" },
		{ "sub-domain", "TO", "TO:<a@"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  ".c>", ADDR_BAD_DOMAIN, NULL },
		/* address-literal, RFC 5321 4.1.3 */
		{ "IPv4-address-literal", "TO", "TO:<a@[192.0.2.1]>", ADDR_OK,
		  "a@[192.0.2.1]" },
		{ "IPv4-address-literal", "TO", "TO:<a@[192.0.2]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "IPv4-address-literal", "TO", "TO:<a@[256.0.0.1]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "IPv6-address-literal", "TO", "TO:<a@[IPv6:2001:db8::1]>",
		  ADDR_OK, "a@[IPv6:2001:db8::1]" },
		{ "IPv6-address-literal", "TO",
		  "TO:<a@[IPv6:::ffff:192.0.2.1]>", ADDR_OK,
		  "a@[IPv6:::ffff:192.0.2.1]" },
		{ "IPv6-address-literal", "TO", "TO:<a@[IPv6:1::2::3]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "IPv6-address-literal", "TO", "TO:<a@[IPv6:2001:db8::1:]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "General-address-literal", "TO", "TO:<a@[x-tag:any!thing]>",
		  ADDR_OK, "a@[x-tag:any!thing]" },
		{ "General-address-literal", "TO", "TO:<a@[tag-:x]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "General-address-literal", "TO", "TO:<a@[tag:]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "General-address-literal", "TO", "TO:<a@[tag:a]b]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "General-address-literal", "TO", "TO:<a@[tag:a\\b]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "General-address-literal", "TO", "TO:<a@[tag:a b]>",
		  ADDR_BAD_LITERAL, NULL },
		{ "address-literal", "TO", "TO:<a@[]>", ADDR_BAD_LITERAL, NULL },
		/* RFC 6531 3.3: UTF-8 local part and U-label domain */
		{ "SMTPUTF8", "TO", "TO:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
		  ADDR_OK, "j\xc3\xb6rg@b\xc3\xbc" "cher.example" },
		{ "SMTPUTF8", "TO", "TO:<\"j\xc3\xb6 rg\"@d.e>", ADDR_OK,
		  "\"j\xc3\xb6 rg\"@d.e" },
		{ "SMTPUTF8", "TO", "TO:<a@B\xc3\x9c" "CHER.example>", ADDR_OK,
		  "a@B\xc3\x9c" "CHER.example" },
		{ "SMTPUTF8", "TO", "TO:<j\xf6rg@d.e>", ADDR_BAD_UTF8, NULL },
		{ "SMTPUTF8", "TO", "TO:<a\xc0\xaf@d.e>", ADDR_BAD_UTF8, NULL },
		{ "SMTPUTF8", "TO", "TO:<a\xed\xa0\x80@d.e>", ADDR_BAD_UTF8,
		  NULL },
		{ "SMTPUTF8", "TO", "TO:<a\xc3@d.e>", ADDR_BAD_UTF8, NULL },
		{ "SMTPUTF8", "TO", "TO:<a@\xe2\x98\x83.example>", ADDR_BAD_IDN,
		  NULL },
		{ "SMTPUTF8", "TO", "TO:<a@b\xc3\xbc" "cher-.example>",
		  ADDR_BAD_DOMAIN, NULL },
	};
	struct smtp_path	p;
	size_t			i;
	enum addr_status	st;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		st = parse(t[i].in, t[i].kw, &p);
		ok(st == t[i].want, "%s: '%s' gives %d (got %d)", t[i].prod,
		    t[i].in, t[i].want, st);
		if (st == ADDR_OK && t[i].want == ADDR_OK)
			is_str(p.addr, t[i].addr, "%s: stored as sent",
			    t[i].prod);
	}
	for (st = ADDR_SYNTAX; st <= ADDR_BAD_UTF8; st++)
		ok(strstr(addr_why(st), "bad address syntax") == NULL,
		    "status %d has its own explanation", st);
	ok(strstr(addr_why(ADDR_SENDER_POSTMASTER), "only valid as a "
	    "recipient") != NULL, "bare postmaster sender explained");
}

/* Domains compare in one canonical form: lower case, A-labels. */
static void
test_idna(void)
{
	char	a[SMTP_DOMAIN_MAX + 1];

	ok(domain_canon("B\xc3\xbc" "cher.Example", a, sizeof(a)) == 0,
	    "U-label domain canonicalises");
	is_str(a, "xn--bcher-kva.example", "U-label to lower-case A-label");
	ok(domain_canon("XN--BCHER-KVA.example.", a, sizeof(a)) == 0,
	    "A-label domain canonicalises");
	is_str(a, "xn--bcher-kva.example", "A-label lower-cased");
	ok(domain_canon("\xe2\x98\x83.example", a, sizeof(a)) == -1,
	    "a symbol is not IDNA2008");
	/* U+037E GREEK QUESTION MARK is ";" after NFC: no domain. */
	ok(domain_canon("s\xcd\xbet.example", a, sizeof(a)) == -1,
	    "a U-label that normalises to a non-LDH ASCII label is refused");
	ok(domain_check("s\xcd\xbet.example", 12) != DOMAIN_OK,
	    "and is no Domain");
	ok(domain_canon("\xef\xbd\x85xample.org", a, sizeof(a)) == 0 &&
	    strcmp(a, "example.org") == 0, "a fullwidth letter maps to ASCII");
	ok(recipient_is_postmaster("postmaster@b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example") &&
	    recipient_is_postmaster("Postmaster@XN--BCHER-KVA.example",
	    "b\xc3\xbc" "cher.example"),
	    "postmaster@ hostname in either form");
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
	test_productions();
	test_idna();
	test_lengths();
	test_params();
	test_xtext();
	return (tap_done());
}

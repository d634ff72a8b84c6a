/*
 * test_config.c: the configuration reader and the options table.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/smtp.h"
#include "tap.h"

/* Write text to a temporary file and return its name. */
static const char *
conf_file(const char *text)
{
	static char	name[64];
	FILE		*f;
	int		 fd;

	snprintf(name, sizeof(name), "/tmp/mxd-test-conf.XXXXXX");
	if ((fd = mkstemp(name)) == -1 || (f = fdopen(fd, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return (name);
}

/* Load text as a config; return 0/-1 and the error in *why. */
static int
load(struct config *c, const char *text, char **over, size_t nover,
    char **why)
{
	const char	*f = conf_file(text);
	int		 rc;

	*why = NULL;
	rc = config_load(c, f, over, nover, why);
	unlink(f);
	return (rc);
}

static void
test_defaults(void)
{
	struct config	 c;
	char		*why = NULL;

	ok(config_load(&c, NULL, NULL, 0, &why) == 0, "defaults load");
	ok(c.listen.n == 2 && strcmp(c.listen.v[0], "127.0.0.1:2525") == 0 &&
	    strcmp(c.listen.v[1], "[::1]:2525") == 0,
	    "default listen is the local sink, both loopbacks");
	ok(c.max_message_size == 10 * 1024 * 1024, "10 MiB default size");
	ok(c.max_recipients == 100, "100 recipients");
	ok(c.command_timeout == 300 && c.data_timeout == 180,
	    "RFC 5321 4.5.3.2 timeouts");
	ok(c.spool_sync == 1 && c.bare_lf_end == 0, "durable, strict");
	ok(recipient_domain_ours(&c, "anything.example"), "* takes any domain");
	config_free(&c);
}

static void
test_file(void)
{
	struct config	 c;
	char		*why, *over[] = { "max_recipients=7" };

	ok(load(&c, "# comment\n"
	    "listen = 127.0.0.1:25, [::1]:25\n"
	    "domains = example.org\n"
	    "\t.example.net   # continued\n"
	    "max_message_size = 2m\n"
	    "max_recipients = 50\n"
	    "command_timeout = 2m\n"
	    "spool_sync = no\n", over, 1, &why) == 0,
	    "a full file loads (%s)", why ? why : "ok");
	ok(c.listen.n == 2, "two listen addresses");
	ok(c.domains.n == 2, "continuation line joined the domain list");
	ok(c.max_message_size == 2 * 1024 * 1024, "2m is 2 MiB");
	ok(c.max_recipients == 7, "-o overrides the file");
	ok(c.command_timeout == 120, "2m is 120 s");
	ok(c.spool_sync == 0, "boolean no");
	ok(recipient_domain_ours(&c, "Example.ORG") &&
	    recipient_domain_ours(&c, "example.org.") &&
	    recipient_domain_ours(&c, "a.b.example.net") &&
	    !recipient_domain_ours(&c, "example.net") &&
	    !recipient_domain_ours(&c, "xexample.org") &&
	    !recipient_domain_ours(&c, "example.com"), "domain matching");
	free(c.hostname);
	c.hostname = xstrdup("mx.test");
	ok(recipient_check(&c, "u@Example.ORG", 0) == RCPT_OURS,
	    "recipient in a listed domain: ours");
	ok(recipient_check(&c, "u@example.com", 0) == RCPT_NOT_OURS,
	    "recipient elsewhere: not ours (relay denied)");
	ok(recipient_check(&c, "u@example.com", 1) == RCPT_RELAY,
	    "an authenticated client may relay");
	ok(recipient_check(&c, "Postmaster", 0) == RCPT_POSTMASTER &&
	    recipient_check(&c, "postmaster@MX.test", 0) == RCPT_POSTMASTER,
	    "postmaster, bare and at the hostname, is always taken");
	config_free(&c);
}

/* U-labels and A-labels match each other, in any case (IDNA2008). */
static void
test_idna(void)
{
	struct config	 c;
	char		*why = NULL;

	ok(load(&c, "domains = b\xc3\xbc" "cher.example, .xn--caf-dma.test\n",
	    NULL, 0, &why) == 0, "U-label and A-label domains load (%s)",
	    why ? why : "ok");
	ok(recipient_domain_ours(&c, "xn--bcher-kva.example") &&
	    recipient_domain_ours(&c, "XN--BCHER-KVA.Example") &&
	    recipient_domain_ours(&c, "B\xc3\x9c" "cher.example") &&
	    recipient_domain_ours(&c, "mx.caf\xc3\xa9.test") &&
	    recipient_domain_ours(&c, "mx.xn--caf-dma.test") &&
	    !recipient_domain_ours(&c, "caf\xc3\xa9.test") &&
	    !recipient_domain_ours(&c, "bucher.example"),
	    "config U-label vs client A-label and the reverse");
	config_free(&c);
	ok(load(&c, "domains = xn--bcher-kva.example\n", NULL, 0, &why) == 0 &&
	    recipient_domain_ours(&c, "b\xc3\xbc" "cher.example"),
	    "config A-label vs client U-label");
	config_free(&c);
}

static void
test_errors(void)
{
	static const struct {
		const char	*text;
		const char	*want;
	} bad[] = {
		{ "\n\nfrobnicate = 1\n", ":3: unknown setting 'frobnicate'" },
		{ "max_recipients = zero\n", ":1: bad value 'zero'" },
		{ "max_recipients = 0\n", ":1: bad value '0'" },
		{ "max_message_size = 10x\n", ":1: bad value '10x'" },
		{ "max_message_size = 100\n", ":1: bad value '100'" },
		{ "spool_sync = maybe\n", ":1: bad value 'maybe'" },
		{ "listen = localhost\n", ":1: bad listen address" },
		{ "listen = 127.0.0.1:0\n", ":1: bad listen address" },
		{ "listen = 1.2.3.4:99999\n", ":1: bad listen address" },
		{ "domains =\n", ":1: bad value ''" },
		{ "just words\n", ":1: expected 'name = value'" },
		{ "command_timeout = 1w\n", ":1: bad value '1w'" },
		{ "domains = a@b.example\n", ":1: bad domain 'a@b.example'" },
		{ "domains = -x.example\n", ":1: bad domain '-x.example'" },
		{ "domains = \xe2\x98\x83.example\n", ":1: bad domain" },
		{ "domains = xn--zzzzz-9.example\n", ":1: bad domain "
		  "'xn--zzzzz-9.example'" },
		{ "hostname = b\xc3\xbc" "cher.example\n",
		  "write its A-label form 'xn--bcher-kva.example'" },
	};
	struct config	 c;
	char		*why, *over[] = { "nonsense=1" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(load(&c, bad[i].text, NULL, 0, &why) == -1 && why != NULL &&
		    strstr(why, bad[i].want) != NULL, "error: %s",
		    why ? why : "(none)");
		free(why);
		config_free(&c);
	}
	ok(load(&c, "", over, 1, &why) == -1 && strstr(why, "-o:1:") &&
	    strstr(why, "nonsense"), "a bad -o is named: %s", why);
	free(why);
	config_free(&c);
	why = NULL;
	ok(config_load(&c, "/nonexistent/mxd.conf", NULL, 0, &why) == -1 &&
	    strstr(why, "No such file") != NULL, "missing file: %s", why);
	free(why);
	config_free(&c);
}

static void
test_table(void)
{
	const struct option_entry	*o;
	struct config			 c;
	char				*why = NULL;
	int				 bad = 0;

	memset(&c, 0, sizeof(c));
	for (o = options_table; o->name != NULL; o++) {
		if (o->help == NULL || o->def == NULL ||
		    config_set(&c, o->name, o->def, &why) != 0)
			bad++;
	}
	ok(bad == 0, "every default in the table is valid");
	config_free(&c);
}

int
main(void)
{
	test_defaults();
	test_file();
	test_errors();
	test_idna();
	test_table();
	return (tap_done());
}

/*
 * test_maildir.c: the Maildir path of an address (deliver/maildir.c):
 * %d, %u, %% in a maildir: pattern; ASCII letters lower case; a +tag
 * dropped with a delimiter; `/`, control octets and a leading `.` made
 * `_`, so no address names a directory outside its own.
 */
#include <string.h>

#include "deliver/deliver.h"
#include "tap.h"

/* The path of addr through pattern, or "ERR". */
static const char *
path(const char *pattern, const char *addr, const char *delim)
{
	static char	buf[256];

	if (maildir_path(pattern, addr, delim, buf, sizeof(buf)) != 0)
		return ("ERR");
	return (buf);
}

int
main(void)
{
	is_str(path("/m/%d/%u", "Bob@Example.ORG", NULL),
	    "/m/example.org/bob", "lower case");
	is_str(path("/m/%d/%u/Maildir", "bob+news@example.org", "+"),
	    "/m/example.org/bob/Maildir", "tag dropped");
	is_str(path("/m/%u", "bob+news@example.org", NULL),
	    "/m/bob+news", "no delimiter: the tag stays");
	is_str(path("/m/%u", "+news@example.org", "+"), "/m/+news",
	    "a leading delimiter is not a tag");
	is_str(path("/m/%u", "\"../../etc\"@example.org", NULL),
	    "/m/\".._.._etc\"", "slashes become _");
	is_str(path("/m/%u", ".hidden@example.org", NULL), "/m/_hidden",
	    "a leading dot becomes _");
	is_str(path("/m/%u", "a\tb@example.org", NULL), "/m/a_b",
	    "control octets become _");
	is_str(path("/m/%d/%u", "postmaster", NULL), "/m/_/postmaster",
	    "no domain: _");
	is_str(path("/m/100%%/%u", "x@y", NULL), "/m/100%/x", "%%%% is %%");
	is_str(path("m/%u", "x@y", NULL), "ERR", "a relative pattern");
	ok(maildir_path("/m/%u", "x@y", NULL, (char [4]){ 0 }, 4) == -1,
	    "too long for the buffer");
	return (tap_done());
}

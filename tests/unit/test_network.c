/*
 * test_network.c: trusted_networks parsing and matching (network.c).
 */
#include <stdlib.h>
#include <string.h>

#include "mxd.h"
#include "tap.h"

/* A list from a space-separated string; free it with list_free(). */
static struct strlist
list(const char *text)
{
	struct strlist	 l = { NULL, 0 };
	char		*copy = xstrdup(text), *w;

	for (w = strtok(copy, " "); w != NULL; w = strtok(NULL, " ")) {
		l.v = xreallocarray(l.v, l.n + 1, sizeof(*l.v));
		l.v[l.n++] = xstrdup(w);
	}
	free(copy);
	return (l);
}

/* Free a list made by list(). */
static void
list_free(struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

int
main(void)
{
	static const char *const good[] = { "127.0.0.0/8", "::1", "[::1]/128",
	    "[::1]", "10.0.0.1", "0.0.0.0/0", "2001:db8::/32", "::/0" };
	static const char *const bad[] = { "127.0.0.0/33", "::1/129", "x",
	    "10.0.0/8", "127.0.0.1/", "/8", "[127.0.0.1]", "[::1", "1.2.3.4/-1",
	    "1.2.3.4/8x" };
	static const struct {
		const char	*nets;
		const char	*addr;
		int		 want;
	} match[] = {
		{ "127.0.0.0/8 [::1]/128", "127.0.0.1", 1 },
		{ "127.0.0.0/8 [::1]/128", "127.255.1.2", 1 },
		{ "127.0.0.0/8 [::1]/128", "128.0.0.1", 0 },
		{ "127.0.0.0/8 [::1]/128", "::1", 1 },
		{ "127.0.0.0/8 [::1]/128", "::2", 0 },
		{ "127.0.0.0/8", "::ffff:127.0.0.1", 1 },
		{ "127.0.0.1/32", "127.0.0.2", 0 },
		{ "192.0.2.0/25", "192.0.2.127", 1 },
		{ "192.0.2.0/25", "192.0.2.128", 0 },
		{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
		{ "2001:db8::/33", "2001:db8:8000::1", 0 },
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "0.0.0.0/0", "2001:db8::1", 0 },
		{ "", "127.0.0.1", 0 },
		{ "127.0.0.0/8", "not an address", 0 },
	};
	struct strlist	 l;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		l = list(good[i]);
		ok(network_list_check(&l, "trusted_networks", &cause) == 0,
		    "accepts %s", good[i]);
		list_free(&l);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = list(bad[i]);
		cause = NULL;
		ok(network_list_check(&l, "trusted_networks", &cause) == -1 &&
		    cause != NULL && strstr(cause, bad[i]) != NULL,
		    "refuses %s, naming it", bad[i]);
		free(cause);
		list_free(&l);
	}
	for (i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
		l = list(match[i].nets);
		ok(network_list_match(&l, match[i].addr) == match[i].want,
		    "%s in {%s}: %d", match[i].addr, match[i].nets,
		    match[i].want);
		list_free(&l);
	}
	return (tap_done());
}

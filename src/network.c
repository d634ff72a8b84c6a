/*
 * network.c: IP networks written as address/prefix, for the
 * trusted_networks setting (Postfix's mynetworks): "127.0.0.0/8",
 * "::1", "[::1]/128", "10.0.0.1".  Pure code: parse a network, match a
 * client address text against a list.  An IPv4-mapped IPv6 client
 * (::ffff:a.b.c.d, from a dual-stack listener) matches as IPv4.
 */
#include <stdlib.h>
#include <string.h>

#include "mxd.h"

/* One parsed network. */
struct network {
	int		 family;
	unsigned char	 addr[16];
	unsigned	 prefix;	/* bits */
};

/* Parse "addr[/prefix]", the IPv6 address optionally in brackets. */
static int
network_parse(const char *text, struct network *n)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *a = buf, *end;
	size_t		 len;
	long		 bits;
	unsigned	 max;

	if ((len = strlen(text)) >= sizeof(buf))
		return (-1);
	memcpy(buf, text, len + 1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (a[0] == '[') {
		if ((end = strchr(a, ']')) == NULL || end[1] != '\0')
			return (-1);
		*end = '\0';
		a++;
	}
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, a, n->addr) == 1 && buf[0] != '[') {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		return (-1);
	n->prefix = max;
	if (slash != NULL) {
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits < 0 || bits > max)
			return (-1);
		n->prefix = (unsigned)bits;
	}
	return (0);
}

/* Do the first n->prefix bits of addr equal the network's? */
static int
network_contains(const struct network *n, const unsigned char *addr)
{
	unsigned	full = n->prefix / 8, rest = n->prefix % 8;
	unsigned char	mask;

	if (memcmp(n->addr, addr, full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (unsigned char)(0xff << (8 - rest));
	return ((n->addr[full] & mask) == (addr[full] & mask));
}

/* Check every entry of a network list; 0, or -1 naming the bad one. */
int
network_list_check(const struct strlist *l, const char *name, char **cause)
{
	struct network	n;
	size_t		i;

	for (i = 0; i < l->n; i++)
		if (network_parse(l->v[i], &n) != 0) {
			xasprintf(cause, "bad network '%s' in %s (want an "
			    "address and prefix, e.g. 192.0.2.0/24 or "
			    "[2001:db8::]/32)", l->v[i], name);
			return (-1);
		}
	return (0);
}

/* Is the client address (text, as accepted) in one of the networks? */
int
network_list_match(const struct strlist *l, const char *addr)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	unsigned char	a[16];
	struct network	n;
	int		family;
	size_t		i;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1) {
		family = AF_INET6;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else
		return (0);
	for (i = 0; i < l->n; i++)
		if (network_parse(l->v[i], &n) == 0 && n.family == family &&
		    network_contains(&n, a))
			return (1);
	return (0);
}

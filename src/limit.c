/*
 * limit.c: connection counts per client address, for max_connections
 * and max_connections_per_ip.  A small chained hash table keyed by the
 * address text; an entry lives while its address has connections.
 */
#include <stdlib.h>
#include <string.h>

#include "mxd.h"

#define LIMIT_BUCKETS	1024

struct limit_entry {
	char			 addr[INET6_ADDRSTRLEN];
	unsigned		 count;
	struct limit_entry	*next;
};

static struct limit_entry	*limit_table[LIMIT_BUCKETS];
static unsigned			 limit_total;

/* FNV-1a over the address text. */
static unsigned
limit_hash(const char *addr)
{
	unsigned	h = 2166136261u;

	while (*addr != '\0')
		h = (h ^ (unsigned char)*addr++) * 16777619u;
	return (h % LIMIT_BUCKETS);
}

/* Find the entry for addr, or NULL. */
static struct limit_entry *
limit_find(const char *addr, struct limit_entry ***slot)
{
	struct limit_entry	**pp, *e;

	for (pp = &limit_table[limit_hash(addr)]; (e = *pp) != NULL;
	    pp = &e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (slot != NULL)
		*slot = pp;
	return (e);
}

/*
 * Count a new connection from addr.  Returns 0, or -1 when a limit is
 * already reached (then nothing is counted).  A trusted client (from
 * trusted_networks) is held to the total only.
 */
int
limit_connect(const char *addr, int trusted)
{
	struct limit_entry	*e;

	if (limit_total >= (unsigned)cfg->max_connections)
		return (-1);
	if ((e = limit_find(addr, NULL)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->next = limit_table[limit_hash(addr)];
		limit_table[limit_hash(addr)] = e;
	}
	if (!trusted && e->count >= (unsigned)cfg->max_connections_per_ip)
		return (-1);
	e->count++;
	limit_total++;
	return (0);
}

/* A counted connection from addr has ended. */
void
limit_disconnect(const char *addr)
{
	struct limit_entry	*e, **slot;

	if ((e = limit_find(addr, &slot)) == NULL || e->count == 0)
		fatalx("limit_disconnect: %s was not counted", addr);
	e->count--;
	limit_total--;
	if (e->count == 0) {
		*slot = e->next;
		free(e);
	}
}

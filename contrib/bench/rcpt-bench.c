/*
 * rcpt-bench.c: recipient table lookups a second (rcpttable.c).  In: a
 * table file, a delimiter, a count; out: one line with the load time and
 * lookups a second for addresses in the table, +tagged ones, and ones
 * that miss.  Built and run by rcpt-bench.sh against build/src/libmxd.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mxd.h"

/* Seconds since an arbitrary start, monotonic. */
static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Look up n addresses made from fmt; lookups a second, and hits. */
static double
run(const struct rcpttable *t, const char *fmt, long users, long n,
    long *hits)
{
	struct rcpt_match	m;
	char			a[128];
	double			t0 = now();
	long			i;

	*hits = 0;
	for (i = 0; i < n; i++) {
		snprintf(a, sizeof(a), fmt, i % users);
		*hits += rcpttable_lookup(t, a, &m) != NULL;
	}
	return (n / (now() - t0));
}

int
main(int argc, char **argv)
{
	struct rcpttable	*t;
	char			*why;
	double			 t0, load, hit, tag, miss;
	long			 n, users, h1, h2, h3;

	if (argc != 4) {
		fprintf(stderr, "usage: rcpt-bench table users lookups\n");
		return (2);
	}
	users = atol(argv[2]);
	n = atol(argv[3]);
	t0 = now();
	if (rcpttable_load(argv[1], "+", NULL, &t, &why) != 0) {
		fprintf(stderr, "rcpt-bench: %s\n", why);
		return (1);
	}
	load = now() - t0;
	hit = run(t, "user%ld@example.test", users, n, &h1);
	tag = run(t, "user%ld+tag@example.test", users, n, &h2);
	miss = run(t, "nouser%ld@example.test", users, n, &h3);
	printf("entries=%zu load=%.3fs lookups/s: hit=%.0f tagged=%.0f "
	    "miss=%.0f (hits %ld/%ld/%ld of %ld)\n", t->n, load, hit, tag,
	    miss, h1, h2, h3, n);
	rcpttable_free(t);
	return (0);
}

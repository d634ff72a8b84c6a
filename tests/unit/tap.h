/*
 * tap.h: a tiny TAP producer for the unit tests (automake's tap-driver).
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_n, tap_failed;

/* Record one check; print ok/not ok with a description. */
#define ok(cond, ...) do {						\
	int ok_ = (cond) ? 1 : 0;					\
	tap_n++;							\
	if (!ok_)							\
		tap_failed++;						\
	printf("%s %d - ", ok_ ? "ok" : "not ok", tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

/* Compare two strings and say what differed. */
#define is_str(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__);		\
	if (g_ == NULL || strcmp(g_, w_) != 0)				\
		printf("# got  \"%s\"\n# want \"%s\"\n",		\
		    g_ ? g_ : "(null)", w_);				\
} while (0)

/* Print the plan at the end; the exit status says if all passed. */
static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return (tap_failed != 0);
}

#endif

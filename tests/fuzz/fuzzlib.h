/*
 * fuzzlib.h: what the libFuzzer harnesses over a real spool share
 * (fuzzlib.c): the configuration and a private spool made once, a
 * queue file written from an envelope and a body, emptying a spool
 * directory between runs, and feeding bytes to a session at the far end
 * of a socketpair.
 */
#ifndef FUZZLIB_H
#define FUZZLIB_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "mxd.h"

void	fuzz_spool_setup(struct config *, char **, int, const char *,
	    char *, size_t);
void	fuzz_spool_put(const char *, const char *, const char *, char **,
	    size_t, const char *);
void	fuzz_spool_clean(const char *, const char *);
void	fuzz_feed_pair(struct event_base *, const uint8_t *, size_t,
	    void (*)(struct event_base *, int, struct sockaddr *, int, int),
	    int, unsigned (*)(void));

#endif

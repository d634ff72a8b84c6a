/*
 * stats.c: counters since start that Mailpit's /api/v1/info reports as
 * RuntimeStats, kept by SMTP (which accepts and refuses mail) and read
 * by the HTTP API; the two protocols meet here, in the core.  In: the
 * size of each message committed, each refusal of a recipient or a
 * message.  Out: the totals.  Everything here runs on the main loop:
 * no lock.
 */
#include "mxd.h"

static unsigned long long	stats_octets;	/* SMTPAcceptedSize */
static unsigned long long	stats_refused;	/* SMTPRejected */

/* A message of octets was accepted (committed, its 250 due). */
void
stats_accepted(size_t octets)
{
	stats_octets += octets;
}

/* A recipient (RCPT) or a message (DATA, its end) was refused. */
void
stats_rejected(void)
{
	stats_refused++;
}

/* The totals since start: octets accepted, refusals. */
void
stats_get(unsigned long long *octets, unsigned long long *refused)
{
	*octets = stats_octets;
	*refused = stats_refused;
}

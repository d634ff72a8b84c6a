/*
 * intake.c: is SMTP intake busy now?  Work that competes with intake
 * for the CPUs and the disk, and that nobody waits for (delivery to the
 * mailboxes: the message is already safe in the spool), asks before
 * each piece and waits while intake is busy, within a bound, so that a
 * burst of incoming mail is taken at full speed and delivered after.
 *
 * In: intake_begin() when a message is handed to the spool's commit,
 * intake_end() when its session hears the answer (the event loop).
 * Out: intake_busy() and intake_defer(), from any thread.  Busy means a
 * commit is in flight, or the last one ended less than INTAKE_QUIET_MS
 * ago (with spool_sync=no a commit lasts microseconds; the gap between
 * two messages of a busy client is what tells).
 */
#include <time.h>

#include "mxd.h"

#define INTAKE_QUIET_MS	20

static unsigned		 intake_inflight;	/* commits not yet answered */
static long long	 intake_last_ms;	/* when the last one ended */

/* CLOCK_MONOTONIC in milliseconds. */
static long long
intake_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A message goes to the spool's commit (event loop). */
void
intake_begin(void)
{
	__atomic_add_fetch(&intake_inflight, 1, __ATOMIC_RELAXED);
}

/* Its session has the answer (event loop). */
void
intake_end(void)
{
	__atomic_store_n(&intake_last_ms, intake_now_ms(), __ATOMIC_RELAXED);
	__atomic_sub_fetch(&intake_inflight, 1, __ATOMIC_RELAXED);
}

/* Is a commit in flight, or did one end less than INTAKE_QUIET_MS ago? */
int
intake_busy(void)
{
	if (__atomic_load_n(&intake_inflight, __ATOMIC_RELAXED) > 0)
		return (1);
	return (intake_now_ms() - __atomic_load_n(&intake_last_ms,
	    __ATOMIC_RELAXED) < INTAKE_QUIET_MS);
}

/*
 * Should background work that last went at *last (CLOCK_MONOTONIC ms,
 * 0: never) wait now?  1 while intake is busy, until bound_ms have
 * passed since *last (so that endless intake does not stop the work);
 * else 0, and *last is now.
 */
int
intake_defer(long long *last, unsigned bound_ms)
{
	long long	now = intake_now_ms();

	if (intake_busy() && now - *last < bound_ms)
		return (1);
	*last = now;
	return (0);
}

/*
 * intake.c: is SMTP intake busy now?  Work that competes with intake
 * for the CPUs and the disk, and that no SMTP client waits for, asks
 * before each piece and waits while intake is pressed, within a bound,
 * so that a burst of incoming mail is taken at full speed and the work
 * is done right after it.  Two degrees of pressed:
 *
 *   - busy: a commit is in flight, or the last one ended less than
 *     INTAKE_QUIET_MS ago (with spool_sync=no a commit lasts
 *     microseconds; the gap between two messages of a busy client is
 *     what tells).  Delivery to the mailboxes yields to this.
 *   - flooded: INTAKE_FLOOD commits or more ended in the current or the
 *     last INTAKE_BUCKET_MS.  The index yields only to this: a test
 *     that sends a message and waits for it in the API must see it
 *     within milliseconds, but a flood is not waiting for the index.
 *
 * In: intake_begin() when a message is handed to the spool's commit,
 * intake_end() when its session hears the answer (the event loop).
 * Out: intake_busy(), intake_flooded() and intake_defer(), from any
 * thread (the counters are atomics; a torn view only mistimes a yield).
 */
#include <time.h>

#include "mxd.h"

#define INTAKE_QUIET_MS		20
#define INTAKE_BUCKET_MS	100
#define INTAKE_FLOOD		50	/* a bucket's commits: 500 a second */

static unsigned		 intake_inflight;	/* commits not yet answered */
static long long	 intake_last_ms;	/* when the last one ended */
static long long	 intake_bucket;		/* ms / INTAKE_BUCKET_MS */
static unsigned		 intake_nbucket;	/* commits ended in it */
static unsigned		 intake_nprev;		/* and in the one before */

/* CLOCK_MONOTONIC in milliseconds. */
static long long
intake_now_ms(void)
{
	return (clock_us(CLOCK_MONOTONIC) / 1000);
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
	long long	now = intake_now_ms(), b = now / INTAKE_BUCKET_MS;

	if (b != intake_bucket) {
		__atomic_store_n(&intake_nprev, b == intake_bucket + 1 ?
		    intake_nbucket : 0, __ATOMIC_RELAXED);
		__atomic_store_n(&intake_nbucket, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&intake_bucket, b, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&intake_nbucket, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&intake_last_ms, now, __ATOMIC_RELAXED);
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

/* Did INTAKE_FLOOD commits or more end in this bucket or the last? */
int
intake_flooded(void)
{
	long long	b = intake_now_ms() / INTAKE_BUCKET_MS;
	long long	cur = __atomic_load_n(&intake_bucket, __ATOMIC_RELAXED);

	if (b == cur)
		return (__atomic_load_n(&intake_nbucket, __ATOMIC_RELAXED) >=
		    INTAKE_FLOOD || __atomic_load_n(&intake_nprev,
		    __ATOMIC_RELAXED) >= INTAKE_FLOOD);
	return (b == cur + 1 && __atomic_load_n(&intake_nbucket,
	    __ATOMIC_RELAXED) >= INTAKE_FLOOD);
}

/* For a thread that yields: sleep one quiet period, then ask again. */
void
intake_nap(void)
{
	struct timespec	nap = { 0, INTAKE_QUIET_MS * 1000000L };

	nanosleep(&nap, NULL);
}

/*
 * Should background work that last went at *last (CLOCK_MONOTONIC ms,
 * 0: never) wait now?  1 while pressed() (intake_busy or
 * intake_flooded) says so, until bound_ms have passed since *last (so
 * that endless intake does not stop the work); else 0, and *last is
 * now.
 */
int
intake_defer(int (*pressed)(void), long long *last, unsigned bound_ms)
{
	long long	now = intake_now_ms();

	if (pressed() && now - *last < bound_ms)
		return (1);
	*last = now;
	return (0);
}

/*
 * chaos.c: Mailpit's chaos triggers, shared by the HTTP API (which sets
 * them: PUT /api/v1/chaos) and SMTP (which fires them at MAIL, RCPT and
 * AUTH).  In: a stage's error code and probability from the API.  Out:
 * for one command at a stage, the code to refuse it with, or 0.
 *
 * Only while sink_faults is on (Mailpit's --enable-chaos).  Probability
 * is Mailpit's percentage: 0 never fires and 100 always does, so tests
 * that use only those stay deterministic; a value between draws from a
 * per-process PRNG seeded at start, as Mailpit draws from crypto/rand.
 * The codes are a fixed set (CHAOS_CODES) rather than Mailpit's 400 to
 * 599, so that each has a reply row with a true enhanced status code.
 * Everything here runs on the main loop: no lock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mxd.h"

/* The codes a trigger may use; smtp/reply.c has a row for each. */
static const int chaos_codes[] = { CHAOS_CODES };

/* Mailpit's defaults: 451 for Sender and Recipient, 535 for AUTH. */
static const int chaos_default_code[CHAOS_NSTAGES] = { 451, 451, 535 };

static struct chaos_trigger	chaos_now[CHAOS_NSTAGES] = {
	{ 451, 0 }, { 451, 0 }, { 535, 0 },
};
static uint64_t			chaos_rng;

/* Mailpit's names of the stages, as in its JSON. */
const char *const chaos_names[CHAOS_NSTAGES] = {
	"Sender", "Recipient", "Authentication",
};

/* Is code one of CHAOS_CODES? */
int
chaos_code_ok(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(chaos_codes) / sizeof(chaos_codes[0]); i++)
		if (chaos_codes[i] == code)
			return (1);
	return (0);
}

/* A stage's default code (what 0 or an absent ErrorCode means). */
int
chaos_default(enum chaos_stage st)
{
	return (chaos_default_code[st]);
}

/* The trigger of a stage now. */
struct chaos_trigger
chaos_get(enum chaos_stage st)
{
	return (chaos_now[st]);
}

/* Set every stage at once (the caller has checked the values). */
void
chaos_set(const struct chaos_trigger t[CHAOS_NSTAGES])
{
	int	i;

	memcpy(chaos_now, t, sizeof(chaos_now));
	for (i = 0; i < CHAOS_NSTAGES; i++)
		log_info("chaos %s code=%d probability=%d", chaos_names[i],
		    t[i].code, t[i].probability);
}

/* xorshift64*: a number 0..99 (seeded once per process). */
static int
chaos_draw(void)
{
	if (chaos_rng == 0)
		chaos_rng = ((uint64_t)getpid() << 32 ^
		    (uint64_t)time(NULL)) | 1;
	chaos_rng ^= chaos_rng >> 12;
	chaos_rng ^= chaos_rng << 25;
	chaos_rng ^= chaos_rng >> 27;
	return ((int)((chaos_rng * 2685821657736338717ULL >> 33) % 100));
}

/* The code to refuse a command at stage st with, or 0 (Mailpit's rule). */
int
chaos_fire(const struct config *c, enum chaos_stage st)
{
	const struct chaos_trigger	*t = &chaos_now[st];

	if (!c->sink_faults || t->probability <= 0)
		return (0);
	if (t->probability < 100 && chaos_draw() >= t->probability)
		return (0);
	return (t->code);
}

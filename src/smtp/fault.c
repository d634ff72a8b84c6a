/*
 * fault.c: failures a test sink answers on purpose, chosen by the
 * recipient address, so that an application's error handling can be
 * tested deterministically (Mailpit's and MailHog's chaos are random).
 *
 * In: a recipient address; the tag is what follows the last '+' of the
 * local part, compared without regard to case.  Out: a struct fault that
 * says what to do and when.  The forms (doc/faults.md):
 *
 *   x+fail-NNN@d       RCPT is refused with NNN (450 451 452 550 551 552
 *                      553 554), nothing else happens
 *   x+fail-data-NNN@d  RCPT is accepted; after the data, NNN (451 452 552
 *                      554) and nothing is stored
 *   x+delay-Ns@d       the message is stored as usual; its 250 comes N
 *                      seconds late (1 to FAULT_DELAY_MAX)
 *   x+drop@d           after the data mxd closes the connection without
 *                      a reply; nothing is stored
 *   x+fail-999@d, x+delay-0s@d ...  any other tag starting fail- or
 *                      delay-: refused at RCPT with 501 5.1.3, naming
 *                      the forms (a mistyped fault must not succeed)
 *
 * Only when sink_faults is on; the first data-stage fault among a
 * message's recipients is the one applied.
 *
 * Also Mailpit's chaos triggers (chaos.c, set by PUT /api/v1/chaos):
 * fault_chaos() refuses a MAIL, RCPT or AUTH with the trigger's code.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp.h"

/* One tag: its text (without digits for the delay) and what it does. */
static const struct fault_row {
	const char		*tag;
	enum fault_kind		 kind;
	enum reply_id		 reply;
} faults[] = {
	{ "fail-450", FAULT_RCPT, R_FAULT_450 },
	{ "fail-451", FAULT_RCPT, R_FAULT_451 },
	{ "fail-452", FAULT_RCPT, R_FAULT_452 },
	{ "fail-550", FAULT_RCPT, R_FAULT_550 },
	{ "fail-551", FAULT_RCPT, R_FAULT_551 },
	{ "fail-552", FAULT_RCPT, R_FAULT_552 },
	{ "fail-553", FAULT_RCPT, R_FAULT_553 },
	{ "fail-554", FAULT_RCPT, R_FAULT_554 },
	{ "fail-data-451", FAULT_DATA, R_FAULT_DATA_451 },
	{ "fail-data-452", FAULT_DATA, R_FAULT_DATA_452 },
	{ "fail-data-552", FAULT_DATA, R_FAULT_DATA_552 },
	{ "fail-data-554", FAULT_DATA, R_FAULT_DATA_554 },
	{ "drop", FAULT_DROP, R_MAX },
};

/* The tag of addr: after the last '+' of the local part, or NULL. */
static const char *
fault_tag(const char *addr, size_t *len)
{
	const char	*at, *plus;

	if (addr[0] == '"')		/* a quoted local part is taken as is */
		return NULL;
	if ((at = strrchr(addr, '@')) == NULL)
		at = addr + strlen(addr);
	for (plus = at; plus > addr && plus[-1] != '+'; plus--)
		;
	if (plus == addr)
		return NULL;
	*len = (size_t)(at - plus);
	return plus;
}

/* "delay-Ns": the seconds, or 0 if tag is not that form or out of range. */
static unsigned
fault_delay(const char *tag, size_t len)
{
	unsigned long	 n = 0;
	size_t		 i = sizeof("delay-") - 1;

	if (len < i + 2 || strncasecmp(tag, "delay-", i) != 0 ||
	    tolower((unsigned char)tag[len - 1]) != 's')
		return 0;
	for (; i < len - 1; i++) {
		if (!isdigit((unsigned char)tag[i]))
			return 0;
		n = n * 10 + (unsigned long)(tag[i] - '0');
		if (n > FAULT_DELAY_MAX)
			return 0;
	}
	return (unsigned)n;
}

/*
 * Parse addr's fault tag into f.  Returns 1 if addr asks for a fault,
 * 0 if not (f->kind is FAULT_NONE): an unknown tag is a plain subaddress,
 * except one that starts like a fault (fail-, delay-): that is a typing
 * mistake a test author must hear about (FAULT_BAD, reply
 * R_FAULT_UNKNOWN), not an ordinary success.
 */
int
fault_parse(const char *addr, struct fault *f)
{
	const char	*tag;
	size_t		 len, i;

	memset(f, 0, sizeof(*f));
	f->kind = FAULT_NONE;
	f->reply = R_MAX;
	if ((tag = fault_tag(addr, &len)) == NULL)
		return 0;
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		if (strlen(faults[i].tag) == len &&
		    strncasecmp(faults[i].tag, tag, len) == 0) {
			f->kind = faults[i].kind;
			f->reply = faults[i].reply;
			return 1;
		}
	if ((f->delay = fault_delay(tag, len)) > 0) {
		f->kind = FAULT_DELAY;
		return 1;
	}
	if ((len >= 5 && strncasecmp(tag, "fail-", 5) == 0) ||
	    (len >= 6 && strncasecmp(tag, "delay-", 6) == 0)) {
		f->kind = FAULT_BAD;
		f->reply = R_FAULT_UNKNOWN;
		return 1;
	}
	return 0;
}

/* A chaos code's reply row (CHAOS_CODES in mxd.h). */
static const struct chaos_row {
	int			 code;
	enum reply_id		 reply;
} chaos_rows[] = {
	{ 450, R_CHAOS_450 }, { 451, R_CHAOS_451 }, { 452, R_CHAOS_452 },
	{ 454, R_CHAOS_454 }, { 535, R_CHAOS_535 }, { 550, R_CHAOS_550 },
	{ 551, R_CHAOS_551 }, { 552, R_CHAOS_552 }, { 553, R_CHAOS_553 },
	{ 554, R_CHAOS_554 },
};

/* The stage's word in the reply, as in Mailpit's "Chaos sender error". */
static const char *const chaos_words[CHAOS_NSTAGES] = {
	"sender", "recipient", "authentication",
};

/*
 * If the chaos trigger of stage st fires, refuse the command with its
 * code and return 1; else 0.
 */
int
fault_chaos(struct session *s, enum chaos_stage st)
{
	size_t	i;
	int	code;

	if ((code = chaos_fire(cfg, st)) == 0)
		return (0);
	for (i = 0; i < sizeof(chaos_rows) / sizeof(chaos_rows[0]); i++)
		if (chaos_rows[i].code == code) {
			log_info("s=%08llx chaos %s reply=%d",
			    (unsigned long long)s->id, chaos_names[st], code);
			reply(s, chaos_rows[i].reply, chaos_words[st]);
			return (1);
		}
	return (0);
}

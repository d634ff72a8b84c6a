/*
 * test_fault.c: the address forms that ask a test sink to fail (fault.c):
 * each tag gives its kind and reply, the stage-matching reply class, the
 * delay's bounds, case, and the addresses that ask for nothing.
 */
#include <stdio.h>
#include <string.h>

#include "smtp/smtp.h"
#include "tap.h"

/* An address, and the fault it must give (code 0: no reply row). */
static const struct {
	const char	*addr;
	enum fault_kind	 kind;
	int		 code;
	unsigned	 delay;
} cases[] = {
	{ "a+fail-550@example.test", FAULT_RCPT, 550, 0 },
	{ "a+fail-450@example.test", FAULT_RCPT, 450, 0 },
	{ "a+fail-451@example.test", FAULT_RCPT, 451, 0 },
	{ "a+fail-452@example.test", FAULT_RCPT, 452, 0 },
	{ "a+fail-551@example.test", FAULT_RCPT, 551, 0 },
	{ "a+fail-552@example.test", FAULT_RCPT, 552, 0 },
	{ "a+fail-553@example.test", FAULT_RCPT, 553, 0 },
	{ "a+fail-554@example.test", FAULT_RCPT, 554, 0 },
	{ "A+FAIL-550@EXAMPLE.TEST", FAULT_RCPT, 550, 0 },
	{ "x+y+fail-550@example.test", FAULT_RCPT, 550, 0 },
	{ "+fail-550@example.test", FAULT_RCPT, 550, 0 },
	{ "a+fail-data-451@example.test", FAULT_DATA, 451, 0 },
	{ "a+fail-data-452@example.test", FAULT_DATA, 452, 0 },
	{ "a+fail-data-552@example.test", FAULT_DATA, 552, 0 },
	{ "a+fail-data-554@example.test", FAULT_DATA, 554, 0 },
	{ "a+delay-3s@example.test", FAULT_DELAY, 0, 3 },
	{ "a+Delay-1S@example.test", FAULT_DELAY, 0, 1 },
	{ "a+delay-300s@example.test", FAULT_DELAY, 0, 300 },
	{ "a+drop@example.test", FAULT_DROP, 0, 0 },
	{ "a+drop", FAULT_DROP, 0, 0 },
	/* Mistyped faults: refused, never an ordinary success. */
	{ "a+fail-250@example.test", FAULT_BAD, 501, 0 },
	{ "a+fail-555@example.test", FAULT_BAD, 501, 0 },
	{ "a+fail-data-550@example.test", FAULT_BAD, 501, 0 },
	{ "a+fail-5500@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-0s@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-301s@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-99999999999999999999s@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-s@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-3@example.test", FAULT_BAD, 501, 0 },
	{ "a+delay-3x@example.test", FAULT_BAD, 501, 0 },
	{ "a+fail-550x@example.test", FAULT_BAD, 501, 0 },
	/* Nothing asked for: a plain or unknown subaddress. */
	{ "a@example.test", FAULT_NONE, 0, 0 },
	{ "a+news@example.test", FAULT_NONE, 0, 0 },
	{ "a+failed@example.test", FAULT_NONE, 0, 0 },
	{ "a+delayed@example.test", FAULT_NONE, 0, 0 },
	{ "fail-550@example.test", FAULT_NONE, 0, 0 },
	{ "a+@example.test", FAULT_NONE, 0, 0 },
	{ "\"a+fail-550\"@example.test", FAULT_NONE, 0, 0 },
	{ "", FAULT_NONE, 0, 0 },
};

int
main(void)
{
	struct fault	f;
	size_t		i;
	int		got, code;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = fault_parse(cases[i].addr, &f);
		code = f.reply < R_MAX ? reply_row(f.reply)->code : 0;
		ok(got == (cases[i].kind != FAULT_NONE) &&
		    f.kind == cases[i].kind && code == cases[i].code &&
		    f.delay == cases[i].delay,
		    "%s: kind %d code %d delay %u", cases[i].addr, f.kind,
		    code, f.delay);
	}
	/* A refusal at RCPT names the address; after DATA it cannot. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].kind != FAULT_RCPT && cases[i].kind != FAULT_DATA &&
		    cases[i].kind != FAULT_BAD)
			continue;
		fault_parse(cases[i].addr, &f);
		ok((strstr(reply_row(f.reply)->text, "%s") != NULL) ==
		    (f.kind != FAULT_DATA), "%s: reply text takes the address "
		    "only at RCPT", cases[i].addr);
	}
	return (tap_done());
}

/*
 * test_command.c: every verb of the command table in every session
 * state, against the order rules of RFC 5321 4.1.4 written out here
 * independently of command.c; and the verbs' flags (RFC 2920 3.1 group
 * ends, junk commands, AUTH-first on submission).
 */
#include <string.h>

#include "smtp/smtp.h"
#include "tap.h"

/* The four states a command can meet, as (state, transaction, rcpts). */
static const struct {
	const char		*name;
	enum session_state	 st;
	int			 tx;
	size_t			 nrcpt;
} states[] = {
	{ "before HELO", STATE_CONNECTED, 0, 0 },
	{ "after HELO", STATE_READY, 0, 0 },
	{ "after MAIL", STATE_MAIL, 1, 0 },
	{ "after RCPT", STATE_RCPT, 1, 2 },
};

/* Expected 503 (or R_MAX: allowed) per verb and state, from the RFC. */
static const struct {
	const char	*verb;
	enum reply_id	 want[4];
	int		 flags;		/* the CMD_F_ that must be set */
} rules[] = {
	{ "HELO", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_ARGS },
	{ "EHLO", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_ARGS | CMD_F_LAST },
	{ "MAIL", { R_NEED_HELO, R_MAX, R_NESTED_MAIL, R_NESTED_MAIL },
	  CMD_F_ARGS | CMD_F_NEED_AUTH },
	{ "RCPT", { R_NEED_HELO, R_NEED_MAIL, R_MAX, R_MAX }, CMD_F_ARGS },
	{ "DATA", { R_NEED_HELO, R_NEED_MAIL, R_NEED_RCPT, R_MAX },
	  CMD_F_NOARGS | CMD_F_LAST },
	{ "RSET", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_NOARGS | CMD_F_JUNK },
	{ "NOOP", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_JUNK | CMD_F_LAST },
	{ "VRFY", { R_MAX, R_MAX, R_MAX, R_MAX },
	  CMD_F_ARGS | CMD_F_JUNK | CMD_F_LAST },
	{ "EXPN", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_LAST },
	{ "HELP", { R_MAX, R_MAX, R_MAX, R_MAX }, 0 },
	{ "QUIT", { R_MAX, R_MAX, R_MAX, R_MAX }, CMD_F_LAST },
	{ "STARTTLS", { R_MAX, R_MAX, R_MAX, R_MAX },
	  CMD_F_NOARGS | CMD_F_LAST },
	{ "AUTH", { R_NEED_HELO, R_MAX, R_MAX, R_MAX }, CMD_F_ARGS },
};
#define NRULES	(sizeof(rules) / sizeof(rules[0]))

int
main(void)
{
	const char	*verb;
	size_t		 i, j, nverbs = 0;
	int		 flags;
	enum reply_id	 got;

	for (i = 0; (verb = command_verb(i, &flags)) != NULL; i++) {
		nverbs++;
		for (j = 0; j < NRULES; j++)
			if (strcmp(rules[j].verb, verb) == 0)
				break;
		ok(j < NRULES, "%s has an expected rule here", verb);
		if (j == NRULES)
			continue;
		ok((flags & rules[j].flags) == rules[j].flags,
		    "%s has flags 0x%x (has 0x%x)", verb, rules[j].flags, flags);
		ok(!(flags & CMD_F_ARGS) || !(flags & CMD_F_NOARGS),
		    "%s: not both ARGS and NOARGS", verb);
		ok(!(flags & CMD_F_NEED_AUTH) || strcmp(verb, "MAIL") == 0,
		    "%s: only MAIL needs AUTH first", verb);
	}
	ok(nverbs == NRULES, "%zu verbs in the table, %zu rules", nverbs,
	    (size_t)NRULES);
	for (j = 0; j < NRULES; j++)
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			got = command_rule(rules[j].verb, states[i].st,
			    states[i].tx, states[i].nrcpt);
			ok(got == rules[j].want[i], "%s %s: reply %d (want %d)",
			    rules[j].verb, states[i].name, got,
			    rules[j].want[i]);
		}
	ok(command_rule("TURN", STATE_READY, 0, 0) == R_UNKNOWN_CMD,
	    "TURN is unknown");
	ok(command_rule("mail", STATE_READY, 0, 0) == R_MAX,
	    "verbs match in any case");
	return (tap_done());
}

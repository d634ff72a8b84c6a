/*
 * test_pop3.c: the POP3 tables (src/pop3/).  Every reply id has a row;
 * a -ERR's response code is one RFC 2449 8 and RFC 3206 define; a reply
 * that ends the session says why; the formatted line ends in CRLF and
 * fits a reply line.  Every verb in every state: RFC 1939's rules (mail
 * commands only in TRANSACTION, logins only in AUTHORIZATION, QUIT and
 * CAPA in both), verbs case-insensitive, unknown verbs unknown.
 */
#include <stdio.h>
#include <string.h>

#include "pop3/pop3.h"
#include "tap.h"

/* The response codes of RFC 2449 8 and RFC 3206. */
static int
known_code(const char *code)
{
	static const char *const codes[] = { "IN-USE", "LOGIN-DELAY",
	    "SYS/TEMP", "SYS/PERM", "AUTH" };
	size_t	i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return (1);
	return (0);
}

int
main(void)
{
	static const char *const verbs[] = { "USER", "PASS", "APOP", "AUTH",
	    "STLS", "CAPA", "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
	    "NOOP", "RSET", "QUIT" };
	static const char *const authz_only[] = { "USER", "PASS", "APOP",
	    "AUTH", "STLS" };
	const struct pop3_reply_row	*r;
	char				 buf[1024], list[256];
	size_t				 i, j, n;
	int				 bad = 0, want, a, t;

	for (i = 0; i < P_MAX; i++) {
		r = pop3_reply_row((enum pop3_reply_id)i);
		if (r->text == NULL || (r->code != NULL && !known_code(r->code))
		    || (r->ok && r->code != NULL)) {
			printf("# reply %zu: bad row\n", i);
			bad++;
		}
	}
	ok(bad == 0, "every reply has a row; -ERR codes are RFC 2449/3206");
	r = pop3_reply_row(P_IN_USE);
	ok(!r->ok && strcmp(r->code, "IN-USE") == 0, "[IN-USE] for a lock");
	r = pop3_reply_row(P_AUTH_FAILED);
	ok(!r->ok && strcmp(r->code, "AUTH") == 0, "[AUTH] for a bad login");
	ok(pop3_reply_row(P_QUIT)->closes != NULL &&
	    pop3_reply_row(P_QUIT_UPDATE)->closes != NULL &&
	    pop3_reply_row(P_TIMEOUT)->closes != NULL &&
	    pop3_reply_row(P_USER_OK)->closes == NULL, "which replies close");
	n = pop3_reply_format(buf, sizeof(buf), P_NO_DESCRIPTORS);
	ok(n > 2 && strncmp(buf, "-ERR [SYS/TEMP] ", 16) == 0 &&
	    memcmp(buf + n - 2, "\r\n", 2) == 0, "busy line: -ERR [SYS/TEMP]");
	n = pop3_reply_format(buf, 40, P_LOGGED_IN, "a-very-long-user-name-"
	    "that-does-not-fit", (size_t)1, "", 100LL);
	ok(n == 39 && memcmp(buf + n - 2, "\r\n", 2) == 0,
	    "a reply cut to fit still ends in CRLF");

	bad = 0;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		a = pop3_command_rule(verbs[i], POP3_AUTHORIZATION);
		t = pop3_command_rule(verbs[i], POP3_TRANSACTION);
		want = 0;
		for (j = 0; j < sizeof(authz_only) / sizeof(authz_only[0]); j++)
			if (strcmp(verbs[i], authz_only[j]) == 0)
				want = 1;
		if (strcmp(verbs[i], "QUIT") == 0 ||
		    strcmp(verbs[i], "CAPA") == 0) {
			if (a != 1 || t != 1)
				bad++;
		} else if (a != want || t != !want)
			bad++;
		if (pop3_command_rule(verbs[i], POP3_UPDATE) != 0 ||
		    pop3_command_rule(verbs[i], POP3_CLOSING) != 0)
			bad++;
	}
	ok(bad == 0, "every verb in every state follows RFC 1939");
	ok(pop3_command_rule("retr", POP3_TRANSACTION) == 1 &&
	    pop3_command_rule("Top", POP3_TRANSACTION) == 1,
	    "verbs are case-insensitive");
	ok(pop3_command_rule("LAST", POP3_TRANSACTION) == -1 &&
	    pop3_command_rule("HELO", POP3_AUTHORIZATION) == -1,
	    "unknown verbs (RFC 1725's LAST is gone)");
	pop3_command_list(list, sizeof(list));
	ok(strncmp(list, "USER, PASS, ", 12) == 0 &&
	    strstr(list, " and QUIT") != NULL, "the list of verbs: %s", list);
	return (tap_done());
}

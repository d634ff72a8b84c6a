/*
 * command.c: the POP3 command table and its dispatcher.  Each row names
 * a verb (case-insensitive, RFC 1939 3), its handler, the states it is
 * allowed in, the arguments it takes and the syntax a -ERR shows.  The
 * dispatcher applies those rules in one place, in order: control
 * octets, unknown verb (with the list of verbs), wrong state, arguments,
 * message number; the handlers do only what is particular to their verb.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

#define AUTHZ		POP3_STATE_BIT(POP3_AUTHORIZATION)
#define TRANS		POP3_STATE_BIT(POP3_TRANSACTION)

/* What a verb takes after it. */
enum pop3_args {
	ARGS_NONE,	/* nothing */
	ARGS_OPT_MSG,	/* [msg] */
	ARGS_MSG,	/* msg */
	ARGS_MSG_N,	/* msg n (TOP) */
	ARGS_REST,	/* the rest of the line, required (USER, PASS) */
	ARGS_ANY,	/* anything (AUTH, APOP: the handler looks) */
};

struct pop3_cmd {
	const char	*verb;
	void		(*fn)(struct pop3_session *, char *, size_t, long long);
	unsigned	 states;
	enum pop3_args	 args;
	const char	*syntax;
};

static void	cmd_user(struct pop3_session *, char *, size_t, long long);
static void	cmd_pass(struct pop3_session *, char *, size_t, long long);
static void	cmd_apop(struct pop3_session *, char *, size_t, long long);
static void	cmd_auth(struct pop3_session *, char *, size_t, long long);
static void	cmd_stls(struct pop3_session *, char *, size_t, long long);
static void	cmd_capa(struct pop3_session *, char *, size_t, long long);
static void	cmd_stat(struct pop3_session *, char *, size_t, long long);
static void	cmd_list(struct pop3_session *, char *, size_t, long long);
static void	cmd_uidl(struct pop3_session *, char *, size_t, long long);
static void	cmd_retr(struct pop3_session *, char *, size_t, long long);
static void	cmd_top(struct pop3_session *, char *, size_t, long long);
static void	cmd_dele(struct pop3_session *, char *, size_t, long long);
static void	cmd_noop(struct pop3_session *, char *, size_t, long long);
static void	cmd_rset(struct pop3_session *, char *, size_t, long long);
static void	cmd_quit(struct pop3_session *, char *, size_t, long long);

/* RFC 1939 4-6, RFC 2449 5, RFC 2595 4, RFC 5034 4. */
static const struct pop3_cmd cmds[] = {
	{ "USER", cmd_user, AUTHZ, ARGS_REST, "USER <name>" },
	{ "PASS", cmd_pass, AUTHZ, ARGS_REST, "PASS <password>" },
	{ "APOP", cmd_apop, AUTHZ, ARGS_ANY, "APOP <name> <digest>" },
	{ "AUTH", cmd_auth, AUTHZ, ARGS_ANY,
	  "AUTH <mechanism> [initial-response]" },
	{ "STLS", cmd_stls, AUTHZ, ARGS_NONE, "STLS" },
	{ "CAPA", cmd_capa, AUTHZ | TRANS, ARGS_NONE, "CAPA" },
	{ "STAT", cmd_stat, TRANS, ARGS_NONE, "STAT" },
	{ "LIST", cmd_list, TRANS, ARGS_OPT_MSG, "LIST [<message-number>]" },
	{ "UIDL", cmd_uidl, TRANS, ARGS_OPT_MSG, "UIDL [<message-number>]" },
	{ "RETR", cmd_retr, TRANS, ARGS_MSG, "RETR <message-number>" },
	{ "TOP", cmd_top, TRANS, ARGS_MSG_N,
	  "TOP <message-number> <number-of-body-lines>" },
	{ "DELE", cmd_dele, TRANS, ARGS_MSG, "DELE <message-number>" },
	{ "NOOP", cmd_noop, TRANS, ARGS_NONE, "NOOP" },
	{ "RSET", cmd_rset, TRANS, ARGS_NONE, "RSET" },
	{ "QUIT", cmd_quit, AUTHZ | TRANS, ARGS_NONE, "QUIT" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))
_Static_assert(NCMDS <= POP3_NCMD, "struct pop3_session counts POP3_NCMD");

/* Find a verb, case-insensitively; NULL if unknown. */
static const struct pop3_cmd *
pop3_command_find(const char *verb, size_t len)
{
	size_t	i;

	for (i = 0; i < NCMDS; i++)
		if (strlen(cmds[i].verb) == len &&
		    strncasecmp(cmds[i].verb, verb, len) == 0)
			return (&cmds[i]);
	return (NULL);
}

/*
 * May verb run in state st?  1 yes, 0 no, -1 unknown verb (for the unit
 * test that tries every verb in every state).
 */
int
pop3_command_rule(const char *verb, enum pop3_state st)
{
	const struct pop3_cmd	*c;

	if ((c = pop3_command_find(verb, strlen(verb))) == NULL)
		return (-1);
	return ((c->states & POP3_STATE_BIT(st)) != 0);
}

/*
 * Is a verb worth naming to a client?  APOP is known only to say it is
 * not supported; STLS only where a certificate is configured.
 */
static int
pop3_command_offered(const struct pop3_cmd *c)
{
	if (strcmp(c->verb, "APOP") == 0)
		return (0);
	if (strcmp(c->verb, "STLS") == 0)
		return (tls_enabled());
	return (1);
}

/* The verbs offered, "A, B and C", for the unknown-command reply. */
void
pop3_command_list(char *buf, size_t len)
{
	const char	*v[NCMDS];
	size_t		 i, n = 0;

	for (i = 0; i < NCMDS; i++)
		if (pop3_command_offered(&cmds[i]))
			v[n++] = cmds[i].verb;
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
		    i == 0 ? "" : i + 1 == n ? " and " : ", ", v[i]);
}

/* "user=1 pass=1 retr=2" for the disconnect line. */
void
pop3_command_counts(const struct pop3_session *s, char *buf, size_t len)
{
	size_t	i, j, o = 0;

	buf[0] = '\0';
	for (i = 0; i < NCMDS && o < len; i++) {
		if (s->ncmd[i] == 0)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s", o ? " " : "");
		for (j = 0; cmds[i].verb[j] != '\0' && o + 1 < len; j++)
			buf[o++] = (char)tolower(
			    (unsigned char)cmds[i].verb[j]);
		buf[o] = '\0';
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "=%u",
			    s->ncmd[i]);
	}
	if (s->nunknown > 0 && o < len)
		snprintf(buf + o, len - o, "%sunknown=%u", o ? " " : "",
		    s->nunknown);
}

/*
 * A message number (RFC 1939 3: decimal, from 1): 0 and the number, -1
 * if the word is not a number at all.
 */
static int
pop3_command_number(const char *w, long long *n)
{
	char	*end;

	if (*w == '\0' || strspn(w, "0123456789") != strlen(w) ||
	    strlen(w) > 18)
		return (-1);
	errno = 0;
	*n = strtoll(w, &end, 10);
	return (errno != 0 ? -1 : 0);
}

/*
 * Is word a message the client may name: in the maildrop and not
 * deleted?  Replies and returns 0 if not; else 1 and *i its index.
 */
static int
pop3_command_msg(struct pop3_session *s, const char *word, long long n,
    size_t *i)
{
	char	w[32];

	snprintf(w, sizeof(w), "%.20s%s", word, strlen(word) > 20 ? "..." :
	    "");
	if (n < 1 || (unsigned long long)n > s->md.n) {
		if (s->md.n == 0)
			pop3_reply(s, P_NO_MESSAGES, w);
		else
			pop3_reply(s, P_NO_SUCH_MSG, w, s->md.n);
		return (0);
	}
	*i = (size_t)n - 1;
	if (s->md.msg[*i].deleted) {
		pop3_reply(s, P_DELETED, (size_t)n);
		return (0);
	}
	return (1);
}

/*
 * Split args into at most 3 words at runs of spaces (people type two
 * spaces); returns how many words there are, 3 meaning "3 or more".
 */
static int
pop3_command_words(char *args, char **w)
{
	int	n = 0;

	while (n < 3) {
		args += strspn(args, " ");
		if (*args == '\0')
			break;
		w[n++] = args;
		args += strcspn(args, " ");
		if (*args != '\0')
			*args++ = '\0';
	}
	return (n);
}

/*
 * Check the arguments of c against its row.  Returns 1 with *msg (the
 * index, or (size_t)-1 when an optional number is absent) and *n (TOP's
 * line count) when the handler may run; else it replied.
 */
static int
pop3_command_args(struct pop3_session *s, const struct pop3_cmd *c,
    char *args, size_t *msg, long long *n)
{
	char		*w[3];
	long long	 num;
	int		 nw;

	*msg = (size_t)-1;
	*n = 0;
	if (c->args == ARGS_ANY || (c->args == ARGS_REST && *args != '\0'))
		return (1);
	nw = c->args == ARGS_REST ? 0 : pop3_command_words(args, w);
	switch (c->args) {
	case ARGS_NONE:
		if (nw == 0)
			return (1);
		break;
	case ARGS_OPT_MSG:
		if (nw == 0)
			return (1);
		/* FALLTHROUGH */
	case ARGS_MSG:
		if (nw != 1 || pop3_command_number(w[0], &num) != 0)
			break;
		return (pop3_command_msg(s, w[0], num, msg));
	case ARGS_MSG_N:
		if (nw != 2 || pop3_command_number(w[0], &num) != 0 ||
		    pop3_command_number(w[1], n) != 0)
			break;
		return (pop3_command_msg(s, w[0], num, msg));
	default:
		break;
	}
	pop3_reply(s, P_SYNTAX, c->syntax);
	return (0);
}

/*
 * Run one command line: line[len], without its CRLF.  The rules of the
 * table apply here, in order; then the handler.
 */
void
pop3_command_dispatch(struct pop3_session *s, char *line, size_t len)
{
	const struct pop3_cmd	*c;
	char			 verbs[256], shown[64];
	char			*args;
	size_t			 vlen, msg;
	long long		 n;

	if (!line_valid(line, len) || strlen(line) != len) {
		pop3_reply(s, P_BAD_CHAR);
		return;
	}
	vlen = strcspn(line, " ");
	args = line + vlen + (line[vlen] == ' ');
	if ((c = pop3_command_find(line, vlen)) == NULL) {
		s->nunknown++;
		pop3_command_list(verbs, sizeof(verbs));
		log_escape(line, vlen < 20 ? vlen : 20, shown, sizeof(shown));
		pop3_reply(s, P_UNKNOWN_CMD, shown, verbs);
		return;
	}
	s->ncmd[c - cmds]++;
	if (!(c->states & POP3_STATE_BIT(s->state))) {
		if (s->state == POP3_AUTHORIZATION)
			pop3_reply(s, P_NEED_LOGIN, c->verb);
		else
			pop3_reply(s, P_LOGGED_IN_ALREADY, c->verb,
			    s->auth_user);
		return;
	}
	if (!pop3_command_args(s, c, args, &msg, &n))
		return;
	c->fn(s, args, msg, n);
}

/* USER name (RFC 1939 7). */
static void
cmd_user(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_auth_user(s, args);
}

/* PASS password (RFC 1939 7): the rest of the line, spaces and all. */
static void
cmd_pass(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_auth_pass(s, args);
}

/* APOP (RFC 1939 7): needs a shared secret in the clear; not offered. */
static void
cmd_apop(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_reply(s, P_APOP);
}

/* AUTH [mechanism [initial-response]] (RFC 5034 4). */
static void
cmd_auth(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_auth_start(s, args);
}

/* STLS (RFC 2595 4): TLS, then the client starts over. */
static void
cmd_stls(struct pop3_session *s, char *args, size_t msg, long long n)
{
	if (s->flags & POP3_F_TLS || s->kind == LISTEN_POP3S) {
		pop3_reply(s, P_STLS_ACTIVE);
		return;
	}
	if (!tls_enabled()) {
		pop3_reply(s, P_STLS_UNAVAILABLE);
		return;
	}
	pop3_reply(s, P_STLS);
	pop3_session_stls(s);
}

/* Send one capability line. */
static void
capa(struct pop3_session *s, const char *text)
{
	pop3_reply_line(s, text, strlen(text));
}

/*
 * CAPA (RFC 2449 5): what works now.  Before login: USER and SASL only
 * where a password may be sent, STLS where TLS can start.
 */
static void
cmd_capa(struct pop3_session *s, char *args, size_t msg, long long n)
{
	char	mechs[512], line[600];

	pop3_reply(s, P_CAPA);
	if (s->state == POP3_AUTHORIZATION) {
		if (pop3_auth_plaintext_ok(s))
			capa(s, "USER");
		pop3_auth_mechs(s, mechs, sizeof(mechs));
		if (mechs[0] != '\0') {
			snprintf(line, sizeof(line), "SASL %s", mechs);
			capa(s, line);
		}
		if (tls_enabled() && !(s->flags & POP3_F_TLS) &&
		    s->kind != LISTEN_POP3S)
			capa(s, "STLS");
	}
	capa(s, "TOP");
	capa(s, "UIDL");
	capa(s, "PIPELINING");
	capa(s, "RESP-CODES");
	capa(s, "AUTH-RESP-CODE");
	capa(s, "EXPIRE NEVER");
	capa(s, "IMPLEMENTATION mxd");
	pop3_reply_end(s);
}

/* Messages not marked deleted, and their octets. */
static size_t
pop3_command_live(const struct pop3_session *s, long long *octets)
{
	size_t	i, n = 0;

	*octets = 0;
	for (i = 0; i < s->md.n; i++)
		if (!s->md.msg[i].deleted) {
			n++;
			*octets += s->md.msg[i].size;
		}
	return (n);
}

/* STAT (RFC 1939 5): +OK count octets. */
static void
cmd_stat(struct pop3_session *s, char *args, size_t msg, long long n)
{
	long long	octets;
	size_t		count = pop3_command_live(s, &octets);

	pop3_reply(s, P_STAT, count, octets);
}

/* LIST [msg] (RFC 1939 5). */
static void
cmd_list(struct pop3_session *s, char *args, size_t msg, long long n)
{
	char		line[64];
	long long	octets;
	size_t		i, count;

	if (msg != (size_t)-1) {
		pop3_reply(s, P_LIST_ONE, msg + 1,
		    (long long)s->md.msg[msg].size);
		return;
	}
	count = pop3_command_live(s, &octets);
	pop3_reply(s, P_LIST_ALL, count, count == 1 ? "" : "s", octets);
	for (i = 0; i < s->md.n; i++) {
		if (s->md.msg[i].deleted)
			continue;
		pop3_reply_line(s, line, (size_t)snprintf(line, sizeof(line),
		    "%zu %lld", i + 1, (long long)s->md.msg[i].size));
	}
	pop3_reply_end(s);
}

/* UIDL [msg] (RFC 1939 7): the queue ID, stable across restarts. */
static void
cmd_uidl(struct pop3_session *s, char *args, size_t msg, long long n)
{
	char	line[64];
	size_t	i;

	if (msg != (size_t)-1) {
		pop3_reply(s, P_UIDL_ONE, msg + 1, s->md.msg[msg].qid);
		return;
	}
	pop3_reply(s, P_UIDL_ALL);
	for (i = 0; i < s->md.n; i++) {
		if (s->md.msg[i].deleted)
			continue;
		pop3_reply_line(s, line, (size_t)snprintf(line, sizeof(line),
		    "%zu %s", i + 1, s->md.msg[i].qid));
	}
	pop3_reply_end(s);
}

/* RETR msg (RFC 1939 5): the whole message, streamed. */
static void
cmd_retr(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_session_retr(s, msg, 0, 0);
}

/* TOP msg n (RFC 1939 7): the header, the empty line, n body lines. */
static void
cmd_top(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_session_retr(s, msg, 1, n);
}

/* DELE msg (RFC 1939 5): marked now, removed at QUIT. */
static void
cmd_dele(struct pop3_session *s, char *args, size_t msg, long long n)
{
	s->md.msg[msg].deleted = 1;
	pop3_reply(s, P_DELE, msg + 1);
}

/* NOOP (RFC 1939 5). */
static void
cmd_noop(struct pop3_session *s, char *args, size_t msg, long long n)
{
	pop3_reply(s, P_NOOP);
}

/* RSET (RFC 1939 5): unmark every deleted message. */
static void
cmd_rset(struct pop3_session *s, char *args, size_t msg, long long n)
{
	long long	octets;
	size_t		i, count;

	for (i = 0; i < s->md.n; i++)
		s->md.msg[i].deleted = 0;
	count = pop3_command_live(s, &octets);
	pop3_reply(s, P_RSET, count, count == 1 ? "" : "s", octets);
}

/*
 * QUIT (RFC 1939 4 and 6): in AUTHORIZATION just goodbye; in
 * TRANSACTION, the UPDATE state removes the deleted messages.
 */
static void
cmd_quit(struct pop3_session *s, char *args, size_t msg, long long n)
{
	if (s->state == POP3_TRANSACTION) {
		pop3_session_update(s);
		return;
	}
	pop3_reply(s, P_QUIT, cfg->hostname);
}

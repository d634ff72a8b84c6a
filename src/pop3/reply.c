/*
 * reply.c: every POP3 reply, written once.  Each row is +OK or -ERR, an
 * RFC 2449 8 response code in brackets where one applies ([AUTH],
 * [IN-USE], [SYS/TEMP], [SYS/PERM], RFC 3206), and a text a person at a
 * terminal understands; some texts take printf arguments.  pop3_reply()
 * is the single sink: it formats, logs failures with the command that
 * caused them (never a password), counts errors toward max_errors, and
 * closes the session after a reply that ends it.  Multi-line replies
 * (RFC 1939 3) send their lines through pop3_reply_line(), which
 * byte-stuffs, and end with pop3_reply_end().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

/* The replies, indexed by id; .closes ends the session (its reason=). */
static const struct pop3_reply_row replies[P_MAX] = {
	[P_GREETING] = { 1, NULL, "%s POP3 server (mxd) ready", NULL },
	[P_CAPA] = { 1, NULL, "Capability list follows", NULL },
	[P_USER_OK] = { 1, NULL, "Hello %s; now send PASS <password>", NULL },
	[P_LOGGED_IN] = { 1, NULL,
	    "Logged in as %s; maildrop has %zu message%s (%lld octets)", NULL },
	/* RFC 1939 5: exactly "+OK nn mm" for STAT and for LIST n. */
	[P_STAT] = { 1, NULL, "%zu %lld", NULL },
	[P_LIST_ONE] = { 1, NULL, "%zu %lld", NULL },
	[P_LIST_ALL] = { 1, NULL, "%zu message%s (%lld octets)", NULL },
	[P_UIDL_ONE] = { 1, NULL, "%zu %s", NULL },
	[P_UIDL_ALL] = { 1, NULL, "Unique IDs follow", NULL },
	[P_RETR] = { 1, NULL, "%lld octets follow", NULL },
	[P_TOP] = { 1, NULL, "Top of message %zu follows", NULL },
	[P_DELE] = { 1, NULL, "Message %zu deleted", NULL },
	[P_NOOP] = { 1, NULL, "Nothing done", NULL },
	[P_RSET] = { 1, NULL, "Maildrop has %zu message%s (%lld octets); "
	    "nothing is deleted", NULL },
	[P_QUIT] = { 1, NULL, "%s POP3 server signing off", "quit" },
	[P_QUIT_UPDATE] = { 1, NULL, "%s POP3 server signing off (%zu "
	    "deleted, %zu left)", "quit" },
	[P_STLS] = { 1, NULL, "Begin TLS negotiation now", NULL },
	[P_AUTH_LIST] = { 1, NULL, "Mechanisms follow", NULL },
	[P_UNKNOWN_CMD] = { 0, NULL,
	    "Unknown command \"%s\"; the commands are %s", NULL },
	[P_NEED_LOGIN] = { 0, NULL, "%s is for after logging in: USER "
	    "<name> then PASS <password>, or AUTH", NULL },
	[P_LOGGED_IN_ALREADY] = { 0, NULL, "%s is for before logging in; "
	    "you are logged in as %s", NULL },
	[P_SYNTAX] = { 0, NULL, "Syntax: %s", NULL },
	[P_NO_SUCH_MSG] = { 0, NULL, "There is no message %s; this "
	    "maildrop has messages 1 to %zu", NULL },
	[P_NO_MESSAGES] = { 0, NULL, "There is no message %s; this "
	    "maildrop is empty", NULL },
	[P_DELETED] = { 0, NULL,
	    "Message %zu is deleted (RSET undeletes it)", NULL },
	[P_MSG_GONE] = { 0, "SYS/PERM",
	    "Message %zu was removed by another program", NULL },
	[P_PASS_FIRST] = { 0, NULL, "PASS comes after USER <name>", NULL },
	[P_APOP] = { 0, NULL, "APOP is not supported here: use USER and "
	    "PASS, or AUTH", NULL },
	[P_LINE_TOO_LONG] = { 0, NULL,
	    "Line too long (limit is 255 octets with CRLF)", NULL },
	[P_BAD_CHAR] = { 0, NULL, "Control character in command; commands "
	    "are plain text lines", NULL },
	[P_LINE_FLOOD] = { 0, NULL,
	    "%zu octets without a line end; closing", "line-flood" },
	[P_TOO_MANY_ERRORS] = { 0, NULL, "Too many errors; closing",
	    "too-many-errors" },
	[P_TIMEOUT] = { 0, NULL, "Idle for too long; closing, nothing "
	    "deleted", "timeout" },
	[P_SHUTDOWN] = { 0, "SYS/TEMP", "Server shutting down; nothing "
	    "deleted, try again later", "shutdown" },
	[P_TOO_MANY_CONNS] = { 0, "SYS/TEMP", "Too many connections; try "
	    "again later", "too-many-connections" },
	[P_NO_DESCRIPTORS] = { 0, "SYS/TEMP", "Server busy (out of file "
	    "descriptors); try again later", "no-descriptors" },
	[P_NOT_POP3] = { 0, NULL, "That was %s; closing", "not-pop3" },
	[P_STLS_ACTIVE] = { 0, NULL, "TLS is already on", NULL },
	[P_STLS_UNAVAILABLE] = { 0, NULL, "STLS is not available here: "
	    "this server has no TLS certificate (tls_cert)", NULL },
	[P_NEED_TLS] = { 0, "AUTH", "Passwords in plaintext need TLS here: "
	    "%s", NULL },
	[P_AUTH_FAILED] = { 0, "AUTH", "Authentication failed", NULL },
	[P_AUTH_TOO_MANY] = { 0, "AUTH", "Too many failed logins; closing",
	    "auth-failures" },
	[P_AUTH_UNKNOWN_MECH] = { 0, NULL, "Mechanism not available; CAPA "
	    "lists them (SASL)", NULL },
	[P_AUTH_CANCELLED] = { 0, NULL, "Authentication cancelled", NULL },
	[P_AUTH_BAD_BASE64] = { 0, NULL, "Not valid base64", NULL },
	[P_AUTH_TOO_LONG] = { 0, NULL, "AUTH line too long (limit is 12288 "
	    "octets)", NULL },
	[P_AUTH_TEMP] = { 0, "SYS/TEMP", "Authentication is not working "
	    "right now; try again later", NULL },
	[P_AUTH_TOO_WEAK] = { 0, "AUTH", "That mechanism is too weak here",
	    NULL },
	[P_IN_USE] = { 0, "IN-USE", "The maildrop of %s is open in another "
	    "session; try again when that one ends", NULL },
	[P_MAILDROP_ERROR] = { 0, "SYS/TEMP", "Cannot read the maildrop: %s",
	    NULL },
	[P_UPDATE_FAILED] = { 0, "SYS/TEMP", "%zu deleted messages could "
	    "not be removed and stay in the maildrop; signing off",
	    "update-failed" },
};

/* The row for id (the unit test reads every row). */
const struct pop3_reply_row *
pop3_reply_row(enum pop3_reply_id id)
{
	return (&replies[id]);
}

/*
 * Format reply id into buf (at most len octets, CRLF included, cut to
 * fit); returns the length.
 */
static size_t
pop3_reply_vformat(char *buf, size_t len, enum pop3_reply_id id, va_list ap)
{
	const struct pop3_reply_row	*r = &replies[id];
	int				 n;
	size_t				 o;

	n = snprintf(buf, len - 2, "%s%s%s%s", r->ok ? "+OK" : "-ERR",
	    r->code != NULL ? " [" : "", r->code != NULL ? r->code : "",
	    r->code != NULL ? "]" : "");
	o = (size_t)n;
	if (r->text[0] != '\0') {
		buf[o++] = ' ';
		n = vsnprintf(buf + o, len - 2 - o, r->text, ap);
		o += (size_t)n < len - 2 - o ? (size_t)n : len - 3 - o;
	}
	buf[o++] = '\r';
	buf[o++] = '\n';
	return (o);
}

/* Format reply id into buf[len] (the listener's busy line). */
size_t
pop3_reply_format(char *buf, size_t len, enum pop3_reply_id id, ...)
{
	va_list	ap;
	size_t	n;

	va_start(ap, id);
	n = pop3_reply_vformat(buf, len, id, ap);
	va_end(ap);
	return (n);
}

/* Log a -ERR with the command that caused it; PASS and AUTH masked. */
static void
pop3_reply_log(struct pop3_session *s, const char *line, size_t n)
{
	char	cmd[POP3_CMD_MAX * 4 + 1], rep[1024];

	if (strncasecmp(s->line, "PASS", 4) == 0 && (s->line[4] == ' ' ||
	    s->line[4] == '\0'))
		snprintf(cmd, sizeof(cmd), "PASS ****");
	else if (strncasecmp(s->line, "AUTH ", 5) == 0 &&
	    strchr(s->line + 5, ' ') != NULL)
		snprintf(cmd, sizeof(cmd), "AUTH %.*s ****",
		    (int)strcspn(s->line + 5, " "), s->line + 5);
	else
		log_escape(s->line, strlen(s->line), cmd, sizeof(cmd));
	log_escape(line, n - 2, rep, sizeof(rep));
	log_info("s=%08llx pop3 reject client=[%s]:%d cmd=\"%s\" reply=\"%s\"",
	    (unsigned long long)s->id, s->addr, s->port, cmd, rep);
}

/*
 * Send reply id: the one sink.  A -ERR is logged and counted toward
 * max_errors; a reply that closes ends the session once it has left.
 */
void
pop3_reply(struct pop3_session *s, enum pop3_reply_id id, ...)
{
	char	line[1024];
	va_list	ap;
	size_t	n;

	va_start(ap, id);
	n = pop3_reply_vformat(line, sizeof(line), id, ap);
	va_end(ap);
	pop3_session_write(s, line, n);
	if (!replies[id].ok)
		pop3_reply_log(s, line, n);
	if (replies[id].closes != NULL) {
		s->quit_reason = replies[id].closes;
		pop3_session_enter_state(s, POP3_CLOSING);
		return;
	}
	if (!replies[id].ok)
		pop3_reply_count_error(s);
}

/* Count one error; past max_errors, say so and close. */
void
pop3_reply_count_error(struct pop3_session *s)
{
	if (s->state != POP3_CLOSING &&
	    ++s->nerr >= (unsigned)cfg->max_errors)
		pop3_reply(s, P_TOO_MANY_ERRORS);
}

/*
 * One line of a multi-line reply, without its line end: a line that
 * begins with '.' gets another in front (RFC 1939 3).
 */
void
pop3_reply_line(struct pop3_session *s, const char *text, size_t len)
{
	if (len > 0 && text[0] == '.')
		pop3_session_write(s, ".", 1);
	pop3_session_write(s, text, len);
	pop3_session_write(s, "\r\n", 2);
}

/* The end of a multi-line reply: a line with only '.'. */
void
pop3_reply_end(struct pop3_session *s)
{
	pop3_session_write(s, ".\r\n", 3);
}

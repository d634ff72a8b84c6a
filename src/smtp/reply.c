/*
 * reply.c: every SMTP reply, written once.  Each row is a reply code, an
 * RFC 3463 enhanced status code and a text a person can understand; some
 * texts take printf arguments.  reply() is the single sink: it formats,
 * logs failures with the command that caused them, counts errors, and
 * closes the session after a 421.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

/*
 * The replies, indexed by id.  .closes is set on a reply after which
 * the session ends: the reason= of its disconnect line.
 */
static const struct reply_row replies[R_MAX] = {
	[R_GREETING] = { .code = 220, .esc = NULL,
	    .text = "%s ESMTP mxd" },
	[R_HELO] = { .code = 250, .esc = NULL,
	    .text = "%s Hello %s [%s], pleased to meet you" },
	[R_SENDER_OK] = { .code = 250, .esc = "2.1.0",
	    .text = "Sender <%s> ok" },
	[R_RCPT_OK] = { .code = 250, .esc = "2.1.5",
	    .text = "Recipient <%s> ok" },
	[R_RESET] = { .code = 250, .esc = "2.0.0",
	    .text = "Reset state" },
	[R_NOOP] = { .code = 250, .esc = "2.0.0",
	    .text = "Ok, nothing done" },
	[R_QUIT] = { .code = 221, .esc = "2.0.0",
	    .text = "%s closing connection, goodbye",
	    .closes = "quit" },
	[R_VRFY] = { .code = 252, .esc = "2.5.0",
	    .text = "Cannot VRFY user, but will accept message "
	    "and attempt delivery" },
	[R_DATA_GO] = { .code = 354, .esc = NULL,
	    .text = "End data with <CR><LF>.<CR><LF>" },
	[R_DATA_GO_BARE_LF] = { .code = 354, .esc = NULL,
	    .text = "End data with <CR><LF>.<CR><LF>. "
	    "Your lines end in bare LF, so a lone '.' will NOT end the message; "
	    "use 'nc -C' or telnet, which send CRLF" },
	[R_DATA_GO_BARE_LF_LAB] = { .code = 354, .esc = NULL,
	    .text = "End data with <CR><LF>.<CR><LF>; "
	    "lab mode (bare_lf_end): a lone '.' on a bare-LF line ends it too" },
	[R_QUEUED] = { .code = 250, .esc = "2.0.0",
	    .text = "Ok: queued as %s" },
	[R_UNKNOWN_CMD] = { .code = 500, .esc = "5.5.2",
	    .text = "Command unrecognized: \"%s\"; "
	    "try HELP" },
	[R_NOT_IMPLEMENTED] = { .code = 502, .esc = "5.5.1",
	    .text = "%s is not implemented here" },
	[R_NOT_AVAILABLE] = { .code = 502, .esc = "5.5.1",
	    .text = "%s is not available here: %s" },
	[R_LINE_TOO_LONG] = { .code = 500, .esc = "5.5.2",
	    .text = "Line too long (limit is 512 "
	    "octets with CRLF)" },
	[R_BAD_CHAR] = { .code = 500, .esc = "5.5.2",
	    .text = "Control character in command; "
	    "commands are plain text lines" },
	[R_NEED_ARGS] = { .code = 501, .esc = "5.5.4",
	    .text = "Syntax: %s" },
	[R_NO_ARGS] = { .code = 501, .esc = "5.5.4",
	    .text = "Syntax: %s (no arguments)" },
	[R_MAIL_SYNTAX] = { .code = 501, .esc = "5.5.4",
	    .text = "Syntax: MAIL FROM:<address> "
	    "[SIZE=n] [BODY=8BITMIME] [SMTPUTF8]" },
	[R_RCPT_SYNTAX] = { .code = 501, .esc = "5.5.4",
	    .text = "Syntax: RCPT TO:<address>" },
	[R_PATH_TOO_LONG] = { .code = 501, .esc = "5.1.3",
	    .text = "Recipient address too long (limit "
	    "is 256 octets, 64 before the @)" },
	[R_SENDER_TOO_LONG] = { .code = 501, .esc = "5.1.7",
	    .text = "Sender address too long (limit "
	    "is 256 octets, 64 before the @)" },
	[R_NEED_SMTPUTF8] = { .code = 553, .esc = "5.6.7",
	    .text = "Non-ASCII address needs the "
	    "SMTPUTF8 parameter on MAIL" },
	[R_NULL_RCPT] = { .code = 501, .esc = "5.1.3",
	    .text = "The null path <> is only for senders" },
	[R_BAD_SENDER_WHY] = { .code = 501, .esc = "5.1.7",
	    .text = "Sender address %s" },
	[R_BAD_RCPT_WHY] = { .code = 501, .esc = "5.1.3",
	    .text = "Recipient address %s" },
	[R_NEED_HELO] = { .code = 503, .esc = "5.5.1",
	    .text = "Say HELO or EHLO first" },
	[R_NEED_MAIL] = { .code = 503, .esc = "5.5.1",
	    .text = "Need MAIL FROM before %s" },
	[R_NEED_RCPT] = { .code = 503, .esc = "5.5.1",
	    .text = "Need RCPT TO before DATA" },
	[R_NESTED_MAIL] = { .code = 503, .esc = "5.5.1",
	    .text = "Sender already given; "
	    "use RSET to start over" },
	[R_PARAM_UNKNOWN] = { .code = 555, .esc = "5.5.4",
	    .text = "Unsupported parameter \"%s\"" },
	[R_PARAM_BAD] = { .code = 501, .esc = "5.5.4",
	    .text = "Bad value for parameter \"%s\"" },
	[R_SIZE_EXCEEDED] = { .code = 552, .esc = "5.3.4",
	    .text = "Message size exceeds the limit "
	    "of %zu octets" },
	[R_MSG_TOO_BIG] = { .code = 552, .esc = "5.3.4",
	    .text = "Message too big; the limit is "
	    "%zu octets; nothing was kept" },
	[R_TOO_MANY_RCPTS] = { .code = 452, .esc = "4.5.3",
	    .text = "Too many recipients; "
	    "send the rest in another message" },
	[R_RELAY_DENIED] = { .code = 550, .esc = "5.7.1",
	    .text = "Relay access denied: "
	    "this server does not accept mail for <%s>" },
	[R_SPOOL_FULL] = { .code = 452, .esc = "4.3.1",
	    .text = "Insufficient system storage; "
	    "try again later" },
	[R_SPOOL_ERROR] = { .code = 451, .esc = "4.3.0",
	    .text = "Local error writing the message; "
	    "try again later" },
	[R_HELP_UNKNOWN] = { .code = 504, .esc = "5.5.1",
	    .text = "No help for \"%s\"; HELP lists "
	    "the commands" },
	[R_SHUTDOWN] = { .code = 421, .esc = "4.3.2",
	    .text = "%s shutting down; try again later",
	    .closes = "shutdown" },
	[R_TIMEOUT] = { .code = 421, .esc = "4.4.2",
	    .text = "%s timeout: closing connection",
	    .closes = "timeout" },
	[R_STARTTLS_GO] = { .code = 220, .esc = "2.0.0",
	    .text = "Ready to start TLS" },
	[R_TLS_TWICE] = { .code = 503, .esc = "5.5.1",
	    .text = "TLS is already active" },
	[R_AUTH_REQUIRED] = { .code = 530, .esc = "5.7.0",
	    .text = "Authentication required: this is "
	    "the submission port; use AUTH first" },
	[R_AUTH_OK] = { .code = 235, .esc = "2.7.0",
	    .text = "Authentication successful" },
	[R_AUTH_CHALLENGE] = { .code = 334, .esc = NULL,
	    .text = "%s" },
	[R_AUTH_FAILED] = { .code = 535, .esc = "5.7.8",
	    .text = "Authentication credentials invalid" },
	[R_AUTH_TOO_MANY] = { .code = 421, .esc = "4.7.0",
	    .text = "Too many failed authentications; "
	    "closing connection",
	    .closes = "auth-failures" },
	[R_AUTH_CANCELLED] = { .code = 501, .esc = "5.7.0",
	    .text = "Authentication cancelled" },
	[R_AUTH_BAD_BASE64] = { .code = 501, .esc = "5.5.2",
	    .text = "Invalid base64 in AUTH data" },
	[R_AUTH_TOO_LONG] = { .code = 500, .esc = "5.5.6",
	    .text = "Authentication exchange line is "
	    "too long (limit is 12288 octets); authentication cancelled" },
	[R_AUTH_TWICE] = { .code = 503, .esc = "5.5.1",
	    .text = "Already authenticated" },
	[R_AUTH_IN_TX] = { .code = 503, .esc = "5.5.1",
	    .text = "AUTH is not allowed during a mail "
	    "transaction" },
	[R_AUTH_UNKNOWN_MECH] = { .code = 504, .esc = "5.5.4",
	    .text = "Unrecognized authentication "
	    "mechanism; EHLO lists the ones offered" },
	[R_AUTH_NEED_TLS] = { .code = 538, .esc = "5.7.11",
	    .text = "Encryption required for requested "
	    "authentication mechanism; use STARTTLS first" },
	[R_AUTH_TEMP] = { .code = 454, .esc = "4.7.0",
	    .text = "Temporary authentication failure: "
	    "the server cannot check credentials now; try again later" },
	[R_AUTH_TRANSITION] = { .code = 432, .esc = "4.7.12",
	    .text = "A password transition is "
	    "needed: authenticate once with PLAIN over TLS" },
	[R_AUTH_TOO_WEAK] = { .code = 534, .esc = "5.7.9",
	    .text = "Authentication mechanism is too "
	    "weak; EHLO lists the ones offered" },
	[R_AUTH_NEED_TLS_NONE] = { .code = 538, .esc = "5.7.11",
	    .text = "%s sends the password in "
	    "clear and this server has no TLS here (tls_cert); %s" },
	[R_AUTH_REQUIRED_STARTTLS] = { .code = 530, .esc = "5.7.0",
	    .text = "Authentication required: "
	    "this is the submission port; use STARTTLS, then AUTH" },
	[R_AUTH_REQUIRED_NONE] = { .code = 530, .esc = "5.7.0",
	    .text = "Authentication required: "
	    "this is the submission port, but no authentication mechanism is "
	    "usable on this connection" },
	[R_TOO_MANY_CONNS] = { .code = 421, .esc = "4.7.0",
	    .text = "%s Too many connections; "
	    "try again later",
	    .closes = "too-many-connections" },
	[R_NO_DESCRIPTORS] = { .code = 421, .esc = "4.3.2",
	    .text = "%s Out of file descriptors; "
	    "try again later",
	    .closes = "no-descriptors" },
	[R_TOO_MANY_ERRORS] = { .code = 421, .esc = "4.7.0",
	    .text = "%s Too many errors; closing "
	    "connection",
	    .closes = "too-many-errors" },
	[R_TOO_MANY_MESSAGES] = { .code = 421, .esc = "4.7.0",
	    .text = "%s Too many messages in one "
	    "session; reconnect to send more",
	    .closes = "too-many-messages" },
	[R_PREGREET] = { .code = 554, .esc = "5.5.0",
	    .text = "%s Protocol error: you talked before "
	    "the greeting; closing connection",
	    .closes = "pregreet" },
	[R_NOT_SMTP] = { .code = 221, .esc = "2.7.0",
	    .text = "%s This is an SMTP server, and that "
	    "was %s; closing connection",
	    .closes = "not-smtp" },
	[R_LINE_FLOOD] = { .code = 421, .esc = "4.7.0",
	    .text = "%s Line far too long: no line end "
	    "%zu octets past the limit; closing connection",
	    .closes = "line-flood" },
	[R_FAULT_450] = { .code = 450, .esc = "4.2.1",
	    .text = "<%s> refused on purpose: +fail-450 asks for it (sink_faults)" },
	[R_FAULT_451] = { .code = 451, .esc = "4.3.0",
	    .text = "<%s> refused on purpose: +fail-451 asks for it (sink_faults)" },
	[R_FAULT_452] = { .code = 452, .esc = "4.2.2",
	    .text = "<%s> refused on purpose: +fail-452 asks for it (sink_faults)" },
	[R_FAULT_550] = { .code = 550, .esc = "5.1.1",
	    .text = "<%s> refused on purpose: +fail-550 asks for it (sink_faults)" },
	[R_FAULT_551] = { .code = 551, .esc = "5.1.6",
	    .text = "<%s> refused on purpose: +fail-551 asks for it (sink_faults)" },
	[R_FAULT_552] = { .code = 552, .esc = "5.2.2",
	    .text = "<%s> refused on purpose: +fail-552 asks for it (sink_faults)" },
	[R_FAULT_553] = { .code = 553, .esc = "5.1.3",
	    .text = "<%s> refused on purpose: +fail-553 asks for it (sink_faults)" },
	[R_FAULT_554] = { .code = 554, .esc = "5.7.1",
	    .text = "<%s> refused on purpose: +fail-554 asks for it (sink_faults)" },
	[R_FAULT_DATA_451] = { .code = 451, .esc = "4.3.0",
	    .text = "Not stored, on purpose: "
	    "+fail-data-451 asks for it (sink_faults)" },
	[R_FAULT_DATA_452] = { .code = 452, .esc = "4.3.1",
	    .text = "Not stored, on purpose: "
	    "+fail-data-452 asks for it (sink_faults)" },
	[R_FAULT_DATA_552] = { .code = 552, .esc = "5.3.4",
	    .text = "Not stored, on purpose: "
	    "+fail-data-552 asks for it (sink_faults)" },
	[R_FAULT_DATA_554] = { .code = 554, .esc = "5.6.0",
	    .text = "Not stored, on purpose: "
	    "+fail-data-554 asks for it (sink_faults)" },
	[R_FAULT_UNKNOWN] = { .code = 501, .esc = "5.1.3",
	    .text = "<%s> asks for no fault this server knows: use "
	    "+fail-NNN, +fail-data-NNN, +delay-Ns or +drop (sink_faults)" },
	[R_NO_SUCH_USER] = { .code = 550, .esc = "5.1.1",
	    .text = "No such user here: <%s> is not a mailbox of this "
	    "server; check the spelling of the address" },
	[R_NO_SUCH_USER_STORE] = { .code = 550, .esc = "5.1.1",
	    .text = "No such user here: <%s> is not a mailbox of this "
	    "server (the mail store says: %s)" },
	[R_RCPT_TEMPFAIL] = { .code = 451, .esc = "4.4.3",
	    .text = "Cannot check <%s> with the mail store now; "
	    "try again later" },
	[R_CHAOS_450] = { .code = 450, .esc = "4.2.0",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_451] = { .code = 451, .esc = "4.3.0",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_452] = { .code = 452, .esc = "4.3.1",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_454] = { .code = 454, .esc = "4.7.0",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_535] = { .code = 535, .esc = "5.7.8",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_550] = { .code = 550, .esc = "5.7.1",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_551] = { .code = 551, .esc = "5.7.1",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_552] = { .code = 552, .esc = "5.3.4",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_553] = { .code = 553, .esc = "5.7.1",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
	[R_CHAOS_554] = { .code = 554, .esc = "5.7.1",
	    .text = "Chaos %s error, on purpose: the chaos trigger set by "
	    "PUT /api/v1/chaos (sink_faults)" },
};

/* The table's row for id, or NULL if it has none (for the unit test). */
const struct reply_row *
reply_row(enum reply_id id)
{
	if ((unsigned)id >= R_MAX || replies[id].text == NULL)
		return (NULL);
	return (&replies[id]);
}

/* Log a failed command with the escaped text that caused it. */
static void
reply_log_failure(struct session *s, const char *line)
{
	char	cmd[SMTP_CMD_MAX * 4 + 1];

	log_escape(s->line, strnlen(s->line, SMTP_CMD_MAX), cmd, sizeof(cmd));
	log_info("s=%08llx reject client=[%s] reply=\"%s\" command=\"%s\"",
	    (unsigned long long)s->id, s->addr, log_str(line), cmd);
}

/*
 * Cap a formatted reply line of n octets (RFC 5321 4.5.3.1.5: 512 with
 * the CRLF), send it with its CRLF, and leave line NUL-terminated
 * without it.  line must have room for SMTP_CMD_MAX + 2 octets.
 */
static void
reply_put(struct session *s, char *line, int n)
{
	if (n < 0 || n > SMTP_CMD_MAX - 2)
		n = SMTP_CMD_MAX - 2;
	memcpy(line + n, "\r\n", 2);
	session_write(s, line, (size_t)n + 2);
	line[n] = '\0';
}

/* Format a reply's text (no code) from the table into buf. */
static void
reply_vtext(char *buf, size_t len, enum reply_id id, va_list ap)
{
	if (id >= R_MAX || replies[id].text == NULL)
		fatalx("reply: no row for reply %d", id);
	vsnprintf(buf, len, replies[id].text, ap);
}

/* The same, for callers that build a multi-line reply around it. */
void
reply_text(char *buf, size_t len, enum reply_id id, ...)
{
	va_list	ap;

	va_start(ap, id);
	reply_vtext(buf, len, id, ap);
	va_end(ap);
}

/*
 * Format a whole reply line (no CRLF) into line (len > 16); like
 * snprintf, returns the length it would have had.  The code and the
 * enhanced code are copied in, the text formatted after them: one
 * printf pass per reply, not two.
 */
static int
reply_vformat(char *line, size_t len, enum reply_id id, va_list ap)
{
	const char	*esc;
	size_t		 n = 0, elen;
	int		 code, m;

	if (id >= R_MAX || replies[id].text == NULL)
		fatalx("reply: no row for reply %d", id);
	code = replies[id].code;
	if (code < 100 || code > 999)
		fatalx("reply: code %d of reply %d", code, id);
	line[n++] = (char)('0' + code / 100);
	line[n++] = (char)('0' + code / 10 % 10);
	line[n++] = (char)('0' + code % 10);
	line[n++] = ' ';
	if ((esc = replies[id].esc) != NULL &&
	    (elen = strlen(esc)) + n + 1 < len) {
		memcpy(line + n, esc, elen);
		n += elen;
		line[n++] = ' ';
	}
	m = vsnprintf(line + n, len - n, replies[id].text, ap);
	return (m < 0 ? m : (int)n + m);
}

/*
 * A reply line with its CRLF for a connection that has no session (the
 * listener's last-ditch 421); returns its length.  buf must have room
 * for SMTP_CMD_MAX + 2 octets.
 */
size_t
reply_line(char *buf, enum reply_id id, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, id);
	n = reply_vformat(buf, SMTP_CMD_MAX, id, ap);
	va_end(ap);
	if (n < 0 || n > SMTP_CMD_MAX - 2)
		n = SMTP_CMD_MAX - 2;
	memcpy(buf + n, "\r\n", 2);
	return ((size_t)n + 2);
}

/*
 * The first command that ended in a bare LF gets this note after its
 * reply, as continuation lines: a person typing into plain `nc` must
 * learn it before DATA, where a lone "." will not end the message and
 * only Ctrl-C gets them out (RFC 5321 2.3.8: lines end in CRLF).
 */
static const char *const reply_bare_lf_note[] = {
	"Note: your lines end in a bare LF, not CRLF (RFC 5321 2.3.8).",
	"Commands work, but after DATA a lone '.' will NOT end the message.",
	"Use 'nc -C' or telnet (CRLF), or the lab setting bare_lf_end = yes.",
};

/*
 * Is the bare-LF note due after this reply?  Not on a 334 (its one line
 * is the SASL challenge) or a 354 (the bare-LF 354 says it itself).
 */
static int
reply_note_due(const struct session *s, int code)
{
	return ((s->flags & (SESSION_F_BARE_LF | SESSION_F_BARE_LF_TOLD)) ==
	    SESSION_F_BARE_LF && s->line[0] != '\0' && code != 334 &&
	    code != 354);
}

/* Write the bare-LF note as the last lines of a reply with this code. */
static void
reply_note(struct session *s, int code, const char *esc)
{
	char	line[SMTP_CMD_MAX + 2];
	size_t	i, n = sizeof(reply_bare_lf_note) /
		    sizeof(reply_bare_lf_note[0]);

	s->flags |= SESSION_F_BARE_LF_TOLD;
	for (i = 0; i < n; i++)
		reply_put(s, line, snprintf(line, sizeof(line) - 2,
		    "%d%c%s%s%s", code, i + 1 < n ? '-' : ' ', esc ? esc : "",
		    esc ? " " : "", reply_bare_lf_note[i]));
}

/*
 * Does a failure reply now refuse mail: a recipient (RCPT), or a message
 * (DATA, or its end)?  For SMTPRejected in /api/v1/info (stats.c).
 */
static int
reply_refuses_mail(const struct session *s)
{
	return (s->state == STATE_DATA || strncasecmp(s->line, "RCPT", 4) ==
	    0 || strncasecmp(s->line, "DATA", 4) == 0);
}

/* Send a reply from the table; arguments fill the text's conversions. */
void
reply(struct session *s, enum reply_id id, ...)
{
	char	 line[SMTP_CMD_MAX + 2];
	va_list	 ap;
	int	 n, note;

	va_start(ap, id);
	n = reply_vformat(line, sizeof(line) - 2, id, ap);
	va_end(ap);
	if ((note = reply_note_due(s, replies[id].code)))
		line[3] = '-';
	reply_put(s, line, n);
	if (note) {
		line[3] = ' ';
		reply_note(s, replies[id].code, replies[id].esc);
	}
	if (replies[id].code >= 400)
		reply_log_failure(s, line);
	if (replies[id].code >= 400 && replies[id].closes == NULL &&
	    reply_refuses_mail(s))
		stats_rejected();
	if (replies[id].closes != NULL) {
		s->quit_reason = replies[id].closes;
		session_enter_state(s, STATE_QUIT);
		return;
	}
	/*
	 * A client that sends more recipients than max_recipients is doing
	 * what RFC 5321 4.5.3.1.10 expects; cmd_rcpt() counts only the
	 * overshoot.
	 */
	if (replies[id].code >= 400 && id != R_TOO_MANY_RCPTS)
		reply_count_error(s);
}

/*
 * Count one error toward max_errors (Postfix's hard error limit: a
 * client that keeps failing goes).  Also for what gets no error reply
 * but wastes the session: junk commands, recipients far past the limit.
 */
void
reply_count_error(struct session *s)
{
	if (s->state != STATE_QUIT && ++s->nerr >= (unsigned)cfg->max_errors)
		reply(s, R_TOO_MANY_ERRORS, cfg->hostname);
}

/*
 * Send a multi-line reply: `code-` on every line but the last.  esc, if
 * not NULL, goes on every line (RFC 2034 4).
 */
void
reply_lines(struct session *s, int code, const char *esc,
    const char *const *lines, size_t n)
{
	char	line[SMTP_CMD_MAX + 2];
	size_t	i;
	int	note = reply_note_due(s, code);

	for (i = 0; i < n; i++)
		reply_put(s, line, snprintf(line, sizeof(line) - 2,
		    "%d%c%s%s%s", code, i + 1 < n || note ? '-' : ' ',
		    esc ? esc : "", esc ? " " : "", lines[i]));
	if (note)
		reply_note(s, code, esc);
}

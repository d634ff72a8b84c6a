/*
 * reply.c: every SMTP reply, written once.  Each row is a reply code, an
 * RFC 3463 enhanced status code and a text a person can understand; some
 * texts take printf arguments.  reply() is the single sink: it formats,
 * logs failures with the command that caused them, counts errors, and
 * closes the session after a 421.
 */
#include <stdio.h>
#include <string.h>

#include "mxd.h"

static const struct {
	enum reply_id	 id;
	int		 code;
	const char	*esc;
	const char	*text;
} replies[R_MAX] = {
	{ R_GREETING, 220, NULL, "%s ESMTP mxd" },
	{ R_HELO, 250, NULL, "%s Hello %s [%s], pleased to meet you" },
	{ R_SENDER_OK, 250, "2.1.0", "Sender <%s> ok" },
	{ R_RCPT_OK, 250, "2.1.5", "Recipient <%s> ok" },
	{ R_RESET, 250, "2.0.0", "Reset state" },
	{ R_NOOP, 250, "2.0.0", "Ok, nothing done" },
	{ R_QUIT, 221, "2.0.0", "%s closing connection, goodbye" },
	{ R_VRFY, 252, "2.5.0", "Cannot VRFY user, but will accept message "
	  "and attempt delivery" },
	{ R_DATA_GO, 354, NULL, "End data with <CR><LF>.<CR><LF>" },
	{ R_DATA_GO_BARE_LF, 354, NULL, "End data with <CR><LF>.<CR><LF>. "
	  "Your lines end in bare LF, so a lone '.' will NOT end the message; "
	  "use 'nc -C' or telnet, which send CRLF" },
	{ R_DATA_GO_BARE_LF_LAB, 354, NULL, "End data with <CR><LF>.<CR><LF>; "
	  "lab mode (bare_lf_end): a lone '.' on a bare-LF line ends it too" },
	{ R_QUEUED, 250, "2.0.0", "Ok: queued as %s" },
	{ R_UNKNOWN_CMD, 500, "5.5.2", "Command unrecognized: \"%s\"; "
	  "try HELP" },
	{ R_NOT_IMPLEMENTED, 502, "5.5.1", "%s is not implemented here" },
	{ R_NOT_AVAILABLE, 502, "5.5.1", "%s is not available here: %s" },
	{ R_LINE_TOO_LONG, 500, "5.5.2", "Line too long (limit is 512 "
	  "octets with CRLF)" },
	{ R_BAD_CHAR, 500, "5.5.2", "Control character in command; "
	  "commands are plain text lines" },
	{ R_NEED_ARGS, 501, "5.5.4", "Syntax: %s" },
	{ R_NO_ARGS, 501, "5.5.4", "Syntax: %s (no arguments)" },
	{ R_MAIL_SYNTAX, 501, "5.5.4", "Syntax: MAIL FROM:<address> "
	  "[SIZE=n] [BODY=8BITMIME] [SMTPUTF8]" },
	{ R_RCPT_SYNTAX, 501, "5.5.4", "Syntax: RCPT TO:<address>" },
	{ R_BAD_SENDER, 501, "5.1.7", "Bad sender address syntax: "
	  "want user@domain, or <> for bounces" },
	{ R_BAD_RCPT, 501, "5.1.3", "Bad recipient address syntax: "
	  "want user@domain" },
	{ R_PATH_TOO_LONG, 501, "5.1.3", "Recipient address too long (limit "
	  "is 256 octets, 64 before the @)" },
	{ R_SENDER_TOO_LONG, 501, "5.1.7", "Sender address too long (limit "
	  "is 256 octets, 64 before the @)" },
	{ R_NEED_SMTPUTF8, 553, "5.6.7", "Non-ASCII address needs the "
	  "SMTPUTF8 parameter on MAIL" },
	{ R_NULL_RCPT, 501, "5.1.3", "The null path <> is only for senders" },
	{ R_BAD_SENDER_WHY, 501, "5.1.7", "Sender address %s" },
	{ R_BAD_RCPT_WHY, 501, "5.1.3", "Recipient address %s" },
	{ R_NEED_HELO, 503, "5.5.1", "Say HELO or EHLO first" },
	{ R_NEED_MAIL, 503, "5.5.1", "Need MAIL FROM before %s" },
	{ R_NEED_RCPT, 503, "5.5.1", "Need RCPT TO before DATA" },
	{ R_NESTED_MAIL, 503, "5.5.1", "Sender already given; "
	  "use RSET to start over" },
	{ R_PARAM_UNKNOWN, 555, "5.5.4", "Unsupported parameter \"%s\"" },
	{ R_PARAM_BAD, 501, "5.5.4", "Bad value for parameter \"%s\"" },
	{ R_SIZE_EXCEEDED, 552, "5.3.4", "Message size exceeds the limit "
	  "of %zu octets" },
	{ R_MSG_TOO_BIG, 552, "5.3.4", "Message too big; the limit is "
	  "%zu octets; nothing was kept" },
	{ R_TOO_MANY_RCPTS, 452, "4.5.3", "Too many recipients; "
	  "send the rest in another message" },
	{ R_RELAY_DENIED, 550, "5.7.1", "Relay access denied: "
	  "this server does not accept mail for <%s>" },
	{ R_SPOOL_FULL, 452, "4.3.1", "Insufficient system storage; "
	  "try again later" },
	{ R_SPOOL_ERROR, 451, "4.3.0", "Local error writing the message; "
	  "try again later" },
	{ R_HELP_UNKNOWN, 504, "5.5.1", "No help for \"%s\"; HELP lists "
	  "the commands" },
	{ R_SHUTDOWN, 421, "4.3.2", "%s shutting down; try again later" },
	{ R_TIMEOUT, 421, "4.4.2", "%s timeout: closing connection" },
	{ R_STARTTLS_GO, 220, "2.0.0", "Ready to start TLS" },
	{ R_TLS_TWICE, 503, "5.5.1", "TLS is already active" },
	{ R_AUTH_REQUIRED, 530, "5.7.0", "Authentication required: this is "
	  "the submission port; use AUTH first" },
	{ R_AUTH_OK, 235, "2.7.0", "Authentication successful" },
	{ R_AUTH_CHALLENGE, 334, NULL, "%s" },
	{ R_AUTH_FAILED, 535, "5.7.8", "Authentication credentials invalid" },
	{ R_AUTH_TOO_MANY, 421, "4.7.0", "Too many failed authentications; "
	  "closing connection" },
	{ R_AUTH_CANCELLED, 501, "5.7.0", "Authentication cancelled" },
	{ R_AUTH_BAD_BASE64, 501, "5.5.2", "Invalid base64 in AUTH data" },
	{ R_AUTH_TOO_LONG, 500, "5.5.6", "Authentication exchange line is "
	  "too long (limit is 12288 octets); authentication cancelled" },
	{ R_AUTH_TWICE, 503, "5.5.1", "Already authenticated" },
	{ R_AUTH_IN_TX, 503, "5.5.1", "AUTH is not allowed during a mail "
	  "transaction" },
	{ R_AUTH_UNKNOWN_MECH, 504, "5.5.4", "Unrecognized authentication "
	  "mechanism; EHLO lists the ones offered" },
	{ R_AUTH_NEED_TLS, 538, "5.7.11", "Encryption required for requested "
	  "authentication mechanism; use STARTTLS first" },
	{ R_AUTH_TEMP, 454, "4.7.0", "Temporary authentication failure: "
	  "the server cannot check credentials now; try again later" },
	{ R_AUTH_TRANSITION, 432, "4.7.12", "A password transition is "
	  "needed: authenticate once with PLAIN over TLS" },
	{ R_AUTH_TOO_WEAK, 534, "5.7.9", "Authentication mechanism is too "
	  "weak; EHLO lists the ones offered" },
	{ R_AUTH_NEED_TLS_NONE, 538, "5.7.11", "%s sends the password in "
	  "clear and this server has no TLS here (tls_cert); %s" },
	{ R_AUTH_REQUIRED_STARTTLS, 530, "5.7.0", "Authentication required: "
	  "this is the submission port; use STARTTLS, then AUTH" },
	{ R_AUTH_REQUIRED_NONE, 530, "5.7.0", "Authentication required: "
	  "this is the submission port, but no authentication mechanism is "
	  "usable on this connection" },
	{ R_TOO_MANY_CONNS, 421, "4.7.0", "%s Too many connections; "
	  "try again later" },
	{ R_NO_DESCRIPTORS, 421, "4.3.2", "%s Out of file descriptors; "
	  "try again later" },
	{ R_TOO_MANY_ERRORS, 421, "4.7.0", "%s Too many errors; closing "
	  "connection" },
	{ R_TOO_MANY_MESSAGES, 421, "4.7.0", "%s Too many messages in one "
	  "session; reconnect to send more" },
	{ R_PREGREET, 554, "5.5.0", "%s Protocol error: you talked before "
	  "the greeting; closing connection" },
	{ R_NOT_SMTP, 221, "2.7.0", "%s This is an SMTP server, and that "
	  "was %s; closing connection" },
	{ R_LINE_FLOOD, 421, "4.7.0", "%s Line far too long: no line end "
	  "%zu octets past the limit; closing connection" },
};

/* Why a reply ends the session, for the disconnect line. */
static const char *
reply_reason(enum reply_id id)
{
	switch (id) {
	case R_QUIT:
		return ("quit");
	case R_TIMEOUT:
		return ("timeout");
	case R_SHUTDOWN:
		return ("shutdown");
	case R_PREGREET:
		return ("pregreet");
	case R_NOT_SMTP:
		return ("not-smtp");
	case R_LINE_FLOOD:
		return ("line-flood");
	case R_AUTH_TOO_MANY:
		return ("auth-failures");
	case R_TOO_MANY_CONNS:
		return ("too-many-connections");
	case R_TOO_MANY_ERRORS:
		return ("too-many-errors");
	case R_TOO_MANY_MESSAGES:
		return ("too-many-messages");
	default:
		return ("closed");
	}
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
	if (id >= R_MAX || replies[id].id != id)
		fatalx("reply: table out of order at %d", id);
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

/* Format a whole reply line (no CRLF) into line; snprintf's result. */
static int
reply_vformat(char *line, size_t len, enum reply_id id, va_list ap)
{
	char	text[SMTP_CMD_MAX];

	reply_vtext(text, sizeof(text), id, ap);
	return (snprintf(line, len, "%d %s%s%s", replies[id].code,
	    replies[id].esc ? replies[id].esc : "",
	    replies[id].esc ? " " : "", text));
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
	"Use 'nc -C' or telnet, which send CRLF (or a server with the lab "
	"setting bare_lf_end = yes).",
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
	if (replies[id].code == 421 || id == R_PREGREET || id == R_QUIT ||
	    id == R_NOT_SMTP) {
		s->quit_reason = reply_reason(id);
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

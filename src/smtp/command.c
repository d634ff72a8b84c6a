/*
 * command.c: the SMTP command table and its dispatcher.  Each row names a
 * verb, its handler, what must have happened before it (greeting, MAIL,
 * RCPT), whether it takes arguments, and its syntax and help text, which
 * HELP prints.  The dispatcher applies those rules in one place, in order:
 * bad bytes, unknown verb (500), wrong order (503), arguments (501); the
 * handlers do only what is particular to their verb.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "smtp.h"

/* What a verb needs to have happened before it. */
enum cmd_need {
	NEED_NONE,	/* anywhere (RFC 5321 4.1.4) */
	NEED_GREET,	/* after HELO/EHLO */
	NEED_NO_TX,	/* after HELO/EHLO, outside a transaction */
	NEED_TX,	/* after MAIL */
	NEED_RCPT,	/* after at least one RCPT */
};


struct cmd {
	const char	*verb;
	void		(*fn)(struct session *, char *);
	enum cmd_need	 need;
	int		 flags;
	enum reply_id	 r_syntax;	/* 501 for missing arguments */
	const char	*syntax;
	const char	*help;
};

static void	cmd_helo(struct session *, char *);
static void	cmd_ehlo(struct session *, char *);
static void	cmd_mail(struct session *, char *);
static void	cmd_rcpt(struct session *, char *);
static void	cmd_data(struct session *, char *);
static void	cmd_rset(struct session *, char *);
static void	cmd_noop(struct session *, char *);
static void	cmd_vrfy(struct session *, char *);
static void	cmd_help(struct session *, char *);
static void	cmd_quit(struct session *, char *);
static void	cmd_expn(struct session *, char *);
static void	cmd_starttls(struct session *, char *);
static void	cmd_auth(struct session *, char *);

static const struct cmd cmds[] = {
	{ "HELO", cmd_helo, NEED_NONE, CMD_F_ARGS, R_NEED_ARGS,
	  "HELO <your-hostname>", "say hello (plain SMTP)" },
	{ "EHLO", cmd_ehlo, NEED_NONE, CMD_F_ARGS | CMD_F_LAST, R_NEED_ARGS,
	  "EHLO <your-hostname>", "say hello and list the extensions (ESMTP)" },
	{ "MAIL", cmd_mail, NEED_NO_TX, CMD_F_ARGS | CMD_F_NEED_AUTH,
	  R_MAIL_SYNTAX,
	  "MAIL FROM:<sender> [SIZE=n] [BODY=8BITMIME] [SMTPUTF8]",
	  "start a message; <> is the null sender of bounces" },
	{ "RCPT", cmd_rcpt, NEED_TX, CMD_F_ARGS, R_RCPT_SYNTAX,
	  "RCPT TO:<recipient>", "add a recipient; repeat for each" },
	{ "DATA", cmd_data, NEED_RCPT, CMD_F_NOARGS | CMD_F_LAST, R_NEED_ARGS,
	  "DATA",
	  "send the message: headers, a blank line, the body, "
	  "then a line with only \".\"" },
	{ "RSET", cmd_rset, NEED_NONE, CMD_F_NOARGS | CMD_F_JUNK, R_NEED_ARGS,
	  "RSET",
	  "forget the current message and start over" },
	{ "NOOP", cmd_noop, NEED_NONE, CMD_F_JUNK | CMD_F_LAST, R_NEED_ARGS,
	  "NOOP",
	  "do nothing, say Ok" },
	{ "VRFY", cmd_vrfy, NEED_NONE, CMD_F_ARGS | CMD_F_JUNK | CMD_F_LAST,
	  R_NEED_ARGS,
	  "VRFY <address>", "verify an address (always 252: not disclosed)" },
	{ "EXPN", cmd_expn, NEED_NONE, CMD_F_LAST, R_NEED_ARGS, "EXPN <list>",
	  "expand a mailing list (not implemented)" },
	{ "HELP", cmd_help, NEED_NONE, 0, R_NEED_ARGS, "HELP [command]",
	  "list the commands, or explain one" },
	{ "QUIT", cmd_quit, NEED_NONE, CMD_F_LAST, R_NEED_ARGS, "QUIT",
	  "say goodbye and close" },
	{ "STARTTLS", cmd_starttls, NEED_NONE, CMD_F_NOARGS | CMD_F_LAST,
	  R_NEED_ARGS,
	  "STARTTLS",
	  "switch this connection to TLS, then EHLO again (RFC 3207)" },
	{ "AUTH", cmd_auth, NEED_GREET, CMD_F_ARGS, R_NEED_ARGS,
	  "AUTH <mechanism> [initial-response]",
	  "log in; EHLO lists the mechanisms (RFC 4954)" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))
_Static_assert(NCMDS <= CMD_MAX, "struct session counts CMD_MAX verbs");

/* Find a verb, case-insensitively; NULL if unknown. */
static const struct cmd *
command_find(const char *verb, size_t len)
{
	size_t	i;

	for (i = 0; i < NCMDS; i++)
		if (strlen(cmds[i].verb) == len &&
		    strncasecmp(cmds[i].verb, verb, len) == 0)
			return (&cmds[i]);
	return (NULL);
}

/*
 * What must come before the verb (RFC 5321 4.1.4), as a pure rule: the
 * 503 reply for a session in state st with a transaction (tx) holding
 * nrcpt recipients, or R_MAX if the verb may run.
 */
static enum reply_id
command_order(const struct cmd *c, enum session_state st, int tx,
    size_t nrcpt)
{
	if (c->need == NEED_NONE)
		return (R_MAX);
	if (st == STATE_CONNECTED)
		return (R_NEED_HELO);
	if (c->need == NEED_NO_TX && tx)
		return (R_NESTED_MAIL);
	if ((c->need == NEED_TX || c->need == NEED_RCPT) && !tx)
		return (R_NEED_MAIL);
	if (c->need == NEED_RCPT && nrcpt == 0)
		return (R_NEED_RCPT);
	return (R_MAX);
}

/*
 * The order rule for a verb by name, for the unit test that tries every
 * verb in every state; R_UNKNOWN_CMD for a verb not in the table.
 */
enum reply_id
command_rule(const char *verb, enum session_state st, int tx, size_t nrcpt)
{
	const struct cmd	*c;

	if ((c = command_find(verb, strlen(verb))) == NULL)
		return (R_UNKNOWN_CMD);
	return (command_order(c, st, tx, nrcpt));
}

/* The i-th verb of the table and its CMD_F_* flags; NULL past the end. */
const char *
command_verb(size_t i, int *flags)
{
	if (i >= NCMDS)
		return (NULL);
	*flags = cmds[i].flags;
	return (cmds[i].verb);
}

/* Check what must come before the verb; reply 503 and return -1 if not. */
static int
command_check_order(struct session *s, const struct cmd *c)
{
	enum reply_id	id;

	id = command_order(c, s->state, s->tx != NULL,
	    s->tx != NULL ? s->tx->nrcpt : 0);
	if (id == R_MAX)
		return (0);
	if (id == R_NEED_MAIL)
		reply(s, id, c->verb);
	else
		reply(s, id);
	return (-1);
}

/*
 * NOOP, VRFY and RSET do nothing for the mail; a client that sends more
 * than SMTP_JUNK_MAX of them in a session is holding a slot open, and
 * each one more counts as an error.
 */
static void
command_junk(struct session *s)
{
	if (++s->njunk > SMTP_JUNK_MAX)
		reply_count_error(s);
}

/*
 * A command that must end a pipelining group (RFC 2920 3.1) arrived
 * with more commands behind it in the same read: the client did not
 * wait for the reply.  Log it once per session, as Postfix logs
 * "improper command pipelining"; the commands are still served.
 */
static void
command_pipelining(struct session *s, const struct cmd *c)
{
	if (s->flags & SESSION_F_PIPELINED_LAST ||
	    session_input_pending(s) == 0)
		return;
	s->flags |= SESSION_F_PIPELINED_LAST;
	log_info("s=%08llx improper command pipelining after %s "
	    "client=[%s]", (unsigned long long)s->id, c->verb, s->addr);
}

/* Cut an AUTH line after its mechanism: the rest may be a password. */
static void
command_mask_auth(char *line)
{
	size_t	n;

	n = strcspn(line, " \t");
	n += strspn(line + n, " \t");
	n += strcspn(line + n, " \t");
	if (line[n] != '\0')
		snprintf(line + n, SMTP_CMD_MAX + 1 - n, " ***");
}

/*
 * An HTTP request line.  Browsers can be made to send one to port 25
 * (cross-protocol attacks, NAT slipstreaming), with SMTP commands in
 * its body; like Postfix (smtpd_forbidden_commands), hang up at once
 * instead of answering each of its lines.
 */
static int
command_is_http(const char *line, size_t vlen)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "HEAD",
	    "CONNECT", "OPTIONS", "DELETE", "PATCH", "TRACE" };
	size_t	i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i]) == vlen &&
		    strncasecmp(line, methods[i], vlen) == 0)
			return (1);
	return (0);
}

/* Run one command line: the rules from the table, then the handler. */
void
command_dispatch(struct session *s, char *line, size_t len)
{
	const struct cmd	*c;
	char			*args, verb[65], copy[SMTP_CMD_MAX + 1];
	size_t			 vlen;

	/* `RCPT: x` splits at the colon so it gets RCPT's syntax hint. */
	vlen = strcspn(line, " \t:");
	if (vlen == 4 && strncasecmp(line, "AUTH", 4) == 0) {
		/*
		 * Log lines (s->line) keep the mechanism, never the secret.
		 * A long AUTH line is in its own buffer, s->line its start.
		 */
		if (line == s->line) {
			memcpy(copy, line, len + 1);
			line = copy;
		}
		command_mask_auth(s->line);
	}
	if (!line_valid(line, len)) {
		reply(s, R_BAD_CHAR);
		return;
	}
	args = line + vlen;
	while (*args == ' ' || *args == '\t')
		args++;
	if ((c = command_find(line, vlen)) == NULL) {
		s->nunknown++;
		if (command_is_http(line, vlen)) {
			reply(s, R_NOT_SMTP, cfg->hostname, "an HTTP request");
			return;
		}
		log_escape(line, vlen < 32 ? vlen : 32, verb, sizeof(verb));
		reply(s, R_UNKNOWN_CMD, verb);
		return;
	}
	s->ncmd[c - cmds]++;
	if (command_check_order(s, c) != 0)
		return;
	if ((c->flags & CMD_F_ARGS) && *args == '\0') {
		reply(s, c->r_syntax, c->syntax);
		return;
	}
	if ((c->flags & CMD_F_NOARGS) && *args != '\0') {
		reply(s, R_NO_ARGS, c->syntax);
		return;
	}
	if ((c->flags & CMD_F_NEED_AUTH) && s->kind == LISTEN_SUBMISSION &&
	    !(s->flags & SESSION_F_AUTH)) {
		reply(s, auth_required_reply(s));
		return;
	}
	if (c->flags & CMD_F_LAST)
		command_pipelining(s, c);
	c->fn(s, args);
	if (c->flags & CMD_F_JUNK)
		command_junk(s);
	if (line == copy)
		explicit_bzero(copy, sizeof(copy));
}

/* Format the per-verb counters for the disconnect line. */
void
command_counts(const struct session *s, char *buf, size_t len)
{
	size_t		i, o = 0;
	unsigned	total = s->nunknown;
	int		n;

	buf[0] = '\0';
	for (i = 0; i < NCMDS && i < CMD_MAX; i++) {
		total += s->ncmd[i];
		if (s->ncmd[i] == 0)
			continue;
		n = snprintf(buf + o, len - o, "%s%s=%u", o ? " " : "",
		    cmds[i].verb, s->ncmd[i]);
		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
	}
	/* Postfix style: ehlo=1 mail=1 ... */
	for (i = 0; i < o; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	if (s->nunknown)
		o += (size_t)snprintf(buf + o, len - o, "%sunknown=%u",
		    o ? " " : "", s->nunknown);
	if (o < len)
		snprintf(buf + o, len - o, "%scommands=%u", o ? " " : "",
		    total);
}

/* Remember the client's name and start afresh (RFC 5321 4.1.4). */
static void
cmd_hello(struct session *s, char *args, int esmtp)
{
	size_t	n;

	n = strcspn(args, " \t");
	if (n > SMTP_DOMAIN_MAX)
		n = SMTP_DOMAIN_MAX;
	free(s->helo);
	s->helo = xmalloc(n + 1);
	memcpy(s->helo, args, n);
	s->helo[n] = '\0';
	session_tx_free(s);
	if (esmtp)
		s->flags |= SESSION_F_ESMTP;
	else
		s->flags &= ~SESSION_F_ESMTP;
	session_enter_state(s, STATE_READY);
}

/* HELO: plain SMTP. */
static void
cmd_helo(struct session *s, char *args)
{
	cmd_hello(s, args, 0);
	reply(s, R_HELO, cfg->hostname, s->helo, s->addr);
}

/* EHLO: list the extensions (RFC 5321 4.1.1.1). */
static void
cmd_ehlo(struct session *s, char *args)
{
	char		 first[SMTP_CMD_MAX], size[64], mechs[400], auth[410];
	const char	*lines[10];
	size_t		 n = 0;

	cmd_hello(s, args, 1);
	reply_text(first, sizeof(first), R_HELO, cfg->hostname, s->helo,
	    s->addr);
	snprintf(size, sizeof(size), "SIZE %zu", cfg->max_message_size);
	lines[n++] = first;
	lines[n++] = "PIPELINING";
	lines[n++] = size;
	lines[n++] = "8BITMIME";
	lines[n++] = "ENHANCEDSTATUSCODES";
	lines[n++] = "SMTPUTF8";
	if (tls_enabled() && !(s->flags & SESSION_F_TLS) &&
	    s->kind != LISTEN_SMTPS)
		lines[n++] = "STARTTLS";
	auth_mechs(s, mechs, sizeof(mechs));
	if (mechs[0] != '\0') {
		snprintf(auth, sizeof(auth), "AUTH %s", mechs);
		lines[n++] = auth;
	}
	lines[n++] = "HELP";
	reply_lines(s, 250, NULL, lines, n);
}

/*
 * Reply to a path parse failure: the command's syntax, the length limit,
 * or which RFC 5321 4.1.2 production the address broke.
 */
static void
cmd_addr_reply(struct session *s, enum addr_status st, int sender)
{
	if (st == ADDR_SYNTAX)
		reply(s, sender ? R_MAIL_SYNTAX : R_RCPT_SYNTAX);
	else if (st == ADDR_TOO_LONG)
		reply(s, sender ? R_SENDER_TOO_LONG : R_PATH_TOO_LONG);
	else
		reply(s, sender ? R_BAD_SENDER_WHY : R_BAD_RCPT_WHY,
		    addr_why(st));
}

/* Map a parameter failure to its reply; 0 if none. */
static int
cmd_param_reply(struct session *s, enum param_status st, const char *bad)
{
	char	kw[65];

	if (st == PARAM_OK)
		return (0);
	log_escape(bad, strnlen(bad, 32), kw, sizeof(kw));
	reply(s, st == PARAM_UNKNOWN ? R_PARAM_UNKNOWN : R_PARAM_BAD, kw);
	return (-1);
}

/* MAIL FROM: start a transaction with a new queue ID. */
static void
cmd_mail(struct session *s, char *args)
{
	struct smtp_path	p;
	struct mail_params	mp;
	enum addr_status	st;
	enum param_status	st2;
	const char		*bad = "";
	struct tx		*tx;
	char			params[SMTP_CMD_MAX + 1];

	if ((st = addr_parse_cmd(args, "FROM", &p)) != ADDR_OK) {
		cmd_addr_reply(s, st, 1);
		return;
	}
	/* Parse a copy: the parser cuts its input, s->line is for logs. */
	snprintf(params, sizeof(params), "%s", p.params);
	st2 = esmtp_mail_params(params, &mp, &bad);
	if (cmd_param_reply(s, st2, bad))
		return;
	if (p.utf8 && !mp.smtputf8) {
		reply(s, R_NEED_SMTPUTF8);
		return;
	}
	if (mp.size > 0 && (unsigned long long)mp.size >
	    cfg->max_message_size) {
		reply(s, R_SIZE_EXCEEDED, cfg->max_message_size);
		return;
	}
	if (s->ntx >= (unsigned)cfg->max_messages_per_session &&
	    !(s->flags & SESSION_F_TRUSTED)) {
		reply(s, R_TOO_MANY_MESSAGES, cfg->hostname);
		return;
	}
	if (fault_chaos(s, CHAOS_SENDER))
		return;
	s->ntx++;
	tx = s->tx = xcalloc(1, sizeof(*tx));
	memcpy(tx->sender, p.addr, sizeof(tx->sender));
	tx->params = mp;
	spool_qid_new(tx->qid);
	log_info("s=%08llx qid=%s client=[%s]:%d helo=%s",
	    (unsigned long long)s->id, tx->qid, s->addr, s->port,
	    log_str(s->helo));
	session_enter_state(s, STATE_MAIL);
	reply(s, R_SENDER_OK, tx->sender);
}

/* Take a recipient: the transaction has one more. */
static void
cmd_rcpt_take(struct session *s, const char *addr)
{
	struct tx	*tx = s->tx;

	tx->rcpt = xreallocarray(tx->rcpt, tx->nrcpt + 1, sizeof(*tx->rcpt));
	tx->rcpt[tx->nrcpt++] = xstrdup(addr);
	session_enter_state(s, STATE_RCPT);
	reply(s, R_RCPT_OK, addr);
}

/*
 * The mail store's answer about addr (recipient_check = lmtp).  Its 5xx
 * text goes into ours, without its enhanced code (RFC 3463): ours
 * comes first.
 */
static void
cmd_rcpt_answer(struct session *s, const char *addr,
    const struct rcpt_answer *a)
{
	char		 esc[SMTP_PATH_MAX * 4 + 1];
	char		 text[sizeof(a->text) * 4 + 1];
	const char	*why = text;
	size_t		 n;

	log_escape(addr, strlen(addr), esc, sizeof(esc));
	log_escape(a->text, strlen(a->text), text, sizeof(text));
	log_info("s=%08llx rcpt-check to=<%s> store=%s answer=\"%d %s\"%s",
	    (unsigned long long)s->id, esc, cfg->recipient_lmtp, a->code, text,
	    a->cached ? " cached" : "");
	if (a->v == RCPT_OURS)
		cmd_rcpt_take(s, addr);
	else if (a->v == RCPT_UNKNOWN) {
		/* Skip "5.1.1 ": a digit, '.', digits, '.', digits, ' '. */
		n = strspn(text, "0123456789.");
		if (n >= 5 && text[1] == '.' && text[n] == ' ')
			why = text + n + 1;
		reply(s, R_NO_SUCH_USER_STORE, esc, why);
	} else
		reply(s, R_RCPT_TEMPFAIL, esc);
}

/* The store answered a parked RCPT: reply, then go on with the input. */
static void
cmd_rcpt_asked_cb(void *arg, const struct rcpt_answer *a)
{
	struct session	*s = arg;
	char		*addr;

	if (session_unpark(s) != 0)
		return;
	addr = s->tx->asking;
	s->tx->asking = NULL;
	/* A 421 (shutdown, timeout) while it waited was the last word. */
	if (s->state != STATE_QUIT)
		cmd_rcpt_answer(s, addr, a);
	free(addr);
	session_resume(s);
}

/*
 * Ask the mail store whether addr is a mailbox: from the cache at once,
 * or park the session (it reads nothing more) until the answer.
 */
static void
cmd_rcpt_ask(struct session *s, const char *addr)
{
	struct rcpt_answer	a;

	if (recipient_ask(cfg, addr, cmd_rcpt_asked_cb, s, &a) == 0) {
		cmd_rcpt_answer(s, addr, &a);
		return;
	}
	s->tx->asking = xstrdup(addr);
	session_park(s);
}

/*
 * sink_faults: a recipient that asks to be refused is (return 1); one
 * that asks for a failure after the data marks the transaction, unless
 * an earlier recipient already did.
 */
static int
cmd_rcpt_fault(struct session *s, const char *addr)
{
	struct fault	f;

	if (!cfg->sink_faults || !fault_parse(addr, &f))
		return (0);
	if (f.kind == FAULT_RCPT || f.kind == FAULT_BAD) {
		log_info("s=%08llx qid=%s fault rcpt=<%s> reply=%d",
		    (unsigned long long)s->id, s->tx->qid, log_str(addr),
		    reply_row(f.reply)->code);
		reply(s, f.reply, addr);
		return (1);
	}
	if (s->tx->fault.kind == FAULT_NONE)
		s->tx->fault = f;
	return (0);
}

/* RCPT TO: add a recipient in one of our domains. */
static void
cmd_rcpt(struct session *s, char *args)
{
	struct smtp_path	 p;
	enum addr_status	 st;
	enum param_status	 st2;
	const char		*bad = "";
	struct tx		*tx = s->tx;
	char			 esc[SMTP_PATH_MAX * 4 + 1];
	char			 params[SMTP_CMD_MAX + 1];

	if ((st = addr_parse_cmd(args, "TO", &p)) != ADDR_OK) {
		cmd_addr_reply(s, st, 0);
		return;
	}
	if (p.null) {
		reply(s, R_NULL_RCPT);
		return;
	}
	snprintf(params, sizeof(params), "%s", p.params);
	st2 = esmtp_rcpt_params(params, &bad);
	if (cmd_param_reply(s, st2, bad))
		return;
	if (p.utf8 && !tx->params.smtputf8) {
		reply(s, R_NEED_SMTPUTF8);
		return;
	}
	if (tx->nrcpt >= (size_t)cfg->max_recipients) {
		reply(s, R_TOO_MANY_RCPTS);
		if (++tx->nover > SMTP_RCPT_OVERSHOOT)
			reply_count_error(s);
		return;
	}
	/*
	 * Never relay (RFC 5321 3.6, 7.1) for strangers; an authenticated
	 * client may send anywhere: that is submission.  A listed domain's
	 * unknown user is refused now, since mxd never sends a bounce.
	 */
	log_escape(p.addr, strlen(p.addr), esc, sizeof(esc));
	switch (recipient_check(cfg, p.addr, s->flags & SESSION_F_AUTH)) {
	case RCPT_NOT_OURS:
		reply(s, R_RELAY_DENIED, esc);
		break;
	case RCPT_UNKNOWN:
		reply(s, R_NO_SUCH_USER, esc);
		break;
	case RCPT_ASK:
		cmd_rcpt_ask(s, p.addr);
		break;
	case RCPT_TEMPFAIL:
		reply(s, R_RCPT_TEMPFAIL, esc);
		break;
	case RCPT_OURS:
	case RCPT_POSTMASTER:
	case RCPT_RELAY:
		if (!fault_chaos(s, CHAOS_RECIPIENT) &&
		    !cmd_rcpt_fault(s, p.addr))
			cmd_rcpt_take(s, p.addr);
		break;
	}
}

/* DATA: open the spool file and ask for the message. */
static void
cmd_data(struct session *s, char *args)
{
	if (data_start(s) != 0)
		return;
	session_enter_state(s, STATE_DATA);
	if (!(s->flags & SESSION_F_BARE_LF))
		reply(s, R_DATA_GO);
	else
		reply(s, cfg->bare_lf_end ? R_DATA_GO_BARE_LF_LAB :
		    R_DATA_GO_BARE_LF);
}

/* RSET: drop the transaction, keep the greeting. */
static void
cmd_rset(struct session *s, char *args)
{
	session_tx_free(s);
	if (s->state != STATE_CONNECTED)
		session_enter_state(s, STATE_READY);
	reply(s, R_RESET);
}

/* NOOP: say Ok. */
static void
cmd_noop(struct session *s, char *args)
{
	reply(s, R_NOOP);
}

/* VRFY: never disclose, never refuse (RFC 5321 3.5.3, 7.3). */
static void
cmd_vrfy(struct session *s, char *args)
{
	reply(s, R_VRFY);
}

/* EXPN: mailing lists are not disclosed (RFC 5321 3.5.3). */
static void
cmd_expn(struct session *s, char *args)
{
	reply(s, R_NOT_IMPLEMENTED, "EXPN");
}

/* STARTTLS (RFC 3207): 220, then the handshake, then a fresh session. */
static void
cmd_starttls(struct session *s, char *args)
{
	if (!tls_enabled() || s->kind == LISTEN_SMTPS) {
		reply(s, s->flags & SESSION_F_TLS ? R_TLS_TWICE :
		    R_NOT_AVAILABLE, "STARTTLS", command_unavailable("STARTTLS"));
		return;
	}
	if (s->flags & SESSION_F_TLS) {
		reply(s, R_TLS_TWICE);
		return;
	}
	reply(s, R_STARTTLS_GO);
	session_starttls(s);
}

/* AUTH (RFC 4954): hand over to auth.c. */
static void
cmd_auth(struct session *s, char *args)
{
	auth_start(s, args);
}

/*
 * Why a command this server knows cannot be used with its settings, for
 * HELP and the 502 reply; NULL if it can.
 */
const char *
command_unavailable(const char *verb)
{
	if (strcmp(verb, "STARTTLS") == 0)
		return (tls_unavailable());
	if (strcmp(verb, "AUTH") == 0)
		return (auth_unavailable());
	return (NULL);
}

/* HELP: the commands with their syntax, or one command explained. */
static void
cmd_help(struct session *s, char *args)
{
	const char		*lines[NCMDS + 6], *why;
	char			 buf[NCMDS + 1][200];
	const struct cmd	*c;
	size_t			 i, n = 0;

	if (*args != '\0') {
		args[strcspn(args, " \t")] = '\0';
		if ((c = command_find(args, strlen(args))) == NULL) {
			log_escape(args, strnlen(args, 32), buf[0], 64);
			reply(s, R_HELP_UNKNOWN, buf[0]);
			return;
		}
		snprintf(buf[0], sizeof(buf[0]), "%s: %s", c->syntax, c->help);
		lines[0] = buf[0];
		reply_lines(s, 214, "2.0.0", lines, 1);
		return;
	}
	lines[n++] = "mxd accepts these commands (RFC 5321), in any case:";
	for (i = 0; i < NCMDS; i++) {
		why = command_unavailable(cmds[i].verb);
		snprintf(buf[i], sizeof(buf[i]), "  %s - %s%s%s%s",
		    cmds[i].syntax, cmds[i].help, why ? " (not here: " : "",
		    why ? why : "", why ? ")" : "");
		lines[n++] = buf[i];
	}
	lines[n++] = "A message: EHLO, MAIL FROM, RCPT TO (one per recipient), "
	    "DATA, the text, a line with only \".\"";
	if ((s->flags & SESSION_F_BARE_LF) && !cfg->bare_lf_end)
		lines[n++] = "Your lines end in bare LF: a lone \".\" will not "
		    "end DATA; use 'nc -C' or telnet (CRLF)";
	lines[n++] = "HELP <command> explains one command";
	reply_lines(s, 214, "2.0.0", lines, n);
}

/* QUIT: say goodbye; the session closes once the reply is sent. */
static void
cmd_quit(struct session *s, char *args)
{
	reply(s, R_QUIT, cfg->hostname);
}

/*
 * mxd.c: main().  Reads the command line and the configuration, opens the
 * spool and the listeners, then runs the event loop until SIGTERM or
 * SIGINT.  Without -c, mxd runs on its embedded defaults: a local test
 * sink on 127.0.0.1:2525 that accepts any domain and spools under ./spool.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxd.h"

static struct event_base	*base;
static struct event		*drain_ev;
static struct timespec		 drain_deadline;
static int			 pid_fd = -1;
static char			*conf_file;
static char			*start_dir;
static char			**conf_over;
static size_t			 conf_nover;
static struct config		 main_conf;

/* The protocols mxd serves; main() is where they meet the core. */
static const struct protocol *const mxd_protocols[] = { &smtp_protocol,
    &http_protocol, &pop3_protocol };
#define NPROTOCOLS	(sizeof(mxd_protocols) / sizeof(mxd_protocols[0]))

static const struct option	 mxd_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void	mxd_config_free(struct config *);
static void	mxd_resolve(struct config *);
static void	mxd_keep_on_reload(struct config *);
static void	mxd_log_table(const struct config *);

/*
 * Say how to run mxd, and exit: on stdout with status 0 when asked
 * (-h, --help), on stderr with status 2 after a mistake.
 */
static void __attribute__((noreturn))
usage(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: mxd [-fqQtvd] [-R QID] [-c file] [-o name=value]...\n"
	    "       mxd -t rcpt ADDRESS [-c file] [-o name=value]...\n"
	    "  -f          stay in the foreground, log to stderr\n"
	    "  -c file     read the configuration from file\n"
	    "  -o n=v      override one setting (repeatable)\n"
	    "  -t          check the configuration and exit\n"
	    "  -t rcpt ADDRESS\n"
	    "              say whether mxd takes mail for ADDRESS, and why\n"
	    "  -d          print the effective configuration and exit\n"
	    "  -q          list the messages in the spool and exit\n"
	    "  -Q          ask the running mxd to retry deferred mail now\n"
	    "  -R QID      remove a message from the spool\n"
	    "  -v          log debugging detail\n"
	    "  -h, --help  print this and exit\n"
	    "  --version   print the version and exit\n"
	    "Without -c, mxd runs as a local test sink: SMTP on "
	    "127.0.0.1:2525 and [::1]:2525,\nPOP3 on port 1110, the HTTP "
	    "API (Mailpit, MailHog) on port 8025, mail in ./spool.\n"
	    "See mxd(8) and mxd.conf(5).\n");
	exit(asked ? 0 : 2);
}

/* How many sessions every protocol has. */
static unsigned
mxd_sessions(void)
{
	unsigned	n = 0;
	size_t		i;

	for (i = 0; i < NPROTOCOLS; i++)
		n += mxd_protocols[i]->count();
	return (n);
}

/* Shutting down: leave the loop once every session is gone. */
static void
mxd_drain_cb(evutil_socket_t fd, short events, void *arg)
{
	struct timespec	 now;
	struct timeval	 tv = { 0, 100000 };

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((mxd_sessions() == 0 && conn_linger_count() == 0) ||
	    now.tv_sec >= drain_deadline.tv_sec) {
		if (mxd_sessions() > 0)
			log_info("shutdown: grace period over, dropping %u "
			    "sessions", mxd_sessions());
		event_base_loopexit(base, NULL);
		return;
	}
	evtimer_add(drain_ev, &tv);
}

/*
 * SIGTERM/SIGINT: stop accepting, say 421 to idle sessions, let messages
 * in DATA finish for up to shutdown_grace, then leave the loop.
 */
static void
mxd_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	size_t	i;

	if (drain_ev != NULL) {
		log_info("signal %d again: stopping now", (int)sig);
		event_base_loopexit(base, NULL);
		return;
	}
	log_info("signal %d: shutting down, %u sessions", (int)sig,
	    mxd_sessions());
	listener_close_all();
	for (i = 0; i < NPROTOCOLS; i++)
		mxd_protocols[i]->shutdown();
	clock_gettime(CLOCK_MONOTONIC, &drain_deadline);
	drain_deadline.tv_sec += cfg->shutdown_grace + 1;
	drain_ev = evtimer_new(base, mxd_drain_cb, NULL);
	mxd_drain_cb(-1, 0, NULL);
}

/* SIGUSR1 (mxd -Q): retry deferred deliveries now. */
static void
mxd_flush_cb(evutil_socket_t sig, short events, void *arg)
{
	deliver_runner.retry_now();
}

/* mxd -Q: send SIGUSR1 to the mxd that holds the spool's lock. */
static int
mxd_flush(const struct config *c)
{
	long	pid = spool_owner(c->spool_dir);

	if (pid <= 0) {
		fprintf(stderr, "mxd: no mxd is running on %s\n",
		    c->spool_dir);
		return (1);
	}
	if (kill((pid_t)pid, SIGUSR1) == -1) {
		fprintf(stderr, "mxd: kill %ld: %s\n", pid, strerror(errno));
		return (1);
	}
	printf("mxd: asked mxd (pid %ld) to retry deferred mail now\n", pid);
	return (0);
}

/*
 * mxd -R QID: remove a message (queue_delete: the file, then its state),
 * beside a running mxd or not; a delivery under way finishes its copy.
 */
static int
mxd_remove(const struct config *c, const char *qid)
{
	if (queue_delete(c->spool_dir, qid) != 0) {
		fprintf(stderr, "mxd: %s: %s\n", qid, errno == EINVAL ?
		    "not a queue ID" : strerror(errno));
		return (1);
	}
	printf("mxd: removed %s\n", qid);
	/*
	 * The daemon did not do it, so its log would not say so: say it in
	 * the system log (the journal, or mail.log beside a syslogging
	 * mxd), so that grep QID still ends with what became of it.
	 */
	log_init(0, "mxd", c->syslog_facility);
	log_info("qid=%s removed by mxd -R (uid %u)", qid,
	    (unsigned)getuid());
	log_flush();
	return (0);
}

/* mxd -t: the path mail takes, listeners to mailboxes. */
static void
mxd_pipeline(const struct config *c)
{
	size_t	i, k;

	printf("pipeline:\n  listeners:");
	for (i = 0; i < c->listen.n; i++)
		printf(" smtp:%s", c->listen.v[i]);
	for (i = 0; i < c->submission_listen.n; i++)
		printf(" submission:%s", c->submission_listen.v[i]);
	for (i = 0; i < c->smtps_listen.n; i++)
		printf(" smtps:%s", c->smtps_listen.v[i]);
	for (i = 0; i < c->pop3_listen.n; i++)
		printf(" pop3:%s", c->pop3_listen.v[i]);
	printf("\n  domains:");
	for (k = 0; k < c->domains.n; k++)
		printf(" %s", c->domains.v[k]);
	printf("%s\n  rcpt check: %s%s%s", c->domains.n ? "" : " (any)",
	    c->recipient_check, c->recipient_table[0] ? " table=" : "",
	    c->recipient_table);
	if (c->recipient_lmtp[0] && strcmp(c->recipient_check, "lmtp") == 0)
		printf(" (asks %s)", c->recipient_lmtp);
	printf("\n");
	printf("  spool: %s (sync %s)\n", c->spool_dir, c->spool_sync ?
	    "yes" : "no");
	deliver_runner.explain(c, stdout);
}

/*
 * Every session needs a descriptor, and Debian's default soft limit is
 * 1024: raise it to the hard limit, and say so if max_connections still
 * cannot fit (the listener then refuses the excess with 421).
 */
static void
mxd_raise_nofile(const struct config *c)
{
	struct rlimit	rl;
	rlim_t		need = (rlim_t)c->max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warnx("max_connections=%lld needs about %llu file "
		    "descriptors; the limit is %llu", c->max_connections,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

/*
 * Started as root: after binding the ports and opening the spool, become
 * the configured user for good, before any client byte is read.
 */
static void
mxd_drop_privileges(const struct config *c)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(c->user)) == NULL)
		fatalx("user %s: no such user", c->user);
	if (pw->pw_uid == 0)
		fatalx("user %s is root: refusing to run as root", c->user);
	gid = pw->pw_gid;
	if (c->group[0] != '\0') {
		if ((gr = getgrnam(c->group)) == NULL)
			fatalx("group %s: no such group", c->group);
		gid = gr->gr_gid;
	}
	spool_chown(pw->pw_uid, gid);
	if (pid_fd != -1 && fchown(pid_fd, pw->pw_uid, gid) == -1)
		fatal("chown pid file");
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot become %s", c->user);
	if (setuid(0) != -1 || geteuid() == 0)
		fatalx("still root after dropping privileges");
	log_info("running as user %s (uid %ld, gid %ld)", c->user,
	    (long)pw->pw_uid, (long)gid);
}

/*
 * Could the user mxd runs as open path (dir: 0 a file, 1 a directory;
 * 2 a directory to create files in)?  Started as root, a child becomes
 * that user and tries, as mxd will after dropping privileges (a reload
 * rereads the certificate, libsasl2 opens the sasldb at each AUTH,
 * delivery makes mailboxes); otherwise mxd tries as itself.  0, or -1
 * with *cause naming the setting, the file and why.
 */
static int
mxd_check_file(const struct config *c, const char *what, const char *path,
    int dir, char **cause)
{
	struct stat	 sb;
	struct passwd	*pw = NULL, *owner;
	struct group	*gr;
	gid_t		 gid;
	pid_t		 pid;
	int		 fd, status, err = 0;

	if (stat(path, &sb) == -1) {
		xasprintf(cause, "%s %s: %s", what, path, strerror(errno));
		return (-1);
	}
	if (!!dir != !!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s %s: %s", what, path, dir ?
		    "not a directory" : "is a directory");
		return (-1);
	}
	if (geteuid() == 0 && (pw = getpwnam(c->user)) != NULL &&
	    pw->pw_uid != 0) {
		gid = pw->pw_gid;
		if (c->group[0] != '\0' && (gr = getgrnam(c->group)) != NULL)
			gid = gr->gr_gid;
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid == 0) {
			if (setgroups(1, &gid) == -1 ||
			    setresgid(gid, gid, gid) == -1 ||
			    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
				_exit(255);
			if (dir == 2)
				_exit(access(path, W_OK | X_OK) == -1 ?
				    errno & 0x7f : 0);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC |
			    (dir ? O_DIRECTORY : 0))) == -1)
				_exit(errno & 0x7f);
			_exit(0);
		}
		while (waitpid(pid, &status, 0) == -1)
			if (errno != EINTR)
				fatal("waitpid");
		err = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
	} else if (dir == 2) {
		if (access(path, W_OK | X_OK) == -1)
			err = errno;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC |
	    (dir ? O_DIRECTORY : 0))) == -1)
		err = errno;
	else
		close(fd);
	if (err == 0)
		return (0);
	owner = getpwuid(sb.st_uid);
	xasprintf(cause, "%s %s: not %s by user %s (%s; mode %04o, "
	    "owner %s)", what, path, dir == 2 ? "writable" : "readable",
	    pw != NULL ? c->user : "mxd runs as",
	    err == 255 ? "cannot become that user" : strerror(err),
	    (unsigned)(sb.st_mode & 07777), owner != NULL ? owner->pw_name :
	    "?");
	return (-1);
}

/*
 * delivery = maildir:/root/%d/%u: the run-as user must be able to make
 * the mailboxes, so the deepest directory that exists on the way to the
 * first % must be writable by it; else every message would be deferred
 * (found by a new user: -t said ok, then nothing was delivered).
 */
static int
mxd_check_maildir(const struct config *c, char **cause)
{
	char		 dir[PATH_MAX], what[PATH_MAX + 16];
	struct stat	 sb;
	char		*slash;

	if (strncmp(c->delivery, "maildir:", 8) != 0)
		return (0);
	snprintf(dir, sizeof(dir), "%.*s", (int)strcspn(c->delivery + 8, "%"),
	    c->delivery + 8);
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	while (dir[0] == '/' && stat(dir, &sb) == -1) {
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir) {
			snprintf(dir, sizeof(dir), "/");
			break;
		}
		*slash = '\0';
	}
	if (dir[0] != '/')
		return (0);
	snprintf(what, sizeof(what), "delivery %s: the mailboxes go under",
	    c->delivery);
	return (mxd_check_file(c, what, dir, 2, cause));
}

/*
 * The sasldb named by sasldb_path in <sasl_app>.conf, if any, into buf;
 * "" when the file or the line is not there.
 */
static void
mxd_sasldb_path(const struct config *c, char *buf, size_t len)
{
	char	 path[PATH_MAX], line[1024], *p;
	FILE	*f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.conf", c->sasl_config_dir,
	    c->sasl_app);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "sasldb_path:", 12) != 0)
			continue;
		p = line + 12 + strspn(line + 12, " \t");
		p[strcspn(p, " \t\r\n")] = '\0';
		snprintf(buf, len, "%s", p);
	}
	fclose(f);
}

/*
 * Every file mxd will need after start: the certificate (reread on
 * SIGHUP), the libsasl2 directory, its <sasl_app>.conf and sasldb.  A
 * file the run-as user cannot read would make a reload or every AUTH
 * fail later, so it is an error now, at start and for -t.
 */
static int
mxd_check_files(const struct config *c, char **cause)
{
	char	path[PATH_MAX], db[PATH_MAX];

	if (c->tls_cert[0] != '\0' &&
	    mxd_check_file(c, "tls_cert", c->tls_cert, 0, cause) != 0)
		return (-1);
	if (c->tls_key[0] != '\0' &&
	    mxd_check_file(c, "tls_key", c->tls_key, 0, cause) != 0)
		return (-1);
	if (c->recipient_table[0] != '\0' && mxd_check_file(c,
	    "recipient_table", c->recipient_table, 0, cause) != 0)
		return (-1);
	if (mxd_check_maildir(c, cause) != 0)
		return (-1);
	if (!c->auth || c->sasl_config_dir[0] == '\0')
		return (0);
	if (mxd_check_file(c, "sasl_config_dir", c->sasl_config_dir, 1,
	    cause) != 0)
		return (-1);
	snprintf(path, sizeof(path), "%s/%s.conf", c->sasl_config_dir,
	    c->sasl_app);
	if (access(path, F_OK) == 0 &&
	    mxd_check_file(c, "sasl_app", path, 0, cause) != 0)
		return (-1);
	mxd_sasldb_path(c, db, sizeof(db));
	if (db[0] != '\0' && mxd_check_file(c, "sasldb_path", db, 0,
	    cause) != 0)
		return (-1);
	return (0);
}

/*
 * Checks across settings, and loading what the settings name (the
 * certificate), so that -t catches them too.
 */
static int
mxd_check(struct config *c, char **cause)
{
	size_t	i;

	if (c->smtps_listen.n > 0 && c->tls_cert[0] == '\0') {
		xasprintf(cause, "smtps_listen needs tls_cert and tls_key");
		return (-1);
	}
	if (c->pop3s_listen.n > 0 && c->tls_cert[0] == '\0') {
		xasprintf(cause, "pop3s_listen needs tls_cert and tls_key");
		return (-1);
	}
	if (c->submission_listen.n > 0 && !c->auth) {
		xasprintf(cause, "submission_listen needs auth = yes");
		return (-1);
	}
	if (mxd_check_files(c, cause) != 0)
		return (-1);
	if (c->recipient_table[0] != '\0' && rcpttable_load(c->recipient_table,
	    c->recipient_delimiter, c, &c->rcpt_table, cause) != 0)
		return (-1);
	if (lmtp_prober.check(c, cause) != 0)
		return (-1);
	for (i = 0; i < NPROTOCOLS; i++)
		if (mxd_protocols[i]->check != NULL &&
		    mxd_protocols[i]->check(c, cause) != 0)
			return (-1);
	if (deliver_runner.check(c, cause) != 0)
		return (-1);
	/* Last: on success it replaces the running certificate. */
	return (tls_load(c, cause));
}

/*
 * The event base.  With epoll, interest changes made during one loop
 * pass are applied together (the changelist): a bufferevent turning its
 * write interest on and off around each reply then costs no epoll_ctl.
 * mxd never dup()s a descriptor it watches, the case the changelist gets
 * wrong.
 */
static struct event_base *
mxd_event_base(void)
{
	struct event_config	*ec;
	struct event_base	*b;

	if ((ec = event_config_new()) == NULL)
		return (NULL);
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	b = event_base_new_with_config(ec);
	event_config_free(ec);
	return (b);
}

/*
 * Die, naming the spool and the process, if another mxd holds the
 * spool: two servers on one spool would take each other's files.
 */
static void
mxd_spool_free(const char *dir)
{
	long	pid = spool_owner(dir);

	if (pid > 0)
		fatalx("spool %s is in use by another mxd (pid %ld); stop it "
		    "first, or give this one its own spool_dir", dir, pid);
}

/*
 * Open every listener of one kind of a protocol, or die.  A loopback
 * IPv6 address on a machine without IPv6 (the sink's default [::1]:2525)
 * is skipped with a warning, as long as another listener of the kind
 * opens.
 */
static void
mxd_listen(struct event_base *b, const struct protocol *proto, int kind)
{
	const struct strlist	*l;
	const char		*cause;
	size_t			 i, opened = 0, skipped = 0;

	l = config_list(cfg, proto->listeners[kind].setting);
	for (i = 0; i < l->n; i++) {
		if (listener_open(b, l->v[i], proto, kind, &cause) == 0) {
			opened++;
			continue;
		}
		if (strncmp(l->v[i], "[::1]:", 6) != 0 ||
		    (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT))
			fatalx("listen %s: %s%s", l->v[i], cause,
			    errno == EADDRINUSE ? " (is another server, or "
			    "another mxd, using that port?)" : "");
		log_warnx("listen %s: %s; skipped (no IPv6 here)", l->v[i],
		    cause);
		skipped++;
	}
	if (opened == 0 && skipped > 0)
		fatalx("listen: no address could be opened");
}

/*
 * In the foreground, once the listeners are bound: tell the person at
 * the terminal where the mail goes and how to look at it.
 */
static void
mxd_hello(const struct config *c, const char *file)
{
	char	 exe[PATH_MAX];
	ssize_t	 n;
	size_t	 i;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		snprintf(exe, sizeof(exe), "mxd");
	else
		exe[n] = '\0';
	fprintf(stderr, "mxd: ready; SMTP on");
	for (i = 0; i < c->listen.n; i++)
		fprintf(stderr, " %s", c->listen.v[i]);
	for (i = 0; i < c->smtps_listen.n; i++)
		fprintf(stderr, " %s (smtps)", c->smtps_listen.v[i]);
	for (i = 0; i < c->submission_listen.n; i++)
		fprintf(stderr, " %s (submission)", c->submission_listen.v[i]);
	if (c->http_listen.n + c->https_listen.n > 0) {
		fprintf(stderr, "\nmxd: HTTP API (Mailpit, MailHog) on");
		for (i = 0; i < c->http_listen.n; i++)
			fprintf(stderr, " http://%s/", c->http_listen.v[i]);
		for (i = 0; i < c->https_listen.n; i++)
			fprintf(stderr, " https://%s/", c->https_listen.v[i]);
	}
	if (c->pop3_listen.n + c->pop3s_listen.n > 0)
		fprintf(stderr, "\nmxd: POP3 on");
	for (i = 0; i < c->pop3_listen.n; i++)
		fprintf(stderr, " %s", c->pop3_listen.v[i]);
	for (i = 0; i < c->pop3s_listen.n; i++)
		fprintf(stderr, " %s (pop3s)", c->pop3s_listen.v[i]);
	fprintf(stderr, "\nmxd: accepted mail lands in %s/queue/, one "
	    "<QUEUE-ID>.eml file per message\n", c->spool_dir);
	if (file != NULL)
		fprintf(stderr, "mxd: list it with: %s -q -c %s\n", exe, file);
	else
		fprintf(stderr, "mxd: list it with: %s -q -o spool_dir=%s\n",
		    exe, c->spool_dir);
	/* Under systemd stderr is the journal, which has no Ctrl-C. */
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "mxd: the log follows in this terminal; "
		    "Ctrl-C stops mxd\n");
}

/*
 * domains = * is right for a test sink on loopback; on an address the
 * internet can reach it takes mail for any domain.  Not an error (a lab
 * network may want it), but say so.
 */
static void
mxd_warn_any_domain(const struct config *c)
{
	size_t	i;

	for (i = 0; i < c->domains.n; i++)
		if (strcmp(c->domains.v[i], "*") == 0)
			break;
	if (i == c->domains.n)
		return;
	for (i = 0; i < c->listen.n; i++)
		if (strncmp(c->listen.v[i], "127.", 4) != 0 &&
		    strncmp(c->listen.v[i], "[::1]:", 6) != 0)
			log_warnx("listen %s is not a loopback address, and "
			    "domains = * accepts mail for every domain: "
			    "list yours", c->listen.v[i]);
}

/*
 * SIGHUP: read the configuration again.  If it is good, it replaces the
 * running one (and the TLS certificate with it); live sessions carry
 * on.  If not, the old one stays and the log says why.  Listener
 * addresses and the spool directory change only on restart.
 */
static void
mxd_reload_cb(evutil_socket_t sig, short events, void *arg)
{
	struct config	*next = xcalloc(1, sizeof(*next));
	char		*why = NULL;

	if (config_load(next, conf_file, conf_over, conf_nover, &why) == 0) {
		mxd_resolve(next);
		mxd_keep_on_reload(next);
	}
	if (why != NULL || mxd_check(next, &why) != 0) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", why);
		free(why);
		config_free(next);
		free(next);
		return;
	}
	mxd_config_free(cfg);
	cfg = next;
	recipient_cache_flush();
	deliver_runner.start(base);
	log_info("reloaded configuration%s%s", conf_file ? " from " : "",
	    conf_file ? conf_file : "");
	mxd_log_table(cfg);
}

/* Say what the recipient table holds, at start and after a reload. */
static void
mxd_log_table(const struct config *c)
{
	const struct rcpttable	*t = c->rcpt_table;

	if (t != NULL)
		log_info("recipient_table %s: %zu users, %zu aliases, %zu "
		    "catch-alls", t->file, t->nusers, t->naliases,
		    t->ncatchall);
}

/* The store's answer for mxd -t rcpt: keep it, leave the loop. */
static void
mxd_test_rcpt_cb(void *arg, const struct rcpt_answer *a)
{
	*(struct rcpt_answer *)arg = *a;
	event_base_loopexit(base, NULL);
}

/*
 * mxd -t rcpt with recipient_check = lmtp: ask the store as RCPT would,
 * on an event loop of its own.  The verdict.
 */
static enum rcpt_verdict
mxd_test_rcpt_ask(const struct config *c, const char *addr)
{
	struct rcpt_answer	a;

	if ((base = mxd_event_base()) == NULL)
		fatalx("event_base_new failed");
	signal(SIGPIPE, SIG_IGN);
	recipient_set_prober(&lmtp_prober);
	lmtp_prober.start(base);
	if (recipient_ask(c, addr, mxd_test_rcpt_cb, &a, &a) != 0)
		event_base_dispatch(base);
	lmtp_prober.free_all();
	recipient_free_all();
	conn_free_all();
	event_base_free(base);
	base = NULL;
	return (recipient_explain_store(&a, stdout));
}

/*
 * mxd -t rcpt ADDRESS: say whether mail for the address is taken, and
 * why; exit 0 if it is, 1 if RCPT would refuse it.
 */
static int
mxd_test_rcpt(const struct config *c, const char *arg)
{
	char			 addr[SMTP_PATH_MAX + 1];
	size_t			 n = strlen(arg);
	enum rcpt_verdict	 v;

	if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>') {
		arg++;
		n -= 2;
	}
	snprintf(addr, sizeof(addr), "%.*s", (int)n, arg);
	v = recipient_explain(c, addr, stdout);
	if (v == RCPT_ASK)
		v = mxd_test_rcpt_ask(c, addr);
	return (v == RCPT_NOT_OURS || v == RCPT_UNKNOWN ||
	    v == RCPT_TEMPFAIL ? 1 : 0);
}

/*
 * Settings a reload cannot change (they were applied once at start):
 * keep the running values, and say so when the file differs.
 */
static void
mxd_keep_on_reload(struct config *next)
{
	const struct option_entry	*o;
	char				*a, *b;

	for (o = options_table; o->name != NULL; o++) {
		if (!(o->flags & OPT_F_RESTART))
			continue;
		a = config_get(cfg, o->name);
		b = config_get(next, o->name);
		if (strcmp(a, b) != 0) {
			log_warnx("reload: %s changes only on restart; keeping "
			    "%s", o->name, a);
			if (config_set(next, o->name, a, &b) != 0)
				fatalx("reload: %s", b);
		}
		free(a);
		free(b);
	}
}

/* Free a configuration, and its memory unless it is main()'s. */
static void
mxd_config_free(struct config *c)
{
	config_free(c);
	if (c != &main_conf)
		free(c);
}

/*
 * Make a relative path absolute against the directory mxd started in:
 * daemons run from /, and a reload must find the same files.
 */
static void
mxd_absolute(char **path)
{
	char	*abs;

	if ((*path)[0] == '\0' || (*path)[0] == '/')
		return;
	xasprintf(&abs, "%s/%s", start_dir, *path);
	free(*path);
	*path = abs;
}

/* Fill in settings that depend on the machine or the start directory. */
static void
mxd_resolve(struct config *c)
{
	char	name[256];

	if (c->hostname[0] == '\0') {
		if (gethostname(name, sizeof(name)) != 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
		free(c->hostname);
		c->hostname = xstrdup(name);
	}
	mxd_absolute(&c->tls_cert);
	mxd_absolute(&c->tls_key);
	mxd_absolute(&c->sasl_config_dir);
	mxd_absolute(&c->pid_file);
	mxd_absolute(&c->spool_dir);
	mxd_absolute(&c->recipient_table);
}

/* Write the pid file if one is configured. */
static void
mxd_pid_file(const char *path)
{
	char	buf[32];
	int	n;

	if (path[0] == '\0')
		return;
	if ((pid_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		fatal("pid file %s", path);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(pid_fd, buf, (size_t)n) != n)
		fatal("pid file %s", path);
}

/*
 * Remove the pid file at exit.  After dropping root that may not be
 * allowed (its directory belongs to root): then empty it, since mxd
 * still owns the file, so nobody mistakes it for a running server.
 */
static void
mxd_pid_file_remove(const char *path)
{
	if (pid_fd == -1)
		return;
	if (unlink(path) == -1 && ftruncate(pid_fd, 0) == -1)
		log_warn("pid file %s", path);
	close(pid_fd);
}

/*
 * Detach from the terminal, but keep stderr until mxd is ready, so that
 * a start-up error still reaches the person who started it.  The parent
 * waits for the child to say it is ready (mxd_detached) and exits 0, or
 * exits 1 if the child died first.  Returns the child's end of the pipe.
 */
static int
mxd_daemonize(void)
{
	int	p[2], status;
	char	c;

	if (pipe(p) == -1)
		fatal("pipe");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			_exit(0);
		wait(&status);
		_exit(1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	return (p[1]);
}

/* Ready: log to syslog from now on, let go of the terminal and parent. */
static void
mxd_detached(int ready_fd, const struct config *c)
{
	int	fd;

	log_init(0, c->syslog_ident, c->syslog_facility);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (write(ready_fd, "", 1) != 1)
		log_warn("telling the parent we are ready");
	close(ready_fd);
}

int
main(int argc, char **argv)
{
	const char		*file = NULL;
	char			*why = NULL, **over = NULL, *pid_file;
	size_t			 nover = 0, i, k;
	int			 ch, fg = 0, check = 0, dump = 0, list = 0;
	int			 ready_fd = -1, flush = 0;
	const char		*remove = NULL;
	struct event		*sigterm, *sigint, *sighup, *sigusr1;

	while ((ch = getopt_long(argc, argv, "c:dfho:qQR:tv", mxd_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'd': dump = 1; break;
		case 'f': fg = 1; break;
		case 'o':
			over = conf_over = xreallocarray(over, nover + 1,
			    sizeof(*over));
			over[nover++] = optarg;
			break;
		case 'q': list = 1; break;
		case 'Q': flush = 1; break;
		case 'R': remove = optarg; break;
		case 't': check = 1; break;
		case 'v': log_verbose++; break;
		case 'h': usage(1);
		case 'V':
			printf("mxd %s\n", PACKAGE_VERSION);
			return (0);
		default: usage(0);
		}
	}
	if (optind != argc && !(check && argc - optind == 2 &&
	    strcmp(argv[optind], "rcpt") == 0))
		usage(0);
	/* Kept for SIGHUP, which applies the same overrides again. */
	if ((start_dir = realpath(".", NULL)) == NULL)
		fatal("realpath .");
	if (file != NULL) {
		conf_file = xstrdup(file);
		mxd_absolute(&conf_file);
	}
	conf_over = over;
	conf_nover = nover;
	if (config_load(&main_conf, file, over, nover, &why) != 0) {
		fprintf(stderr, "mxd: %s\n", why);
		free(why);
		return (1);
	}
	cfg = &main_conf;
	if (mxd_check(&main_conf, &why) != 0) {
		fprintf(stderr, "mxd: %s%s%s\n", file ? file : "",
		    file ? ": " : "", why);
		free(why);
		return (1);
	}
	if (check && optind != argc) {
		mxd_resolve(&main_conf);
		return (mxd_test_rcpt(&main_conf, argv[optind + 1]));
	}
	if (check) {
		printf("mxd: configuration %s%s ok\n",
		    file ? file : "(built in)",
		    nover > 0 ? " with the -o settings" : "");
		mxd_pipeline(&main_conf);
		return (0);
	}
	mxd_resolve(&main_conf);
	if (dump) {
		config_dump(&main_conf, stdout);
		return (0);
	}
	if (list)
		return (queue_list(main_conf.spool_dir, stdout));
	if (flush)
		return (mxd_flush(&main_conf));
	if (remove != NULL)
		return (mxd_remove(&main_conf, remove));

	log_init(1, main_conf.syslog_ident, main_conf.syslog_facility);
	if (!fg)
		ready_fd = mxd_daemonize();
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit is a write error (EFBIG) for one message. */
	signal(SIGXFSZ, SIG_IGN);
	for (i = 0; i < NPROTOCOLS; i++)
		if (mxd_protocols[i]->init(&main_conf, &why) != 0)
			fatalx("%s", why);
	mxd_raise_nofile(&main_conf);
	/*
	 * Refuse a second mxd on this spool before anything is bound or
	 * touched; then bind; then take the spool (spool_init locks it).
	 */
	mxd_spool_free(main_conf.spool_dir);
	if ((base = mxd_event_base()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < NPROTOCOLS; i++)
		for (k = 0; mxd_protocols[i]->listeners[k].setting != NULL; k++)
			mxd_listen(base, mxd_protocols[i], k);
	mxd_warn_any_domain(&main_conf);
	if (spool_init(main_conf.spool_dir, main_conf.spool_sync,
	    (const char **)&why) != 0) {
		mxd_spool_free(main_conf.spool_dir);
		fatal("%s: %s", main_conf.spool_dir, why);
	}
	pid_file = xstrdup(main_conf.pid_file);
	mxd_pid_file(pid_file);
	/*
	 * Protocols that open more (HTTP: its port, the spool's index) do
	 * it before privileges go, as the listeners and the spool did.
	 */
	for (i = 0; i < NPROTOCOLS; i++)
		if (mxd_protocols[i]->start != NULL &&
		    mxd_protocols[i]->start(base, &why) != 0)
			fatalx("%s", why);
	mxd_drop_privileges(&main_conf);
	log_set_base(base);
	spool_start(base);
	recipient_set_prober(&lmtp_prober);
	lmtp_prober.start(base);
	deliver_runner.start(base);
	sigusr1 = evsignal_new(base, SIGUSR1, mxd_flush_cb, NULL);
	evsignal_add(sigusr1, NULL);
	sigterm = evsignal_new(base, SIGTERM, mxd_signal_cb, NULL);
	sigint = evsignal_new(base, SIGINT, mxd_signal_cb, NULL);
	sighup = evsignal_new(base, SIGHUP, mxd_reload_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sighup, NULL);
	log_info("mxd %s ready: hostname=%s spool=%s", PACKAGE_VERSION,
	    main_conf.hostname, main_conf.spool_dir);
	mxd_log_table(&main_conf);
	if (fg)
		mxd_hello(&main_conf, conf_file);
	if (ready_fd != -1)
		mxd_detached(ready_fd, &main_conf);

	event_base_dispatch(base);

	log_set_base(NULL);
	deliver_runner.stop();
	event_free(sigusr1);
	spool_stop();
	for (i = 0; i < NPROTOCOLS; i++)
		mxd_protocols[i]->free_all();
	lmtp_prober.free_all();
	recipient_free_all();
	conn_free_all();
	listener_close_all();
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	if (drain_ev != NULL)
		event_free(drain_ev);
	tls_free();
	event_base_free(base);
	mxd_pid_file_remove(pid_file);
	log_info("mxd stopped");
	mxd_config_free(cfg);
	free(pid_file);
	free(over);
	return (0);
}

/*
 * mxd.c: main().  Reads the command line and the configuration, opens the
 * spool and the listeners, then runs the event loop until SIGTERM or
 * SIGINT.  Without -c, mxd runs on its embedded defaults: a local test
 * sink on 127.0.0.1:2525 that accepts any domain and spools under ./spool.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxd.h"

static struct event_base	*base;

/* Say how to run mxd, and exit. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mxd [-fqtvd] [-c file] [-o name=value]...\n"
	    "  -f          stay in the foreground, log to stderr\n"
	    "  -c file     read the configuration from file\n"
	    "  -o n=v      override one setting (repeatable)\n"
	    "  -t          check the configuration and exit\n"
	    "  -d          print the effective configuration and exit\n"
	    "  -q          list the messages in the spool and exit\n"
	    "  -v          log debugging detail\n");
	exit(2);
}

/* SIGTERM/SIGINT: stop accepting, say 421, leave the loop soon. */
static void
mxd_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct timeval	tv = { 1, 0 };

	log_info("signal %d: shutting down", (int)sig);
	listener_close_all();
	session_shutdown_all();
	event_base_loopexit(base, &tv);
}

/* Fill in settings that depend on the machine or the start directory. */
static void
mxd_resolve(struct config *c)
{
	char	name[256], *cwd, *abs;

	if (c->hostname[0] == '\0') {
		if (gethostname(name, sizeof(name)) != 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
		free(c->hostname);
		c->hostname = xstrdup(name);
	}
	if (c->spool_dir[0] != '/') {
		/* Daemons change to /; keep the spool where it was meant. */
		if ((cwd = realpath(".", NULL)) == NULL)
			fatal("realpath");
		xasprintf(&abs, "%s/%s", cwd, c->spool_dir);
		free(cwd);
		free(c->spool_dir);
		c->spool_dir = abs;
	}
}

/* Write the pid file if one is configured. */
static void
mxd_pid_file(const char *path)
{
	FILE	*f;

	if (path[0] == '\0')
		return;
	if ((f = fopen(path, "w")) == NULL)
		fatal("pid file %s", path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

/* Detach from the terminal. */
static void
mxd_daemonize(void)
{
	int	fd;

	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int
main(int argc, char **argv)
{
	static struct config	 conf;
	const char		*file = NULL, *cause;
	char			*why = NULL, **over = NULL;
	size_t			 nover = 0, i;
	int			 ch, fg = 0, check = 0, dump = 0, list = 0;
	struct event		*sigterm, *sigint;

	while ((ch = getopt(argc, argv, "c:dfo:qtv")) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'd': dump = 1; break;
		case 'f': fg = 1; break;
		case 'o':
			over = xreallocarray(over, nover + 1, sizeof(*over));
			over[nover++] = optarg;
			break;
		case 'q': list = 1; break;
		case 't': check = 1; break;
		case 'v': log_verbose++; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(&conf, file, over, nover, &why) != 0) {
		fprintf(stderr, "mxd: %s\n", why);
		return (1);
	}
	free(over);
	cfg = &conf;
	if (check) {
		printf("mxd: configuration %s ok\n", file ? file : "(built in)");
		return (0);
	}
	mxd_resolve(&conf);
	if (dump) {
		config_dump(&conf, stdout);
		return (0);
	}
	if (list)
		return (spool_list(conf.spool_dir, stdout));

	log_init(fg, conf.syslog_ident, conf.syslog_facility);
	signal(SIGPIPE, SIG_IGN);
	if (spool_init(conf.spool_dir, conf.spool_sync, &cause) != 0)
		fatal("%s: %s", conf.spool_dir, cause);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < conf.listen.n; i++)
		if (listener_open(base, conf.listen.v[i], &cause) != 0)
			fatalx("listen %s: %s", conf.listen.v[i], cause);
	if (!fg)
		mxd_daemonize();
	mxd_pid_file(conf.pid_file);
	spool_start(base);
	sigterm = evsignal_new(base, SIGTERM, mxd_signal_cb, NULL);
	sigint = evsignal_new(base, SIGINT, mxd_signal_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	log_info("mxd %s ready: hostname=%s spool=%s", PACKAGE_VERSION,
	    conf.hostname, conf.spool_dir);

	event_base_dispatch(base);

	spool_stop();
	session_free_all();
	listener_close_all();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	if (conf.pid_file[0] != '\0')
		unlink(conf.pid_file);
	log_info("mxd stopped");
	config_free(&conf);
	return (0);
}

/*
 * log.c: one line per event, to stderr in the foreground or to syslog.
 * Client-supplied text goes through log_escape() first so that a CR, LF
 * or escape sequence from the network cannot forge or garble a log line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxd.h"

static int	 log_stderr = 1;
static long	 log_pid;
int		 log_verbose;

/*
 * On stderr, lines gather in a buffer that is written once per event
 * loop pass (log_flush_cb), not once per line: a busy server logs
 * several lines per message.  Without an event base, each line is
 * written at once.
 */
static char		 log_buf[16384];
static size_t		 log_len;
static struct event	*log_flush_ev;
/*
 * The spool's I/O thread and the index thread log too: the buffer (and
 * the prefix's cached time) are shared under this lock, and a line from
 * any thread but the loop's is written at once (event_active is for the
 * loop's own thread).
 */
static pthread_mutex_t	 log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t	 log_loop_thread;
static void		 log_flush_locked(void);

static const struct {
	const char	*name;
	int		 value;
} log_facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/*
 * Choose stderr (to_stderr 1), syslog with the given facility (0), or
 * nowhere (-1, for the fuzzers).
 */
void
log_init(int to_stderr, const char *ident, const char *facility)
{
	size_t	i;
	int	fac = LOG_MAIL;

	log_flush();
	log_stderr = to_stderr;
	log_pid = 0;		/* a daemon has a new one */
	for (i = 0; facility && i < sizeof(log_facilities) /
	    sizeof(log_facilities[0]); i++)
		if (strcmp(facility, log_facilities[i].name) == 0)
			fac = log_facilities[i].value;
	if (log_stderr == 0)
		openlog(ident, LOG_PID | LOG_NDELAY, fac);
}

/*
 * The start of a stderr line, "2026-11-29T14:32:16.756Z mxd[31539]: ",
 * into buf (at least LOG_PREFIX_MAX octets); returns its length.  The
 * date and time are formatted once a second and the "Z mxd[PID]: " part
 * once, not once a line.
 */
#define LOG_PREFIX_MAX	64
static size_t
log_prefix(char *buf)
{
	static time_t	 last = -1;
	static char	 ts[32], tail[32];
	static size_t	 tslen, taillen;
	static long	 tailpid;
	struct timespec	 now;
	struct tm	 tm;
	long		 ms;
	size_t		 n;
	int		 m;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != last) {
		gmtime_r(&now.tv_sec, &tm);
		tslen = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		last = now.tv_sec;
	}
	if (log_pid == 0)
		log_pid = (long)getpid();
	if (tailpid != log_pid) {
		m = snprintf(tail, sizeof(tail), "Z mxd[%ld]: ", log_pid);
		taillen = m > 0 && (size_t)m < sizeof(tail) ? (size_t)m : 0;
		tailpid = log_pid;
	}
	memcpy(buf, ts, tslen);
	n = tslen;
	ms = now.tv_nsec / 1000000;
	buf[n++] = '.';
	buf[n++] = (char)('0' + ms / 100);
	buf[n++] = (char)('0' + ms / 10 % 10);
	buf[n++] = (char)('0' + ms % 10);
	memcpy(buf + n, tail, taillen);
	return (n + taillen);
}

/* clock_gettime(clock) in microseconds (any thread). */
long long
clock_us(clockid_t clock)
{
	struct timespec	ts;

	clock_gettime(clock, &ts);
	return ((long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/*
 * Write one formatted line at a syslog priority.  On stderr the line is
 * formatted straight into log_buf: the prefix, at most LOG_MSG_MAX - 1
 * octets of message, a newline.
 */
#define LOG_MSG_MAX	2048
static void
log_vwrite(int pri, const char *fmt, va_list ap)
{
	char	 buf[LOG_MSG_MAX];
	size_t	 n, start;
	int	 m;

	if (log_stderr < 0)
		return;
	if (!log_stderr) {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		syslog(pri, "%s", buf);
		return;
	}
	pthread_mutex_lock(&log_lock);
	if (log_len + LOG_PREFIX_MAX + LOG_MSG_MAX > sizeof(log_buf))
		log_flush_locked();
	start = log_len;
	n = log_prefix(log_buf + start);
	m = vsnprintf(log_buf + start + n, LOG_MSG_MAX, fmt, ap);
	if (m < 0) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	n += (size_t)m < LOG_MSG_MAX ? (size_t)m : LOG_MSG_MAX - 1;
	log_buf[start + n++] = '\n';
	log_len += n;
	if (log_flush_ev == NULL || pri <= LOG_WARNING ||
	    !pthread_equal(pthread_self(), log_loop_thread))
		log_flush_locked();
	else if (log_len == n)
		event_active(log_flush_ev, EV_TIMEOUT, 0);
	pthread_mutex_unlock(&log_lock);
}

/* Write out what is buffered for stderr. */
void
log_flush(void)
{
	pthread_mutex_lock(&log_lock);
	log_flush_locked();
	pthread_mutex_unlock(&log_lock);
}

/* log_flush() with log_lock held. */
static void
log_flush_locked(void)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < log_len) {
		n = write(STDERR_FILENO, log_buf + off, log_len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	log_len = 0;
}

/* The end of a loop pass that logged something. */
static void
log_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	log_flush();
}

/* Batch stderr lines per pass of this event loop (NULL: stop). */
void
log_set_base(struct event_base *base)
{
	log_flush();
	if (log_flush_ev != NULL)
		event_free(log_flush_ev);
	log_flush_ev = NULL;
	if (base != NULL && (log_flush_ev = event_new(base, -1, 0,
	    log_flush_cb, NULL)) == NULL)
		fatalx("log: event_new failed");
	log_loop_thread = pthread_self();
}

/* Log an event at info level. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* Log a debug line when -v was given. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Log a warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* Log a warning followed by the text of errno. */
void
log_warn(const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", buf, strerror(saved));
}

/* Log a broken invariant or fatal system error with errno and exit. */
void
fatal(const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("fatal: %s: %s", buf, strerror(saved));
	log_flush();
	exit(1);
}

/* Log a fatal condition and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

/* Copy untrusted bytes into dst, writing non-printables as \xHH. */
void
log_escape(const char *src, size_t len, char *dst, size_t dstsz)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 c;

	if (dstsz == 0)
		return;
	for (i = 0; i < len && o + 5 < dstsz; i++) {
		c = (unsigned char)src[i];
		/* Quotes too: values sit inside key="..." fields. */
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
	}
	dst[o] = '\0';
}

/* The longest client string a log line shows (escaped, it may be 4x). */
#define LOG_STR_MAX	512

/*
 * Escape a client-supplied string for a log line.  Returns one of four
 * rotating static buffers, so up to four may appear in one log call.
 */
const char *
log_str(const char *src)
{
	static char	bufs[4][LOG_STR_MAX * 4 + 1];
	static int	next;
	char		*b = bufs[next++ & 3];

	log_escape(src, strlen(src), b, sizeof(bufs[0]));
	return (b);
}

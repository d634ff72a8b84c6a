/*
 * smtp-pipe.c: a small SMTP load generator for the mxd benchmark.
 *
 * Postfix's smtp-source cannot pipeline ("BUGS: No SMTP command
 * pipelining support"), so the benchmark's pipelined cells use this
 * client.  It sends the same message as smtp-source -l (From:, To:,
 * Date:, Message-Id: headers, then `length` octets of 80-column lines),
 * over `sessions` parallel connections that each send message after
 * message.
 *
 *   -P   RFC 2920 pipelining: EHLO (PIPELINING must be advertised), then
 *        MAIL, RCPT and DATA in one write; after the 354 the message,
 *        the end-of-data dot and the next message's MAIL, RCPT and DATA
 *        go out in one write.  One round trip per message.
 *   (no -P)  lock-step like smtp-source -d: HELO, then each command waits
 *        for its reply (four round trips per message).
 *
 * Options: -s sessions, -m messages (total, 0 = no limit), -l length,
 * -f from, -t to, -M helo-name, -T seconds (stop starting messages after
 * that, finish, QUIT), -c file (acknowledged-message count, rewritten as
 * a decimal number whenever it changes; read it while the client runs).
 * SIGTERM/SIGINT: write the count and exit at once.  Any unexpected reply
 * is fatal (exit 1), like smtp-source.  Summary on stderr at exit.
 *
 * Build: cc -O2 -o smtp-pipe smtp-pipe.c
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum expect { X_GREET, X_HELO, X_MAIL, X_RCPT, X_DATA, X_DOT, X_QUIT };

#define MAXPEND	8
#define INBUF	8192

struct conn {
	int		 fd;
	int		 id;
	int		 closed;
	/* Replies we wait for, oldest first. */
	enum expect	 pend[MAXPEND];
	int		 npend;
	/* Output: up to 4 segments of static buffers. */
	struct iovec	 out[4];
	int		 nout;
	int		 want_out;
	char		 in[INBUF];
	size_t		 inlen;
	int		 esmtp_pipelining;
	int		 quitting;
};

static int		 pipelining;
static long long	 max_msgs;
static long long	 started, acked;
static int		 stopping;
static volatile sig_atomic_t got_sig;
static int		 epfd;
static int		 countfd = -1;
static long long	 count_written = -1;
static int		 nopen;

static char		*helo_cmd, *env_cmd, *mail_cmd, *rcpt_cmd, *body;
static size_t		 helo_len, env_len, mail_len, rcpt_len, body_len;
static const char	 data_cmd[] = "DATA\r\n", quit_cmd[] = "QUIT\r\n";

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "smtp-pipe: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (acked=%lld)\n", acked);
	exit(1);
}

static void
write_count(void)
{
	char	buf[32];
	int	n;

	if (countfd == -1 || count_written == acked)
		return;
	n = snprintf(buf, sizeof(buf), "%020lld\n", acked);
	if (pwrite(countfd, buf, (size_t)n, 0) != n)
		die("write count file: %s", strerror(errno));
	count_written = acked;
}

static void
on_signal(int sig)
{
	got_sig = sig;
}

static char *
xstrdupf(size_t *len, const char *fmt, ...)
{
	va_list	ap;
	char	*p;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	*len = (size_t)n;
	return (p);
}

/*
 * The message, as smtp-source -l builds it: From:, To:, Date: and
 * Message-Id: headers, an empty line, then `length` octets of 80-column
 * lines (a digit, X's, CRLF), then CRLF and the end-of-data dot.
 */
static void
build_body(const char *from, const char *to, const char *helo, long length)
{
	char	 date[64];
	time_t	 now = time(NULL);
	size_t	 hlen, n;
	char	*hdr, *p;
	long	 i;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000 (UTC)",
	    gmtime(&now));
	hdr = xstrdupf(&hlen, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\n"
	    "Message-Id: <%04x.pipe@%s>\r\n\r\n", from, to, date,
	    (unsigned)getpid(), helo);
	if ((body = malloc(hlen + (size_t)length + 8)) == NULL)
		die("out of memory");
	memcpy(body, hdr, hlen);
	free(hdr);
	p = body + hlen;
	memset(p, 'X', (size_t)length);
	for (i = 80; i < length; i += 80) {
		p[i - 80] = "0123456789"[(i / 80) % 10];
		p[i - 2] = '\r';
		p[i - 1] = '\n';
	}
	n = hlen + (size_t)length;
	memcpy(body + n, "\r\n.\r\n", 5);
	body_len = n + 5;
}

static void
conn_out(struct conn *c, const void *p, size_t len)
{
	if (c->nout == 4)
		die("output queue full");
	c->out[c->nout].iov_base = (void *)p;
	c->out[c->nout].iov_len = len;
	c->nout++;
}

static void
conn_expect(struct conn *c, enum expect x)
{
	if (c->npend == MAXPEND)
		die("reply queue full");
	c->pend[c->npend++] = x;
}

static void
conn_flush(struct conn *c)
{
	struct epoll_event	ev;
	ssize_t			n;
	int			i, want;

	while (c->nout > 0) {
		n = writev(c->fd, c->out, c->nout);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			die("session %d: write: %s", c->id, strerror(errno));
		while (n > 0 && c->nout > 0) {
			if ((size_t)n >= c->out[0].iov_len) {
				n -= (ssize_t)c->out[0].iov_len;
				for (i = 1; i < c->nout; i++)
					c->out[i - 1] = c->out[i];
				c->nout--;
			} else {
				c->out[0].iov_base = (char *)c->out[0].iov_base
				    + n;
				c->out[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	want = c->nout > 0;
	if (want != c->want_out) {
		ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
		c->want_out = want;
	}
}

/* May this session start another message? */
static int
take_message(void)
{
	if (stopping || got_sig || (max_msgs > 0 && started >= max_msgs))
		return (0);
	started++;
	return (1);
}

static void
send_quit(struct conn *c)
{
	conn_out(c, quit_cmd, sizeof(quit_cmd) - 1);
	conn_expect(c, X_QUIT);
	c->quitting = 1;
}

/* Start a message: the envelope (one write when pipelining). */
static void
start_message(struct conn *c)
{
	if (pipelining) {
		conn_out(c, env_cmd, env_len);
		conn_expect(c, X_MAIL);
		conn_expect(c, X_RCPT);
		conn_expect(c, X_DATA);
	} else {
		conn_out(c, mail_cmd, mail_len);
		conn_expect(c, X_MAIL);
	}
}

static void
conn_close(struct conn *c)
{
	if (c->closed)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->closed = 1;
	nopen--;
}

/* One complete reply with code for what we expected. */
static void
conn_reply(struct conn *c, int code, const char *text)
{
	enum expect	x;
	int		i;

	if (c->npend == 0)
		die("session %d: unexpected reply: %s", c->id, text);
	x = c->pend[0];
	for (i = 1; i < c->npend; i++)
		c->pend[i - 1] = c->pend[i];
	c->npend--;
	switch (x) {
	case X_GREET:
		if (code != 220)
			die("session %d: greeting: %s", c->id, text);
		conn_out(c, helo_cmd, helo_len);
		conn_expect(c, X_HELO);
		break;
	case X_HELO:
		if (code != 250)
			die("session %d: HELO/EHLO: %s", c->id, text);
		if (pipelining && !c->esmtp_pipelining)
			die("session %d: server does not offer PIPELINING",
			    c->id);
		if (take_message())
			start_message(c);
		else
			send_quit(c);
		break;
	case X_MAIL:
		if (code != 250)
			die("session %d: MAIL: %s", c->id, text);
		if (!pipelining) {
			conn_out(c, rcpt_cmd, rcpt_len);
			conn_expect(c, X_RCPT);
		}
		break;
	case X_RCPT:
		if (code != 250)
			die("session %d: RCPT: %s", c->id, text);
		if (!pipelining) {
			conn_out(c, data_cmd, sizeof(data_cmd) - 1);
			conn_expect(c, X_DATA);
		}
		break;
	case X_DATA:
		if (code != 354)
			die("session %d: DATA: %s", c->id, text);
		conn_out(c, body, body_len);
		conn_expect(c, X_DOT);
		/* RFC 2920: the next envelope may follow the message. */
		if (pipelining && take_message())
			start_message(c);
		break;
	case X_DOT:
		if (code != 250)
			die("session %d: end of data: %s", c->id, text);
		acked++;
		if (c->npend == 0) {
			if (!pipelining && take_message())
				start_message(c);
			else
				send_quit(c);
		}
		break;
	case X_QUIT:
		conn_close(c);
		return;
	}
}

static void
conn_read(struct conn *c)
{
	ssize_t	 n;
	char	*p, *e;
	int	 code;

	size_t	 want;

	for (;;) {
		if (c->inlen == INBUF)
			die("session %d: reply line too long", c->id);
		want = INBUF - c->inlen;
		n = read(c->fd, c->in + c->inlen, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			die("session %d: read: %s", c->id, strerror(errno));
		if (n == 0) {
			if (c->quitting) {
				conn_close(c);
				return;
			}
			die("session %d: server closed the connection",
			    c->id);
		}
		c->inlen += (size_t)n;
		p = c->in;
		while ((e = memchr(p, '\n', c->inlen - (size_t)(p - c->in)))
		    != NULL) {
			*e = '\0';
			if (e - p < 3)
				die("session %d: short reply: %s", c->id, p);
			if (e - p >= 14 &&
			    strncasecmp(p + 4, "PIPELINING", 10) == 0)
				c->esmtp_pipelining = 1;
			if (p[3] != '-') {
				code = atoi(p);
				conn_reply(c, code, p);
				if (c->closed)
					return;
			}
			p = e + 1;
		}
		c->inlen -= (size_t)(p - c->in);
		memmove(c->in, p, c->inlen);
		if ((size_t)n < want)
			break;
	}
	conn_flush(c);
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtp-pipe [-P] [-s sessions] [-m messages] "
	    "[-l length] [-f from] [-t to]\n\t[-M helo] [-T seconds] "
	    "[-c countfile] host:port\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char		*from = "foo@bench.test", *to = "bar@bench.test";
	const char		*helo = "client.test", *countfile = NULL;
	struct sockaddr_in	 sin;
	struct epoll_event	 ev, evs[256];
	struct conn		*conns;
	struct timespec		 t0, now;
	char			*host, *port;
	long			 length = 1024, seconds = 0;
	int			 sessions = 1, ch, i, n, one = 1;
	double			 el;

	while ((ch = getopt(argc, argv, "Pc:f:l:m:M:s:t:T:")) != -1) {
		switch (ch) {
		case 'P': pipelining = 1; break;
		case 'c': countfile = optarg; break;
		case 'f': from = optarg; break;
		case 'l': length = atol(optarg); break;
		case 'm': max_msgs = atoll(optarg); break;
		case 'M': helo = optarg; break;
		case 's': sessions = atoi(optarg); break;
		case 't': to = optarg; break;
		case 'T': seconds = atol(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 1 || sessions < 1 || length < 0)
		usage();
	host = strdup(argv[optind]);
	if ((port = strrchr(host, ':')) == NULL)
		usage();
	*port++ = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("bad IPv4 address %s", host);

	helo_cmd = xstrdupf(&helo_len, "%s %s\r\n", pipelining ? "EHLO" :
	    "HELO", helo);
	mail_cmd = xstrdupf(&mail_len, "MAIL FROM:<%s>\r\n", from);
	rcpt_cmd = xstrdupf(&rcpt_len, "RCPT TO:<%s>\r\n", to);
	env_cmd = xstrdupf(&env_len, "%s%sDATA\r\n", mail_cmd, rcpt_cmd);
	build_body(from, to, helo, length);

	if (countfile != NULL && (countfd = open(countfile,
	    O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		die("%s: %s", countfile, strerror(errno));
	acked = 0;
	write_count();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	if ((epfd = epoll_create1(0)) == -1)
		die("epoll_create1: %s", strerror(errno));
	if ((conns = calloc((size_t)sessions, sizeof(*conns))) == NULL)
		die("out of memory");
	for (i = 0; i < sessions; i++) {
		struct conn *c = &conns[i];

		c->id = i;
		if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK,
		    0)) == -1)
			die("socket: %s", strerror(errno));
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1
		    && errno != EINPROGRESS)
			die("connect: %s", strerror(errno));
		conn_expect(c, X_GREET);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
		nopen++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (nopen > 0 && !got_sig) {
		n = epoll_wait(epfd, evs, 256, 200);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->closed)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
			if (!c->closed && (evs[i].events & EPOLLOUT))
				conn_flush(c);
		}
		write_count();
		if (seconds > 0 && !stopping) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= seconds)
				stopping = 1;
		}
	}
	write_count();
	clock_gettime(CLOCK_MONOTONIC, &now);
	el = (double)(now.tv_sec - t0.tv_sec) +
	    (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "smtp-pipe: %s sessions=%d acked=%lld "
	    "seconds=%.3f rate=%.1f/s%s\n", pipelining ? "pipelined" :
	    "lock-step", sessions, acked, el, el > 0 ? (double)acked / el : 0,
	    got_sig ? " (signalled)" : "");
	return (0);
}

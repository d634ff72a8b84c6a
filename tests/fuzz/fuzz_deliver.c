/*
 * fuzz_deliver.c: libFuzzer target for delivery planning (deliver/plan.c)
 * from what files hold: the delivery target, a delivery_map file, a
 * recipient table, the envelope's recipients and the recipient state
 * file (store/rcptstate.c), with no network and no store.  The input is
 * a flags octet, then five parts split at NUL octets in that order (a
 * missing part is empty; the recipients one a line).  Each run writes
 * the queue file, state/<QID> and the map into a private spool, then
 * plans the message as the delivery runner does.  Invariants: a
 * Maildir path made from any address stays under its pattern's base
 * (an address never adds a directory level, never makes `.` or `..`);
 * the state parsers agree on which recipients are final; a job has
 * each mailbox once, only for recipients not final, never one already
 * sent, never a keep target; and ASan sees no leak or overflow.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/deliver.h"
#include "fuzzlib.h"

#define FUZZ_PARTS	5
#define FUZZ_RCPT_MAX	16
#define FUZZ_QID	"6616DB0263CC2677"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct config	 conf;
static char		 spool[64], map[96];

/* One-time set-up: configuration and spool. */
static void
setup(void)
{
	char	*over[] = { "spool_sync=no", "hostname=fuzz.test",
	    "domains=example.test,x.test" };

	fuzz_spool_setup(&conf, over, 3, "deliver", spool, sizeof(spool));
	snprintf(map, sizeof(map), "%s/delivery.map", spool);
}

/* Write len octets of s to path (replacing it). */
static void
put_file(const char *path, const char *s, size_t len)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (len > 0 && fwrite(s, 1, len, f) != len)
		abort();
	fclose(f);
}

/*
 * Does pattern component pc (len octets) expand %u or %d?  The same
 * rules as maildir_path(): %% is a literal '%'.
 */
static int
comp_expands(const char *pc, size_t len)
{
	size_t	i;

	for (i = 0; i + 1 < len; i++) {
		if (pc[i] != '%')
			continue;
		if (pc[i + 1] == 'u' || pc[i + 1] == 'd')
			return (1);
		i++;	/* %% or %x: two octets */
	}
	return (0);
}

/*
 * maildir_path() for addr: a path that fits has the pattern's number of
 * components, the pattern's literal base, and no expanded component that
 * is empty, `.` or `..`.
 */
static void
check_maildir(const char *pattern, const char *addr, const char *delim)
{
	char		 buf[1024];
	const char	*p = pattern, *r = buf, *pe, *re;
	size_t		 base;

	if (maildir_path(pattern, addr, delim, buf, sizeof(buf)) != 0)
		return;
	base = strcspn(pattern, "%");
	if (strncmp(buf, pattern, base) != 0)
		abort();	/* the base is the pattern's */
	for (;;) {
		pe = strchr(p, '/');
		re = strchr(r, '/');
		if ((pe == NULL) != (re == NULL))
			abort();	/* an address added a level */
		if (pe == NULL)
			pe = p + strlen(p);
		if (re == NULL)
			re = r + strlen(r);
		if (comp_expands(p, (size_t)(pe - p)) && (re == r ||
		    (re - r == 1 && r[0] == '.') ||
		    (re - r == 2 && r[0] == '.' && r[1] == '.')))
			abort();	/* an address made `.` or `..` */
		if (*pe == '\0')
			break;
		p = pe + 1;
		r = re + 1;
	}
}

/* Is st final, as rcptstate_done() counts it? */
static int
final_read(enum rcpt_status st)
{
	return (rcptstate_done(&st, 1));
}

/* Check a planned job against the state it was planned from. */
static void
check_job(const struct dl_job *j, const enum rcpt_status *st)
{
	const struct dl_box	*b;
	size_t			 k, n, i, d;

	for (k = 0; k < j->nbox; k++) {
		b = &j->box[k];
		if (b->nidx == 0 || strcmp(b->target, "keep") == 0 ||
		    b->target[0] == '\0')
			abort();
		for (n = k + 1; n < j->nbox; n++)
			if (strcasecmp(b->addr, j->box[n].addr) == 0)
				abort();	/* a mailbox twice */
		for (n = 0; n < b->nidx; n++) {
			i = b->idx[n];
			if (i >= j->env.nrcpt || final_read(st[i]))
				abort();	/* a final recipient again */
			for (d = 0; d < j->rs[i].done.n; d++)
				if (strcasecmp(j->rs[i].done.v[d], b->addr) ==
				    0)
					abort();	/* sent again */
		}
		if (strncmp(b->target, "maildir:", 8) == 0)
			check_maildir(b->target + 8, b->addr, j->delim);
	}
}

/* Split data after the flags octet into FUZZ_PARTS NUL-ended strings. */
static void
split(const uint8_t *data, size_t size, char **part, size_t *plen)
{
	size_t	i, o = 0;
	char	*s;

	for (i = 0; i < FUZZ_PARTS; i++) {
		s = memchr(data + o, '\0', size - o);
		plen[i] = s != NULL ? (size_t)(s - (const char *)data) - o :
		    size - o;
		part[i] = malloc(plen[i] + 1);
		memcpy(part[i], data + o, plen[i]);
		part[i][plen[i]] = '\0';
		o += plen[i] + (o + plen[i] < size ? 1 : 0);
	}
}

/* Cut the recipients part into at most FUZZ_RCPT_MAX lines. */
static size_t
recipients(char *s, char **rcpt)
{
	size_t	n = 0;
	char	*line;

	while (n < FUZZ_RCPT_MAX && (line = strsep(&s, "\n")) != NULL)
		if (strlen(line) <= SMTP_PATH_MAX)
			rcpt[n++] = line;
	return (n);
}

/* Load the recipient table part into cfg (NULL if it does not load). */
static void
load_table(const char *s, size_t len, const char *delim)
{
	FILE	*f;
	char	*cause = NULL;

	conf.rcpt_table = NULL;
	if (len == 0 || (f = fmemopen((void *)s, len, "r")) == NULL)
		return;
	if (rcpttable_load_fp(f, "fuzz", delim, &conf, &conf.rcpt_table,
	    &cause) != 0) {
		conf.rcpt_table = NULL;
		free(cause);
	}
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const delims[] = { "", "+", "+-", "-" };
	struct dl_entry		 e;
	struct dl_job		*j;
	enum rcpt_status	 st[FUZZ_RCPT_MAX + 1];
	char			*part[FUZZ_PARTS], *rcpt[FUZZ_RCPT_MAX];
	char			 path[128], *why = NULL;
	size_t			 plen[FUZZ_PARTS], n, i;
	const char		*delim;

	if (spool[0] == '\0')
		setup();
	if (size < 1 || size > 64 * 1024)
		return (0);
	delim = delims[data[0] & 3];
	if (config_set(&conf, "recipient_delimiter", delim, &why) != 0)
		abort();
	split(data + 1, size - 1, part, plen);
	/* 0: the delivery target, as delivery = or a map line has it. */
	if (config_set(&conf, "delivery", plen[0] > 0 ? part[0] : "keep",
	    &why) != 0) {
		free(why);
		why = NULL;
		(void)config_set(&conf, "delivery", "keep", &why);
	}
	/* 1: delivery_map, a file. */
	put_file(map, part[1], plen[1]);
	(void)config_set(&conf, "delivery_map", plen[1] > 0 ? map : "", &why);
	if (plan_check(&conf, &why) != 0) {
		free(why);
		why = NULL;
		(void)config_set(&conf, "delivery", "keep", &why);
		(void)config_set(&conf, "delivery_map", "", &why);
	}
	plan_routes_refresh(1);
	/* 2: the recipient table. */
	load_table(part[2], plen[2], delim);
	/* 3: the recipients; 4: state/<QID>. */
	n = recipients(part[3], rcpt);
	fuzz_spool_put(spool, FUZZ_QID, "2026-11-29T00:00:00Z", rcpt, n,
	    "\r\nbody\r\n");
	snprintf(path, sizeof(path), "%s/state/%s", spool, FUZZ_QID);
	put_file(path, part[4], plen[4]);
	for (i = 0; i < n; i++) {
		check_maildir("/base/%d/%u", rcpt[i], delim);
		check_maildir("/base/%d/%u/.Lists", rcpt[i], delim);
		if (strncmp(conf.delivery, "maildir:", 8) == 0)
			check_maildir(conf.delivery + 8, rcpt[i], delim);
	}
	if (rcptstate_read(spool, FUZZ_QID, st, n) != 0)
		abort();
	memset(&e, 0, sizeof(e));
	snprintf(e.qid, sizeof(e.qid), "%s", FUZZ_QID);
	e.force = data[0] & 4;
	if ((j = plan_message(&e, (time_t)1800000000)) != NULL) {
		if (j->env.nrcpt != n)
			abort();
		for (i = 0; i < n; i++)
			if (final_read(st[i]) != (j->rs[i].st ==
			    RCPT_S_DELIVERED || j->rs[i].st == RCPT_S_FAILED ||
			    j->rs[i].st == RCPT_S_REMOVED))
				abort();	/* the two parsers disagree */
		check_job(j, st);
		plan_job_free(j);
	}
	if (conf.rcpt_table != NULL)
		rcpttable_free(conf.rcpt_table);
	conf.rcpt_table = NULL;
	for (i = 0; i < FUZZ_PARTS; i++)
		free(part[i]);
	return (0);
}

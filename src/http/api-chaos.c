/*
 * api-chaos.c: Mailpit's chaos calls, GET and PUT /api/v1/chaos, in
 * Mailpit's shape: {"Sender": {"ErrorCode": n, "Probability": n},
 * "Recipient": {...}, "Authentication": {...}}.  In: a routed request;
 * for PUT, that object (a stage left out, or a 0 ErrorCode, means
 * Mailpit's default: 451, or 535 for Authentication; an absent
 * Probability is 0; names match without regard to case, as Go's
 * decoder does).  Out: the triggers now, or Mailpit's 400 text/plain
 * error: "Chaos is not enabled" while sink_faults is off, or what is
 * wrong with the body.  The triggers live in the core (chaos.c); SMTP
 * fires them.
 */
#include <string.h>
#include <strings.h>

#include "http/http.h"

/* The triggers as Mailpit's JSON. */
static json_t *
chaos_json(void)
{
	json_t			*o = json_object();
	struct chaos_trigger	 t;
	int			 i;

	for (i = 0; i < CHAOS_NSTAGES; i++) {
		t = chaos_get((enum chaos_stage)i);
		json_object_set_new(o, chaos_names[i], json_pack(
		    "{s:i, s:i}", "ErrorCode", t.code,
		    "Probability", t.probability));
	}
	return (o);
}

/* Mailpit's error: 400, text/plain. */
static void
chaos_error(struct http_req *r, const char *msg)
{
	http_reply_data(r, 400, "text/plain; charset=utf-8", msg,
	    strlen(msg));
}

/* o's member named name without regard to case, or NULL. */
static json_t *
chaos_member(json_t *o, const char *name)
{
	const char	*k;
	json_t		*v;

	json_object_foreach(o, k, v)
		if (strcasecmp(k, name) == 0)
			return (v);
	return (NULL);
}

/* One integer field: absent is 0; -1 if it is there but not an integer. */
static int
chaos_int(json_t *o, const char *name, int *n)
{
	json_t		*v = chaos_member(o, name);
	json_int_t	 x;

	*n = 0;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_integer(v))
		return (-1);
	x = json_integer_value(v);
	*n = x < -1000 || x > 1000 ? -1000 : (int)x;
	return (0);
}

/* One stage from the body into t; NULL, or the complaint. */
static const char *
chaos_parse_one(json_t *b, enum chaos_stage st, struct chaos_trigger *t)
{
	json_t	*o = chaos_member(b, chaos_names[st]);

	t->code = t->probability = 0;
	if (o != NULL && !json_is_null(o)) {
		if (!json_is_object(o) ||
		    chaos_int(o, "ErrorCode", &t->code) != 0 ||
		    chaos_int(o, "Probability", &t->probability) != 0)
			return ("want {\"ErrorCode\": n, \"Probability\": n} "
			    "for each trigger");
	}
	if (t->code == 0)
		t->code = chaos_default(st);
	if (t->code < 400 || t->code > 599)
		return ("error code must be between 400 and 599");
	if (!chaos_code_ok(t->code))
		return ("error code must be one of 450 451 452 454 535 "
		    "550 551 552 553 554 (mxd has a reply for each)");
	if (t->probability < 0 || t->probability > 100)
		return ("probability must be between 0 and 100");
	return (NULL);
}

/* GET /api/v1/chaos: the triggers now. */
void
chaos_get_request(struct http_req *r)
{
	if (!cfg->sink_faults) {
		chaos_error(r, "Chaos is not enabled");
		return;
	}
	http_reply_json(r, 200, chaos_json());
}

/* PUT /api/v1/chaos: set every trigger (left out is off); the result. */
void
chaos_put_request(struct http_req *r)
{
	struct chaos_trigger	 t[CHAOS_NSTAGES];
	const char		*why = NULL;
	json_t			*b;
	int			 i;

	if (!cfg->sink_faults) {
		chaos_error(r, "Chaos is not enabled");
		return;
	}
	b = http_body_json(r, NULL);	/* json_is_object() reads it twice */
	if (!json_is_object(b))
		why = "want a JSON object: {\"Sender\": {\"ErrorCode\": n, "
		    "\"Probability\": n}, \"Recipient\": {...}, "
		    "\"Authentication\": {...}}";
	for (i = 0; why == NULL && i < CHAOS_NSTAGES; i++)
		why = chaos_parse_one(b, (enum chaos_stage)i, &t[i]);
	json_decref(b);
	if (why != NULL) {
		chaos_error(r, why);
		return;
	}
	chaos_set(t);
	http_reply_json(r, 200, chaos_json());
}

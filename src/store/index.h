/*
 * index.h: the message index of the spool (index.c), the MIME reading
 * it is built from (mime.c) and the search syntax it answers (search.c).
 * In: queue/ files, commit and removal notices, search strings.  Out:
 * rows and parsed messages for the HTTP API (and POP3 later).  The spool
 * stays the truth; the index is derived from it and rebuilt at will.
 */
#ifndef STORE_INDEX_H
#define STORE_INDEX_H

#include <jansson.h>

#include "mxd.h"

struct event_base;

/* search.c: one word of a search; Mailpit's syntax (search.go). */
enum search_field {
	SF_TEXT,		/* free text: the indexed search text */
	SF_SUBJECT,
	SF_FROM,		/* the From header's address JSON */
	SF_TO,
	SF_CC,
	SF_BCC,
	SF_REPLY_TO,
	SF_ADDRESSED,		/* To, Cc, Bcc or Reply-To */
	SF_MESSAGE_ID,
	SF_IS_READ,
	SF_IS_UNREAD,
	SF_HAS_ATTACHMENT,
	SF_HAS_INLINE,
	SF_LARGER,		/* value: octets */
	SF_SMALLER,
	SF_AFTER,		/* value: a queue ID prefix of a time */
	SF_BEFORE,
	SF_TAG,
	SF_IS_TAGGED,
	SF_TEXT_PHRASE,		/* SF_TEXT through the trigram index (SQL) */
	SF_TEXT_WORD,		/* SF_TEXT through the word index (words.c) */
	SF_ENV_FROM,		/* MailHog kind=from: envelope or From */
	SF_ENV_TO,		/* MailHog kind=to: recipients or To */
};

struct search_term {
	enum search_field	 field;
	int			 negate;
	char			*value;
};

struct search {
	struct search_term	*t;
	size_t			 n;
};

int		 search_parse(const char *, struct search *);
int		 search_add(struct search *, enum search_field, const char *);
void		 search_free(struct search *);
char		*search_sql(const struct search *, char ***, size_t *);
/* The full-text table a search walks, and what it matches there. */
struct search_fts {
	const char	*table;		/* "words" or "fts" */
	char		*match;		/* an FTS5 expression; NULL: none */
};

char		*search_sql_fts(const struct search *, char *const *,
		    struct search_fts *, char ***, size_t *);
size_t		 search_chars(const char *);
char		*search_fts5_string(const char *);

/* words.c: the word index beside the trigram one. */
struct sqlite3;
struct words;
struct words	*words_open(struct sqlite3 *);
void		 words_close(struct words *);
int		 words_add(struct words *, long long, const char *);
int		 words_commit(struct words *);
void		 words_forget(struct words *);
int		 words_sweep(struct sqlite3 *, const char **);
char		*words_match(struct sqlite3 *, const char *);
void		 search_params_free(char **, size_t);

/* mime.c: one attachment or inline part (enmime's rules). */
struct mime_file {
	char		*part_id;
	char		*filename;
	char		*content_type;
	char		*content_id;
	size_t		 size;		/* decoded octets */
	char		 md5[33];
	char		 sha1[41];
	char		 sha256[65];
};

/* A parsed message: what the index and Mailpit's Message need. */
struct mime_msg {
	json_t		*from;		/* Address object, or null */
	json_t		*to, *cc, *bcc, *reply_to;	/* [Address] */
	char		*subject;	/* RFC 2047-decoded, UTF-8 */
	char		*message_id;	/* without <> */
	char		*date;		/* RFC 3339, or NULL */
	char		*return_path;	/* without <>, or NULL */
	char		*list_unsubscribe, *list_unsubscribe_post;
	char		*text;		/* UTF-8 */
	char		*html;		/* UTF-8, "" if none */
	char		*snippet;
	char		*search;	/* the free-text search text */
	struct mime_file *attach;
	size_t		 nattach;
	struct mime_file *inlines;
	size_t		 ninline;
	json_t		*headers;	/* {Canonical-Name: [unfolded]} */
	char		*username;	/* SMTP AUTH user, from the envelope */
	char		**tags;		/* X-Tags: names, cleaned */
	size_t		 ntags;
};

int		 mime_init(void);
int		 mime_read(FILE *, struct mime_msg *);
int		 mime_read_index(FILE *, struct mime_msg *);
void		 mime_free(struct mime_msg *);
int		 mime_part(FILE *, const char *, unsigned char **, size_t *,
		    char **, char **);
char		*mime_html_text(const char *);
void		 mime_add_blind(struct mime_msg *, const struct envelope *);
char		*mime_utf8(const char *, size_t);
json_t		*mime_mailhog(FILE *, json_t **);

/* index.c: one row of the index, a MessageSummary's facts. */
struct index_row {
	char		 qid[QID_LEN + 1];
	char		*message_id;
	char		*subject;
	char		*from, *to, *cc, *bcc, *reply_to;	/* JSON text */
	char		*snippet;
	char		*username;
	long long	 size;
	long long	 attachments;
	int		 read;
	char		*tags;		/* JSON text: ["name", ...] */
};

int		 index_start(struct event_base *, const char *, long long,
		    long long, char **);
void		 index_stop(void);
void		 index_chown(uid_t, gid_t);
void		 index_watch(void (*)(const char *, void *), void *);
void		 index_unwatch(void (*)(const char *, void *), void *);
void		 index_awaited(int);
int		 index_counts(long long *, long long *);
long long	 index_qid_row(const char *);

/* seen.c: read flags kept in the spool too (spool_dir/seen). */
int		 seen_start(const char *, char **);
void		 seen_chown(uid_t, gid_t);
int		 seen_read(const char *);
void		 seen_note(const char *, int);
void		 seen_flush(void);
void		 seen_hold(void);
void		 seen_release(void);
void		 seen_stop(void);
int		 index_query(const struct search *, const char *, long long,
		    long long, struct index_row **, size_t *, long long *,
		    long long *);
int		 index_get(const char *, struct index_row *);
int		 index_ids(const struct search *, char ***, size_t *);
int		 index_set_read(const char *, int);
int		 index_size(long long *);
int		 index_batch_begin(void);
struct sqlite3	*index_handle(void);
void		 index_batch_end(void);
void		 index_row_free(struct index_row *);
void		 index_rows_free(struct index_row *, size_t);

/* tags.c: Mailpit's tags, kept in the index. */
int		 tag_clean(const char *, char *, size_t);
json_t		*tags_list(int);
int		 tags_set(const char *, char **, size_t);
int		 tags_rename(const char *, const char *);
int		 tags_delete(const char *);

#endif

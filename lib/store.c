/*
 * store.c - the database front door: picks a backend by the dsn and
 * forwards each operation to it.
 *
 * Holds no SQL and must never grow any: statements belong to the
 * backend files (store_sqlite.c, later store_pg.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_backend.h"
#include "track.h"
#include "util.h"

/* is_postgres_dsn - dsn names a PostgreSQL server rather than a file */
static bool is_postgres_dsn(const char *dsn)
{
    return strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0;
}

/* store_open - open the database named by dsn */
struct store *store_open(const char *dsn, int flags, char *err, size_t errlen)
{
    if (dsn == NULL || dsn[0] == '\0') {
        if (!snprintf_ok(err, errlen, "no database configured"))
            bug("store_open: error buffer too small");
        return NULL;
    }
    if (is_postgres_dsn(dsn)) {
        if (!snprintf_ok(err, errlen, "not built with PostgreSQL support yet"))
            bug("store_open: error buffer too small");
        return NULL;
    }
    return store_sqlite_open(dsn, flags, err, errlen);
}

/* store_set_cache - the connection's page cache */
enum store_status store_set_cache(struct store *s, unsigned mb)
{
    if (mb == 0 || mb > 1048576) {
        store_set_error(s, "page cache of %u MiB", mb);
        return STORE_ERROR;
    }
    return s->ops->set_cache(s, mb);
}

/* store_close - close and free */
struct store *store_close(struct store *s)
{
    if (s != NULL)
        s->ops->close(s);
    return NULL;
}

/* store_error - the last error of s as one line */
const char *store_error(const struct store *s)
{
    return s->err[0] ? s->err : "no error";
}

/* store_set_error - set the last error of s */
void store_set_error(struct store *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf_cut(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    if (s->err[0] == '\0')
        strcpy(s->err, "(unprintable error)");
}

/* store_check_numbering - migrations are numbered 1..n in order */
bool store_check_numbering(struct store *s, const struct store_migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].version != (int)i + 1) {
            store_set_error(s, "migration %zu (%s) has version %d, expected %zu", i,
                            m[i].name ? m[i].name : "?", m[i].version, i + 1);
            return false;
        }
    }
    return true;
}

/* store_version - schema version of the open database */
int store_version(struct store *s)
{
    return s->ops->version(s);
}

/* store_migrate - apply the migrations newer than the database */
enum store_status store_migrate(struct store *s, const struct store_migration *m, size_t n)
{
    if (!store_check_numbering(s, m, n))
        return STORE_ERROR;
    return s->ops->migrate(s, m, n);
}

/* store_check - integrity and schema version report */
enum store_status store_check(struct store *s, const struct store_migration *m, size_t n,
                              struct buf *out)
{
    return s->ops->check(s, m, n, out);
}

/* store_put_messages - write a batch of records in one transaction */
enum store_status store_put_messages(struct store *s, struct ledger_msg *const *msgs, size_t n)
{
    s->added = 0;
    s->discarded = 0;
    if (n == 0)
        return STORE_OK;
    return s->ops->put_messages(s, msgs, n);
}

/* store_added - records the last store_put_messages() stored anew */
size_t store_added(const struct store *s)
{
    return s->added;
}

/* store_discarded - opens of unknown tokens the last store_put_messages() did not store */
size_t store_discarded(const struct store *s)
{
    return s->discarded;
}

/* store_report_messages - walk matching messages, oldest first */
enum store_status store_report_messages(struct store *s, const struct store_msg_filter *f,
                                        int (*fn)(const struct ledger_msg *m, void *arg), void *arg)
{
    static const struct store_msg_filter none;

    return s->ops->report_messages(s, f ? f : &none, fn, arg);
}

/* store_report_auth - per header.from domain counts of inbound mail */
enum store_status store_report_auth(struct store *s, const struct store_auth_filter *f,
                                    int (*fn)(const struct store_auth_row *r, void *arg), void *arg)
{
    static const struct store_auth_filter none;

    return s->ops->report_auth(s, f ? f : &none, fn, arg);
}

/* store_ledger_summary - rows since a time, the newest row's time */
enum store_status store_ledger_summary(struct store *s, int64_t since, int64_t *rows,
                                       int64_t *newest)
{
    return s->ops->ledger_summary(s, since, rows, newest);
}

/* store_story_tracked - tracked rows by token, queue id or ledger uid (store_story.h) */
enum store_status store_story_tracked(struct store *s, enum store_story_by by, const char *value,
                                      int (*fn)(const struct store_story_tracked *t, void *arg),
                                      void *arg)
{
    if (value == NULL || *value == '\0') {
        store_set_error(s, "story: nothing to look up");
        return STORE_ERROR;
    }
    return s->ops->story_tracked(s, by, value, fn, arg);
}

static const char *const dkim_alg_names[] = {"rsa-sha256", "ed25519-sha256"};
static const char *const dkim_state_names[] = {"active", "pending", "retired"};

/* store_dkim_alg_name - the a= tag of an algorithm */
const char *store_dkim_alg_name(enum store_dkim_alg a)
{
    if ((unsigned)a >= sizeof(dkim_alg_names) / sizeof(dkim_alg_names[0]))
        bug("store_dkim_alg_name: algorithm %d", (int)a);
    return dkim_alg_names[a];
}

/* store_dkim_alg_parse - the algorithm named s */
bool store_dkim_alg_parse(const char *s, enum store_dkim_alg *a)
{
    for (size_t i = 0; i < sizeof(dkim_alg_names) / sizeof(dkim_alg_names[0]); i++) {
        if (s != NULL && strcmp(s, dkim_alg_names[i]) == 0) {
            *a = (enum store_dkim_alg)i;
            return true;
        }
    }
    return false;
}

/* store_dkim_state_name - the name of a key state */
const char *store_dkim_state_name(enum store_dkim_state st)
{
    if ((unsigned)st >= sizeof(dkim_state_names) / sizeof(dkim_state_names[0]))
        bug("store_dkim_state_name: state %d", (int)st);
    return dkim_state_names[st];
}

/* store_dkim_state_parse - the state named s */
bool store_dkim_state_parse(const char *s, enum store_dkim_state *st)
{
    for (size_t i = 0; i < sizeof(dkim_state_names) / sizeof(dkim_state_names[0]); i++) {
        if (s != NULL && strcmp(s, dkim_state_names[i]) == 0) {
            *st = (enum store_dkim_state)i;
            return true;
        }
    }
    return false;
}

/* dkim_name - lower-case copy of a domain or selector, NULL (error set) if unusable */
static char *dkim_name(struct store *s, const char *what, const char *v)
{
    if (v == NULL || v[0] == '\0') {
        store_set_error(s, "DKIM key: empty %s", what);
        return NULL;
    }
    return str_lower(xstrdup(v));
}

/* store_put_dkim_key - add a DKIM key */
enum store_status store_put_dkim_key(struct store *s, const struct store_dkim_key *k)
{
    struct store_dkim_key low = *k;
    enum store_status st = STORE_ERROR;
    char *domain = dkim_name(s, "domain", k->domain);
    char *selector = domain ? dkim_name(s, "selector", k->selector) : NULL;

    if (selector == NULL) {
        free(domain);
        return STORE_ERROR; /* error set */
    }
    if ((unsigned)k->algorithm > STORE_DKIM_ED25519_SHA256 ||
        (unsigned)k->state > STORE_DKIM_RETIRED)
        store_set_error(s, "DKIM key %s %s: bad algorithm or state", domain, selector);
    else if (k->key_file == NULL || k->key_file[0] != '/')
        store_set_error(s, "DKIM key %s %s: key file \"%s\" is not an absolute path", domain,
                        selector, k->key_file ? k->key_file : "");
    else if (k->bits == 0)
        store_set_error(s, "DKIM key %s %s: key size 0", domain, selector);
    else {
        low.domain = domain;
        low.selector = selector;
        st = s->ops->put_dkim_key(s, &low);
    }
    free(domain);
    free(selector);
    return st;
}

/* store_list_dkim_keys - walk the DKIM keys of one domain or all */
enum store_status store_list_dkim_keys(struct store *s, const char *domain,
                                       int (*fn)(const struct store_dkim_key *k, void *arg),
                                       void *arg)
{
    char *low = domain ? str_lower(xstrdup(domain)) : NULL;
    enum store_status st = s->ops->list_dkim_keys(s, low, fn, arg);

    free(low);
    return st;
}

/* store_set_dkim_key_state - move a key to another state */
enum store_status store_set_dkim_key_state(struct store *s, const char *domain,
                                           const char *selector, enum store_dkim_state state,
                                           int64_t now)
{
    enum store_status st = STORE_ERROR;
    char *d = dkim_name(s, "domain", domain);
    char *sel = d ? dkim_name(s, "selector", selector) : NULL;

    if (sel != NULL && (unsigned)state > STORE_DKIM_RETIRED)
        store_set_error(s, "DKIM key %s %s: bad state %d", d, sel, (int)state);
    else if (sel != NULL)
        st = s->ops->set_dkim_key_state(s, d, sel, state, now);
    free(d);
    free(sel);
    return st;
}

/* store_remove_dkim_key - forget a key */
enum store_status store_remove_dkim_key(struct store *s, const char *domain, const char *selector,
                                        bool even_active)
{
    enum store_status st = STORE_ERROR;
    char *d = dkim_name(s, "domain", domain);
    char *sel = d ? dkim_name(s, "selector", selector) : NULL;

    if (sel != NULL)
        st = s->ops->remove_dkim_key(s, d, sel, even_active);
    free(d);
    free(sel);
    return st;
}

/* store_track_field_name - the field's name in the database and the CLI */
const char *store_track_field_name(enum store_track_field f)
{
    return f == STORE_TRACK_RECIPIENT ? "recipient" : "sender";
}

/* store_track_field_parse - "sender" or "recipient" */
bool store_track_field_parse(const char *s, enum store_track_field *f)
{
    if (s && strcmp(s, "sender") == 0)
        *f = STORE_TRACK_SENDER;
    else if (s && strcmp(s, "recipient") == 0)
        *f = STORE_TRACK_RECIPIENT;
    else
        return false;
    return true;
}

/* store_put_track_rule - add a tracking rule */
enum store_status store_put_track_rule(struct store *s, const struct store_track_rule *r,
                                       int64_t *id)
{
    struct store_track_rule low = *r;
    struct buf why = BUF_INIT;
    enum store_status st = STORE_ERROR;
    char *pat = track_pattern_normalize(r->pattern, &why);

    if (pat == NULL)
        store_set_error(s, "tracking rule: %s", buf_cstr(&why));
    else if ((unsigned)r->field > STORE_TRACK_RECIPIENT)
        store_set_error(s, "tracking rule %s: bad field %d", pat, (int)r->field);
    else {
        low.pattern = pat;
        st = s->ops->put_track_rule(s, &low, id);
    }
    free(pat);
    buf_free(&why);
    return st;
}

/* store_list_track_rules - walk the rules */
enum store_status store_list_track_rules(struct store *s,
                                         int (*fn)(const struct store_track_rule *r, void *arg),
                                         void *arg)
{
    return s->ops->list_track_rules(s, fn, arg);
}

/* store_set_track_rule_enabled - switch a rule on or off */
enum store_status store_set_track_rule_enabled(struct store *s, int64_t id, bool enabled)
{
    return s->ops->set_track_rule_enabled(s, id, enabled);
}

/* store_remove_track_rule - delete a rule */
enum store_status store_remove_track_rule(struct store *s, int64_t id)
{
    return s->ops->remove_track_rule(s, id);
}

/* store_put_tracked - one tracked message */
enum store_status store_put_tracked(struct store *s, const struct store_tracked *t)
{
    if (t->token == NULL || strlen(t->token) != TRACK_TOKEN_LEN || t->mode == NULL ||
        t->outcome == NULL) {
        store_set_error(s, "tracked message without a token, mode or outcome");
        return STORE_ERROR;
    }
    return s->ops->put_tracked(s, t);
}

/* store_token_key - the token key */
enum store_status store_token_key(struct store *s, unsigned char key[32])
{
    return s->ops->token_key(s, key);
}

/* store_forget_tracked - remove one token's row */
enum store_status store_forget_tracked(struct store *s, const char *token)
{
    if (token == NULL) {
        store_set_error(s, "no token to forget");
        return STORE_ERROR;
    }
    return s->ops->forget_tracked(s, token);
}

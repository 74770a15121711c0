/*
 * ledger_records.c - what bench/ledger_bench.c stores (see ledger_records.h):
 * records like the milter writes for real mail, the databases they go
 * into, and the direct path that inserts them as lib/store_sqlite.c does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger_records.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* The writer pragmas of lib/store_sqlite.c (keep them the same; the ledger
 * sets ledger_cache_mb for its big batches, and a bench run's batches are big). */
static const char *const writer_pragmas[] = {
    "PRAGMA cache_size = -32768", /* ledger_cache_mb's default */
    "PRAGMA wal_autocheckpoint = 4000",
    "PRAGMA journal_size_limit = 67108864",
};

/* The statements of lib/store_sqlite.c (keep them the same). */
static const char sql_ins_msg[] =
    "INSERT INTO messages (uid, host, queue_id, message_id, date_header, direction,"
    " client_ip, client_ptr, helo, sasl_user, mail_from, header_from, subject, size,"
    " action, received_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    " ON CONFLICT (uid) DO NOTHING";
static const char sql_ins_rcpt[] =
    "INSERT INTO message_recipients (message_id, position, address) VALUES (?1, ?2, ?3)";
static const char sql_ins_auth[] =
    "INSERT INTO message_auth (message_id, position, method, result, identity, selector,"
    " algorithm, policy, disposition, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/* rnd - splitmix64 step: deterministic field variation */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* set_fmt - *field = formatted string */
static void set_fmt(char **field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fmt(char **field, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        bug("set_fmt: field does not fit");
    ledger_msg_set(field, tmp);
}

/* add_auth - the spf, dkim and dmarc results of an inbound message from sender<dom> */
static void add_auth(struct ledger_msg *m, unsigned dom, uint64_t c)
{
    static const char *const spf[] = {"pass", "pass", "pass", "softfail", "none", "fail"};
    struct ledger_auth *a;

    if ((a = ledger_msg_add_auth(m, "spf", spf[c % 6])) == NULL)
        bug("add_auth: no room");
    set_fmt(&a->identity, "mail.sender%u.example", dom);
    if ((a = ledger_msg_add_auth(m, "dkim", c % 7 ? "pass" : "fail")) == NULL)
        bug("add_auth: no room");
    set_fmt(&a->identity, "sender%u.example", dom);
    ledger_msg_set(&a->selector, "s2026");
    ledger_msg_set(&a->algorithm, "rsa-sha256");
    if (c % 7 == 0)
        ledger_msg_set(&a->reason, "signature did not verify");
    if ((a = ledger_msg_add_auth(m, "dmarc", "pass")) == NULL)
        bug("add_auth: no room");
    set_fmt(&a->identity, "sender%u.example", dom);
    ledger_msg_set(&a->policy, "none");
    ledger_msg_set(&a->disposition, "none");
}

/*
 * make_msg - one record like the milter writes for real mail: about 80%
 * inbound (no SASL user, spf + dkim + dmarc results), 20% outbound; two
 * recipients; a subject (as with log_subject = yes, the larger row).
 * Caller frees.
 */
static struct ledger_msg *make_msg(uint64_t seed, int64_t t0, size_t i, bool ordered_uid)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    struct ledger_msg *m = ledger_msg_new();
    uint64_t s = seed, a = rnd(&s), b = rnd(&s), c = rnd(&s);
    unsigned dom = (unsigned)(a % 5000), user = (unsigned)(b % 100000);
    bool out = c % 5 == 0;
    char rcpt[64];

    if (ordered_uid && !snprintf_ok(m->uid, sizeof(m->uid), "%016" PRIx64 "%016" PRIx64,
                                    ((uint64_t)t0 << 24) + i, a))
        bug("make_msg: uid does not fit");
    ledger_msg_set(&m->host, "mx1.example.net");
    set_fmt(&m->queue_id, "%010" PRIX64, b & 0xffffffffffu);
    set_fmt(&m->message_id, "<%016" PRIx64 ".%u@mail%u.sender%u.example>", a, user % 977,
            (unsigned)(c % 9), dom);
    set_fmt(&m->date_header, "%s, %2u Nov 2026 %02u:%02u:%02u +0100", days[i % 7],
            (unsigned)(1 + i % 28), (unsigned)(i / 3600 % 24), (unsigned)(i / 60 % 60),
            (unsigned)(i % 60));
    m->direction = out ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    set_fmt(&m->client_ip, "203.0.%u.%u", (unsigned)(a >> 8 & 255), (unsigned)(a >> 16 & 255));
    if (c % 10 != 0)
        set_fmt(&m->client_ptr, "mail-%u.out.sender%u.example", (unsigned)(a >> 24 & 1023), dom);
    set_fmt(&m->helo, "mail-%u.out.sender%u.example", (unsigned)(a >> 24 & 1023), dom);
    if (out) {
        set_fmt(&m->sasl_user, "user%u@example.net", user);
        set_fmt(&m->mail_from, "user%u@example.net", user);
        set_fmt(&m->header_from, "user%u@example.net", user);
    } else {
        set_fmt(&m->mail_from, "bounces+%u-%08x@mail.sender%u.example", user, (unsigned)(b >> 32),
                dom);
        set_fmt(&m->header_from, "newsletter@sender%u.example", dom);
    }
    set_fmt(&m->subject, "Your weekly digest: %u new items and %u replies", (unsigned)(a % 97),
            (unsigned)(b % 31));
    m->size = 2000 + (int64_t)(c % 60000);
    ledger_msg_set(&m->action, "accept");
    m->received_at = t0 + (int64_t)(i / 50);
    if (!out)
        add_auth(m, dom, c);
    if (!snprintf_ok(rcpt, sizeof(rcpt), "user%u@example.net", (unsigned)((b >> 8) % 100000)))
        bug("make_msg: recipient does not fit");
    ledger_msg_add_rcpt(m, rcpt);
    if (!snprintf_ok(rcpt, sizeof(rcpt), "team%u@example.net", (unsigned)(c % 1000)))
        bug("make_msg: recipient does not fit");
    ledger_msg_add_rcpt(m, rcpt);
    return m;
}

/* make_msgs - n records of round r (caller frees the array and each) */
struct ledger_msg **make_msgs(size_t n, size_t r, bool ordered_uid)
{
    struct ledger_msg **v = xcalloc(n, sizeof(*v));
    int64_t t0 = (int64_t)time(NULL);

    for (size_t i = 0; i < n; i++)
        v[i] = make_msg((uint64_t)r << 40 | i, t0, i, ordered_uid);
    return v;
}

/* field_bytes - bytes of field data in m (strings and recipients) */
size_t field_bytes(const struct ledger_msg *m)
{
    const char *const f[] = {m->uid,         m->host,      m->queue_id,    m->message_id,
                             m->date_header, m->client_ip, m->client_ptr,  m->helo,
                             m->sasl_user,   m->mail_from, m->header_from, m->subject,
                             m->action};
    size_t n = 16; /* size and received_at */

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        n += f[i] ? strlen(f[i]) : 0;
    for (size_t i = 0; i < m->nrcpts; i++)
        n += strlen(m->rcpts[i]);
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];
        const char *const af[] = {a->method,    a->result, a->identity,    a->selector,
                                  a->algorithm, a->policy, a->disposition, a->reason};

        for (size_t k = 0; k < sizeof(af) / sizeof(af[0]); k++)
            n += af[k] ? strlen(af[k]) : 0;
    }
    return n;
}

/* remove_db - remove the database file path and its companions */
void remove_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", ".spool", ".spool.rejected"};

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char *p = xasprintf("%s%s", path, suffix[i]);

        if (unlink(p) != 0 && errno != ENOENT)
            die("unlink %s: %s", p, strerror(errno));
        free(p);
    }
}

/* make_template - an empty database at path with the current schema */
void make_template(const char *path)
{
    struct store *s;
    char err[512];

    remove_db(path);
    s = store_open(path, 0, err, sizeof(err));
    if (s == NULL)
        die("%s: %s", path, err);
    if (store_migrate(s, store_migrations, store_migrations_count) != STORE_OK)
        die("%s: migrate: %s", path, store_error(s));
    store_close(s);
}

/* fresh_db - path becomes a copy of the template database */
void fresh_db(const char *template, const char *path)
{
    char chunk[65536];
    FILE *in, *out;
    size_t n;

    remove_db(path);
    in = fopen(template, "rb");
    if (in == NULL)
        die("%s: %s", template, strerror(errno));
    out = fopen(path, "wb");
    if (out == NULL)
        die("%s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        if (fwrite(chunk, 1, n, out) != n)
            die("%s: %s", path, strerror(errno));
    if (ferror(in) || fclose(out) != 0)
        die("copy %s to %s: %s", template, path, strerror(errno));
    fclose(in);
}

/* count_rows - SELECT count(*) FROM table */
static int64_t count_rows(sqlite3 *db, const char *table)
{
    char *sql = xasprintf("SELECT count(*) FROM %s", table); /* constant table names */
    sqlite3_stmt *st;
    int64_t n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("count %s: %s", table, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    free(sql);
    return n;
}

/* check_db - the database holds exactly n messages, 2n recipients and nauth results */
void check_db(const char *path, size_t n, size_t nauth, const char *what)
{
    sqlite3 *db;
    int64_t m, r, a;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die("%s: %s", path, sqlite3_errmsg(db));
    m = count_rows(db, "messages");
    r = count_rows(db, "message_recipients");
    a = count_rows(db, "message_auth");
    sqlite3_close(db);
    if (m != (int64_t)n || r != 2 * (int64_t)n || a != (int64_t)nauth)
        die("%s run: database has %" PRId64 " messages, %" PRId64 " recipients and %" PRId64
            " results, want %zu, %zu and %zu",
            what, m, r, a, n, 2 * n, nauth);
}

/* exec_or_die - run one statement without results */
void exec_or_die(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        die("%s: %s", sql, err ? err : "?");
}

/* bind_text - bind a string or NULL */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* direct_children - m's recipients and results under message row id */
static void direct_children(sqlite3 *db, const struct direct_stmts *ds, sqlite3_int64 id,
                            const struct ledger_msg *m)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; i < m->nrcpts; i++) {
        rc = sqlite3_bind_int64(ds->rcpt, 1, id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(ds->rcpt, 2, (sqlite3_int64)i);
        if (rc == SQLITE_OK)
            rc = bind_text(ds->rcpt, 3, m->rcpts[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(ds->rcpt);
        sqlite3_reset(ds->rcpt);
        if (rc != SQLITE_DONE)
            die("direct: insert recipient: %s", sqlite3_errmsg(db));
    }
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];
        const char *const vals[] = {a->method,    a->result, a->identity,    a->selector,
                                    a->algorithm, a->policy, a->disposition, a->reason};

        rc = sqlite3_bind_int64(ds->auth, 1, id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(ds->auth, 2, (sqlite3_int64)i);
        for (int k = 0; k < 8 && rc == SQLITE_OK; k++)
            rc = bind_text(ds->auth, k + 3, vals[k]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(ds->auth);
        sqlite3_reset(ds->auth);
        if (rc != SQLITE_DONE)
            die("direct: insert result: %s", sqlite3_errmsg(db));
    }
}

/* direct_insert - one record, its recipients and results, as store_sqlite.c does */
void direct_insert(sqlite3 *db, const struct direct_stmts *ds, const struct ledger_msg *m)
{
    sqlite3_stmt *im = ds->msg;
    const char *const strs[] = {m->uid,        m->host,        m->queue_id,
                                m->message_id, m->date_header, ledger_direction_name(m->direction),
                                m->client_ip,  m->client_ptr,  m->helo,
                                m->sasl_user,  m->mail_from,   m->header_from,
                                m->subject};
    sqlite3_int64 id;
    int rc = SQLITE_OK;

    for (int i = 0; i < 13 && rc == SQLITE_OK; i++)
        rc = bind_text(im, i + 1, strs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(im, 14, m->size);
    if (rc == SQLITE_OK)
        rc = bind_text(im, 15, m->action);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(im, 16, m->received_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(im);
    sqlite3_reset(im);
    if (rc != SQLITE_DONE)
        die("direct: insert message: %s", sqlite3_errmsg(db));
    id = sqlite3_last_insert_rowid(db);
    direct_children(db, ds, id, m);
}

/* direct_setup - the store's pragmas (and extra_sql, if any) on db, and its statements in ds */
void direct_setup(sqlite3 *db, const char *extra_sql, struct direct_stmts *ds)
{
    exec_or_die(db, "PRAGMA journal_mode = WAL");
    exec_or_die(db, "PRAGMA synchronous = NORMAL");
    exec_or_die(db, "PRAGMA foreign_keys = ON");
    for (size_t i = 0; i < sizeof(writer_pragmas) / sizeof(*writer_pragmas); i++)
        exec_or_die(db, writer_pragmas[i]);
    if (extra_sql)
        exec_or_die(db, extra_sql);
    if (sqlite3_prepare_v3(db, sql_ins_msg, -1, SQLITE_PREPARE_PERSISTENT, &ds->msg, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v3(db, sql_ins_rcpt, -1, SQLITE_PREPARE_PERSISTENT, &ds->rcpt, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v3(db, sql_ins_auth, -1, SQLITE_PREPARE_PERSISTENT, &ds->auth, NULL) !=
            SQLITE_OK)
        die("direct: prepare: %s", sqlite3_errmsg(db));
}

/* direct_finalize - the statements of direct_setup() */
void direct_finalize(struct direct_stmts *ds)
{
    sqlite3_finalize(ds->msg);
    sqlite3_finalize(ds->rcpt);
    sqlite3_finalize(ds->auth);
}

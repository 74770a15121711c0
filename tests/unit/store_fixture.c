/*
 * store_fixture.c - what the store unit tests share (test_store.c,
 * test_store_ledger.c); see store_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger_msg.h"
#include "store.h"
#include "util.h"

#include "store_fixture.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-store-XXXXXX";
static unsigned db_no;

/* store_fixture_dir - the private temporary directory of this run */
const char *store_fixture_dir(void)
{
    return tmpdir;
}

/* new_db - a fresh database file name in the test directory (static buffer) */
const char *new_db(void)
{
    static char path[256];

    assert_true(snprintf_ok(path, sizeof(path), "%s/db-%u.sqlite", tmpdir, ++db_no));
    return path;
}

/* open_ok - store_open that must succeed */
struct store *open_ok(const char *path, int flags)
{
    char err[512] = "";
    struct store *s = store_open(path, flags, err, sizeof(err));

    if (s == NULL)
        fail_msg("store_open %s: %s", path, err);
    return s;
}

/* sql_int - first column of the first row of sql on a separate connection (-1 if no row) */
long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Messages for the put/report tests; seq is stored in size. */
struct msg_spec {
    int64_t received_at;
    enum ledger_direction dir;
    const char *mail_from, *header_from, *subject;
    const char *rcpts[3];
};

static const struct msg_spec specs[] = {
    {1000, LEDGER_INBOUND, "alice@a.example", "alice@a.example", "one", {"bob@b.example", NULL}},
    {2000, LEDGER_OUTBOUND, "", "Carol@C.example", NULL, {"Dave@D.example", "bob@B.EXAMPLE", NULL}},
    {3000, LEDGER_INBOUND, "ALICE@A.EXAMPLE", "other@x.example", "three", {NULL}},
    {3000, LEDGER_OUTBOUND, "erin@e.example", NULL, "four", {"erin2@e.example", NULL}},
    {5000, LEDGER_INBOUND, NULL, NULL, NULL, {"bob@b.example", NULL}},
};
_Static_assert(sizeof(specs) / sizeof(specs[0]) == NSPECS, "NSPECS is the number of specs[]");

/* spec_msg - record number i of specs, with every other field set from i; caller frees */
struct ledger_msg *spec_msg(size_t i)
{
    const struct msg_spec *sp = &specs[i];
    struct ledger_msg *m = ledger_msg_new();
    char s[64];

    snprintf(s, sizeof(s), "Q%zu", i);
    ledger_msg_set(&m->queue_id, s);
    ledger_msg_set(&m->host, "mx.example.org");
    snprintf(s, sizeof(s), "<%zu@example.org>", i);
    ledger_msg_set(&m->message_id, s);
    ledger_msg_set(&m->date_header, i % 2 ? NULL : "Tue, 24 Nov 2026 10:00:00 +0000");
    m->direction = sp->dir;
    ledger_msg_set(&m->client_ip, i == 4 ? NULL : "192.0.2.9");
    ledger_msg_set(&m->client_ptr, i == 1 ? "ptr.example.net" : NULL);
    ledger_msg_set(&m->helo, "helo.example.net");
    ledger_msg_set(&m->sasl_user, sp->dir == LEDGER_OUTBOUND ? "alice" : NULL);
    ledger_msg_set(&m->mail_from, sp->mail_from);
    ledger_msg_set(&m->header_from, sp->header_from);
    ledger_msg_set(&m->subject, sp->subject);
    ledger_msg_set(&m->action, i == 2 ? "quarantine" : "accept");
    m->size = (int64_t)i;
    m->received_at = sp->received_at;
    for (size_t k = 0; sp->rcpts[k]; k++)
        ledger_msg_add_rcpt(m, sp->rcpts[k]);
    /* Inbound records carry i authentication results (dkim per signature). */
    for (size_t k = 0; sp->dir == LEDGER_INBOUND && k < i; k++) {
        struct ledger_auth *a = ledger_msg_add_auth(m, k == 0 ? "spf" : "dkim", "pass");

        ledger_msg_set(&a->identity, "a.example");
        ledger_msg_set(&a->selector, k ? "s1" : NULL);
    }
    return m;
}

/* store_fixture_setup - a private temporary directory */
int store_fixture_setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

/* store_fixture_teardown - remove the temporary directory and everything in it */
int store_fixture_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

/*
 * test_tracker_adv.c - adversarial review of postmeter-tracker's token
 * key (issue 24, step 2; tracker-httpd/tokenkey.c): a database made anew
 * under the same path (a new token key) while the tracker runs.
 *
 * postmeter-milter re-reads the key with its rules and makes tokens under
 * the new key at once; a tracker that kept the key it read at start
 * answered every one of those tokens as forged (outcome bad_token) and
 * never queued an open of them, until restarted. The cases: a database
 * replaced by another file (rename over it) gives the new key on the
 * next attempt and hands back the old one to retire; the same key read
 * again replaces nothing; a database that is gone keeps the key (never
 * back to queueing every well-formed token unverified).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "tmpdir_fixture.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

static char dir[] = "/tmp/test_tracker_adv.XXXXXX";

/* make_db - a new migrated database at path; its token key into k */
static void make_db(const char *path, struct track_key *k)
{
    unsigned char raw[TRACK_KEY_LEN];
    char err[512];
    struct store *s = store_open(path, 0, err, sizeof(err));

    assert_non_null(s);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_token_key(s, raw), STORE_OK);
    store_close(s);
    track_key_set(k, raw);
}

/* verdict - what the tracker's current key makes of tok */
static enum tracker_token verdict(const char *tok)
{
    return tracker_token_verdict(tracker_key(), tok, TRACK_TOKEN_LEN);
}

/* A database made anew while the tracker runs: its tokens are valid at the next attempt. */
static void test_key_replaced(void **state)
{
    char db[64], fresh[64], tok_a[TRACK_TOKEN_LEN + 1], tok_b[TRACK_TOKEN_LEN + 1];
    struct track_key ka, kb, *old = NULL;

    (void)state;
    assert_true(snprintf_ok(db, sizeof(db), "%s/ledger.db", dir));
    assert_true(snprintf_ok(fresh, sizeof(fresh), "%s/fresh.db", dir));
    make_db(db, &ka);
    assert_true(tracker_key_try(db, &old));
    assert_null(old);
    track_token_new(&ka, tok_a);
    assert_int_equal(verdict(tok_a), TOKEN_VALID);

    /* another database takes the name (a restore, or rm and a writer that creates it again) */
    make_db(fresh, &kb);
    assert_int_equal(rename(fresh, db), 0);
    track_token_new(&kb, tok_b); /* what postmeter-milter now puts into mail */
    assert_true(tracker_key_try(db, &old));
    assert_int_equal(verdict(tok_b), TOKEN_VALID); /* was TOKEN_FORGED: the open never queued */
    assert_int_equal(verdict(tok_a), TOKEN_FORGED);
    assert_non_null(old); /* the caller retires it once no request holds it */
    old = tracker_key_retire(old);

    /* the same key read again replaces nothing */
    assert_true(tracker_key_try(db, &old));
    assert_null(old);
    assert_int_equal(verdict(tok_b), TOKEN_VALID);

    /* the database gone: the key is kept, tokens are still checked */
    assert_int_equal(unlink(db), 0);
    assert_true(tracker_key_try(db, &old));
    assert_null(old);
    assert_non_null(tracker_key());
    assert_int_equal(verdict(tok_b), TOKEN_VALID);
    assert_int_equal(verdict(tok_a), TOKEN_FORGED);
    tracker_key_free();
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir);
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_replaced),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

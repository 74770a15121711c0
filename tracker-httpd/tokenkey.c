/*
 * tokenkey.c - the tracker's copy of the token key (schema token_key):
 * what tells a token a postmeter host made from a forged one without the
 * database (track.h).
 *
 * The main thread reads it at start and, while that fails (the database
 * locked, missing or not yet migrated), again every TOKENKEY_RETRY_S; the
 * request threads read the published pointer without a lock. A
 * database's key is made once and never changes, so it is published
 * once and freed only at exit. Until it is read, every well-formed token
 * is queued, as before tokens carried a tag, and the writer discards an
 * unknown one: a real open is never lost for want of the key. The key
 * itself is never logged.
 */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

#define TOKENKEY_RETRY_S 2 /* seconds between attempts while the key is missing */

static _Atomic(struct track_key *) current; /* NULL until read */
static time_t next_try;                     /* main thread only */
static unsigned failures;                   /* main thread only */

/* monotonic_s - seconds of the monotonic clock */
static time_t monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* tracker_key - the key, NULL while it is not read */
const struct track_key *tracker_key(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

/* tracker_key_try - read the key unless it is read or the last attempt was too recent */
bool tracker_key_try(const char *database)
{
    struct track_key *k;
    struct store *s;
    char err[512] = "";
    bool ok = false;

    if (tracker_key() != NULL)
        return true;
    if (failures > 0 && monotonic_s() < next_try)
        return false;
    k = xcalloc(1, sizeof(*k));
    if ((s = store_open(database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err))) != NULL) {
        ok = track_key_load(s, k, err, sizeof(err));
        store_close(s);
    }
    if (!ok) {
        if (failures++ == 0)
            warn("database %s: %s; until the token key is read, every well-formed token is "
                 "queued and checked when written (trying again every %d s)",
                 database, err, TOKENKEY_RETRY_S);
        else
            debug("token key, attempt %u: %s", failures + 1, err);
        next_try = monotonic_s() + TOKENKEY_RETRY_S;
        free(k);
        return false;
    }
    atomic_store_explicit(&current, k, memory_order_release);
    if (failures > 0)
        info("token key read after %u failed attempt(s): forged tokens are no longer queued",
             failures);
    return true;
}

/* tracker_key_free - forget the key at exit (no request thread may be running) */
void tracker_key_free(void)
{
    struct track_key *k = atomic_exchange(&current, NULL);

    if (k != NULL) {
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
    }
    failures = 0;
}

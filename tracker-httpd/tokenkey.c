/*
 * tokenkey.c - the tracker's copy of the token key (schema token_key):
 * what tells a token a postmeter host made from a forged one without the
 * database (track.h).
 *
 * The main thread reads it at start and, while that fails (the database
 * locked, missing or not yet migrated), again every TOKENKEY_RETRY_S; the
 * request threads read the published pointer inside the servers' settings
 * lock (serve.c). Until it is read, every well-formed token is queued, as
 * before tokens carried a tag, and the writer discards an unknown one: a
 * real open is never lost for want of the key.
 *
 * A database's key never changes, but the database can be made anew
 * under the same name (removed and created again by a writer, a restore
 * from another host): postmeter-milter then makes tokens under the new
 * key, and a tracker that kept the old one would refuse every one of them
 * as forged, silently, until restarted. So once read, the key is read
 * again when the file at the path changed (another device, inode or
 * ctime: ext4 gives a new file the inode just freed; a checkpoint moves
 * the ctime too, which costs one read of the key) and every
 * TOKENKEY_RECHECK_S, and a different key replaces the
 * published one; the caller frees the old one once no request can hold
 * it. A failed re-read keeps the key. The key itself is never logged.
 */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

#define TOKENKEY_RETRY_S   2  /* seconds between attempts while the key is missing */
#define TOKENKEY_RECHECK_S 30 /* seconds between reads of a key already read */

static _Atomic(struct track_key *) current; /* NULL until read */
static time_t next_try;                     /* main thread only */
static unsigned failures;                   /* main thread only */
/* What tells one file at a path from another: an inode number is reused at once (ext4). */
struct file_id {
    dev_t dev;
    ino_t ino;
    struct timespec ctime; /* a new file's; also moves when the file is written (checkpoints) */
};
static struct file_id key_file; /* the file the key was read from (main thread) */

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

/* file_of - what tells the file at path from another; false if there is none */
static bool file_of(const char *path, struct file_id *id)
{
    struct stat sb;

    memset(id, 0, sizeof(*id));
    if (stat(path, &sb) != 0)
        return false;
    id->dev = sb.st_dev, id->ino = sb.st_ino, id->ctime = sb.st_ctim;
    return true;
}

/* same_file - a and b are the same file, unchanged */
static bool same_file(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* read_key - the key of database into a new struct (caller frees); NULL with err */
static struct track_key *read_key(const char *database, struct file_id *id, char *err,
                                  size_t errlen)
{
    struct track_key *k = xcalloc(1, sizeof(*k));
    struct store *s;
    bool ok = false;

    file_of(database, id); /* none (gone, not a file): only the timer re-reads it */
    if ((s = store_open(database, STORE_READONLY | STORE_NOCREATE, err, errlen)) != NULL) {
        ok = track_key_load(s, k, err, errlen);
        store_close(s);
    }
    if (ok)
        return k;
    free(k);
    return NULL;
}

/*
 * recheck - read the key again (the file at the path changed if changed:
 * another one, or written); a different key is published and the old one
 * returned. A failed read keeps the key and tries again: soon if the file
 * changed (a new database's migration may not have made its key yet),
 * else on the timer.
 */
static struct track_key *recheck(const char *database, bool changed)
{
    struct track_key *k, *old = atomic_load_explicit(&current, memory_order_relaxed);
    char err[512] = "";
    struct file_id id;

    if ((k = read_key(database, &id, err, sizeof(err))) == NULL) {
        next_try = monotonic_s() + (changed ? TOKENKEY_RETRY_S : TOKENKEY_RECHECK_S);
        file_of(database, &key_file); /* the timer, not the file, says when to look again */
        debug("token key, read again: %s (the one read before is kept)", err);
        return NULL;
    }
    next_try = monotonic_s() + TOKENKEY_RECHECK_S;
    key_file = id;
    if (CRYPTO_memcmp(k, old, sizeof(*k)) == 0) {
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
        return NULL;
    }
    atomic_store_explicit(&current, k, memory_order_release);
    warn("database %s: the token key changed (the database was made anew); tokens are now "
         "checked under the new key",
         database);
    return old;
}

/* tracker_key_try - read the key unless it is read or the last attempt was too recent */
bool tracker_key_try(const char *database, struct track_key **replaced)
{
    struct track_key *k;
    char err[512] = "";
    struct file_id id;

    *replaced = NULL;
    if (tracker_key() != NULL) {
        bool changed = file_of(database, &id) && !same_file(&id, &key_file);

        if (changed || monotonic_s() >= next_try)
            *replaced = recheck(database, changed);
        return true;
    }
    if (failures > 0 && monotonic_s() < next_try)
        return false;
    if ((k = read_key(database, &id, err, sizeof(err))) == NULL) {
        if (failures++ == 0)
            warn("database %s: %s; until the token key is read, every well-formed token is "
                 "queued and checked when written (trying again every %d s)",
                 database, err, TOKENKEY_RETRY_S);
        else
            debug("token key, attempt %u: %s", failures + 1, err);
        next_try = monotonic_s() + TOKENKEY_RETRY_S;
        return false;
    }
    key_file = id;
    next_try = monotonic_s() + TOKENKEY_RECHECK_S;
    atomic_store_explicit(&current, k, memory_order_release);
    if (failures > 0)
        info("token key read after %u failed attempt(s): forged tokens are no longer queued",
             failures);
    return true;
}

/* tracker_key_retire - free a replaced key (no request may hold it any more) */
struct track_key *tracker_key_retire(struct track_key *k)
{
    if (k != NULL) {
        OPENSSL_cleanse(k, sizeof(*k));
        free(k);
    }
    return NULL;
}

/* tracker_key_free - forget the key at exit (no request thread may be running) */
void tracker_key_free(void)
{
    tracker_key_retire(atomic_exchange(&current, NULL));
    failures = 0;
    next_try = 0;
}

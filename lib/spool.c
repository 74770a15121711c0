/*
 * spool.c - append-only file of ledger records, replayed in order.
 *
 * Invariant: the file holds only complete records (spool_open() cuts a
 * torn tail, a failed append is cut back), records [0, done) have been
 * stored, and appends only ever go to the end. This file must never
 * rewrite or reorder records, and never loses the data of a record that
 * was not yet reported stored by spool_done().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#define SPOOL_CHUNK (256 * 1024) /* bytes read at a time */

struct spool {
    char *path;
    uint64_t max_bytes; /* 0 = no bound */
    int fd;             /* -1 until the file exists */
    dev_t dev;
    ino_t ino;
    uint64_t size;      /* bytes in the file */
    uint64_t done;      /* records before this offset are stored */
    uint64_t next;      /* end of the batch handed out by spool_next() */
    uint64_t skipped;   /* malformed records skipped while replaying */
    uint64_t skip_mark; /* skips before this offset are counted already: a batch
                           read again after a failed commit counts nothing twice */
    uint64_t gen;       /* bumped when the file was replaced and reopened */
    uint64_t next_gen;  /* gen when spool_next() handed out the batch */
    bool sync;          /* fdatasync every append */
    struct buf rd;      /* read window */
};

/* scan - decode records from *pos up to limit: at most max (0 = no limit) into msgs (NULL =
 * count and free); *pos ends after the last complete record, *torn tells whether an
 * incomplete one follows it. Returns 0, or -1 on a read error. */
static int scan(struct spool *sp, uint64_t *pos, uint64_t limit, struct ledger_msg **msgs,
                size_t max, size_t *n, bool *torn, bool count_skips)
{
    uint64_t off = *pos; /* file offset of rd.data[0] */
    size_t at = 0;

    *n = 0;
    *torn = false;
    buf_reset(&sp->rd);
    while (max == 0 || *n < max) {
        struct ledger_msg *m;
        size_t used;
        ssize_t r;
        size_t want;

        m = ledger_msg_decode(sp->rd.data ? sp->rd.data + at : "", sp->rd.len - at, &used);
        if (used > 0) {
            at += used;
            *pos = off + at;
            if (m == NULL && count_skips && *pos - used >= sp->skip_mark) {
                sp->skipped++;
                sp->skip_mark = *pos;
                warn("spool %s: skipped a malformed record at offset %llu", sp->path,
                     (unsigned long long)(*pos - used));
            }
            if (m != NULL && msgs != NULL)
                msgs[*n] = m;
            else
                ledger_msg_free(m);
            if (m != NULL)
                (*n)++;
            continue;
        }
        if (off + sp->rd.len >= limit) {
            *torn = sp->rd.len > at;
            break;
        }
        /* Need more bytes: keep the unread rest, read the next chunk. */
        if (at > 0) {
            memmove(sp->rd.data, sp->rd.data + at, sp->rd.len - at);
            buf_truncate(&sp->rd, sp->rd.len - at);
            off += at;
            at = 0;
        }
        want = sp->rd.len > SPOOL_CHUNK ? sp->rd.len : SPOOL_CHUNK;
        if (want > limit - (off + sp->rd.len))
            want = (size_t)(limit - (off + sp->rd.len));
        buf_reserve(&sp->rd, want);
        r = pread(sp->fd, sp->rd.data + sp->rd.len, want, (off_t)(off + sp->rd.len));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            limit = off + sp->rd.len; /* shorter than we thought */
            continue;
        }
        sp->rd.len += (size_t)r;
        sp->rd.data[sp->rd.len] = '\0';
    }
    if (sp->rd.cap > 4 * SPOOL_CHUNK)
        buf_free(&sp->rd);
    return 0;
}

/* attach - adopt fd as the spool file: lock it, cut a torn tail; -1 with err on failure */
static int attach(struct spool *sp, int fd, char *err, size_t errlen)
{
    struct stat st;
    uint64_t end = 0;
    size_t n;
    bool torn;

    if (fstat(fd, &st) != 0) {
        snprintf_cut(err, errlen, "fstat %s: %s", sp->path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) { /* a FIFO or device would block every append */
        snprintf_cut(err, errlen, "%s: not a regular file", sp->path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf_cut(err, errlen, "%s: %s", sp->path,
                     errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf_cut(err, errlen, "fstat %s: %s", sp->path, strerror(errno));
        return -1;
    }
    sp->fd = fd;
    sp->dev = st.st_dev;
    sp->ino = st.st_ino;
    sp->size = (uint64_t)st.st_size;
    sp->done = sp->next = sp->skip_mark = 0;
    if (scan(sp, &end, sp->size, NULL, 0, &n, &torn, false) != 0) {
        snprintf_cut(err, errlen, "read %s: %s", sp->path, strerror(errno));
        sp->fd = -1;
        return -1;
    }
    if (end < sp->size) {
        warn("spool %s: cutting an incomplete last record (%llu bytes)", sp->path,
             (unsigned long long)(sp->size - end));
        if (ftruncate(fd, (off_t)end) != 0) {
            snprintf_cut(err, errlen, "truncate %s: %s", sp->path, strerror(errno));
            sp->fd = -1;
            return -1;
        }
        sp->size = end;
    }
    if (n > 0)
        info("spool %s: %zu records wait to be replayed", sp->path, n);
    return 0;
}

/* open_file - open (create = also create) the spool file; 0 if missing and !create */
static int open_file(struct spool *sp, bool create, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO planted at the path must not block (attach refuses it). */
    int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0);
    int fd = open(sp->path, flags, 0600);

    if (fd < 0) {
        if (errno == ENOENT && !create)
            return 0;
        snprintf_cut(err, errlen, "open %s: %s", sp->path, strerror(errno));
        return -1;
    }
    if (attach(sp, fd, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

/* spool_open - open the spool at path; a missing file is created by the first append */
struct spool *spool_open(const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
    struct spool *sp = xcalloc(1, sizeof(*sp));

    sp->path = xstrdup(path);
    sp->max_bytes = max_bytes;
    sp->fd = -1;
    sp->sync = true;
    if (open_file(sp, false, err, errlen) != 0)
        return spool_close(sp);
    return sp;
}

/* spool_close - close and free */
struct spool *spool_close(struct spool *sp)
{
    if (sp == NULL)
        return NULL;
    if (sp->fd >= 0)
        close(sp->fd);
    buf_free(&sp->rd);
    free(sp->path);
    free(sp);
    return NULL;
}

/* still_ours - the path still names the file we hold open */
static bool still_ours(const struct spool *sp)
{
    struct stat st;

    return stat(sp->path, &st) == 0 && st.st_dev == sp->dev && st.st_ino == sp->ino;
}

/* spool_set_sync - fdatasync each append (the default), or only write it */
void spool_set_sync(struct spool *sp, bool sync)
{
    sp->sync = sync;
}

/* ready - the file open (reopened if it was replaced); false (logged, errno EIO) if not */
static bool ready(struct spool *sp)
{
    char err[512];

    if (sp->fd >= 0 && !still_ours(sp)) {
        warn("spool %s was removed or replaced; %llu bytes in the old file are abandoned", sp->path,
             (unsigned long long)(sp->size - sp->done));
        close(sp->fd);
        sp->fd = -1;
        sp->size = sp->done = sp->next = sp->skip_mark = 0;
        sp->gen++;
    }
    if (sp->fd < 0 && open_file(sp, true, err, sizeof(err)) != 0) {
        warn("spool: %s", err);
        errno = EIO;
        return false;
    }
    return true;
}

/* put - append len bytes of whole records (and fdatasync if sync); 0, or -1 with errno */
static int put(struct spool *sp, const char *data, size_t len)
{
    int saved;

    if (!write_all(sp->fd, data, len) || (sp->sync && fdatasync(sp->fd) != 0)) {
        saved = errno;
        /* Cut a partial write so the file still ends at a record boundary. */
        if (ftruncate(sp->fd, (off_t)sp->size) != 0)
            warn("spool %s: cannot cut a failed append: %s", sp->path, strerror(errno));
        errno = saved;
        return -1;
    }
    sp->size += len;
    return 0;
}

/* spool_append - append msgs[0..n) (and fsync); returns how many, or -1 */
long spool_append(struct spool *sp, struct ledger_msg *const *msgs, size_t n)
{
    struct buf out = BUF_INIT;
    size_t k;
    int rc;

    if (n == 0)
        return 0;
    if (!ready(sp))
        return -1;
    for (k = 0; k < n; k++) {
        size_t before = out.len;

        ledger_msg_encode(msgs[k], &out);
        if (sp->max_bytes && sp->size + out.len > sp->max_bytes) {
            buf_truncate(&out, before);
            break;
        }
    }
    if (out.len == 0) {
        buf_free(&out);
        return 0;
    }
    rc = put(sp, out.data, out.len);
    buf_free(&out);
    return rc == 0 ? (long)k : -1;
}

/* spool_append_bytes - append records already encoded (and fsync); 0, or -1 with errno */
int spool_append_bytes(struct spool *sp, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    if (!ready(sp))
        return -1;
    if (sp->max_bytes && sp->size + len > sp->max_bytes) {
        errno = EFBIG;
        return -1;
    }
    return put(sp, data, len);
}

/* spool_next - read the next batch of records not yet replayed */
int spool_next(struct spool *sp, struct ledger_msg **msgs, size_t max, size_t *n)
{
    uint64_t pos = sp->done;
    bool torn;

    *n = 0;
    sp->next = sp->done;
    sp->next_gen = sp->gen;
    if (sp->fd < 0 || sp->done >= sp->size || max == 0)
        return 0;
    if (scan(sp, &pos, sp->size, msgs, max, n, &torn, true) != 0) {
        for (size_t i = 0; i < *n; i++)
            msgs[i] = ledger_msg_free(msgs[i]);
        *n = 0;
        return -1;
    }
    if (torn && *n < max) {
        /* Cannot happen to a file only we append to; never loop on it. */
        if (pos >= sp->skip_mark) {
            warn("spool %s: ignoring %llu bytes of garbage at the end", sp->path,
                 (unsigned long long)(sp->size - pos));
            sp->skipped++;
            sp->skip_mark = sp->size;
        }
        pos = sp->size;
    }
    sp->next = pos;
    return 0;
}

/* spool_done - the last batch is stored; empty the file once all is */
void spool_done(struct spool *sp)
{
    if (sp->next_gen != sp->gen)
        return; /* the file was replaced since spool_next(): that batch is not in it */
    sp->done = sp->next;
    if (sp->fd < 0 || sp->done < sp->size)
        return;
    if (ftruncate(sp->fd, 0) != 0) {
        warn("spool %s: cannot truncate after replay: %s", sp->path, strerror(errno));
        return; /* replayed again next time: harmless, uids are unique */
    }
    sp->size = sp->done = sp->next = sp->skip_mark = 0;
}

/* spool_replay - hand every pending record to fn, in batches, oldest first */
int spool_replay(struct spool *sp, size_t max,
                 int (*fn)(struct ledger_msg *const *msgs, size_t n, void *arg), void *arg)
{
    struct ledger_msg **msgs = xcalloc(max ? max : 1, sizeof(*msgs));
    int rc = 1;

    for (;;) {
        size_t n;
        int stop;

        if (spool_next(sp, msgs, max, &n) != 0) {
            rc = -1;
            break;
        }
        if (n == 0) {
            spool_done(sp); /* garbage-only rest */
            break;
        }
        stop = fn(msgs, n, arg);
        for (size_t i = 0; i < n; i++)
            msgs[i] = ledger_msg_free(msgs[i]);
        if (stop) {
            sp->next = sp->done;
            rc = 0;
            break;
        }
        spool_done(sp);
    }
    free(msgs);
    return rc;
}

/* spool_clear - empty the file */
int spool_clear(struct spool *sp)
{
    if (sp->fd >= 0 && sp->size > 0 && ftruncate(sp->fd, 0) != 0)
        return -1;
    sp->size = sp->done = sp->next = sp->skip_mark = 0;
    return 0;
}

/* spool_pending - records are waiting to be replayed */
bool spool_pending(const struct spool *sp)
{
    return sp->fd >= 0 && sp->done < sp->size;
}

/* spool_size - bytes in the spool file now */
uint64_t spool_size(const struct spool *sp)
{
    return sp->size;
}

/* spool_skipped - malformed records skipped since open */
uint64_t spool_skipped(const struct spool *sp)
{
    return sp->skipped;
}

/* spool_path - the file name */
const char *spool_path(const struct spool *sp)
{
    return sp->path;
}

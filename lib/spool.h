/*
 * spool.h - an append-only file of ledger records (ledger_msg spool
 * format), kept next to the database while the database cannot be
 * written, and replayed in order once it can.
 *
 * Appends are whole batches written with O_APPEND and, unless
 * spool_set_sync(sp, false), made durable with fdatasync before
 * spool_append() returns (a write(2) that returned survives the death of
 * the process; the fdatasync also a power loss). A crash can leave a torn last
 * record; spool_open() cuts the file back to its last complete record so
 * later appends never follow garbage. The file is created (mode 0600) on
 * the first append, and emptied once every record has been replayed.
 *
 * A struct spool is used by one thread at a time (the ledger serializes
 * its users with a mutex); appends may come between spool_next() and
 * spool_done(): the file is emptied only once everything in it is stored. Only one process may
 * have a spool file open (an exclusive flock is taken).
 */
#ifndef POSTMETER_SPOOL_H
#define POSTMETER_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_msg.h"

struct spool;

/*
 * spool_open - open the spool at path, bounded to max_bytes (0 = no
 * bound). A missing file (or directory) is not an error: it is created by
 * the first append. Returns NULL with a reason in err[errlen] if the file
 * exists but cannot be opened, locked or repaired.
 */
struct spool *spool_open(const char *path, uint64_t max_bytes, char *err, size_t errlen);
/* spool_close - close and free; returns NULL. Records not replayed stay in the file. */
struct spool *spool_close(struct spool *sp);

/*
 * spool_append - append msgs[0..n) in order and fsync. Appends the
 * longest prefix that fits the size bound; returns how many were appended
 * (0..n), or -1 on an I/O error (then nothing was appended).
 */
long spool_append(struct spool *sp, struct ledger_msg *const *msgs, size_t n);

/*
 * spool_append_bytes - append len bytes of whole records in spool format
 * (ledger_msg_encode) as they are (and fsync). Returns 0, or -1 with
 * errno (EFBIG: past the size bound; then nothing was appended).
 */
int spool_append_bytes(struct spool *sp, const char *data, size_t len);
/* spool_set_sync - fdatasync each append (true, the default) or only write(2) it */
void spool_set_sync(struct spool *sp, bool sync);

/*
 * spool_next - read the next at most max records not yet replayed, in
 * order, into msgs[] (caller frees each); *n is set to how many. They
 * count as replayed only after spool_done(). Returns 0, or -1 on an I/O
 * error. Malformed records are skipped with a warning.
 */
int spool_next(struct spool *sp, struct ledger_msg **msgs, size_t max, size_t *n);
/*
 * spool_done - the records of the last spool_next() are stored; once
 * every record is, the file is truncated to zero.
 */
void spool_done(struct spool *sp);
/*
 * spool_replay - hand every record not yet replayed to fn in batches of
 * at most max, oldest first (fn borrows them). A batch counts as replayed
 * when fn returns 0; a non-zero return stops the walk and the batch is
 * offered again next time. Returns 1 when the spool is empty afterwards,
 * 0 when fn stopped it, -1 on an I/O error.
 */
int spool_replay(struct spool *sp, size_t max,
                 int (*fn)(struct ledger_msg *const *msgs, size_t n, void *arg), void *arg);

/* spool_clear - empty the file (everything in it is stored elsewhere); 0, or -1 with errno */
int spool_clear(struct spool *sp);
/* spool_pending - records are waiting to be replayed */
bool spool_pending(const struct spool *sp);
/* spool_size - bytes in the spool file now */
uint64_t spool_size(const struct spool *sp);
/* spool_skipped - malformed records skipped since open */
uint64_t spool_skipped(const struct spool *sp);
/* spool_path - the file name */
const char *spool_path(const struct spool *sp);

#endif

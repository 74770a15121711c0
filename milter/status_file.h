/*
 * status_file.h - what postmeter-milter publishes about itself for
 * "postmeter status": a small file DATABASE.milter-status of
 * "key = value" lines (STATUS_FILE_SUFFIX), rewritten whole (a new file
 * renamed over the old one, mode 0640) at start, after each reload,
 * every STATUS_FILE_PERIOD seconds and at the stop.
 *
 * Keys (times are seconds since the epoch, 0 = never):
 *   format              1 (this layout)
 *   version             postmeter-milter's version
 *   pid                 its process id
 *   started_at          when it started
 *   updated_at          when the file was written
 *   stopped_at          when it stopped (0 while it runs)
 *   milter_socket       the socket it listens on (changes on restart only)
 *   config_file         the configuration file, absolute
 *   config_loaded_at    when that file was last read without errors
 *   config_mtime_ns     its modification time then, in nanoseconds
 *   reload_failed_at    last reload refused (errors in the file), 0 = none since
 *   ledger_put ledger_written ledger_replayed ledger_spooled ledger_dropped
 *   ledger_rejected ledger_self_spooled ledger_unsafe ledger_queued
 *                       the ledger's counters since start (ledger.h)
 *   ledger_spool_bytes  the spool file's size now
 *   ledger_spool_bytes_before  its size at the previous write (-1: first)
 *   ledger_db_ok        1 if the last attempt at the database succeeded
 *
 * Called from the main thread only. A file that cannot be written is
 * warned about once (until it can be again); the milter runs on.
 */
#ifndef POSTMETER_MILTER_STATUS_FILE_H
#define POSTMETER_MILTER_STATUS_FILE_H

#include <stdbool.h>

#include "config.h"
#include "ledger.h"

#define STATUS_FILE_SUFFIX ".milter-status"
#define STATUS_FILE_PERIOD 10 /* seconds between writes */

/*
 * status_file_config_stat - note the modification time of configuration
 * file path, just before it is read (start-up, reload); the first call
 * also fixes its absolute name (before the daemon changes directory)
 */
void status_file_config_stat(const char *path);
/* status_file_config_read - the file noted was read: ok, or refused (a reload with errors) */
void status_file_config_read(bool ok);
/* status_file_start - write DATABASE.milter-status from now on, the first time now */
void status_file_start(const struct config *c, struct ledger *l);
/* status_file_tick - write it if STATUS_FILE_PERIOD seconds have passed, or now if now */
void status_file_tick(struct ledger *l, bool now);
/* status_file_stop - write it one last time with stopped_at and the final counters st */
void status_file_stop(const struct ledger_stats *st);

#endif

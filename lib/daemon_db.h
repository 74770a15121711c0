/*
 * daemon_db.h - what a daemon that writes the ledger does with the
 * database at start: hand the files to its user (as root), create or
 * migrate the database (as the user), and the ledger writer's options
 * from the configuration.
 *
 * Shared by the daemons that write the ledger; postmeter-tracker uses it.
 * It never opens a file in the database's directory as root by name:
 * daemon_give() works through descriptors (STYLE habit 14).
 */
#ifndef POSTMETER_DAEMON_DB_H
#define POSTMETER_DAEMON_DB_H

#include "config.h"
#include "daemon.h"
#include "ledger.h"

/*
 * daemon_db_give - as root: hand database, its side files (-wal, -shm,
 * ...) and each of spools (NULL-terminated) to u, not readable by others.
 * Dies, touching nothing, if one is not a plain file of its own.
 */
void daemon_db_give(const char *database, const char *const *spools, const struct daemon_user *u);
/* daemon_db_migrate - as the user: create database if need be and migrate it (warns on errors) */
void daemon_db_migrate(const char *database);
/* daemon_db_ledger_opts - the ledger writer's options from c, writing spool to spool */
void daemon_db_ledger_opts(const struct config *c, const char *spool, struct ledger_opts *o);

#endif

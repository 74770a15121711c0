/*
 * privsep.h - what postmeter does when root runs it on a database whose
 * directory the service user owns (STYLE habit 14).
 *
 * SQLite opens the database and its -wal, -shm and -journal files by
 * name, some of them lazily: whoever can change their directory can swap
 * in a FIFO (root's command hangs) or another file between any check and
 * the open, and whoever can write them can feed SQLite's parser anything.
 * So, as root, with a database directory, or a database, -wal, -shm or
 * -journal file, that users other than root can change, a command works
 * on the database as the configured user (`user`), never as root: it
 * forks, the child drops to the user (and gives up root's terminal) and
 * runs the command, the parent stays root and only serves the child's
 * requests for key files (root's, in dkim_key_dir), by name within
 * dkim_key_dir, through the key directory's descriptor (dkim_keyfile.c),
 * and only those the command line asked for (privsep_policy.h); a
 * command that needs only the database gets none. The parent never
 * opens the database.
 */
#ifndef POSTMETER_CLI_PRIVSEP_H
#define POSTMETER_CLI_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "dkim_keyfile.h"
#include "store.h"

/* What a command needs. */
enum cli_need {
    CLI_NEED_NOTHING, /* no database: runs as started */
    CLI_NEED_DB,      /* the database only */
    CLI_NEED_KEYS,    /* the database and key files in dkim_key_dir (root's) */
};

/*
 * cli_privsep - call before the command argv[0..argc) (argv[0] the
 * command's name) runs. Not root, need nothing, or a database only root
 * can change (its directory: safefile_root_dir; the database and its
 * side files, those there, root's and writable by root only): nothing
 * happens. Else it forks and the child drops to the configured user; the
 * parent serves the key-file requests of a CLI_NEED_KEYS command that
 * its own argv allows (privsep_scope_of), none for CLI_NEED_DB. The
 * child dies with the parent (SIGTERM). Returns -1 where the command is
 * to run (this process, or the child), or, in the parent, the child's
 * exit status. Dies (with a message) if the user does not exist or a
 * step fails.
 */
int cli_privsep(const struct config *c, enum cli_need need, int argc, char **argv);

/*
 * The key-file operations of dkim_keyfile.h, for key files directly in
 * c->dkim_key_dir: through the root parent when cli_privsep() forked,
 * else done here. Same answers and messages either way.
 */
/* cli_key_as_root - are key files made by root (we are root, or our parent does it)? */
bool cli_key_as_root(void);
/*
 * cli_key_dir - keyfile_ensure_dir() of dkim_key_dir; made by root, its
 * group is the configured user's (dies if that user does not exist)
 */
bool cli_key_dir(const struct config *c, char *err, size_t errlen);
/* cli_key_create - keyfile_create() of path (in dkim_key_dir), group as cli_key_dir's */
bool cli_key_create(const struct config *c, const char *path, enum store_dkim_alg a, unsigned bits,
                    struct keyfile_pub *pub, char *err, size_t errlen);
/* cli_key_exists - keyfile_exists() of path */
bool cli_key_exists(const struct config *c, const char *path);
/* cli_key_remove - keyfile_remove() of path: 1 deleted, 0 not there, -1 refused (err) */
int cli_key_remove(const struct config *c, const char *path, char *err, size_t errlen);
/* cli_key_public_of - keyfile_public_of() of stored key k */
bool cli_key_public_of(const struct config *c, const struct store_dkim_key *k,
                       struct keyfile_pub *pub, char *err, size_t errlen);

#endif

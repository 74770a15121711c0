/*
 * privsep.h - what postmeter does when root runs it on a database whose
 * directory the service user owns (STYLE habit 14).
 *
 * SQLite opens the database and its -wal, -shm and -journal files by
 * name, some of them lazily: whoever can change their directory can swap
 * in a FIFO (root's command hangs) or another file between any check and
 * the open. So, as root, with a database directory that users other than
 * root can change, a command works on the database as the configured
 * user (`user`), never as root: a command that needs only the database
 * drops to that user for good; one that writes, deletes or reads DKIM key
 * files (root's, in dkim_key_dir) forks: the child drops to the user and
 * runs the command, the parent stays root and only serves the child's
 * requests for key files, by name within dkim_key_dir, through the key
 * directory's descriptor (dkim_keyfile.c). The parent never opens the
 * database.
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
 * cli_privsep - call before the command runs. Not root, need nothing, or
 * a database directory only root can change (safefile_root_dir): nothing
 * happens. Else CLI_NEED_DB drops to the configured user for good;
 * CLI_NEED_KEYS forks, the child drops to that user. Returns -1 where
 * the command is to run (this process, or the child), or, in the parent
 * that served the child's key requests, the child's exit status. Dies
 * (with a message) if the user does not exist or a step fails.
 */
int cli_privsep(const struct config *c, enum cli_need need);

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

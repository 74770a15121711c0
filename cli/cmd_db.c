/*
 * cmd_db.c - postmeter db migrate | check.
 *
 * migrate creates the database if needed and applies the embedded
 * migrations; check runs the integrity check and compares the schema
 * version with this binary's. Neither ever deletes data.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "usage.h"

/* cmd_db - db migrate | db check */
int cmd_db(const struct config *c, int argc, char **argv)
{
    struct store *s;
    int status = CLI_OK;

    if (argc != 2) /* usage.c checked the subcommand */
        return cli_usage("unexpected '%s'", argv[2]);
    if (strcmp(argv[1], "migrate") == 0) {
        int before;

        s = cli_open_store(c, 0);
        before = store_version(s);
        if (store_migrate(s, store_migrations, store_migrations_count) != STORE_OK) {
            fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
            status = CLI_FAIL;
        } else {
            printf("%s: schema version %d -> %d\n", c->database, before, store_version(s));
        }
    } else {
        struct buf report = BUF_INIT;

        s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
        if (store_check(s, store_migrations, store_migrations_count, &report) != STORE_OK)
            status = CLI_FAIL;
        fputs(buf_cstr(&report), stdout);
        buf_free(&report);
    }
    store_close(s);
    return status;
}

/*
 * syscheck.h - what postmeter-milter -t checks beyond the syntax, and
 * start-up checks before it detaches: that the system can do what the
 * configuration asks (the user and the socket's group exist, the
 * socket's and the pid file's directories exist, the user can keep the
 * database and read the DKIM key files, the pixel engine loads, paths
 * are absolute). Each problem is one line "KEY: what is wrong; fix: what
 * to do"; every problem is found in one run, not only the first.
 */
#ifndef POSTMETER_SYSCHECK_H
#define POSTMETER_SYSCHECK_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "daemon.h"

/*
 * syscheck_run - run every check against c: each problem is a line
 * (ending in a newline) in problems, each thing that could not be
 * checked a line in notes. Returns the number of problems. Loads the
 * pixel engine when tracking is on (start-up keeps it loaded). As root,
 * what the user can do is asked by a child process that has become the
 * user; nothing in a directory that user can write is opened as root.
 */
unsigned syscheck_run(const struct config *c, struct buf *problems, struct buf *notes);

/*
 * syscheck_say - syscheck_run, with each line said once: on standard
 * error (for -t) or through the log (start-up). True if there was no
 * problem.
 */
bool syscheck_say(const struct config *c, bool to_stderr);

/*
 * syscheck_given - at start-up, after the database files were given to
 * u: false (said through the log) if an existing database file is not
 * readable and writable by u.
 */
bool syscheck_given(const struct config *c, const struct daemon_user *u);

/*
 * syscheck_line - append "KEY: WHAT; fix: FIX\n" to out, as one line: a
 * control character in any part (a value from the file or the system)
 * becomes '?'.
 */
void syscheck_line(struct buf *out, const char *key, const char *what, const char *fix);

#endif

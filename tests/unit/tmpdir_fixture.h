/*
 * tmpdir_fixture.h - a private temporary directory for a unit test
 * program: made before its tests (cmocka group setup), removed with
 * everything in it after them. Also what a test's code writes to
 * standard error, caught. Linked into every unit test.
 */
#ifndef POSTMETER_TEST_TMPDIR_FIXTURE_H
#define POSTMETER_TEST_TMPDIR_FIXTURE_H

#include <stdio.h>

/* tmpdir_make - mkdtemp(templ), templ a writable "...XXXXXX" buffer; 0, or -1 */
int tmpdir_make(char *templ);
/* tmpdir_remove - remove dir and everything under it (symlinks not followed); 0, or -1 */
int tmpdir_remove(const char *dir);

/* One capture of standard error (the log) at a time. */
struct stderr_capture {
    FILE *tmp;
    int saved;
};

/* stderr_capture_begin - send standard error to a temporary file until _end; 0, or -1 */
int stderr_capture_begin(struct stderr_capture *cap);
/* stderr_capture_end - standard error back; what was written (at most 4095 bytes), caller frees;
 * NULL on failure */
char *stderr_capture_end(struct stderr_capture *cap);

#endif

/*
 * tmpdir_fixture.h - a private temporary directory for a unit test
 * program: made before its tests (cmocka group setup), removed with
 * everything in it after them. Linked into every unit test.
 */
#ifndef POSTMETER_TEST_TMPDIR_FIXTURE_H
#define POSTMETER_TEST_TMPDIR_FIXTURE_H

/* tmpdir_make - mkdtemp(templ), templ a writable "...XXXXXX" buffer; 0, or -1 */
int tmpdir_make(char *templ);
/* tmpdir_remove - remove dir and everything under it (symlinks not followed); 0, or -1 */
int tmpdir_remove(const char *dir);

#endif

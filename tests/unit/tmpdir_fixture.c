/*
 * tmpdir_fixture.c - a private temporary directory for a unit test
 * program (see tmpdir_fixture.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir_fixture.h"

/* rm_entry - nftw callback: remove one entry (children come first: FTW_DEPTH) */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tmpdir_make(char *templ)
{
    return mkdtemp(templ) ? 0 : -1;
}

int tmpdir_remove(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

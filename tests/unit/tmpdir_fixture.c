/*
 * tmpdir_fixture.c - a private temporary directory for a unit test
 * program (see tmpdir_fixture.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* stderr_capture_begin - send standard error to a temporary file until _end; 0, or -1 */
int stderr_capture_begin(struct stderr_capture *cap)
{
    if ((cap->tmp = tmpfile()) == NULL)
        return -1;
    fflush(stderr);
    if ((cap->saved = dup(STDERR_FILENO)) < 0 || dup2(fileno(cap->tmp), STDERR_FILENO) < 0) {
        fclose(cap->tmp);
        return -1;
    }
    return 0;
}

/* stderr_capture_end - standard error back; what was written, caller frees; NULL on failure */
char *stderr_capture_end(struct stderr_capture *cap)
{
    char *text = calloc(1, 4096);
    size_t n;

    fflush(stderr);
    if (dup2(cap->saved, STDERR_FILENO) < 0 || text == NULL) {
        free(text);
        fclose(cap->tmp);
        return NULL;
    }
    close(cap->saved);
    rewind(cap->tmp);
    n = fread(text, 1, 4095, cap->tmp);
    fclose(cap->tmp);
    text[n] = '\0';
    return text;
}

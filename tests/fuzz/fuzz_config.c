/*
 * fuzz_config.c - libFuzzer target for postmeter.conf reading
 * (lib/config.h): config_load() of a file holding the input.
 *
 * The file is a memfd (no file is left behind), opened by config_load()
 * through /proc/self/fd/N. Errors are expected; crashes are not.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - config_load() returns a config exactly when it reported no error,
 *     and every error is one "FILE:LINE: message" (or "FILE: message")
 *     line starting with the file name;
 *   - a config that loads, dumped with config_dump() and loaded again,
 *     dumps the same text (every value survives its own printing), and
 *     its derived values (host name, authserv-id, spool path) exist.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "reader.h"
#include "util.h"

/* struct memfile - one memfd and the path config_load() opens it by */
struct memfile {
    int fd;
    char path[64];
};

/* memfile_open - make an empty memfd once per process; dies on failure */
static void memfile_open(struct memfile *f, const char *name)
{
    f->fd = memfd_create(name, 0);
    if (f->fd < 0 || !snprintf_ok(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd)) {
        perror("fuzz_config: memfd_create");
        abort();
    }
}

/* memfile_set - replace the file's content with data[0..size) */
static void memfile_set(const struct memfile *f, const void *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0 || (size > 0 && pwrite(f->fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_config: write");
        abort();
    }
}

/* dump - config_dump() into a string; caller frees */
static char *dump(const struct config *c, size_t *len)
{
    char *text = NULL;
    FILE *fp = open_memstream(&text, len);

    if (fp == NULL)
        abort();
    config_dump(c, fp);
    if (fclose(fp) != 0)
        abort();
    return text;
}

/* check_errors - every error line names the file */
static void check_errors(const struct buf *errors, const char *path)
{
    size_t plen = strlen(path);

    fuzz_check(errors->len > 0 && errors->data[errors->len - 1] == '\n');
    for (const char *line = errors->data; *line;) {
        const char *nl = strchr(line, '\n');

        fuzz_check(strncmp(line, path, plen) == 0 && line[plen] == ':');
        line = nl + 1;
    }
}

/* check_reload - dump c, load the dump, dump again: same text */
static void check_reload(const struct memfile *f, const struct config *c)
{
    struct buf errors = BUF_INIT;
    struct config *again;
    size_t len1, len2;
    char *text1 = dump(c, &len1), *text2, *spool;

    memfile_set(f, text1, len1);
    again = config_load(f->path, &errors);
    if (again == NULL)
        fprintf(stderr, "reload errors:\n%s", buf_cstr(&errors));
    fuzz_check(again != NULL && errors.len == 0);
    text2 = dump(again, &len2);
    fuzz_check(len1 == len2 && memcmp(text1, text2, len1) == 0);

    fuzz_check(config_effective_hostname(again)[0] != '\0');
    fuzz_check(config_effective_authserv_id(again)[0] != '\0');
    spool = config_spool_path(again);
    fuzz_check(spool[0] != '\0');
    free(spool);
    config_free(again);
    free(text1);
    free(text2);
    buf_free(&errors);
}

/* LLVMFuzzerTestOneInput - the input as a whole configuration file */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct memfile in, out;
    struct buf errors = BUF_INIT;
    struct config *c;

    if (in.path[0] == '\0') {
        memfile_open(&in, "fuzz_config_in");
        memfile_open(&out, "fuzz_config_dump");
    }
    memfile_set(&in, data, size);
    c = config_load(in.path, &errors);
    if (c == NULL) {
        check_errors(&errors, in.path);
    } else {
        fuzz_check(errors.len == 0);
        check_reload(&out, c);
        config_free(c);
    }
    buf_free(&errors);
    return 0;
}

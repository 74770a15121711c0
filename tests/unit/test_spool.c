/*
 * test_spool.c - the ledger spool file: append/next/done/replay keep the
 * order and every field of each record, a torn tail is cut at open,
 * malformed records are skipped and counted once, the size bound gives a
 * short count, the file is emptied after a full replay, awkward and very
 * long values survive, and only one holder may have the file open.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "ledger_msg.h"
#include "spool.h"
#include "util.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-spool-XXXXXX";
static unsigned file_no;

/* new_path - a fresh file name in the test directory (static buffer) */
static const char *new_path(void)
{
    static char path[256];

    assert_true(snprintf_ok(path, sizeof(path), "%s/spool-%u", tmpdir, ++file_no));
    return path;
}

/* file_size - bytes in the file at path, -1 if it does not exist */
static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* make_msg - a record with every field set and seq in size, received_at and the strings */
static struct ledger_msg *make_msg(int seq)
{
    struct ledger_msg *m = ledger_msg_new();
    char s[64];

    snprintf(s, sizeof(s), "Q%06d", seq);
    ledger_msg_set(&m->queue_id, s);
    ledger_msg_set(&m->host, "mx.example.org");
    snprintf(s, sizeof(s), "<%06d@example.org>", seq);
    ledger_msg_set(&m->message_id, s);
    ledger_msg_set(&m->date_header, "Tue, 24 Nov 2026 10:00:00 +0000");
    m->direction = seq % 2 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    ledger_msg_set(&m->client_ip, seq % 3 ? "192.0.2.7" : NULL);
    ledger_msg_set(&m->client_ptr, seq % 5 ? "mail.example.net" : NULL);
    ledger_msg_set(&m->helo, "helo.example.net");
    ledger_msg_set(&m->sasl_user, seq % 2 ? "alice" : NULL);
    ledger_msg_set(&m->mail_from, seq % 7 ? "alice@example.net" : "");
    ledger_msg_set(&m->header_from, "Alice@Example.net");
    ledger_msg_set(&m->subject, seq % 4 ? "hello" : NULL);
    ledger_msg_set(&m->action, "accept");
    m->size = 1000 + seq;
    m->received_at = 1795000000 + seq;
    for (int i = 0; i < seq % 4; i++) {
        snprintf(s, sizeof(s), "rcpt%d-%06d@example.test", i, seq);
        ledger_msg_add_rcpt(m, s);
    }
    return m;
}

/* same_str - NULL-aware string equality */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* assert_same_msg - a and b hold the same record, field by field */
static void assert_same_msg(const struct ledger_msg *a, const struct ledger_msg *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->uid, b->uid);
    assert_true(same_str(a->host, b->host));
    assert_true(same_str(a->queue_id, b->queue_id));
    assert_true(same_str(a->message_id, b->message_id));
    assert_true(same_str(a->date_header, b->date_header));
    assert_int_equal(a->direction, b->direction);
    assert_true(same_str(a->client_ip, b->client_ip));
    assert_true(same_str(a->client_ptr, b->client_ptr));
    assert_true(same_str(a->helo, b->helo));
    assert_true(same_str(a->sasl_user, b->sasl_user));
    assert_true(same_str(a->mail_from, b->mail_from));
    assert_true(same_str(a->header_from, b->header_from));
    assert_true(same_str(a->subject, b->subject));
    assert_true(same_str(a->action, b->action));
    assert_true(a->size == b->size);
    assert_true(a->received_at == b->received_at);
    assert_int_equal(a->nrcpts, b->nrcpts);
    for (size_t i = 0; i < a->nrcpts; i++)
        assert_string_equal(a->rcpts[i], b->rcpts[i]);
}

/* make_msgs - n records seq base..base+n-1 into out[] */
static void make_msgs(struct ledger_msg **out, size_t n, int base)
{
    for (size_t i = 0; i < n; i++)
        out[i] = make_msg(base + (int)i);
}

/* free_msgs - free out[0..n) */
static void free_msgs(struct ledger_msg **out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ledger_msg_free(out[i]);
}

/* open_ok - spool_open that must succeed */
static struct spool *open_ok(const char *path, uint64_t max)
{
    char err[512] = "";
    struct spool *sp = spool_open(path, max, err, sizeof(err));

    if (sp == NULL)
        fail_msg("spool_open %s: %s", path, err);
    return sp;
}

/* encoded_len - bytes of m in spool format */
static size_t encoded_len(const struct ledger_msg *m)
{
    struct buf b = BUF_INIT;
    size_t n;

    ledger_msg_encode(m, &b);
    n = b.len;
    buf_free(&b);
    return n;
}

/* expect_next - spool_next returns exactly want[0..n) (compared field by field) */
static void expect_next(struct spool *sp, size_t max, struct ledger_msg *const *want, size_t n)
{
    struct ledger_msg *got[64];
    size_t k = 999;

    assert_true(max <= 64);
    assert_int_equal(spool_next(sp, got, max, &k), 0);
    assert_int_equal(k, n);
    for (size_t i = 0; i < k; i++) {
        assert_same_msg(want[i], got[i]);
        ledger_msg_free(got[i]);
    }
}

/* test_round_trip_order - records from several appends come back in order, in batches */
static void test_round_trip_order(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[10];
    struct spool *sp = open_ok(path, 0);

    (void)state;
    make_msgs(m, 10, 0);
    assert_false(spool_pending(sp));
    assert_int_equal(file_size(path), -1); /* created by the first append, not by open */
    assert_int_equal(spool_append(sp, m, 3), 3);
    assert_int_equal(spool_append(sp, m + 3, 1), 1);
    assert_int_equal(spool_append(sp, m + 4, 6), 6);
    assert_true(spool_pending(sp));
    assert_true(spool_size(sp) == (uint64_t)file_size(path));
    assert_int_equal(file_size(path) > 0, 1);
    assert_string_equal(spool_path(sp), path);
    /* Reading without spool_done() hands out the same batch again. */
    expect_next(sp, 4, m, 4);
    expect_next(sp, 4, m, 4);
    spool_done(sp);
    expect_next(sp, 4, m + 4, 4);
    spool_done(sp);
    assert_true(spool_pending(sp));
    assert_true(file_size(path) > 0); /* not emptied before everything is done */
    expect_next(sp, 4, m + 8, 2);
    spool_done(sp);
    assert_false(spool_pending(sp));
    assert_int_equal(file_size(path), 0);
    assert_true(spool_size(sp) == 0);
    expect_next(sp, 4, NULL, 0);
    /* Appends after the truncation start a fresh file. */
    assert_int_equal(spool_append(sp, m + 2, 2), 2);
    assert_true(spool_size(sp) == encoded_len(m[2]) + encoded_len(m[3]));
    spool_close(sp);
    /* A new holder sees what the old one left. */
    sp = open_ok(path, 0);
    assert_true(spool_pending(sp));
    expect_next(sp, 10, m + 2, 2);
    spool_done(sp);
    assert_int_equal(file_size(path), 0);
    assert_int_equal(spool_skipped(sp), 0);
    spool_close(sp);
    free_msgs(m, 10);
}

/* test_reopen_all_fields - a spool closed and reopened replays every field of each record */
static void test_reopen_all_fields(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[8], *all_null = ledger_msg_new();
    struct spool *sp = open_ok(path, 0);

    (void)state;
    make_msgs(m, 7, 20);
    m[7] = all_null; /* every string NULL, no recipients */
    assert_int_equal(spool_append(sp, m, 8), 8);
    spool_close(sp);
    sp = open_ok(path, 0);
    expect_next(sp, 64, m, 8);
    spool_done(sp);
    assert_false(spool_pending(sp));
    spool_close(sp);
    free_msgs(m, 8);
}

struct replay_log {
    int seen[64];
    size_t nseen;
    int stop_at_call; /* 1-based call number that returns non-zero; 0 = never */
    int calls;
};

/* note_batch - spool_replay callback: log the seq of each record, stop when told */
static int note_batch(struct ledger_msg *const *msgs, size_t n, void *arg)
{
    struct replay_log *rl = arg;

    rl->calls++;
    for (size_t i = 0; i < n; i++) {
        assert_true(rl->nseen < 64);
        rl->seen[rl->nseen++] = (int)(msgs[i]->size - 1000);
    }
    return rl->calls == rl->stop_at_call;
}

/* test_replay_stop_and_resume - a batch refused by fn is offered again, in order */
static void test_replay_stop_and_resume(void **state)
{
    static const int want1[] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const int want2[] = {4, 5, 6, 7, 8, 9};
    const char *path = new_path();
    struct ledger_msg *m[10];
    struct replay_log rl = {.stop_at_call = 2};
    struct spool *sp = open_ok(path, 0);

    (void)state;
    make_msgs(m, 10, 0);
    assert_int_equal(spool_append(sp, m, 10), 10);
    assert_int_equal(spool_replay(sp, 4, note_batch, &rl), 0);
    assert_int_equal(rl.nseen, 8);
    assert_memory_equal(rl.seen, want1, sizeof(want1));
    assert_true(spool_pending(sp));
    rl = (struct replay_log){.stop_at_call = 0};
    assert_int_equal(spool_replay(sp, 4, note_batch, &rl), 1);
    assert_int_equal(rl.nseen, 6);
    assert_memory_equal(rl.seen, want2, sizeof(want2));
    assert_false(spool_pending(sp));
    assert_int_equal(file_size(path), 0);
    /* An empty spool replays nothing and says so. */
    rl = (struct replay_log){.stop_at_call = 0};
    assert_int_equal(spool_replay(sp, 4, note_batch, &rl), 1);
    assert_int_equal(rl.calls, 0);
    spool_close(sp);
    free_msgs(m, 10);
}

struct cut_case {
    const char *name;
    long offset; /* where to cut the last record: >= 0 from its start, < 0 from its end */
};

static const struct cut_case cut_cases[] = {
    {"after-R", 1},           {"after-R-newline", 2},      {"inside-uid-name", 4},
    {"inside-uid-length", 6}, {"inside-uid-value", 20},    {"middle", 0 /* computed */},
    {"inside-trailer", -5},   {"before-last-newline", -1},
};

/* test_torn_tail - a cut last record is removed at open; earlier ones replay, appends follow */
static void test_torn_tail(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cut_cases) / sizeof(cut_cases[0]); i++) {
        const char *path = new_path();
        struct ledger_msg *m[4];
        struct spool *sp = open_ok(path, 0);
        size_t keep, last;
        long cut;

        make_msgs(m, 4, 3);
        assert_int_equal(spool_append(sp, m, 3), 3);
        spool_close(sp);
        keep = encoded_len(m[0]) + encoded_len(m[1]);
        last = encoded_len(m[2]);
        cut = cut_cases[i].offset;
        if (cut == 0)
            cut = (long)last / 2;
        else if (cut < 0)
            cut += (long)last;
        assert_int_equal(truncate(path, (off_t)(keep + (size_t)cut)), 0);

        sp = open_ok(path, 0);
        if (file_size(path) != (long long)keep)
            fail_msg("%s: file is %lld bytes after open, want %zu", cut_cases[i].name,
                     file_size(path), keep);
        assert_true(spool_size(sp) == keep);
        assert_int_equal(spool_append(sp, m + 3, 1), 1);
        m[2] = ledger_msg_free(m[2]); /* lost with the torn tail */
        m[2] = m[3];
        m[3] = NULL;
        expect_next(sp, 64, m, 3);
        spool_done(sp);
        assert_int_equal(spool_skipped(sp), 0);
        assert_int_equal(file_size(path), 0);
        spool_close(sp);
        free_msgs(m, 3);
    }
}

struct bad_case {
    const char *name;
    long offset;      /* into the middle record: >= 0 from its start, < 0 from its end */
    const char *with; /* bytes written there (overwrite), or inserted when insert is set */
    bool insert;
    bool middle_kept; /* the middle record itself is intact (only junk was added) */
};

static const struct bad_case bad_cases[] = {
    {"crc-mismatch", -15, "#", false, false}, /* a byte of the last recipient */
    {"bad-uid", 20, "#", false, false},       /* not hex: the CRC is wrong too */
    {"trailer-not-hex", -3, "Z", false, false},
    {"field-name-broken", 2, "U", false, false},   /* "Uid" */
    {"length-not-a-number", 6, "x", false, false}, /* "uid x2:..." */
    {"garbage-line-before", 0, "junk junk\n", true, true},
    {"garbage-inside", 2, "\x01\x02\n", true, false},
};

/* test_malformed_middle - a broken record is skipped (and counted once), its neighbours kept */
static void test_malformed_middle(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *bc = &bad_cases[i];
        const char *path = new_path();
        struct ledger_msg *m[3], *want[3], *got[8];
        struct spool *sp;
        struct buf b = BUF_INIT;
        size_t start, len, nwant = 0, n;
        long at;
        FILE *fp;

        make_msgs(m, 3, 40);
        ledger_msg_encode(m[0], &b);
        start = b.len;
        ledger_msg_encode(m[1], &b);
        len = b.len - start;
        ledger_msg_encode(m[2], &b);
        at = bc->offset >= 0 ? bc->offset : (long)len + bc->offset;
        fp = fopen(path, "w");
        assert_non_null(fp);
        if (bc->insert) {
            assert_int_equal(fwrite(b.data, 1, start + (size_t)at, fp), start + (size_t)at);
            fputs(bc->with, fp);
            fwrite(b.data + start + at, 1, b.len - start - (size_t)at, fp);
        } else {
            assert_true(b.data[start + at] != bc->with[0]);
            memcpy(b.data + start + at, bc->with, strlen(bc->with));
            fwrite(b.data, 1, b.len, fp);
        }
        assert_int_equal(fclose(fp), 0);
        want[nwant++] = m[0];
        if (bc->middle_kept)
            want[nwant++] = m[1];
        want[nwant++] = m[2];

        sp = open_ok(path, 0);
        /* A complete but bad record is not a torn tail: open leaves the file alone. */
        assert_true(spool_size(sp) == (uint64_t)file_size(path));
        /* Read it three times (as after failed commits), then for good: counted once. */
        for (int pass = 0; pass < 3; pass++) {
            assert_int_equal(spool_next(sp, got, 8, &n), 0);
            if (n != nwant)
                fail_msg("%s: %zu records, want %zu", bc->name, n, nwant);
            for (size_t k = 0; k < n; k++)
                assert_same_msg(want[k], got[k]);
            free_msgs(got, n);
        }
        spool_done(sp);
        if (spool_skipped(sp) != 1)
            fail_msg("%s: spool_skipped is %llu, want 1", bc->name,
                     (unsigned long long)spool_skipped(sp));
        assert_false(spool_pending(sp));
        assert_int_equal(file_size(path), 0);
        spool_close(sp);
        free_msgs(m, 3);
        buf_free(&b);
    }
}

/* prefix_fitting - how many of m[0..n) fit, in order, into room bytes */
static size_t prefix_fitting(struct ledger_msg *const *m, size_t n, size_t room)
{
    size_t k = 0, used = 0;

    while (k < n && used + encoded_len(m[k]) <= room)
        used += encoded_len(m[k++]);
    return k;
}

/* test_size_bound - appends stop at the bound with a short count; room comes back after replay */
static void test_size_bound(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[5], *want[3];
    struct spool *sp;
    size_t bound, k;

    (void)state;
    make_msgs(m, 5, 100); /* seq 100..104: 0, 1, 2, 3, 0 recipients */
    assert_true(encoded_len(m[4]) < encoded_len(m[2]));
    /* Room for m[0], m[1] and m[4], not for m[2]. */
    bound = encoded_len(m[0]) + encoded_len(m[1]) + encoded_len(m[4]) + 1;
    sp = open_ok(path, bound);
    assert_int_equal(spool_append(sp, m, 5), 2);
    assert_true(spool_size(sp) == encoded_len(m[0]) + encoded_len(m[1]));
    assert_true((uint64_t)file_size(path) == spool_size(sp));
    /* Only a prefix is taken: the smaller m[4] must not jump ahead of m[2]. */
    assert_int_equal(spool_append(sp, m + 2, 3), 0);
    assert_true((uint64_t)file_size(path) == spool_size(sp));
    assert_int_equal(spool_append(sp, m + 4, 1), 1);
    assert_true(spool_size(sp) == bound - 1);
    want[0] = m[0];
    want[1] = m[1];
    want[2] = m[4];
    expect_next(sp, 64, want, 3);
    spool_done(sp);
    assert_int_equal(file_size(path), 0);
    /* Emptied by the replay: the bound applies to the new contents. */
    k = prefix_fitting(m + 2, 3, bound);
    assert_true(k >= 1 && k < 3);
    assert_int_equal(spool_append(sp, m + 2, 3), (long)k);
    expect_next(sp, 64, m + 2, k);
    spool_done(sp);
    spool_close(sp);
    /* A bound smaller than one record takes nothing. */
    sp = open_ok(new_path(), 1);
    assert_int_equal(spool_append(sp, m, 1), 0);
    assert_false(spool_pending(sp));
    spool_close(sp);
    free_msgs(m, 5);
}

/* big_value - a 100 KB string of every byte value but NUL, shifted by k; caller frees */
static char *big_value(int k)
{
    size_t n = 100 * 1024;
    char *v = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++)
        v[i] = (char)(1 + (i + (size_t)k) % 255);
    v[n] = '\0';
    return v;
}

/* test_awkward_values - tabs, newlines, record-like text, binary and 100 KB values round trip */
static void test_awkward_values(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[12];
    struct spool *sp = open_ok(path, 0);
    size_t n = 0;

    (void)state;
    m[n] = make_msg(1);
    ledger_msg_set(&m[n]->subject, "tab\there\nnew line\r\nR\nE 00000000\nhelo 3:abc\n");
    ledger_msg_set(&m[n]->helo, "\x01\x02\x7f\x80\xfe\xff");
    ledger_msg_add_rcpt(m[n], "R\n");
    n++;
    /* Six records of 3 x 100 KB each: every one larger than the 256 KB read window. */
    for (int i = 0; i < 6; i++) {
        char *v = big_value(i);

        m[n] = make_msg(2 + i);
        ledger_msg_set(&m[n]->subject, v);
        ledger_msg_set(&m[n]->message_id, v + 1);
        ledger_msg_add_rcpt(m[n], v + 2);
        free(v);
        n++;
    }
    /* Small records around the big ones, read across window boundaries. */
    for (int i = 0; i < 5; i++)
        m[n++] = make_msg(50 + i);
    assert_int_equal(spool_append(sp, m, 4), 4);
    assert_int_equal(spool_append(sp, m + 4, n - 4), (long)(n - 4));
    spool_close(sp);
    sp = open_ok(path, 0);
    expect_next(sp, 5, m, 5);
    spool_done(sp);
    expect_next(sp, 64, m + 5, n - 5);
    spool_done(sp);
    assert_int_equal(spool_skipped(sp), 0);
    assert_int_equal(file_size(path), 0);
    spool_close(sp);
    free_msgs(m, n);
}

/* test_missing_directory - open succeeds, append fails until the directory exists */
static void test_missing_directory(void **state)
{
    char dir[256], path[300];
    struct ledger_msg *m[1];
    struct spool *sp;

    (void)state;
    assert_true(snprintf_ok(dir, sizeof(dir), "%s/not-yet", tmpdir));
    assert_true(snprintf_ok(path, sizeof(path), "%s/spool", dir));
    make_msgs(m, 1, 0);
    sp = open_ok(path, 0);
    assert_false(spool_pending(sp));
    assert_int_equal(spool_append(sp, m, 1), -1);
    assert_false(spool_pending(sp));
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(spool_append(sp, m, 1), 1);
    assert_true(spool_pending(sp));
    expect_next(sp, 4, m, 1);
    spool_done(sp);
    spool_close(sp);
    free_msgs(m, 1);
}

/* test_single_holder - a second open of a held spool fails with a clear reason */
static void test_single_holder(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[1];
    struct spool *sp = open_ok(path, 0), *again;
    char err[512] = "";
    struct stat st;

    (void)state;
    make_msgs(m, 1, 0);
    assert_int_equal(spool_append(sp, m, 1), 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    again = spool_open(path, 0, err, sizeof(err));
    assert_null(again);
    assert_non_null(strstr(err, "in use by another process"));
    assert_non_null(strstr(err, path));
    spool_close(sp);
    again = open_ok(path, 0);
    expect_next(again, 4, m, 1);
    spool_close(again);
    free_msgs(m, 1);
}

/* test_replaced_file - a spool file removed under us is abandoned; appends go to a new file */
static void test_replaced_file(void **state)
{
    const char *path = new_path();
    struct ledger_msg *m[2];
    struct spool *sp = open_ok(path, 0);

    (void)state;
    make_msgs(m, 2, 0);
    assert_int_equal(spool_append(sp, m, 1), 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(spool_append(sp, m + 1, 1), 1);
    assert_true((long long)spool_size(sp) == file_size(path));
    expect_next(sp, 4, m + 1, 1);
    spool_done(sp);
    spool_close(sp);
    free_msgs(m, 2);
}

/* setup - a private temporary directory */
static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

/* teardown - remove the temporary directory and everything in it */
static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_order),       cmocka_unit_test(test_reopen_all_fields),
        cmocka_unit_test(test_replay_stop_and_resume), cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_malformed_middle),       cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_awkward_values),         cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_single_holder),          cmocka_unit_test(test_replaced_file),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_ledger_uid.c - the uids ledger_msg_new() makes: 32 lower-case hex
 * digits, time-ordered by their first 12, and never twice - across
 * threads (each draws from its own generator), and across fork() (a
 * child reseeds; it must not repeat the uids its parent makes next).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger_msg.h"

#define THREADS 4
#define EACH    20000

struct batch {
    char (*uid)[LEDGER_UID_LEN + 1];
    size_t n;
};

/* make - n uids into b */
static void *make(void *arg)
{
    struct batch *b = arg;

    for (size_t i = 0; i < b->n; i++) {
        struct ledger_msg *m = ledger_msg_new();

        memcpy(b->uid[i], m->uid, LEDGER_UID_LEN + 1);
        ledger_msg_free(m);
    }
    return NULL;
}

/* by_random_part - order uids by their random part (the last 20 digits) */
static int by_random_part(const void *a, const void *b)
{
    return memcmp((const char *)a + 12, (const char *)b + 12, LEDGER_UID_LEN - 12);
}

/* test_unique_across_threads - THREADS x EACH uids: well-formed, random parts all different */
static void test_unique_across_threads(void **state)
{
    char(*all)[LEDGER_UID_LEN + 1] = calloc(THREADS * EACH, sizeof(*all));
    struct batch b[THREADS];
    pthread_t t[THREADS];

    (void)state;
    assert_non_null(all);
    for (int i = 0; i < THREADS; i++) {
        b[i] = (struct batch){all + i * EACH, EACH};
        assert_int_equal(pthread_create(&t[i], NULL, make, &b[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < THREADS * EACH; i++) {
        assert_int_equal(strlen(all[i]), LEDGER_UID_LEN);
        assert_int_equal(strspn(all[i], "0123456789abcdef"), LEDGER_UID_LEN);
    }
    qsort(all, THREADS * EACH, sizeof(*all), by_random_part);
    for (size_t i = 1; i < THREADS * EACH; i++)
        if (by_random_part(all[i - 1], all[i]) == 0)
            fail_msg("the random part of %s repeats", all[i]);
    free(all);
}

/* test_fork_reseeds - after fork() the child's next uids are not the parent's next ones */
static void test_fork_reseeds(void **state)
{
    char parent[8][LEDGER_UID_LEN + 1], child[8][LEDGER_UID_LEN + 1];
    struct batch warm = {parent, 8}, pb = {parent, 8};
    int fds[2], status;
    pid_t pid;

    (void)state;
    make(&warm); /* this thread's generator is seeded before the fork */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct batch cb = {child, 8};

        make(&cb);
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
    }
    make(&pb);
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            if (by_random_part(parent[i], child[j]) == 0)
                fail_msg("parent and child both made the random part of %s", child[j]);
    close(fds[0]);
    close(fds[1]);
}

/* test_time_prefix - the first 12 hex digits are the milliseconds of the clock when it was made */
static void test_time_prefix(void **state)
{
    int64_t before, after, ms = 0;
    struct timespec ts;
    char prev[LEDGER_UID_LEN + 1] = "";

    (void)state;
    for (int i = 0; i < 1000; i++) {
        struct ledger_msg *m;

        clock_gettime(CLOCK_REALTIME, &ts);
        before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        m = ledger_msg_new();
        clock_gettime(CLOCK_REALTIME, &ts);
        after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        assert_int_equal(strspn(m->uid, "0123456789abcdef"), LEDGER_UID_LEN);
        ms = 0;
        for (int k = 0; k < 12; k++)
            ms = ms * 16 + (m->uid[k] <= '9' ? m->uid[k] - '0' : m->uid[k] - 'a' + 10);
        if (ms < before || ms > after)
            fail_msg("uid %s says %lld ms, made between %lld and %lld", m->uid, (long long)ms,
                     (long long)before, (long long)after);
        /* made later, sorted later (or in the same millisecond) */
        assert_true(strncmp(prev, m->uid, 12) <= 0);
        memcpy(prev, m->uid, sizeof(prev));
        ledger_msg_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_prefix),
        cmocka_unit_test(test_unique_across_threads),
        cmocka_unit_test(test_fork_reseeds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

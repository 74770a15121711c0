/*
 * test_ledger_spill_log.c - a record the ledger drops is counted and said:
 * with the database and the spool both unusable, records a full queue
 * gathers (ledger_spill) are dropped when they are appended; the drops of
 * the last seconds before a stop (log_drops reports at most every 10 s,
 * and the writer's last appends happen at the stop itself) must still
 * reach the log. The sum of the counts in the "records dropped" warnings
 * equals the dropped counter the stop reports.
 */
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger.h"
#include "ledger_fixture.h"
#include "ledger_msg.h"

/* logged_drops - the sum of N in "N records dropped" lines of the file at path */
static unsigned long long logged_drops(const char *path)
{
    unsigned long long sum = 0;
    char line[1024];
    regmatch_t m[2];
    regex_t re;
    FILE *fp = fopen(path, "r");

    assert_non_null(fp);
    assert_int_equal(regcomp(&re, "([0-9]+) records dropped", REG_EXTENDED), 0);
    while (fgets(line, sizeof(line), fp) != NULL)
        if (regexec(&re, line, 2, m, 0) == 0)
            sum += strtoull(line + m[1].rm_so, NULL, 10);
    regfree(&re);
    fclose(fp);
    return sum;
}

struct log_case {
    const char *name;
    int before, after; /* records put before the first drop is logged, and then */
    unsigned wait_ms;  /* between the two (the writer logs the first drops) */
};

static const struct log_case cases[] = {
    {"drops-right-before-stop", 20, 40, 300},
    {"all-at-once", 60, 0, 0},
    {"one-then-many", 2, 100, 300},
};

/* test_drops_logged - every dropped record is in a warning by the time the ledger stopped */
static void test_drops_logged(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct log_case *lc = &cases[c];
        char dir[256], db[300], spool[300], logf[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        int saved, fd;

        case_dir(dir, true);
        join(db, dir, "missing/ledger.db");
        join(spool, dir, "missing/ledger.spool"); /* its directory does not exist */
        join(logf, dir, "stderr.log");
        test_opts(&o, db);
        o.spool_path = spool;
        o.queue_max = 1;
        o.retry_max_ms = 60000;
        fflush(stderr);
        saved = dup(2);
        fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(saved >= 0 && fd >= 0);
        assert_int_equal(dup2(fd, 2), 2);
        close(fd);
        l = ledger_start(&o);
        put_range(l, 0, lc->before);
        if (lc->wait_ms) {
            WAIT_STATS(l, st, st.dropped > 0, 5000);
            sleep_ms(lc->wait_ms); /* the writer reports these */
        }
        put_range(l, lc->before, lc->before + lc->after);
        ledger_stop_stats(l, 100, &st);
        fflush(stderr);
        assert_int_equal(dup2(saved, 2), 2);
        close(saved);
        if (st.dropped == 0)
            fail_msg("%s: nothing dropped: the case tests nothing", lc->name);
        if (logged_drops(logf) != st.dropped)
            fail_msg("%s: %llu records dropped, the log says %llu", lc->name,
                     (unsigned long long)st.dropped, logged_drops(logf));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drops_logged),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}

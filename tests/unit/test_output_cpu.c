/*
 * test_output_cpu.c - the CPU time of the row writer (cli/output.c) on
 * the rows of report opens --by recipient on a big ledger: 300,000 rows
 * of 12 cells (bench/report.sh), as a table, CSV, JSON and NDJSON.
 *
 * HOW THE BUDGET IS SET
 *   This test runs under ASan and UBSan at -O1 on a shared machine. The
 *   writer that copied every cell into an allocation of its own and grew
 *   its cell table by one row at a time, with printf for numbers and
 *   lines, took 2.0 s of CPU here for the CSV (best of 3) and minutes for
 *   the table (under ASan every realloc copies: quadratic); the arena
 *   writer takes 0.3-0.45 s for each format (it prints what it took).
 *   ROWS_BUDGET_MS lies between. A format that goes over is measured
 *   again (the machine may have been busy) and fails only if the best
 *   of MEASURES is over. The Release figures: bench/README.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "output.h"

#define ROWS           300000
#define MEASURES       3
#define ROWS_BUDGET_MS 1000.0

/* cpu_ms - this process's CPU time, milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    assert_int_equal(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* render - ROWS rows like report opens --by recipient in format f to /dev/null; ms of CPU */
static double render(enum out_format f)
{
    static const struct out_col cols[] = {
        {"recipient", OUT_STR, true},
        {"mode", OUT_STR, true},
        {"unit", OUT_STR, true},
        {"tracked", OUT_INT, true},
        {"with_pixel", OUT_INT, true},
        {"opened_by_person", OUT_INT, true},
        {"machine_only", OUT_INT, true},
        {"opened_any", OUT_INT, true},
        {"estimated_open_rate", OUT_STR, true},
        {"raw_open_rate", OUT_STR, true},
        {"median_first_open", OUT_STR, true},
        {"p90_first_open", OUT_STR, true},
    };
    FILE *fp = fopen("/dev/null", "w");
    struct out_val v[sizeof(cols) / sizeof(cols[0])];
    char key[64];
    struct out *o;
    double t0;

    assert_non_null(fp);
    memset(v, 0, sizeof(v));
    t0 = cpu_ms();
    o = out_new(f, cols, sizeof(cols) / sizeof(cols[0]), fp);
    for (int r = 0; r < ROWS; r++) {
        snprintf(key, sizeof(key), "r%d@d%d.example", r % 3, r / 3);
        v[0].s = key;
        v[1].s = r % 4 ? "milter" : "pipe";
        v[2].s = r % 4 ? "messages" : "recipients";
        v[3].i = 1 + r % 2;
        v[4].i = 1 + r % 2;
        v[5].i = r % 3 == 0;
        v[6].i = r % 5 == 0;
        v[7].i = r % 3 == 0 || r % 5 == 0;
        v[8].s = r % 3 ? "0.0%" : "100.0%";
        v[9].s = r % 7 ? "50.0%" : "100.0%";
        v[10].s = r % 3 ? "-" : "2.3 h";
        v[11].s = r % 3 ? "-" : "17 min";
        out_row(o, v);
    }
    out_end(o);
    assert_int_equal(fclose(fp), 0);
    return cpu_ms() - t0;
}

/* test_formats - each format within its budget (best of MEASURES) */
static void test_formats(void **state)
{
    static const char *const names[] = {"table", "csv", "json", "ndjson"};

    (void)state;
    for (int f = OUT_TABLE; f <= OUT_NDJSON; f++) {
        double best = render((enum out_format)f);

        for (int m = 1; m < MEASURES && best > ROWS_BUDGET_MS; m++) {
            double t = render((enum out_format)f);

            best = t < best ? t : best;
        }
        printf("%s: %d rows in %.1f ms of CPU (budget %.0f ms)\n", names[f], ROWS, best,
               ROWS_BUDGET_MS);
        if (best > ROWS_BUDGET_MS)
            fail_msg("%s: %.1f ms of CPU, budget %.0f ms", names[f], best, ROWS_BUDGET_MS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_track.c - open tracking: the rule and tracked-message tables
 * (store), and the milter's tracking stage driven through a fake smfi
 * adapter: which mail is tracked, the opt-out header, track_exclude, the
 * body the MTA gets and what the ledger records. Rule patterns, tokens
 * and URLs (lib/track.c) alone: test_track_rules.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "config.h"
#include "milter.h"
#include "smfi.h"
#include "stage_track.h"
#include "store.h"
#include "track.h"
#include "util.h"
#include "tmpdir_fixture.h"

/* --- the fake adapter: records what the stage asked the MTA to do --- */

struct fake_ctx {
    void *priv;
    struct buf body;      /* last replacebody */
    int replaced;         /* replacebody calls */
    char changes[8][160]; /* "name|idx|value" of chgheader / insheader */
    int nchanges;
};

static char *fake_getsymval(SMFICTX *ctx, char *name)
{
    (void)ctx;
    return strcmp(name, "i") == 0 ? (char *)"QID1" : NULL;
}

static void *fake_getpriv(SMFICTX *ctx)
{
    return ((struct fake_ctx *)ctx)->priv;
}

static int fake_setpriv(SMFICTX *ctx, void *priv)
{
    ((struct fake_ctx *)ctx)->priv = priv;
    return MI_SUCCESS;
}

static int note_change(SMFICTX *ctx, const char *name, int idx, const char *value)
{
    struct fake_ctx *f = (struct fake_ctx *)ctx;

    assert_true(f->nchanges < 8);
    snprintf(f->changes[f->nchanges++], sizeof(f->changes[0]), "%s|%d|%s", name, idx,
             value ? value : "(delete)");
    return MI_SUCCESS;
}

static int fake_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
    return note_change(ctx, name, idx, value);
}

static int fake_insheader(SMFICTX *ctx, int idx, char *name, char *value)
{
    return note_change(ctx, name, idx, value);
}

static int fake_replacebody(SMFICTX *ctx, unsigned char *data, int len)
{
    struct fake_ctx *f = (struct fake_ctx *)ctx;

    f->replaced++;
    buf_add(&f->body, data, (size_t)len);
    return MI_SUCCESS;
}

static const struct smfi_ops fake_ops = {
    .getsymval = fake_getsymval,
    .getpriv = fake_getpriv,
    .setpriv = fake_setpriv,
    .chgheader = fake_chgheader,
    .insheader = fake_insheader,
    .replacebody = fake_replacebody,
};
const struct smfi_ops *smfi = &fake_ops;

static struct ledger_msg *emitted[8];
static size_t nemitted;

static void sink(void *arg, const struct config *c, struct ledger_msg *m)
{
    (void)arg;
    (void)c;
    assert_true(nemitted < 8);
    emitted[nemitted++] = m;
}

static void clear_emitted(void)
{
    for (size_t i = 0; i < nemitted; i++)
        ledger_msg_free(emitted[i]);
    nemitted = 0;
}

/* --- the store --- */

static char dbpath[256];
static char dbdir[] = "/tmp/test_track.XXXXXX"; /* root's alone: root opens the database */

static struct store *fresh_store(void)
{
    char err[256];
    struct store *s;

    snprintf(dbpath, sizeof(dbpath), "%s/track.db", dbdir);
    unlink(dbpath);
    s = store_open(dbpath, 0, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    return s;
}

static void remove_store(void)
{
    char p[300];

    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static int count_rule(const struct store_track_rule *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 0;
}

static long long sql_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_store_rules(void **state)
{
    struct store *s = fresh_store();
    struct store_track_rule r = {.field = STORE_TRACK_SENDER,
                                 .pattern = "News@Example.org",
                                 .enabled = true,
                                 .created_at = 1000};
    char err[256];
    struct track_rules *rules;
    int64_t id1 = 0, id2 = 0;
    int n = 0;

    (void)state;
    assert_int_equal(store_put_track_rule(s, &r, &id1), STORE_OK);
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_ERROR); /* same again */
    assert_non_null(strstr(store_error(s), "already"));
    r.field = STORE_TRACK_RECIPIENT;
    r.pattern = "@lists.example";
    assert_int_equal(store_put_track_rule(s, &r, &id2), STORE_OK);
    assert_true(id2 > id1);
    r.pattern = "not a pattern";
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_ERROR);
    assert_int_equal(store_list_track_rules(s, count_rule, &n), STORE_OK);
    assert_int_equal(n, 2);

    rules = track_rules_load(s, err, sizeof(err));
    assert_non_null(rules);
    assert_int_equal(track_rules_count(rules), 2);
    assert_true(track_rules_match_sender(rules, "news@EXAMPLE.org"));
    assert_false(track_rules_match_sender(rules, "x@lists.example"));
    assert_true(track_rules_match_recipient(rules, "x@lists.example"));
    assert_false(track_rules_match_recipient(rules, "news@example.org"));
    track_rules_unref(rules);

    assert_int_equal(store_set_track_rule_enabled(s, id2, false), STORE_OK);
    rules = track_rules_load(s, err, sizeof(err));
    assert_int_equal(track_rules_count(rules), 1);
    assert_false(track_rules_match_recipient(rules, "x@lists.example"));
    track_rules_unref(rules);
    assert_int_equal(store_set_track_rule_enabled(s, 999, true), STORE_ERROR);
    assert_int_equal(store_remove_track_rule(s, id1), STORE_OK);
    assert_int_equal(store_remove_track_rule(s, id1), STORE_ERROR);
    store_close(s);
    remove_store();
}

static void test_store_tracked(void **state)
{
    struct store *s = fresh_store();
    char *rcpts[] = {(char *)"a@x.example", (char *)"b@x.example"};
    char tok[TRACK_TOKEN_LEN + 1];
    struct store_tracked t = {
        .mode = "pipe", .outcome = "injected", .created_at = 5, .rcpts = rcpts, .nrcpts = 2};
    struct ledger_msg *m = ledger_msg_new();
    const unsigned char raw[TRACK_KEY_LEN] = {0};
    struct track_key key;

    (void)state;
    track_key_set(&key, raw);
    track_token_new(&key, tok);
    t.token = tok;
    assert_int_equal(store_put_tracked(s, &t), STORE_OK);
    assert_int_not_equal(store_put_tracked(s, &t), STORE_OK); /* the token is unique */
    t.token = "short";
    assert_int_equal(store_put_tracked(s, &t), STORE_ERROR);
    /* a ledger record with a token gets its tracked_messages row in the same batch */
    m->direction = LEDGER_OUTBOUND;
    ledger_msg_set(&m->action, "accept");
    ledger_msg_set(&m->mail_from, "news@example.org");
    ledger_msg_add_rcpt(m, "c@y.example");
    track_token_new(&key, tok);
    ledger_msg_set(&m->track_token, tok);
    ledger_msg_set(&m->track_outcome, "no-html");
    assert_int_equal(store_put_messages(s, &m, 1), STORE_OK);
    assert_int_equal(store_put_messages(s, &m, 1), STORE_OK); /* a replay adds nothing */
    /* a third one, forgotten again (a copy that was never sent) */
    track_token_new(&key, tok);
    t.token = tok;
    assert_int_equal(store_put_tracked(s, &t), STORE_OK);
    assert_int_equal(store_forget_tracked(s, tok), STORE_OK);
    assert_int_equal(store_forget_tracked(s, tok), STORE_OK); /* gone already: fine */
    store_close(s);
    assert_int_equal(sql_int("SELECT count(*) FROM tracked_messages"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM tracked_recipients"), 3);
    assert_int_equal(sql_int("SELECT count(*) FROM tracked_messages t JOIN messages m"
                             " ON m.uid = t.message_uid WHERE t.mode = 'milter'"
                             " AND t.outcome = 'no-html'"),
                     1);
    ledger_msg_free(m);
    remove_store();
}

/* --- the milter stage --- */

static struct config *track_config(void)
{
    struct config *c = config_defaults();

    free(c->database);
    c->database = xstrdup(dbpath);
    free(c->tracking_base_url);
    c->tracking_base_url = xstrdup("https://t.example");
    free(c->track_exclude); /* the empty default list */
    c->track_exclude = xcalloc(2, sizeof(char *));
    c->track_exclude[0] = xstrdup("@private.example");
    free(c->pixel_module);
    c->pixel_module = xstrdup(TEST_BUILD_DIR "/pixelfilter/postmeter-pixel.so");
    return c;
}

static const char html_body[] = "<html><body><p>Hi</p></body></html>\r\n";

/* run - one outbound message through the callbacks; returns the record */
static struct ledger_msg *run(struct fake_ctx *f, const char *from, const char *const *rcpts,
                              const char *const (*hdrs)[2], const char *body)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char *argv[2] = {NULL, NULL};

    memset(f, 0, sizeof(*f));
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr); /* trusted: outbound */
    milter_connect((SMFICTX *)f, (char *)"localhost", (struct sockaddr *)&sin);
    argv[0] = (char *)from;
    milter_envfrom((SMFICTX *)f, argv);
    for (size_t i = 0; rcpts[i]; i++) {
        argv[0] = (char *)rcpts[i];
        milter_envrcpt((SMFICTX *)f, argv);
    }
    for (size_t i = 0; hdrs[i][0]; i++)
        milter_header((SMFICTX *)f, (char *)hdrs[i][0], (char *)hdrs[i][1]);
    milter_eoh((SMFICTX *)f);
    milter_body((SMFICTX *)f, (unsigned char *)body, strlen(body));
    assert_int_equal(milter_eom((SMFICTX *)f), SMFIS_CONTINUE);
    milter_close((SMFICTX *)f);
    assert_int_equal(nemitted, 1);
    return emitted[0];
}

static const char *const html_hdrs[][2] = {
    {"From", "News <news@example.org>"},
    {"To", "bob@dest.example"},
    {"MIME-Version", "1.0"},
    {"Content-Type", "text/html; charset=utf-8"},
    {NULL, NULL},
};

struct stage_case {
    const char *name;
    const char *from;
    const char *rcpt[3];
    const char *extra_hdr[2]; /* one more header field, or NULL */
    bool tracked;
    const char *outcome;
    int opt_out_removed;
};

static const struct stage_case stage_cases[] = {
    {"envelope sender rule",
     "<news@example.org>",
     {"<bob@dest.example>"},
     {NULL, NULL},
     true,
     "injected",
     0},
    {"header From rule only",
     "<bounce@mta.example>",
     {"<bob@dest.example>"},
     {NULL, NULL},
     true,
     "injected",
     0},
    {"recipient rule on an alias",
     "<other@else.example>",
     {"<team@alias.example>"},
     {"From", "Other <other@else.example>"},
     true,
     "injected",
     0},
    {"no rule matches",
     "<other@else.example>",
     {"<bob@dest.example>"},
     {"From", "Other <other@else.example>"},
     false,
     NULL,
     0},
    {"opted out",
     "<news@example.org>",
     {"<bob@dest.example>"},
     {"X-Postmeter-Track", " No "},
     false,
     NULL,
     1},
    {"other value keeps tracking, field removed",
     "<news@example.org>",
     {"<bob@dest.example>"},
     {"X-Postmeter-Track", "yes"},
     true,
     "injected",
     1},
    {"one excluded recipient",
     "<news@example.org>",
     {"<bob@dest.example>", "<carol@private.example>"},
     {NULL, NULL},
     false,
     NULL,
     0},
    {"foreign DKIM signature",
     "<news@example.org>",
     {"<bob@dest.example>"},
     {"DKIM-Signature", "v=1; a=rsa-sha256; d=else.example; s=x; b=AAAA; bh=AAAA; h=from"},
     true,
     "skipped-foreign-dkim",
     0},
    {"forwarded with an ARC set",
     "<news@example.org>",
     {"<bob@dest.example>"},
     {"ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=fwd.example; s=x; b=AAAA"},
     true,
     "skipped-foreign-arc",
     0},
};

static void test_stage(void **state)
{
    struct store *s = fresh_store();
    struct store_track_rule r = {.enabled = true, .created_at = 1};

    (void)state;
    r.field = STORE_TRACK_SENDER;
    r.pattern = "news@example.org";
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_OK);
    r.field = STORE_TRACK_RECIPIENT;
    r.pattern = "team@alias.example";
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_OK);
    store_close(s);
    milter_setup(sink, NULL, track_config());
    {
        struct milter_cfg *mc = milter_cfg_acquire();

        assert_int_equal(track_stage_refresh(mc->c, true), 2);
        milter_cfg_release(mc);
    }
    for (size_t i = 0; i < sizeof(stage_cases) / sizeof(stage_cases[0]); i++) {
        const struct stage_case *t = &stage_cases[i];
        const char *hdrs[8][2] = {{NULL, NULL}};
        size_t n = 0, removed = 0;
        struct fake_ctx f;
        struct ledger_msg *m;
        const char *from_hdr =
            t->extra_hdr[0] && strcmp(t->extra_hdr[0], "From") == 0 ? t->extra_hdr[1] : NULL;

        for (size_t k = 0; html_hdrs[k][0]; k++) {
            hdrs[n][0] = html_hdrs[k][0];
            hdrs[n++][1] =
                strcmp(html_hdrs[k][0], "From") == 0 && from_hdr ? from_hdr : html_hdrs[k][1];
        }
        if (t->extra_hdr[0] && from_hdr == NULL) {
            hdrs[n][0] = t->extra_hdr[0];
            hdrs[n++][1] = t->extra_hdr[1];
        }
        m = run(&f, t->from, t->rcpt, (const char *const(*)[2])hdrs, html_body);
        for (int k = 0; k < f.nchanges; k++)
            removed += strcmp(f.changes[k], "X-Postmeter-Track|1|(delete)") == 0;
        if (removed != (size_t)t->opt_out_removed)
            fail_msg("%s: %zu opt-out fields removed", t->name, removed);
        if (!t->tracked) {
            if (m->track_token != NULL || f.replaced != 0)
                fail_msg("%s: tracked", t->name);
        } else {
            if (m->track_token == NULL)
                fail_msg("%s: not tracked", t->name);
            assert_int_equal(strlen(m->track_token), TRACK_TOKEN_LEN);
            assert_string_equal(m->track_outcome, t->outcome);
            if (strcmp(t->outcome, "injected") == 0) {
                char want[128];

                snprintf(want, sizeof(want), "src=\"https://t.example/o/%s.gif\"", m->track_token);
                assert_int_equal(f.replaced, 1);
                if (strstr(buf_cstr(&f.body), want) == NULL)
                    fail_msg("%s: body without the pixel: %s", t->name, buf_cstr(&f.body));
                /* exactly the original with one tag before </body> */
                assert_int_equal(strncmp(buf_cstr(&f.body), "<html><body><p>Hi</p>", 21), 0);
                assert_non_null(strstr(buf_cstr(&f.body), "></body></html>\r\n"));
            } else {
                assert_int_equal(f.replaced, 0);
            }
        }
        buf_free(&f.body);
        clear_emitted();
    }
    track_stage_teardown();
    milter_teardown();
    remove_store();
}

/*
 * test_stage_no_engine - pixel_module cannot be loaded (a reload that
 * enabled tracking, so the milter could not stop): the message is still
 * tracked and delivered as it came, outcome "error" with the reason.
 * Runs before any test loads the module (it stays loaded).
 */
static void test_stage_no_engine(void **state)
{
    struct store *s = fresh_store();
    struct store_track_rule r = {
        .field = STORE_TRACK_SENDER, .pattern = "@example.org", .enabled = true, .created_at = 1};
    const char *rcpts[] = {"<bob@dest.example>", NULL};
    struct config *c = track_config();
    char err[512] = "";
    struct fake_ctx f;
    struct ledger_msg *m;

    (void)state;
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_OK);
    store_close(s);
    free(c->pixel_module);
    c->pixel_module = xstrdup(TEST_BUILD_DIR "/pixelfilter/no-such-module.so");
    assert_false(track_stage_engine(c, err, sizeof(err)));
    assert_non_null(strstr(err, "no-such-module.so"));
    milter_setup(sink, NULL, c);
    assert_int_equal(track_stage_refresh(c, true), 1);
    m = run(&f, "<news@example.org>", rcpts, html_hdrs, html_body);
    assert_non_null(m->track_token);
    assert_string_equal(m->track_outcome, "error");
    assert_string_equal(m->track_reason, "the pixel engine is not loaded");
    assert_int_equal(f.replaced, 0);
    clear_emitted();
    buf_free(&f.body);
    track_stage_teardown();
    milter_teardown();
    remove_store();
}

static void test_stage_too_large_and_untracked_mode(void **state)
{
    struct store *s = fresh_store();
    struct store_track_rule r = {
        .field = STORE_TRACK_SENDER, .pattern = "@example.org", .enabled = true, .created_at = 1};
    const char *rcpts[] = {"<bob@dest.example>", NULL};
    struct config *c = track_config();
    char *big = xcalloc(1, 40 * 1024);
    struct fake_ctx f;
    struct ledger_msg *m;

    (void)state;
    assert_int_equal(store_put_track_rule(s, &r, NULL), STORE_OK);
    store_close(s);
    c->track_max_kb = 16;
    milter_setup(sink, NULL, c);
    milter_replace_config(c = track_config());
    c->track_max_kb = 16;
    assert_int_equal(track_stage_refresh(c, true), 1);
    memset(big, 'x', 40 * 1024 - 3);
    memcpy(big + 40 * 1024 - 3, "\r\n", 2);
    m = run(&f, "<news@example.org>", rcpts, html_hdrs, big);
    assert_non_null(m->track_token);
    assert_string_equal(m->track_outcome, "too-large");
    assert_int_equal(f.replaced, 0);
    clear_emitted();
    buf_free(&f.body);

    /* tracking_mode = pipe: the milter leaves tracking to postmeter-pixelfilter */
    c = track_config();
    c->tracking_mode = TRACKING_PIPE;
    milter_replace_config(c);
    assert_int_equal(track_stage_refresh(c, true), 0);
    m = run(&f, "<news@example.org>", rcpts, html_hdrs, html_body);
    assert_null(m->track_token);
    assert_int_equal(f.replaced, 0);
    clear_emitted();
    free(big);
    track_stage_teardown();
    milter_teardown();
    remove_store();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_rules),
        cmocka_unit_test(test_store_tracked),
        cmocka_unit_test(test_stage_no_engine), /* before any test loads the engine */
        cmocka_unit_test(test_stage),
        cmocka_unit_test(test_stage_too_large_and_untracked_mode),
    };

    int rc;

    if (tmpdir_make(dbdir) != 0)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmpdir_remove(dbdir);
    return rc;
}

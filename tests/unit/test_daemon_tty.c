/*
 * test_daemon_tty.c - daemon_drop_privileges and root's terminal: the
 * process that becomes the service user must not keep root's terminal
 * as its controlling terminal (it could type commands into root's shell
 * with ioctl(TIOCSTI)), yet Ctrl-C must still stop it; a session leader
 * with a terminal is refused; without a terminal nothing changes.
 *
 * Each case runs in a pseudo-terminal (forkpty): the child leads the
 * pty's session as a login shell would, and a grandchild (not a session
 * leader, as the postmeter command a shell starts) drops to nobody.
 * Results come back through a pipe, not the terminal. Runs as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#define WAIT_MS 10000 /* the longest any step may take */

/* What a dropped grandchild found. */
struct seen {
    uid_t uid;
    int tty_errno; /* errno of open("/dev/tty") after the drop (0: it opened) */
    int sti_rc;    /* ioctl(0, TIOCSTI) */
    int sti_errno;
    int still_a_tty; /* isatty(0): its descriptors still reach the terminal */
};

/* drop - as root: become nobody */
static void drop(void)
{
    struct daemon_user u;

    daemon_lookup_user("nobody", &u);
    daemon_drop_privileges(&u);
    free(u.name);
}

/* look - after the drop: what can this process do to the terminal? */
static void look(struct seen *s)
{
    char c = 'x';
    int fd;

    memset(s, 0, sizeof(*s));
    s->uid = getuid();
    errno = 0;
    fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    s->tty_errno = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    errno = 0;
    s->sti_rc = ioctl(0, TIOCSTI, &c);
    s->sti_errno = errno;
    s->still_a_tty = isatty(0);
}

/* drain - read what the terminal shows until fd's child is gone or ms pass */
static void drain(int master, int ms)
{
    struct timespec t0, t;
    char b[512];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};

        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);

        if (left <= 0 || poll(&p, 1, left) <= 0 || read(master, b, sizeof(b)) <= 0)
            return;
    }
}

/* wait_ms - reap pid within ms milliseconds; its status, or -1 (killed) */
static int wait_ms(pid_t pid, int ms)
{
    int status;

    for (int i = 0; i < ms / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* read_all - exactly len bytes from fd within WAIT_MS; false if not */
static bool read_all(int fd, void *p, size_t len)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};

    return poll(&pf, 1, WAIT_MS) == 1 && read(fd, p, len) == (ssize_t)len;
}

/*
 * The postmeter CLI run from root's shell in a terminal: after the drop it
 * has no controlling terminal, TIOCSTI is refused, its stdin is still the
 * terminal.
 */
static void test_dropped_cannot_type_into_terminal(void **state)
{
    int pfd[2], master, status;
    struct seen s;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(pfd), 0);
    pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) { /* the session leader (root's shell) */
        pid_t g = fork();

        if (g == 0) { /* the command it runs */
            drop();
            look(&s);
            _exit(write(pfd[1], &s, sizeof(s)) == (ssize_t)sizeof(s) ? 0 : 3);
        }
        _exit(g > 0 && waitpid(g, &status, 0) == g && WIFEXITED(status) ? WEXITSTATUS(status) : 4);
    }
    close(pfd[1]);
    assert_true(read_all(pfd[0], &s, sizeof(s)));
    drain(master, 200);
    status = wait_ms(pid, WAIT_MS);
    close(pfd[0]);
    close(master);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_not_equal(s.uid, 0);
    assert_int_equal(s.tty_errno, ENXIO); /* no controlling terminal any more */
    assert_int_equal(s.sti_rc, -1);
    /* EPERM: not its controlling terminal (EIO where dev.tty.legacy_tiocsti = 0) */
    assert_true(s.sti_errno == EPERM || s.sti_errno == EIO);
    assert_true(s.still_a_tty);
}

/* Ctrl-C on the terminal still stops the dropped command (same process group). */
static void test_ctrl_c_still_stops_it(void **state)
{
    int pfd[2], master, status;
    pid_t pid;
    char ready;

    (void)state;
    assert_int_equal(pipe(pfd), 0);
    pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        pid_t g;

        signal(SIGINT, SIG_IGN); /* only the command is to stop */
        if ((g = fork()) == 0) {
            signal(SIGINT, SIG_DFL);
            drop();
            if (write(pfd[1], "r", 1) != 1)
                _exit(3);
            for (;;)
                pause();
        }
        /* 0: the command died of SIGINT */
        _exit(g > 0 && waitpid(g, &status, 0) == g && WIFSIGNALED(status) &&
                      WTERMSIG(status) == SIGINT
                  ? 0
                  : 5);
    }
    close(pfd[1]);
    assert_true(read_all(pfd[0], &ready, 1));
    drain(master, 100);
    assert_int_equal(write(master, "\003", 1), 1); /* the terminal's interrupt character */
    drain(master, 200);
    status = wait_ms(pid, WAIT_MS);
    close(pfd[0]);
    close(master);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A session leader with a terminal cannot give it up: it is refused, still root. */
static void test_session_leader_refused(void **state)
{
    int master, status;
    char out[4096];
    size_t n = 0;
    pid_t pid;

    (void)state;
    pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        drop();
        _exit(0);
    }
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        ssize_t r;

        if (n + 1 >= sizeof(out) || poll(&p, 1, WAIT_MS) <= 0 ||
            (r = read(master, out + n, sizeof(out) - 1 - n)) <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    status = wait_ms(pid, WAIT_MS);
    close(master);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "leads its session"));
}

/* Without a terminal (a daemon, a service): the drop is as before, leader or not. */
static void test_no_terminal_unchanged(void **state)
{
    int status;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setsid() < 0)
            _exit(2);
        drop();
        _exit(getuid() != 0 && geteuid() != 0 ? 0 : 3);
    }
    status = wait_ms(pid, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_daemon_tty: must run as root (it tests dropping root)\n");
        return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropped_cannot_type_into_terminal),
        cmocka_unit_test(test_ctrl_c_still_stops_it),
        cmocka_unit_test(test_session_leader_refused),
        cmocka_unit_test(test_no_terminal_unchanged),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

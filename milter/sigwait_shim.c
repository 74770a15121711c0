/*
 * sigwait_shim.c - keep SIGHUP away from libmilter's signal thread.
 *
 * libmilter runs a thread in sigwait() for SIGHUP, SIGTERM and SIGINT and
 * stops the filter on SIGHUP. For us SIGHUP means "reload": the main
 * thread takes it through a handler (main.c). But while a flood of
 * SIGHUPs keeps one pending in the main thread, the kernel hands the next
 * to any other thread that accepts it - libmilter's sigwait() - and the
 * milter stopped (tests/integration/test_milter_daemon.py sends 200).
 *
 * This executable's sigwait() takes the place of the C library's for
 * libmilter (the dynamic linker binds its reference to the executable's
 * definition first) and never waits for SIGHUP; SIGTERM and SIGINT still
 * reach it, and stopping on them is what we want too. Only libmilter
 * calls sigwait() in this process.
 */
#include <errno.h>
#include <signal.h>

int sigwait(const sigset_t *set, int *sig);

/* sigwait - the C library's, without SIGHUP */
int sigwait(const sigset_t *set, int *sig)
{
    sigset_t s = *set;

    sigdelset(&s, SIGHUP);
    for (;;) {
        int r = sigwaitinfo(&s, NULL);

        if (r > 0) {
            *sig = r;
            return 0;
        }
        if (errno != EINTR)
            return errno;
    }
}

/* libmemgov-preload.so: what the governed process tells the outside, since the program does not know memgov:
 * - at exit, one record line appended to the file of run.report_file (`memgov run` reads it for its report);
 * - at each mode change and emergency of the fallback machine, the file of run.mode_file is rewritten with the
 *   mode's name and the command of run.on_mode_change runs (docs/run.md).
 * It also starts the monitor (whose samples drive the fallback machine). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget/budget_internal.h"
#include "internal/atfork.h"
#include "internal/clock.h"
#include "memgov.h"
#include "preload/preload.h"

extern char **environ;

#define PATH_MAX_ 4096
#define MODES_KEPT 24

static struct {
    memgov *gov;
    char report_file[PATH_MAX_];
    char mode_file[PATH_MAX_];
    char on_mode_change[PATH_MAX_];
    _Atomic uint64_t largest_refused;
    _Atomic uint64_t over_since_ns; /* 0: not over the soft limit now */
    _Atomic uint64_t over_ns;
    pthread_mutex_t modes_lock;
    memgov_mode modes[MODES_KEPT]; /* the modes entered, in order (the first MODES_KEPT) */
    unsigned n_modes;
} run = {.modes_lock = PTHREAD_MUTEX_INITIALIZER};

void mg_preload_say(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
        return;
}

static void text_key(const memgov_config *cfg, const char *key, char *buf, size_t size)
{
    if (memgov_config_get_text(cfg, key, buf, size, NULL, NULL) != MEMGOV_OK)
        buf[0] = '\0';
}

/* ---- events ---------------------------------------------------------------------------------------------------- */

static void on_budget_event(const memgov_event *ev, void *user)
{
    (void)user;
    uint64_t now = mg_monotonic_ns(NULL);
    switch (ev->kind) {
    case MEMGOV_EVENT_HARD_REFUSAL: {
        uint64_t seen = atomic_load(&run.largest_refused);
        while (ev->request > seen && !atomic_compare_exchange_weak(&run.largest_refused, &seen, ev->request))
            ;
        break;
    }
    case MEMGOV_EVENT_SOFT_CROSSED:
        if (ev->budget == memgov_root(run.gov))
            atomic_store(&run.over_since_ns, now);
        break;
    case MEMGOV_EVENT_SOFT_CLEARED:
        if (ev->budget == memgov_root(run.gov)) {
            uint64_t since = atomic_exchange(&run.over_since_ns, 0);
            if (since != 0)
                atomic_fetch_add(&run.over_ns, now - since);
        }
        break;
    default:
        break;
    }
}

/* Rewrites run.mode_file with `what` and runs run.on_mode_change as `sh -c CMD memgov-run WHAT DETAIL`, waiting
 * for it (keep it short: the thread that caused the change waits). */
static void mode_hooks(const char *what, const char *detail)
{
    if (run.mode_file[0] != '\0') {
        int fd = open(run.mode_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "%s\n", what);
            if (write(fd, line, (size_t)n) != n)
                mg_preload_say("memgov-preload: could not write the mode to %s\n", run.mode_file);
            close(fd);
        }
    }
    if (run.on_mode_change[0] != '\0') {
        char *argv[] = {"sh", "-c", run.on_mode_change, "memgov-run", (char *)what, (char *)detail, NULL};
        pid_t pid;
        if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
}

static void on_transition(const memgov_fallback_transition *t, void *user)
{
    (void)user;
    pthread_mutex_lock(&run.modes_lock);
    if (run.n_modes < MODES_KEPT)
        run.modes[run.n_modes++] = t->to;
    pthread_mutex_unlock(&run.modes_lock);
    mode_hooks(memgov_mode_name(t->to), memgov_fallback_reason_name(t->reason));
}

static void on_emergency(double pressure, void *user)
{
    (void)user;
    char p[32];
    snprintf(p, sizeof p, "%.3f", pressure);
    mode_hooks("emergency", p);
}

/* ---- fork ------------------------------------------------------------------------------------------------------ */

/* Every lock of memgov is held across fork() by internal/atfork.c, jemalloc's by jemalloc's handlers; this file's
 * joins them. A child (with or without exec) is a process of its own under its own cap (docs/run.md): its record
 * is its own; the monitor's thread did not survive the fork, refusals still feed the fallback machine. */
static mg_fork_lock modes_fork;

/* ---- the record at exit ---------------------------------------------------------------------------------------- */

static int append(char *buf, size_t size, int at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t size, int at, const char *fmt, ...)
{
    if (at < 0 || (size_t)at >= size)
        return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, size - (size_t)at, fmt, ap);
    va_end(ap);
    return n < 0 ? at : at + n;
}

/* One line of `key=value` fields, written with one write() on an O_APPEND file so that the records of several
 * processes (children inherit the setting) do not interleave. */
__attribute__((destructor)) static void write_record(void)
{
    if (run.gov == NULL || run.report_file[0] == '\0')
        return;
    mg_preload_raw_enter();
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(memgov_root(run.gov), &st);
    memgov_fallback_stats fs = {.struct_size = sizeof fs};
    memgov_fallback_get_stats(memgov_governor_fallback(run.gov), &fs);
    uint64_t over = atomic_load(&run.over_ns), since = atomic_load(&run.over_since_ns);
    if (since != 0)
        over += mg_monotonic_ns(NULL) - since;
    char line[1024];
    int n = append(line, sizeof line, 0,
                   "memgov-run-record pid=%ld ppid=%ld limit=%llu soft=%llu peak=%llu used=%llu allocations=%llu "
                   "frees=%llu refusals=%llu largest_refused=%llu over_soft_ns=%llu transitions=%llu "
                   "emergencies=%llu mode=%s early_frees=%llu foreign_frees=%llu modes=normal",
                   (long)getpid(), (long)getppid(), (unsigned long long)st.hard_limit,
                   (unsigned long long)st.soft_limit, (unsigned long long)st.peak, (unsigned long long)st.used,
                   (unsigned long long)st.allocations, (unsigned long long)st.frees,
                   (unsigned long long)st.refusals, (unsigned long long)atomic_load(&run.largest_refused),
                   (unsigned long long)over, (unsigned long long)fs.transitions,
                   (unsigned long long)fs.emergencies, memgov_mode_name(fs.mode),
                   (unsigned long long)atomic_load(&mg_preload_early_frees),
                   (unsigned long long)atomic_load(&mg_preload_foreign_frees));
    for (unsigned i = 0; i < run.n_modes; i++)
        n = append(line, sizeof line, n, ",%s", memgov_mode_name(run.modes[i]));
    n = append(line, sizeof line, n, "\n");
    if (n > 0 && (size_t)n < sizeof line) {
        int fd = open(run.report_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, line, (size_t)n) != n)
                mg_preload_say("memgov-preload: could not write the exit record to %s\n", run.report_file);
            close(fd);
        }
    }
    mg_preload_raw_leave();
}

void mg_preload_report_start(memgov *gov)
{
    run.gov = gov;
    const memgov_config *cfg = memgov_governor_config(gov);
    text_key(cfg, "run.report_file", run.report_file, sizeof run.report_file);
    text_key(cfg, "run.mode_file", run.mode_file, sizeof run.mode_file);
    text_key(cfg, "run.on_mode_change", run.on_mode_change, sizeof run.on_mode_change);
    memgov_status st = memgov_budget_add_listener(memgov_root(gov), on_budget_event, NULL, NULL);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    if (st == MEMGOV_OK)
        st = memgov_fallback_add_listener(fb, on_transition, NULL, NULL);
    if (st == MEMGOV_OK)
        st = memgov_fallback_add_emergency(fb, on_emergency, NULL, NULL);
    if (st == MEMGOV_OK)
        st = memgov_monitor_start(memgov_governor_monitor(gov));
    if (st != MEMGOV_OK)
        mg_preload_say("memgov-preload: the cap holds, but the report and mode hooks are incomplete: %s\n",
                       memgov_last_error());
    mg_fork_lock_add(&modes_fork, &run.modes_lock, MG_FORK_RANK_LEAF, NULL, NULL);
}

/* memgov run: runs an unmodified program under a hard cap on the bytes it allocates, through the preload library
 * (libmemgov-preload.so, src/preload), and reports at its end (docs/run.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "memgov.h"
#include "run.h"

/* memgov run's own failures, as env(1) and timeout(1) have them: apart from any status of the command. */
#define RUN_FAILED 125
#define RUN_CANNOT_EXECUTE 126
#define RUN_NOT_FOUND 127

typedef struct run_options {
    const char *limit, *soft, *report_file;
    int json;
} run_options;

/* ---- sizes ------------------------------------------------------------------------------------------------------ */

/* A size option through the configuration's one size parser; RUN_FAILED after the message. */
static int parse_size(const char *option, const char *text, uint64_t effective, uint64_t *out)
{
    return cli_parse_size(&cli_run, option, text, effective, out) == CLI_OK ? 0 : RUN_FAILED;
}

/* root.limit as the governed process will resolve it without --limit (defaults, MEMGOV_CONFIG_FILE, MEMGOV_*). */
static uint64_t default_limit(uint64_t effective)
{
    memgov_config *cfg;
    uint64_t v = 0;
    if (memgov_config_create(&cfg) != MEMGOV_OK)
        return 0;
    memgov_config_set_effective_memory(cfg, effective);
    const char *file = getenv("MEMGOV_CONFIG_FILE");
    if (file != NULL && file[0] != '\0')
        memgov_config_load_file(cfg, file, 0, NULL);
    memgov_config_load_env(cfg, 0, NULL);
    memgov_config_get_size(cfg, "root.limit", &v);
    memgov_config_destroy(cfg);
    return v;
}

static const char *bytes(uint64_t v, char *buf, size_t size)
{
    memgov_format_bytes(v, buf, size);
    return buf;
}

/* ---- the command ------------------------------------------------------------------------------------------------ */

/* Finds the program as execvp would; *path receives it. RUN_NOT_FOUND or RUN_CANNOT_EXECUTE after a message. */
static int resolve(const char *cmd, char *path, size_t size)
{
    if (strchr(cmd, '/') != NULL) {
        snprintf(path, size, "%s", cmd);
    } else {
        const char *dirs = getenv("PATH");
        if (dirs == NULL || dirs[0] == '\0')
            dirs = "/usr/local/bin:/usr/bin:/bin";
        int found = 0;
        for (const char *d = dirs; !found;) {
            size_t n = strcspn(d, ":");
            snprintf(path, size, "%.*s%s%s", (int)n, n == 0 ? "." : d, "/", cmd);
            struct stat st;
            found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
            if (d[n] == '\0')
                break;
            d += n + 1;
        }
        if (!found) {
            fprintf(stderr, "memgov run: %s: command not found (searched PATH)\n", cmd);
            return RUN_NOT_FOUND;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "memgov run: %s: %s\n", path, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? RUN_NOT_FOUND : RUN_CANNOT_EXECUTE;
    }
    if (S_ISDIR(st.st_mode) || access(path, X_OK) != 0) {
        fprintf(stderr, "memgov run: %s: %s\n", path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        return RUN_CANNOT_EXECUTE;
    }
    return 0;
}

/* Whether the kernel will run the program in secure mode (setuid/setgid to someone else, file capabilities),
 * where ld.so ignores a preload library given by path. */
static const char *secure_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    if ((st.st_mode & S_ISUID) && st.st_uid != geteuid())
        return "set-user-ID";
    if ((st.st_mode & S_ISGID) && st.st_gid != getegid())
        return "set-group-ID";
    if (getxattr(path, "security.capability", NULL, 0) > 0)
        return "given file capabilities";
    return NULL;
}

/* Refuses (RUN_CANNOT_EXECUTE, after a message) a program the preload library cannot reach: a statically linked
 * one (no dynamic loader, so no LD_PRELOAD) and one run in secure mode; a script is judged by its interpreter. */
static int check_reachable(const char *path)
{
    char interp[PATH_MAX];
    const char *target = path;
    if (run_script_interpreter(path, interp, sizeof interp) == 0)
        target = interp;
    const char *why = secure_mode(target);
    if (why != NULL) {
        fprintf(stderr, "memgov run: %s is %s: the dynamic loader ignores LD_PRELOAD for it, so the cap cannot "
                        "apply; not running it\n", target, why);
        return RUN_CANNOT_EXECUTE;
    }
    if (run_elf_kind(target) == RUN_ELF_STATIC) {
        fprintf(stderr, "memgov run: %s is statically linked: without a dynamic loader no preload library reaches "
                        "its malloc, so the cap cannot apply; not running it\n", target);
        return RUN_CANNOT_EXECUTE;
    }
    return 0;
}

/* The preload library: next to the build tree's memgov when this is it, else the installed one. */
static const char *preload_library(void)
{
#ifdef MG_PRELOAD_BUILT
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        if (strcmp(self, MG_CLI_BUILT) == 0)
            return MG_PRELOAD_BUILT;
    }
#endif
    return MG_PRELOAD_INSTALLED;
}

/* ---- environment ------------------------------------------------------------------------------------------------ */

static int set_env(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return 0;
    fprintf(stderr, "memgov run: cannot set %s: %s\n", name, strerror(errno));
    return -1;
}

static int setup_env(const char *lib, const char *report_path, uint64_t limit, uint64_t soft, int limit_given)
{
    const char *old = getenv("LD_PRELOAD");
    size_t n = (old != NULL ? strlen(old) : 0) + strlen(lib) + 2;
    char *preload = malloc(n);
    if (preload == NULL)
        return -1;
    if (old != NULL && old[0] != '\0')
        snprintf(preload, n, "%s %s", old, lib);
    else
        snprintf(preload, n, "%s", lib);
    int rc = set_env("LD_PRELOAD", preload);
    free(preload);
    char v[64];
    if (rc == 0 && limit_given) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)limit);
        rc = set_env("MEMGOV_ROOT_LIMIT", v);
    }
    if (rc == 0 && soft != 0) {
        snprintf(v, sizeof v, "%.17g", (double)soft / (double)limit);
        rc = set_env("MEMGOV_ROOT_SOFT_RATIO", v);
    }
    if (rc == 0)
        rc = set_env("MEMGOV_RUN_REPORT_FILE", report_path);
    return rc;
}

/* ---- running ---------------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static const int forwarded[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};

/* Runs the program; *status gets wait4's status and *ru its usage. RUN_* after a message when it did not start. */
static int spawn(const char *path, char **argv, int *status, struct rusage *ru)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fprintf(stderr, "memgov run: pipe: %s\n", strerror(errno));
        return RUN_FAILED;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int); /* the terminal sends them to the program too, as time(1) does */
    sigaction(SIGQUIT, &ign, &old_quit);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &fwd, NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "memgov run: fork: %s\n", strerror(errno));
        return RUN_FAILED;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
            sigaction(forwarded[i], &dfl, NULL);
        execv(path, argv);
        int e = errno;
        if (write(pipefd[1], &e, sizeof e) < 0)
            _exit(RUN_CANNOT_EXECUTE);
        _exit(e == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXECUTE);
    }
    child_pid = pid;
    close(pipefd[1]);
    int e = 0;
    ssize_t got;
    while ((got = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    while (wait4(pid, status, 0, ru) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof e) {
        fprintf(stderr, "memgov run: %s: %s\n", path, strerror(e));
        return e == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXECUTE;
    }
    return 0;
}

/* ---- the report ------------------------------------------------------------------------------------------------- */

static int emit(const run_options *o, const char *command, int status, const struct rusage *ru, double wall_s,
                const char *report_path)
{
    run_records recs;
    run_records_read(report_path, (long)child_pid, &recs);
    FILE *out = stderr;
    if (o->report_file != NULL && (out = fopen(o->report_file, "w")) == NULL) {
        fprintf(stderr, "memgov run: cannot write the report to %s: %s\n", o->report_file, strerror(errno));
        return -1;
    }
    run_report r = {
        .command = command,
        .exited = WIFEXITED(status),
        .code = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
        .max_rss = (uint64_t)ru->ru_maxrss * 1024u,
        .wall_s = wall_s,
    };
    if (o->json)
        run_report_json(out, &r, &recs);
    else
        run_report_text(out, &r, &recs);
    if (out != stderr && fclose(out) != 0) {
        fprintf(stderr, "memgov run: cannot write the report to %s: %s\n", o->report_file, strerror(errno));
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- options ------------------------------------------------------------------------------------------------------ */

static int parse_options(int argc, char **argv, run_options *o)
{
    enum { OPT_LIMIT = 256, OPT_SOFT, OPT_SPILL, OPT_REPORT, OPT_REPORT_FILE };
    static const struct option longs[] = {
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"soft", required_argument, NULL, OPT_SOFT},
        {"spill", required_argument, NULL, OPT_SPILL},
        {"report", required_argument, NULL, OPT_REPORT},
        {"report-file", required_argument, NULL, OPT_REPORT_FILE},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = cli_next_option(&cli_run, argc, argv, longs)) >= 0) {
        switch (c) {
        case OPT_LIMIT:
            o->limit = optarg;
            break;
        case OPT_SOFT:
            o->soft = optarg;
            break;
        case OPT_SPILL:
            fprintf(stderr, "memgov run: --spill %s: the preload library does not use file-backed budgets yet "
                            "(docs/run.md, docs/memmap.md); run without --spill\n", optarg);
            return RUN_FAILED;
        case OPT_REPORT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                cli_usage_error(&cli_run, "--report must be text or json, not '%s'", optarg);
                return RUN_FAILED;
            }
            o->json = strcmp(optarg, "json") == 0;
            break;
        default: /* OPT_REPORT_FILE */
            o->report_file = optarg;
            break;
        }
    }
    if (c == -2)
        return RUN_FAILED;
    if (optind >= argc) {
        cli_usage_error(&cli_run, "no command to run (give it after --)");
        return RUN_FAILED;
    }
    return 0;
}

static int run_main(int argc, char **argv)
{
    run_options o = {0};
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    char **cmd = argv + optind;

    memgov_probe probe;
    memgov_probe_options po;
    memgov_probe_options_init(&po);
    po.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memset(&probe, 0, sizeof probe);
    probe.struct_size = sizeof probe;
    memgov_probe_read(&po, &probe);
    uint64_t effective = probe.effective_memory, limit = 0, soft = 0;
    char b1[24], b2[24];
    if (o.limit != NULL && parse_size("--limit", o.limit, effective, &limit) != 0)
        return RUN_FAILED;
    if (o.limit != NULL && limit < ((uint64_t)1 << 20)) {
        fprintf(stderr, "memgov run: --limit %s is below the least cap, 1 MiB\n", o.limit);
        return RUN_FAILED;
    }
    if (o.limit != NULL && effective != 0 && limit > effective) {
        fprintf(stderr, "memgov run: warning: --limit %s is above the effective memory %s (RAM or the cgroup's "
                        "limit): the cap is the effective memory\n", bytes(limit, b1, sizeof b1),
                bytes(effective, b2, sizeof b2));
        limit = effective;
    }
    if (o.limit == NULL)
        limit = default_limit(effective);
    if (o.soft != NULL && parse_size("--soft", o.soft, effective, &soft) != 0)
        return RUN_FAILED;
    if (o.soft != NULL && (soft == 0 || soft > limit)) {
        fprintf(stderr, "memgov run: --soft %s must be above 0 and at most the cap %s\n", o.soft,
                bytes(limit, b1, sizeof b1));
        return RUN_FAILED;
    }

    char path[PATH_MAX];
    if ((rc = resolve(cmd[0], path, sizeof path)) != 0 || (rc = check_reachable(path)) != 0)
        return rc;
    const char *lib = preload_library();
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "memgov run: the preload library %s is missing (%s); sanitizer builds do not build it\n",
                lib, strerror(errno));
        return RUN_FAILED;
    }
    const char *tmp = getenv("TMPDIR");
    char report_path[PATH_MAX];
    snprintf(report_path, sizeof report_path, "%s/memgov-run.XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int fd = mkstemp(report_path);
    if (fd < 0) {
        fprintf(stderr, "memgov run: cannot create the record file %s: %s\n", report_path, strerror(errno));
        return RUN_FAILED;
    }
    close(fd);
    if (setup_env(lib, report_path, limit, soft, o.limit != NULL) != 0) {
        unlink(report_path);
        return RUN_FAILED;
    }
    int status = 0;
    struct rusage ru = {0};
    double t0 = now_s();
    rc = spawn(path, cmd, &status, &ru);
    if (rc == 0 && emit(&o, cmd[0], status, &ru, now_s() - t0, report_path) != 0)
        rc = RUN_FAILED;
    unlink(report_path);
    if (rc != 0)
        return rc;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const cli_command cli_run = {
    .name = "run",
    .summary = "run a program under a hard cap on the bytes it allocates (MemoryError instead of the OOM killer)",
    .usage = "memgov run [--limit SIZE|PCT] [--soft SIZE] [--report text|json] [--report-file F] -- CMD [ARGS...]\n"
             "  --limit SIZE|PCT  hard cap on the process's allocated bytes (default: root.limit, 90% of the\n"
             "                    effective memory); each child process gets a cap of its own\n"
             "  --soft SIZE       soft limit: time above it is reported (default: root.soft_ratio of the cap)\n"
             "  --spill DIR       not available yet: the preload library does not use file budgets\n"
             "  --report FMT      the exit report on stderr as text (default) or json\n"
             "  --report-file F   write the report to F instead of stderr\n"
             "exit status: the command's; 128+N if it died of signal N; 127 command not found; 126 not executable\n"
             "or out of the cap's reach (static, setuid); 125 memgov run's own error (docs/run.md)",
    .run = run_main,
};

/* memgov monitor: runs a command, samples the memory of its whole process tree with the library's monitor,
 * prints the summary (on stderr: stdout belongs to the command), passes the command's exit status through and
 * can draw an SVG timeline with the peak and the fallback thresholds marked. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "memgov.h"

/* The fallback machine's thresholds, drawn as lines on the timeline: read from the configuration memgov_open()
 * would load ($MEMGOV_CONFIG_FILE, MEMGOV_<KEY>), so they are the ones a governed program would use. */
typedef struct threshold {
    double ratio;
    char label[32];
} threshold;
#define N_THRESHOLDS 3

typedef struct args {
    uint64_t interval_ms;
    int json;
    const char *svg;
    const char *limit_text; /* NULL = the machine's effective memory */
    char **command;
} args;

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"svg", required_argument, NULL, 's'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {NULL, 0, NULL, 0}};
    *a = (args){.interval_ms = 100};
    int c;
    optind = 1;
    while ((c = cli_next_option(&cli_monitor, argc, argv, longopts)) >= 0) {
        if (c == 'j') {
            a->json = 1;
        } else if (c == 's') {
            a->svg = optarg;
        } else if (c == 'l') {
            a->limit_text = optarg;
        } else {
            char *end;
            errno = 0;
            unsigned long long ms = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || optarg[0] < '0' || optarg[0] > '9' || ms == 0 ||
                ms > 3600000)
                return cli_usage_error(&cli_monitor, "--interval '%s' must be 1..3600000 milliseconds", optarg);
            a->interval_ms = ms;
        }
    }
    if (c == -2)
        return CLI_USAGE;
    if (optind >= argc)
        return cli_usage_error(&cli_monitor, "no command to run");
    a->command = argv + optind;
    return CLI_OK;
}

/* Effective memory as the fallback machine sees it: the probe's min(RAM, cgroup limits, v1 and v2). */
static uint64_t effective_memory(void)
{
    memgov_probe_options po;
    memgov_probe_options_init(&po);
    po.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memgov_probe p = {.struct_size = sizeof p};
    return memgov_probe_read(&po, &p) == MEMGOV_OK ? p.effective_memory : 0;
}

/* fallback.light_enter, .minimal_enter and .critical of the configuration (defaults < $MEMGOV_CONFIG_FILE <
 * MEMGOV_<KEY>); its warnings go to stderr. CLI_OK or CLI_FAILED (a file or value that cannot be loaded). */
static int read_thresholds(threshold t[N_THRESHOLDS])
{
    static const char *const keys[N_THRESHOLDS] = {"fallback.light_enter", "fallback.minimal_enter",
                                                   "fallback.critical"};
    static const char *const names[N_THRESHOLDS] = {"light", "minimal", "critical"};
    memgov_config *cfg = NULL;
    memgov_config_result *res = NULL;
    int rc = CLI_OK;
    if (memgov_config_create(&cfg) != MEMGOV_OK || memgov_config_result_create(&res) != MEMGOV_OK)
        rc = CLI_FAILED;
    const char *file = getenv("MEMGOV_CONFIG_FILE");
    if (rc == CLI_OK && file != NULL && file[0] != '\0' && memgov_config_load_file(cfg, file, 0, res) != MEMGOV_OK)
        rc = CLI_FAILED;
    if (rc == CLI_OK && memgov_config_load_env(cfg, 0, res) != MEMGOV_OK)
        rc = CLI_FAILED;
    cli_print_config_messages(&cli_monitor, res);
    for (int i = 0; rc == CLI_OK && i < N_THRESHOLDS; i++) {
        if (memgov_config_get_double(cfg, keys[i], &t[i].ratio) != MEMGOV_OK)
            rc = CLI_FAILED;
        snprintf(t[i].label, sizeof t[i].label, "%s %.0f%%", names[i], t[i].ratio * 100);
    }
    if (rc != CLI_OK)
        cli_fail(&cli_monitor);
    memgov_config_result_destroy(res);
    memgov_config_destroy(cfg);
    return rc;
}

/* A byte count held in a double, for labels: values past 2^64-1 are 2^64-1, not undefined behaviour. */
static uint64_t to_bytes(double v)
{
    if (!(v > 0))
        return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}

/* The SVG goes into an existing, writable directory: checked before the command runs, not after. */
static int svg_target_ok(const char *file)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash == file ? 1 : slash - file), file);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "memgov monitor: --svg '%s': the directory '%s' does not exist\n", file, dir);
        return 0;
    }
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "memgov monitor: --svg '%s': the directory '%s' is not writable: %s\n", file, dir,
                strerror(errno));
        return 0;
    }
    return 1;
}

/* The hand-written SVG: the process tree's RSS over time, the peak and the thresholds of `limit`. */
static int write_svg(memgov_monitor *mon, const char *file, uint64_t limit, int limit_given,
                     const threshold thresholds[N_THRESHOLDS])
{
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    memgov_metric_stats rss = {.struct_size = sizeof rss};
    if (memgov_monitor_get_stats(mon, &ms) != MEMGOV_OK ||
        memgov_monitor_get_metric_stats(mon, "process.rss", &rss) != MEMGOV_OK)
        return -1;
    FILE *f = fopen(file, "w");
    if (f == NULL) {
        fprintf(stderr, "memgov monitor: cannot write '%s': %s\n", file, strerror(errno));
        return -1;
    }
    const double W = 800, H = 400, left = 80, right = 20, top = 30, bottom = 40;
    double peak = isnan(rss.peak) ? 0 : rss.peak;
    double ymax = limit_given ? fmax(peak, (double)limit) * 1.05 : peak * 1.25;
    if (ymax <= 0)
        ymax = 1;
    double span = (double)(ms.last_time_ns - ms.first_time_ns) / 1e9;
    double xscale = (W - left - right) / (span > 0 ? span : 1), yscale = (H - top - bottom) / ymax;
    char text[32];
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n"
               "<title>memgov monitor: process tree RSS</title>\n"
               "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n"
               "<g id=\"axes\" stroke=\"black\">\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
               "y2=\"%.1f\"/>\n</g>\n",
            W, H, W, H, W, H, left, H - bottom, W - right, H - bottom, left, top, left, H - bottom);
    memgov_format_bytes(to_bytes(ymax), text, sizeof text);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", left - 4, top + 4,
            text);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.2f s</text>\n", W - right,
            H - bottom + 16, span);
    for (size_t i = 0; i < N_THRESHOLDS; i++) {
        double v = thresholds[i].ratio * (double)limit;
        if (limit == 0 || v > ymax)
            continue; /* above the chart: the process stayed far below it */
        double y = H - bottom - v * yscale;
        fprintf(f, "<line class=\"threshold\" data-ratio=\"%.2f\" data-bytes=\"%.0f\" x1=\"%.1f\" y1=\"%.2f\" "
                   "x2=\"%.1f\" y2=\"%.2f\" stroke=\"%s\" stroke-dasharray=\"6 4\"/>\n",
                thresholds[i].ratio, v, left, y, W - right, y, i == N_THRESHOLDS - 1 ? "red" : "orange");
        fprintf(f, "<text x=\"%.1f\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", W - right - 2,
                y - 3, thresholds[i].label);
    }
    fprintf(f, "<polyline id=\"rss\" data-metric=\"process.rss\" fill=\"none\" stroke=\"steelblue\" "
               "stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < ms.samples_kept; i++) {
        uint64_t t;
        double v;
        if (memgov_monitor_history(mon, "process.rss", i, &t, &v) != MEMGOV_OK || isnan(v))
            continue;
        fprintf(f, "%s%.2f,%.2f", i ? " " : "", left + (double)(t - ms.first_time_ns) / 1e9 * xscale,
                H - bottom - v * yscale);
    }
    fprintf(f, "\"/>\n");
    if (rss.samples > 0) {
        double y = H - bottom - peak * yscale, x = left + (double)(rss.peak_time_ns - ms.first_time_ns) / 1e9 * xscale;
        memgov_format_bytes(to_bytes(peak), text, sizeof text);
        fprintf(f, "<line id=\"peak\" data-bytes=\"%.0f\" x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" "
                   "stroke=\"purple\"/>\n<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"purple\"/>\n"
                   "<text x=\"%.1f\" y=\"%.2f\" font-size=\"11\">peak %s at %.2f s</text>\n",
                peak, left, y, W - right, y, x, y, left + 4, y - 4, text,
                (double)(rss.peak_time_ns - ms.first_time_ns) / 1e9);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

static int print_report(memgov_monitor *mon, int json)
{
    size_t need = 0;
    memgov_report_format fmt = json ? MEMGOV_REPORT_JSON : MEMGOV_REPORT_TEXT;
    memgov_monitor_report(mon, fmt, NULL, 0, &need);
    char *buf = malloc(need + 1);
    if (buf == NULL || memgov_monitor_report(mon, fmt, buf, need + 1, NULL) != MEMGOV_OK) {
        free(buf);
        fprintf(stderr, "memgov monitor: %s\n", memgov_last_error());
        return -1;
    }
    fputs(buf, stderr);
    free(buf);
    return 0;
}

static int run_monitor(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_OK)
        return rc;
    int limit_given = a.limit_text != NULL;
    uint64_t effective = effective_memory(), limit = effective;
    if (limit_given && (rc = cli_parse_size(&cli_monitor, "--limit", a.limit_text, effective, &limit)) != CLI_OK)
        return rc;
    if (limit_given && limit == 0)
        return cli_usage_error(&cli_monitor, "--limit '%s' is 0 bytes", a.limit_text);
    threshold thresholds[N_THRESHOLDS];
    if (read_thresholds(thresholds) != CLI_OK)
        return CLI_FAILED;
    if (a.svg != NULL && !svg_target_ok(a.svg))
        return CLI_FAILED;
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "memgov monitor: fork failed: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    if (child == 0) {
        execvp(a.command[0], a.command);
        int e = errno;
        fprintf(stderr, "memgov monitor: cannot run '%s': %s\n", a.command[0], strerror(e));
        _exit(e == ENOENT || e == ENOTDIR ? 127 : 126); /* the shell's convention: not found 127, not runnable 126 */
    }
    memgov_monitor_options o;
    memgov_monitor_options_init(&o);
    o.interval_ns = a.interval_ms * 1000000u;
    o.pid = (int32_t)child;
    o.process_tree = 1;
    memgov_monitor *mon = NULL;
    memgov_alert_rule rule;
    memgov_alert_rule_init(&rule);
    rule.metric = "process.rss";
    rule.warning = thresholds[0].ratio * (double)limit;
    rule.critical = thresholds[N_THRESHOLDS - 1].ratio * (double)limit;
    if (memgov_monitor_create(&o, &mon) != MEMGOV_OK || (limit > 0 && memgov_monitor_add_alert(mon, &rule, NULL)) ||
        memgov_monitor_start(mon) != MEMGOV_OK) {
        fprintf(stderr, "memgov monitor: %s\n", memgov_last_error());
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        memgov_monitor_destroy(mon);
        return CLI_FAILED;
    }
    /* Wait for the exit without reaping, so the tree is sampled until the very end; then reap. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR)
        ;
    memgov_monitor_stop(mon);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    int failed = print_report(mon, a.json) != 0;
    if (a.svg != NULL && write_svg(mon, a.svg, limit, limit_given, thresholds) != 0)
        failed = 1;
    memgov_monitor_destroy(mon);
    return failed && exit_code == 0 ? CLI_FAILED : exit_code;
}

const cli_command cli_monitor = {
    .name = "monitor",
    .summary = "run a command and watch the memory of its process tree",
    .usage = "memgov monitor [--interval MS] [--json] [--svg FILE] [--limit SIZE] -- COMMAND [ARGS]\n\n"
             "  --interval MS  sampling period in milliseconds (default 100)\n"
             "  --json         print the summary as JSON instead of text\n"
             "  --svg FILE     write a timeline of the tree's RSS with its peak and the fallback thresholds\n"
             "  --limit SIZE   the memory the thresholds are fractions of, in the configuration's size syntax\n"
             "                 (512M, 1.5G, 2GiB, 2GB, or 90% of the effective memory; default: the machine's\n"
             "                 effective memory, min(RAM, cgroup memory.max))\n\n"
             "The thresholds are fallback.light_enter, .minimal_enter and .critical of the configuration\n"
             "($MEMGOV_CONFIG_FILE, MEMGOV_<KEY>). Options take `--opt value` or `--opt=value`.\n"
             "The summary goes to stderr; the command's own output is left as it is. The exit status is the\n"
             "command's (128 + N if it died of signal N; 127 if it was not found, 126 if it could not be run).",
    .run = run_monitor,
};

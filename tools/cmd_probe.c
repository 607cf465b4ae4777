/* memgov probe: what the library finds out about the machine, as text or JSON. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "internal/text.h"
#include "memgov.h"

/* A byte count: "unlimited", "unknown" (0 unless `zero_is_known`), or the value in binary units. */
static void print_bytes_as(const char *name, uint64_t v, int zero_is_known)
{
    char t[24];
    if (v == MEMGOV_PROBE_UNLIMITED)
        printf("%-22s unlimited\n", name);
    else if (v == MEMGOV_PROBE_UNKNOWN && !zero_is_known)
        printf("%-22s unknown\n", name);
    else {
        memgov_format_bytes(v, t, sizeof t);
        printf("%-22s %s\n", name, t);
    }
}

static void print_bytes(const char *name, uint64_t v)
{
    print_bytes_as(name, v, 0);
}

/* Text through the shared escaper, so that a hostile /proc cannot put a control character on the terminal:
 * "PREFIX TEXT\n" on out. */
static void print_escaped_line(FILE *out, const char *prefix, const char *s)
{
    char buf[1024];
    mg_text t;
    mg_text_init(&t, buf, sizeof buf);
    mg_text_put_escaped(&t, s);
    fprintf(out, "%s%s\n", prefix, buf);
}

static void print_escaped(const char *name, const char *s)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%-22s ", name);
    print_escaped_line(stdout, prefix, s[0] ? s : "unknown");
}

static void print_text(const memgov_probe *p)
{
    int cgroup_known = (p->sources & MEMGOV_PROBE_SRC_CGROUP) != 0;
    print_bytes("ram_total", p->ram_total);
    print_bytes("mem_available", p->mem_available);
    print_bytes("swap_total", p->swap_total);
    print_bytes("swap_free", p->swap_free);
    printf("%-22s %d\n", "cgroup_version", p->cgroup_version);
    print_bytes_as("cgroup_memory_max", p->cgroup_memory_max, cgroup_known); /* 0 is a limit of 0 bytes */
    print_bytes("cgroup_memory_high", p->cgroup_memory_high);
    print_bytes("cgroup_memory_current", p->cgroup_memory_current);
    print_bytes("rss", p->rss);
    print_bytes("peak_rss", p->peak_rss);
    print_bytes_as("effective_memory", p->effective_memory, cgroup_known && p->cgroup_memory_max == 0);
    printf("%-22s %u\n%-22s %u\n%-22s %u\n", "physical_cores", p->physical_cores, "logical_cpus", p->logical_cpus,
           "numa_nodes", p->numa_nodes);
    print_bytes("l1d", p->l1d_size);
    print_bytes("l2", p->l2_size);
    print_bytes("l3", p->l3_size);
    print_escaped("cpu_vendor", p->cpu_vendor);
    print_escaped("cpu_model", p->cpu_model);
    printf("%-22s %u\n%-22s %.2f\n%-22s %u\n", "allowed_cpus", p->allowed_cpus, "cpu_quota", p->cpu_quota,
           "usable_cpus", p->usable_cpus);
    print_bytes("disk_total", p->disk_total);
    print_bytes("disk_free", p->disk_free);
    print_bytes("shm_total", p->shm_total);
    print_bytes("shm_free", p->shm_free);
    if (p->rejected != 0)
        print_escaped("rejected", p->rejected_why);
}

/* JSON: unknown is null, unlimited is the string "max". */
static void json_u64(mg_text *t, const char *name, uint64_t v, int unknown_is_null)
{
    if (v == MEMGOV_PROBE_UNLIMITED)
        mg_text_put(t, "  \"%s\": \"max\",\n", name);
    else if (unknown_is_null && v == MEMGOV_PROBE_UNKNOWN)
        mg_text_put(t, "  \"%s\": null,\n", name);
    else
        mg_text_put(t, "  \"%s\": %llu,\n", name, (unsigned long long)v);
}

static void json_str(mg_text *t, const char *name, const char *s)
{
    mg_text_put(t, "  \"%s\": ", name);
    mg_text_put_json(t, s[0] ? s : NULL);
    mg_text_put(t, ",\n");
}

static void write_json(mg_text *t, const memgov_probe *p)
{
    static const struct { unsigned bit; const char *name; } simd[] = {
        {MEMGOV_SIMD_SSE2, "sse2"}, {MEMGOV_SIMD_SSE4_2, "sse4.2"}, {MEMGOV_SIMD_AVX, "avx"},
        {MEMGOV_SIMD_AVX2, "avx2"}, {MEMGOV_SIMD_FMA3, "fma3"},     {MEMGOV_SIMD_AVX512F, "avx512f"},
        {MEMGOV_SIMD_NEON, "neon"},
    };
    int cgroup_known = (p->sources & MEMGOV_PROBE_SRC_CGROUP) != 0;
    mg_text_put(t, "{\n");
    json_u64(t, "ram_total", p->ram_total, 1);
    json_u64(t, "mem_available", p->mem_available, 1);
    json_u64(t, "swap_total", p->swap_total, 1);
    json_u64(t, "swap_free", p->swap_free, 1);
    json_u64(t, "page_size", p->page_size, 1);
    json_u64(t, "huge_page_size", p->huge_page_size, 1);
    json_u64(t, "cgroup_version", (uint64_t)p->cgroup_version, 0);
    json_u64(t, "cgroup_memory_max", p->cgroup_memory_max, !cgroup_known); /* 0 is a limit of 0 bytes */
    json_u64(t, "cgroup_memory_high", p->cgroup_memory_high, 1);
    json_u64(t, "cgroup_memory_current", p->cgroup_memory_current, 1);
    json_u64(t, "rss", p->rss, 1);
    json_u64(t, "peak_rss", p->peak_rss, 1);
    json_u64(t, "effective_memory", p->effective_memory, !(cgroup_known && p->cgroup_memory_max == 0));
    json_u64(t, "physical_cores", p->physical_cores, 1);
    json_u64(t, "logical_cpus", p->logical_cpus, 1);
    json_u64(t, "numa_nodes", p->numa_nodes, 1);
    json_u64(t, "l1d_size", p->l1d_size, 1);
    json_u64(t, "l2_size", p->l2_size, 1);
    json_u64(t, "l3_size", p->l3_size, 1);
    json_str(t, "cpu_vendor", p->cpu_vendor);
    json_str(t, "cpu_model", p->cpu_model);
    mg_text_put(t, "  \"simd\": [");
    int first = 1;
    for (size_t i = 0; i < sizeof simd / sizeof simd[0]; i++)
        if (p->simd & simd[i].bit) {
            mg_text_put(t, "%s\"%s\"", first ? "" : ", ", simd[i].name);
            first = 0;
        }
    mg_text_put(t, "],\n");
    json_u64(t, "allowed_cpus", p->allowed_cpus, 1);
    mg_text_put(t, "  \"cpu_quota\": %.4f,\n", p->cpu_quota);
    json_u64(t, "usable_cpus", p->usable_cpus, 1);
    json_u64(t, "disk_total", p->disk_total, 1);
    json_u64(t, "disk_free", p->disk_free, 1);
    json_u64(t, "shm_total", p->shm_total, 1);
    json_u64(t, "shm_free", p->shm_free, 1);
    mg_text_put(t, "  \"rejected\": %u,\n", p->rejected);
    json_str(t, "rejected_why", p->rejected_why);
    mg_text_put(t, "  \"sources\": %u\n}\n", p->sources);
}

static int print_json(const memgov_probe *p)
{
    char buf[8192];
    mg_text t;
    mg_text_init(&t, buf, sizeof buf);
    write_json(&t, p);
    if (t.len >= sizeof buf) {
        fprintf(stderr, "memgov probe: the JSON needs %zu bytes, more than %zu\n", t.len + 1, sizeof buf);
        return CLI_FAILED;
    }
    fputs(buf, stdout);
    return CLI_OK;
}

static int run_probe(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"root", required_argument, NULL, 'r'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    int json = 0, c;
    optind = 1;
    while ((c = cli_next_option(&cli_probe, argc, argv, longopts)) >= 0) {
        if (c == 'j')
            json = 1;
        else if (c == 'r')
            opts.root = optarg;
        else
            opts.disk_dir = optarg;
    }
    if (c == -2)
        return CLI_USAGE;
    if (optind < argc)
        return cli_usage_error(&cli_probe, "unexpected argument '%s'", argv[optind]);
    struct stat rs;
    if (opts.root != NULL && opts.root[0] != '\0') { /* the library reads a missing root as "all unknown" */
        if (stat(opts.root, &rs) != 0) {
            fprintf(stderr, "memgov probe: --root '%s': %s\n", opts.root, strerror(errno));
            return CLI_FAILED;
        }
        if (!S_ISDIR(rs.st_mode)) {
            fprintf(stderr, "memgov probe: --root '%s' is not a directory\n", opts.root);
            return CLI_FAILED;
        }
    }
    memgov_probe p = {.struct_size = sizeof p};
    if (memgov_probe_read(&opts, &p) != MEMGOV_OK)
        return cli_fail(&cli_probe);
    if (p.rejected != 0)
        print_escaped_line(stderr, "memgov probe: refused (unknown): ", p.rejected_why);
    if (json)
        return print_json(&p);
    print_text(&p);
    return CLI_OK;
}

const cli_command cli_probe = {
    .name = "probe",
    .summary = "show memory, cgroup limits, CPUs and disks as the library sees them",
    .usage = "memgov probe [--json] [--root DIR] [--dir DIR]   (--root: read /proc and /sys under DIR; "
             "--dir: measure DIR's file system)",
    .run = run_probe,
};

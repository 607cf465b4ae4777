/* memgov probe: what the library finds out about the machine, as text or JSON. */
#include <string.h>

#include "cli.h"
#include "memgov.h"

static void print_bytes(const char *name, uint64_t v)
{
    char t[24];
    if (v == MEMGOV_PROBE_UNLIMITED)
        printf("%-22s unlimited\n", name);
    else if (v == MEMGOV_PROBE_UNKNOWN)
        printf("%-22s unknown\n", name);
    else {
        memgov_format_bytes(v, t, sizeof t);
        printf("%-22s %s\n", name, t);
    }
}

static void print_text(const memgov_probe *p)
{
    print_bytes("ram_total", p->ram_total);
    print_bytes("mem_available", p->mem_available);
    print_bytes("swap_total", p->swap_total);
    print_bytes("swap_free", p->swap_free);
    printf("%-22s %d\n", "cgroup_version", p->cgroup_version);
    print_bytes("cgroup_memory_max", p->cgroup_memory_max);
    print_bytes("cgroup_memory_high", p->cgroup_memory_high);
    print_bytes("cgroup_memory_current", p->cgroup_memory_current);
    print_bytes("rss", p->rss);
    print_bytes("peak_rss", p->peak_rss);
    print_bytes("effective_memory", p->effective_memory);
    printf("%-22s %u\n%-22s %u\n%-22s %u\n", "physical_cores", p->physical_cores, "logical_cpus", p->logical_cpus,
           "numa_nodes", p->numa_nodes);
    print_bytes("l1d", p->l1d_size);
    print_bytes("l2", p->l2_size);
    print_bytes("l3", p->l3_size);
    printf("%-22s %s\n%-22s %s\n", "cpu_vendor", p->cpu_vendor[0] ? p->cpu_vendor : "unknown", "cpu_model",
           p->cpu_model[0] ? p->cpu_model : "unknown");
    printf("%-22s %u\n%-22s %.2f\n%-22s %u\n", "allowed_cpus", p->allowed_cpus, "cpu_quota", p->cpu_quota,
           "usable_cpus", p->usable_cpus);
    print_bytes("disk_total", p->disk_total);
    print_bytes("disk_free", p->disk_free);
    print_bytes("shm_total", p->shm_total);
    print_bytes("shm_free", p->shm_free);
}

/* JSON: unknown is null, unlimited is the string "max". */
static void json_u64(const char *name, uint64_t v, int unknown_is_null)
{
    if (v == MEMGOV_PROBE_UNLIMITED)
        printf("  \"%s\": \"max\",\n", name);
    else if (unknown_is_null && v == MEMGOV_PROBE_UNKNOWN)
        printf("  \"%s\": null,\n", name);
    else
        printf("  \"%s\": %llu,\n", name, (unsigned long long)v);
}

static void json_str(const char *name, const char *s)
{
    printf("  \"%s\": ", name);
    if (s[0] == '\0') {
        printf("null,\n");
        return;
    }
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    printf("\",\n");
}

static void print_json(const memgov_probe *p)
{
    static const struct { unsigned bit; const char *name; } simd[] = {
        {MEMGOV_SIMD_SSE2, "sse2"}, {MEMGOV_SIMD_SSE4_2, "sse4.2"}, {MEMGOV_SIMD_AVX, "avx"},
        {MEMGOV_SIMD_AVX2, "avx2"}, {MEMGOV_SIMD_FMA3, "fma3"},     {MEMGOV_SIMD_AVX512F, "avx512f"},
        {MEMGOV_SIMD_NEON, "neon"},
    };
    printf("{\n");
    json_u64("ram_total", p->ram_total, 1);
    json_u64("mem_available", p->mem_available, 1);
    json_u64("swap_total", p->swap_total, 1);
    json_u64("swap_free", p->swap_free, 1);
    json_u64("page_size", p->page_size, 1);
    json_u64("huge_page_size", p->huge_page_size, 1);
    json_u64("cgroup_version", (uint64_t)p->cgroup_version, 0);
    json_u64("cgroup_memory_max", p->cgroup_memory_max, 1);
    json_u64("cgroup_memory_high", p->cgroup_memory_high, 1);
    json_u64("cgroup_memory_current", p->cgroup_memory_current, 1);
    json_u64("rss", p->rss, 1);
    json_u64("peak_rss", p->peak_rss, 1);
    json_u64("effective_memory", p->effective_memory, 1);
    json_u64("physical_cores", p->physical_cores, 1);
    json_u64("logical_cpus", p->logical_cpus, 1);
    json_u64("numa_nodes", p->numa_nodes, 1);
    json_u64("l1d_size", p->l1d_size, 1);
    json_u64("l2_size", p->l2_size, 1);
    json_u64("l3_size", p->l3_size, 1);
    json_str("cpu_vendor", p->cpu_vendor);
    json_str("cpu_model", p->cpu_model);
    printf("  \"simd\": [");
    int first = 1;
    for (size_t i = 0; i < sizeof simd / sizeof simd[0]; i++)
        if (p->simd & simd[i].bit) {
            printf("%s\"%s\"", first ? "" : ", ", simd[i].name);
            first = 0;
        }
    printf("],\n");
    json_u64("allowed_cpus", p->allowed_cpus, 1);
    printf("  \"cpu_quota\": %.4f,\n", p->cpu_quota);
    json_u64("usable_cpus", p->usable_cpus, 1);
    json_u64("disk_total", p->disk_total, 1);
    json_u64("disk_free", p->disk_free, 1);
    json_u64("shm_total", p->shm_total, 1);
    json_u64("shm_free", p->shm_free, 1);
    printf("  \"sources\": %u\n}\n", p->sources);
}

static int run_probe(int argc, char **argv)
{
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            opts.root = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            opts.disk_dir = argv[++i];
        else
            return cli_usage_error(&cli_probe, "unexpected argument '%s'", argv[i]);
    }
    memgov_probe p = {.struct_size = sizeof p};
    if (memgov_probe_read(&opts, &p) != MEMGOV_OK) {
        fprintf(stderr, "memgov probe: %s\n", memgov_last_error());
        return CLI_FAILED;
    }
    if (json)
        print_json(&p);
    else
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

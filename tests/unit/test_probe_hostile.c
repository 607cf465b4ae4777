/* Hostile /proc and /sys trees (issue 19 items 2, 4, 5, 6): the probe never blocks, reads /proc/self/cgroup
 * whole, never leaves the cgroup mount, and refuses junk as unknown with the reason. Trees are written at run
 * time under a scratch root (a FIFO cannot be committed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal/procfs.h"
#include "memgov.h"
#include "support.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static char root[64];

static int make_root(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/mg-probe-hostile-XXXXXX");
    return mkdtemp(root) != NULL ? 0 : -1;
}

static int remove_root(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static memgov_probe probe_root(void)
{
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    opts.root = root;
    opts.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    memgov_probe p = {.struct_size = sizeof p};
    assert_int_equal(memgov_probe_read(&opts, &p), MEMGOV_OK);
    return p;
}

static void a_v2_machine(const char *cgroup_text)
{
    mg_test_put(root, "/proc/meminfo", "MemTotal:       67108864 kB\nMemAvailable:   33554432 kB\n");
    mg_test_put(root, "/sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    mg_test_put(root, "/proc/self/cgroup", "%s", cgroup_text);
}

/* Item 4: 200 v1 lines before the 0:: line (8 KiB) — the limit is still found. */
static void a_long_proc_self_cgroup_is_read_whole(void **state)
{
    (void)state;
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)sprintf(text + len, "%d:name=systemd-controller-%03d:/some/long/v1/path/for/line\n", i + 1, i);
    assert_true(len > 4096);
    sprintf(text + len, "0::/app\n");
    a_v2_machine(text);
    mg_test_put(root, "/sys/fs/cgroup/app/memory.max", "%llu\n", 256 * MiB);
    memgov_probe p = probe_root();
    assert_int_equal(p.cgroup_version, 2);
    assert_int_equal(p.cgroup_memory_max, 256 * MiB);
    assert_int_equal(p.effective_memory, 256 * MiB);
    free(text);
}

/* Item 4: a 0:: line straddling byte 4095 gives the child's limit, not its parent's. */
static void a_cgroup_line_across_byte_4095_is_read_whole(void **state)
{
    (void)state;
    char text[8192];
    size_t len = 0;
    while (len < 4096 - 20)
        len += (size_t)sprintf(text + len, "1:cpu:/x\n");
    sprintf(text + len, "0::/parent/child-with-a-long-name\n"); /* crosses 4095 */
    assert_true(len < 4095 && len + 30 > 4096);
    a_v2_machine(text);
    mg_test_put(root, "/sys/fs/cgroup/parent/memory.max", "%llu\n", 1 * GiB);
    mg_test_put(root, "/sys/fs/cgroup/parent/child-with-a-long-name/memory.max", "%llu\n", 128 * MiB);
    memgov_probe p = probe_root();
    assert_int_equal(p.cgroup_memory_max, 128 * MiB);
}

/* Item 5: "0::/../../../x" never reads outside the cgroup mount (nor outside the root). */
static void a_cgroup_path_with_dot_dot_never_leaves_the_mount(void **state)
{
    (void)state;
    a_v2_machine("0::/../../../x\n");
    mg_test_put(root, "/x/memory.max", "1234\n");          /* outside /sys/fs/cgroup, inside the root */
    mg_test_put(root, "/sys/fs/cgroup/x/memory.max", "99999\n"); /* not the process's cgroup either */
    memgov_probe p = probe_root();
    assert_int_not_equal(p.cgroup_memory_max, 1234);
    assert_int_not_equal(p.cgroup_memory_max, 99999);
    assert_true(p.rejected & MEMGOV_PROBE_SRC_CGROUP);
    assert_non_null(strstr(p.rejected_why, "/proc/self/cgroup: the cgroup path has '..'"));
    assert_int_equal(p.effective_memory, 64 * GiB);
    assert_int_equal(mg_cgroup_path_ok("/a/b"), 1);
    assert_int_equal(mg_cgroup_path_ok("/"), 1);
    assert_int_equal(mg_cgroup_path_ok("/a/../b"), 0);
    assert_int_equal(mg_cgroup_path_ok("/.."), 0);
    assert_int_equal(mg_cgroup_path_ok("/a/./b"), 0);
    assert_int_equal(mg_cgroup_path_ok("/a/..b"), 1); /* a name, not a component */
    assert_int_equal(mg_cgroup_path_ok("a"), 0);
}

/* Item 6: junk is unknown with the reason, never a number. */
static void junk_numbers_are_unknown_with_the_reason(void **state)
{
    (void)state;
    a_v2_machine("0::/app\n");
    mg_test_put(root, "/proc/meminfo", "MemTotal:       12abc kB\nMemAvailable:   max\nSwapTotal: 4 kB\n");
    mg_test_put(root, "/sys/fs/cgroup/app/cpu.max", "-50000 100000\n");
    mg_test_put(root, "/proc/self/status", "Name: x\nCpus_allowed_list:\t0-3,2-5\nVmRSS: 10 kB\n");
    memgov_probe p = probe_root();
    assert_int_equal(p.ram_total, MEMGOV_PROBE_UNKNOWN);
    assert_int_equal(p.mem_available, MEMGOV_PROBE_UNKNOWN);
    assert_int_equal(p.swap_total, 4096); /* a good line next to junk is still read */
    assert_false(p.sources & MEMGOV_PROBE_SRC_MEMINFO);
    assert_true(p.rejected & MEMGOV_PROBE_SRC_MEMINFO);
    assert_non_null(strstr(p.rejected_why, "/proc/meminfo MemTotal: not a number"));
    assert_non_null(strstr(p.rejected_why, "/proc/meminfo MemAvailable: not a number"));
    assert_true(p.cpu_quota == 0.0); /* not 1.8e14 */
    assert_true(p.rejected & MEMGOV_PROBE_SRC_CPU_QUOTA);
    assert_non_null(strstr(p.rejected_why, "/sys/fs/cgroup/app/cpu.max: not a number"));
    assert_int_equal(p.allowed_cpus, 6); /* 0-5: the overlap counts once */
    assert_int_equal(p.usable_cpus, 6);

    mg_test_put(root, "/proc/self/status", "Cpus_allowed_list:\t0-3 junk\n");
    mg_test_put(root, "/sys/fs/cgroup/app/cpu.max", "150000 100000 7\n");
    p = probe_root();
    assert_int_equal(p.allowed_cpus, 0);
    assert_non_null(strstr(p.rejected_why, "Cpus_allowed_list: not a number"));
    assert_true(p.cpu_quota == 0.0);
    mg_test_put(root, "/sys/fs/cgroup/app/cpu.max", "max 100000\n");
    p = probe_root();
    assert_false(p.rejected & MEMGOV_PROBE_SRC_CPU_QUOTA);
}

/* Item 6: memory.max 0 is a real limit of 0 bytes (the CGROUP bit says it was read), not unknown. */
static void a_memory_max_of_zero_is_a_limit_not_unknown(void **state)
{
    (void)state;
    a_v2_machine("0::/app\n");
    mg_test_put(root, "/sys/fs/cgroup/app/memory.max", "0\n");
    memgov_probe p = probe_root();
    assert_true(p.sources & MEMGOV_PROBE_SRC_CGROUP);
    assert_int_equal(p.cgroup_memory_max, 0);
    assert_int_equal(p.rejected, 0);
}

/* Item 2: a FIFO as /proc/meminfo (or as /proc/self/cgroup) is refused at once, never waited on. */
static void a_fifo_in_proc_is_refused_without_blocking(void **state)
{
    (void)state;
    char path[256];
    a_v2_machine("0::/\n");
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    memgov_probe p = probe_root();
    assert_int_equal(p.ram_total, MEMGOV_PROBE_UNKNOWN);
    assert_true(p.rejected & MEMGOV_PROBE_SRC_MEMINFO);
    assert_non_null(strstr(p.rejected_why, "/proc/meminfo: not a regular file"));
    assert_non_null(strstr(p.rejected_why, "/proc/self/cgroup: not a regular file"));
}

/* The readers themselves: whole-token numbers only. */
static void the_parsers_take_whole_numbers_only(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(mg_parse_u64("12abc", &v), -1);
    assert_int_equal(mg_parse_u64("12 34", &v), -1);
    assert_int_equal(mg_parse_u64("maximum", &v), -1);
    assert_int_equal(mg_parse_u64(" 12 \n", &v), 0);
    assert_int_equal(v, 12);
    mg_test_put(root, "/proc/x", "A: 12abc kB\nB: 5 kB\nC: 5 MB\nD: 7\nE: 3 kB extra\n");
    assert_int_equal(mg_read_keyed_u64(root, "/proc/x", "A", &v), -1);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/x", "B", &v), 0);
    assert_int_equal(v, 5120);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/x", "C", &v), -1);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/x", "D", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/x", "E", &v), -1);
    size_t len = 0;
    char *whole = mg_read_whole(root, "/proc/x", 16, &len);
    assert_null(whole); /* above the given maximum: refused, not cut */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_root, remove_root)
    const struct CMUnitTest tests[] = {
        T(a_long_proc_self_cgroup_is_read_whole),
        T(a_cgroup_line_across_byte_4095_is_read_whole),
        T(a_cgroup_path_with_dot_dot_never_leaves_the_mount),
        T(junk_numbers_are_unknown_with_the_reason),
        T(a_memory_max_of_zero_is_a_limit_not_unknown),
        T(a_fifo_in_proc_is_refused_without_blocking),
        T(the_parsers_take_whole_numbers_only),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

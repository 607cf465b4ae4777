/* Specification of the internal /proc, /sys and cgroup readers, on fixture trees made in a temporary root. */
#include <limits.h>
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

static char root[PATH_MAX];

/* Writes a fixture file under root. */
#define put(path, text) mg_test_put(root, path, "%s", text)

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/memgov-procfs-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void numbers_parse_with_max_as_unlimited_and_overflow_refused(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(mg_parse_u64("  536870912\n", &v), 0);
    assert_int_equal(v, 536870912u);
    assert_int_equal(mg_parse_u64("max\n", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(mg_parse_u64("18446744073709551615", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(mg_parse_u64("18446744073709551616", &v), -1);
    assert_int_equal(mg_parse_u64("-1", &v), -1);
    assert_int_equal(mg_parse_u64("", &v), -1);
}

static void meminfo_values_in_kb_are_returned_in_bytes(void **state)
{
    (void)state;
    put("/proc/meminfo", "MemTotal:       65536000 kB\nMemFree:  100 kB\nMemAvailable:   32768000 kB\n"
                         "HugePages_Total:       4\n");
    uint64_t v = 0;
    assert_int_equal(mg_read_keyed_u64(root, "/proc/meminfo", "MemAvailable", &v), 0);
    assert_int_equal(v, 32768000ull * 1024);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/meminfo", "HugePages_Total", &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(mg_read_keyed_u64(root, "/proc/meminfo", "Mem", &v), -1); /* whole words only */
    assert_int_equal(mg_read_keyed_u64(root, "/proc/meminfo", "SwapTotal", &v), -1);
}

static void a_kb_value_that_would_overflow_is_refused(void **state)
{
    (void)state;
    put("/proc/meminfo", "MemTotal: 18446744073709551615 kB\n");
    uint64_t v = 0;
    assert_int_equal(mg_read_keyed_u64(root, "/proc/meminfo", "MemTotal", &v), -1);
}

static void cgroup_event_counters_are_found_by_key(void **state)
{
    (void)state;
    put("/sys/fs/cgroup/app/memory.events", "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\n");
    uint64_t v = 0;
    assert_int_equal(mg_read_keyed_u64(root, "/sys/fs/cgroup/app/memory.events", "oom", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(mg_read_keyed_u64(root, "/sys/fs/cgroup/app/memory.events", "high", &v), 0);
    assert_int_equal(v, 12);
}

static void a_cgroup2_directory_comes_from_proc_self_cgroup(void **state)
{
    (void)state;
    put("/sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put("/proc/self/cgroup", "0::/app\n");
    put("/sys/fs/cgroup/app/memory.max", "536870912\n");
    char dir[PATH_MAX];
    assert_int_equal(mg_cgroup2_dir(root, dir, sizeof dir), 0);
    assert_string_equal(dir, "/sys/fs/cgroup/app");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/memory.max", dir);
    uint64_t v = 0;
    assert_int_equal(mg_read_u64(root, path, &v), 0);
    assert_int_equal(v, 512u << 20);
}

static void the_root_cgroup2_is_the_mount_itself(void **state)
{
    (void)state;
    put("/sys/fs/cgroup/cgroup.controllers", "memory\n");
    put("/proc/self/cgroup", "0::/\n");
    char dir[PATH_MAX];
    assert_int_equal(mg_cgroup2_dir(root, dir, sizeof dir), 0);
    assert_string_equal(dir, "/sys/fs/cgroup");
}

static void a_cgroup1_memory_directory_is_found_by_controller(void **state)
{
    (void)state;
    put("/proc/self/cgroup", "12:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n0::/\n");
    char dir[PATH_MAX];
    assert_int_equal(mg_cgroup1_dir(root, "memory", dir, sizeof dir), 0);
    assert_string_equal(dir, "/sys/fs/cgroup/memory/docker/abc");
    assert_int_equal(mg_cgroup1_dir(root, "cpu,cpuacct", dir, sizeof dir), 0);
    assert_string_equal(dir, "/sys/fs/cgroup/cpu,cpuacct/docker/abc");
    assert_int_equal(mg_cgroup1_dir(root, "pids", dir, sizeof dir), -1);
}

static void without_a_v2_hierarchy_there_is_no_cgroup2_dir(void **state)
{
    (void)state;
    char other[PATH_MAX + 16];
    snprintf(other, sizeof other, "%s/empty", root);
    mkdir(other, 0755);
    char dir[PATH_MAX];
    assert_int_equal(mg_cgroup2_dir(other, dir, sizeof dir), -1);
}

static void psi_avg10_is_read_for_some_and_full(void **state)
{
    (void)state;
    put("/proc/pressure/memory", "some avg10=1.50 avg60=0.80 avg300=0.10 total=12345\n"
                                 "full avg10=0.25 avg60=0.00 avg300=0.00 total=99\n");
    double v = -1;
    assert_int_equal(mg_read_psi_avg10(root, "/proc/pressure/memory", "some", &v), 0);
    assert_true(v > 1.49 && v < 1.51);
    assert_int_equal(mg_read_psi_avg10(root, "/proc/pressure/memory", "full", &v), 0);
    assert_true(v > 0.24 && v < 0.26);
    put("/proc/pressure/bad", "some avg10=garbage\n");
    assert_int_equal(mg_read_psi_avg10(root, "/proc/pressure/bad", "some", &v), -1);
}

static void missing_files_and_overlong_paths_are_unknown_not_crashes(void **state)
{
    (void)state;
    char buf[16];
    uint64_t v = 7;
    assert_int_equal(mg_read_text(root, "/proc/nonexistent", buf, sizeof buf), -1);
    assert_int_equal(mg_read_u64(root, "/proc/nonexistent", &v), -1);
    assert_int_equal(v, 7);
    char long_path[PATH_MAX + 8];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(mg_read_text(root, long_path, buf, sizeof buf), -1);
}

static void a_file_larger_than_the_buffer_is_cut_and_terminated(void **state)
{
    (void)state;
    put("/proc/big", "0123456789abcdef0123456789");
    char buf[8];
    assert_int_equal(mg_read_text(root, "/proc/big", buf, sizeof buf), 7);
    assert_string_equal(buf, "0123456");
}

static void the_real_proc_answers_on_linux(void **state)
{
    (void)state;
    uint64_t total = 0, rss = 0;
    assert_int_equal(mg_read_keyed_u64(NULL, "/proc/meminfo", "MemTotal", &total), 0);
    assert_true(total > (64u << 20));
    assert_int_equal(mg_read_keyed_u64("", "/proc/self/status", "VmRSS", &rss), 0);
    assert_true(rss > 0 && rss < total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers_parse_with_max_as_unlimited_and_overflow_refused),
        cmocka_unit_test(meminfo_values_in_kb_are_returned_in_bytes),
        cmocka_unit_test(a_kb_value_that_would_overflow_is_refused),
        cmocka_unit_test(cgroup_event_counters_are_found_by_key),
        cmocka_unit_test(a_cgroup2_directory_comes_from_proc_self_cgroup),
        cmocka_unit_test(the_root_cgroup2_is_the_mount_itself),
        cmocka_unit_test(a_cgroup1_memory_directory_is_found_by_controller),
        cmocka_unit_test(without_a_v2_hierarchy_there_is_no_cgroup2_dir),
        cmocka_unit_test(psi_avg10_is_read_for_some_and_full),
        cmocka_unit_test(missing_files_and_overlong_paths_are_unknown_not_crashes),
        cmocka_unit_test(a_file_larger_than_the_buffer_is_cut_and_terminated),
        cmocka_unit_test(the_real_proc_answers_on_linux),
    };
    return cmocka_run_group_tests_name("procfs", tests, setup, teardown);
}

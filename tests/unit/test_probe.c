/* Specification of the machine probe, on the fixture trees of tests/fixtures/probe (MG_FIXTURES). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "memgov/probe.h"
#include "support.h"

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)

static void a_512_mib_container_on_a_64_gib_host_has_512_mib_effective_memory(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("container-512m");
    assert_int_equal(p.ram_total, 64 * GiB);
    assert_int_equal(p.cgroup_version, 2);
    assert_int_equal(p.cgroup_memory_max, 512 * MiB);
    assert_true(p.cgroup_memory_high == MEMGOV_PROBE_UNLIMITED);
    assert_int_equal(p.cgroup_memory_current, 100 * MiB);
    assert_int_equal(p.effective_memory, 512 * MiB);
    assert_int_equal(p.rss, 100 * MiB);
    assert_int_equal(p.peak_rss, 200 * MiB);
    assert_int_equal(p.swap_total, 2 * GiB);
    assert_int_equal(p.swap_free, 1 * GiB);
    assert_int_equal(p.huge_page_size, 2 * MiB);
    assert_int_equal(p.huge_pages_total, 4);
    assert_true(p.sources & MEMGOV_PROBE_SRC_CGROUP);
    assert_true(p.sources & MEMGOV_PROBE_SRC_MEMINFO);
}

static void a_cpu_max_quota_of_one_and_a_half_cpus_gives_two_usable_cpus(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("container-512m");
    assert_int_equal(p.allowed_cpus, 16);
    assert_true(p.cpu_quota > 1.49 && p.cpu_quota < 1.51);
    assert_int_equal(p.usable_cpus, 2);
    assert_true(p.sources & MEMGOV_PROBE_SRC_CPU_QUOTA);
}

static void a_parent_limit_binds_and_memory_high_counts(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("cgroup2-nested");
    assert_int_equal(p.cgroup_memory_max, 4 * GiB);
    assert_int_equal(p.cgroup_memory_high, 3 * GiB);
    assert_int_equal(p.effective_memory, 3 * GiB);
    assert_int_equal(p.allowed_cpus, 7); /* 0-3,6,8-9 */
    assert_true(p.cpu_quota == 0);       /* "max" everywhere */
    assert_int_equal(p.usable_cpus, 7);
}

static void cgroup_v1_limit_and_cfs_quota_are_read(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("cgroup1");
    assert_int_equal(p.cgroup_version, 1);
    assert_int_equal(p.cgroup_memory_max, 2 * GiB);
    assert_int_equal(p.cgroup_memory_current, 300 * MiB);
    assert_int_equal(p.effective_memory, 2 * GiB);
    assert_int_equal(p.allowed_cpus, 8);
    assert_int_equal(p.usable_cpus, 2);
}

static void an_unlimited_cgroup_v1_leaves_physical_ram_effective(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("cgroup1-unlimited");
    assert_int_equal(p.cgroup_version, 1);
    assert_true(p.cgroup_memory_max == MEMGOV_PROBE_UNLIMITED);
    assert_int_equal(p.effective_memory, 8 * GiB);
    assert_true(p.cpu_quota == 0);
    assert_int_equal(p.usable_cpus, 2);
}

static void without_cgroups_effective_memory_is_physical_ram(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("none");
    assert_int_equal(p.cgroup_version, 0);
    assert_false(p.sources & MEMGOV_PROBE_SRC_CGROUP);
    assert_int_equal(p.effective_memory, 8 * GiB);
    assert_int_equal(p.usable_cpus, 4);
}

static void an_empty_root_is_all_unknown_and_still_succeeds(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("empty");
    assert_int_equal(p.ram_total, MEMGOV_PROBE_UNKNOWN);
    assert_int_equal(p.effective_memory, MEMGOV_PROBE_UNKNOWN);
    assert_int_equal(p.usable_cpus, 0);
    assert_int_equal(p.sources & (MEMGOV_PROBE_SRC_MEMINFO | MEMGOV_PROBE_SRC_CGROUP | MEMGOV_PROBE_SRC_STATUS), 0);
}

static void a_missing_root_is_unknown_too(void **state)
{
    (void)state;
    memgov_probe p = mg_test_probe_fixture("does-not-exist");
    assert_int_equal(p.ram_total, MEMGOV_PROBE_UNKNOWN);
    assert_false(p.sources & MEMGOV_PROBE_SRC_SHM);
}

static void the_real_machine_is_described_by_hwloc_and_proc(void **state)
{
    (void)state;
    memgov_probe p = {.struct_size = sizeof p};
    assert_int_equal(memgov_probe_read(NULL, &p), MEMGOV_OK);
    assert_true(p.ram_total > 64 * MiB);
    assert_true(p.effective_memory > 0 && p.effective_memory <= p.ram_total);
    assert_true(p.sources & MEMGOV_PROBE_SRC_HWLOC);
    assert_true(p.logical_cpus >= 1 && p.physical_cores >= 1 && p.physical_cores <= p.logical_cpus);
    assert_true(p.numa_nodes >= 1);
    assert_true(p.usable_cpus >= 1);
    assert_true(p.page_size >= 4096);
    assert_true(p.sources & MEMGOV_PROBE_SRC_DISK);
    assert_true(p.disk_total >= p.disk_free && p.disk_total > 0);
#if defined(__x86_64__)
    assert_true(p.sources & MEMGOV_PROBE_SRC_CPUID);
    assert_true(p.simd & MEMGOV_SIMD_SSE2);
    assert_true(p.cpu_vendor[0] != '\0');
#endif
}

static void an_old_caller_struct_gets_only_its_prefix_written(void **state)
{
    (void)state;
    unsigned char buf[sizeof(memgov_probe) + 16];
    memset(buf, 0xAB, sizeof buf);
    size_t small = offsetof(memgov_probe, swap_total);
    memcpy(buf, &small, sizeof small);
    memgov_probe_options opts;
    memgov_probe_options_init(&opts);
    opts.flags = MEMGOV_PROBE_NO_HWLOC | MEMGOV_PROBE_NO_CPUID;
    assert_int_equal(memgov_probe_read(&opts, (memgov_probe *)(void *)buf), MEMGOV_OK);
    assert_int_equal(buf[small], 0xAB);
    assert_int_equal(memgov_probe_read(&opts, NULL), MEMGOV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_512_mib_container_on_a_64_gib_host_has_512_mib_effective_memory),
        cmocka_unit_test(a_cpu_max_quota_of_one_and_a_half_cpus_gives_two_usable_cpus),
        cmocka_unit_test(a_parent_limit_binds_and_memory_high_counts),
        cmocka_unit_test(cgroup_v1_limit_and_cfs_quota_are_read),
        cmocka_unit_test(an_unlimited_cgroup_v1_leaves_physical_ram_effective),
        cmocka_unit_test(without_cgroups_effective_memory_is_physical_ram),
        cmocka_unit_test(an_empty_root_is_all_unknown_and_still_succeeds),
        cmocka_unit_test(a_missing_root_is_unknown_too),
        cmocka_unit_test(the_real_machine_is_described_by_hwloc_and_proc),
        cmocka_unit_test(an_old_caller_struct_gets_only_its_prefix_written),
    };
    return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}

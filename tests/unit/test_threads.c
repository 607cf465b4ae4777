/* Specification of the thread-budget controller (memgov/threads.h): capacity from fixture machines and the
 * affinity mask, grants bounded by threads and memory, nested leases, release, targets and their listeners
 * after mode and limit changes, waiting. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "memgov.h"
#include "memgov/extension.h"
#include "support.h"
#include "threads/threads_internal.h"

#define MiB (1024ull * 1024)

static char scratch[] = "/tmp/mg-threads-XXXXXX";

/* A fixture machine under the scratch root: `cpus` CPUs in the affinity mask, cgroup v2 cpu.max `cpu_max`. */
static void machine(unsigned cpus, const char *cpu_max)
{
    mg_test_put(scratch, "/proc/meminfo", "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n");
    mg_test_put(scratch, "/proc/self/status", "Name:\tt\nCpus_allowed_list:\t0-%u\n", cpus - 1);
    mg_test_put(scratch, "/proc/self/cgroup", "0::/job\n");
    mg_test_put(scratch, "/sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    mg_test_put(scratch, "/sys/fs/cgroup/job/cpu.max", "%s\n", cpu_max);
}

static memgov *open_on(const char *root)
{
    memgov_options o;
    memgov_options_init(&o);
    o.proc_root = root;
    o.root_limit = 1024 * MiB;
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    return gov;
}

/* A governor on a fixture machine of `cpus` CPUs without a quota. */
static memgov *open_cpus(unsigned cpus)
{
    machine(cpus, "max 100000");
    return open_on(scratch);
}

static memgov_threads_stats stats_of(memgov *gov)
{
    memgov_threads_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_threads_get_stats(gov, &s), MEMGOV_OK);
    return s;
}

static memgov_threads_lease *take(memgov *gov, unsigned want, unsigned flags)
{
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, want, 0, NULL, flags, &l), MEMGOV_OK);
    assert_non_null(l);
    return l;
}

static void drop(memgov_threads_lease *l)
{
    assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
}

/* ---- capacity ------------------------------------------------------------------------------------------------ */

static void the_cgroup_quota_of_the_container_fixture_is_rounded_up(void **state)
{
    (void)state;
    memgov *gov = open_on(MG_FIXTURES "/probe/container-512m"); /* 16 CPUs allowed, cpu.max 150000 100000 */
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(s.allowed_cpus, 16);
    assert_true(s.cpu_quota > 1.49 && s.cpu_quota < 1.51);
    assert_int_equal(s.capacity, 2);
    assert_non_null(strstr(s.capacity_why, "cgroup cpu quota 1.50"));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_quota_of_two_and_a_half_cpus_gives_three_threads(void **state)
{
    (void)state;
    machine(8, "250000 100000");
    memgov *gov = open_on(scratch);
    assert_int_equal(stats_of(gov).capacity, 3);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_affinity_mask_bounds_the_capacity(void **state)
{
    (void)state;
    memgov *gov = open_cpus(5);
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(s.capacity, 5);
    assert_non_null(strstr(s.capacity_why, "5 CPUs in the affinity mask"));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void sched_setaffinity_to_one_cpu_gives_a_capacity_of_one(void **state)
{
    (void)state;
    cpu_set_t saved, one;
    assert_int_equal(sched_getaffinity(0, sizeof saved, &saved), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &saved)) {
            CPU_SET(c, &one);
            break;
        }
    memgov *gov = open_on(NULL); /* the real machine */
    unsigned before = stats_of(gov).capacity;
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    assert_int_equal(memgov_threads_refresh(gov), MEMGOV_OK);
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(sched_setaffinity(0, sizeof saved, &saved), 0);
    assert_int_equal(s.allowed_cpus, 1);
    assert_int_equal(s.capacity, 1);
    assert_int_equal(memgov_threads_refresh(gov), MEMGOV_OK);
    assert_int_equal(stats_of(gov).capacity, before);
    assert_true(before >= 1 && before <= (unsigned)CPU_COUNT(&saved));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_capacity_is_the_least_of_its_inputs(void **state)
{
    (void)state;
    char why[160];
    mg_threads_facts f = {.allowed_cpus = 16, .cpu_quota = 0, .physical_cores = 4, .logical_cpus = 8};
    assert_int_equal(mg_threads_capacity(&f, true, 0, why, sizeof why), 8);
    assert_string_equal(why, "8 hardware threads");
    assert_int_equal(mg_threads_capacity(&f, false, 0, why, sizeof why), 4);
    assert_non_null(strstr(why, "physical cores"));
    assert_int_equal(mg_threads_capacity(&f, false, 3, why, sizeof why), 3);
    assert_string_equal(why, "threads.max = 3");
    f.cpu_quota = 0.2;
    assert_int_equal(mg_threads_capacity(&f, true, 0, why, sizeof why), 1);
    mg_threads_facts none = {0};
    assert_int_equal(mg_threads_capacity(&none, true, 0, why, sizeof why), 1);
    assert_int_equal(mg_threads_capacity(&none, true, 6, why, sizeof why), 6);
}

static void threads_max_and_minimal_mode_lower_the_capacity(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_config *cfg = memgov_governor_config(gov);
    assert_int_equal(stats_of(gov).capacity, 8);
    assert_int_equal(memgov_config_set(cfg, "threads.max", "6"), MEMGOV_OK);
    assert_int_equal(stats_of(gov).capacity, 6);
    assert_int_equal(memgov_config_set(cfg, "threads.max", "0"), MEMGOV_OK);
    assert_int_equal(memgov_fallback_pin(memgov_governor_fallback(gov), MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(s.capacity, 1); /* MINIMAL's default */
    assert_int_equal(s.threads_max, 1);
    assert_int_equal(memgov_config_set_for_mode(cfg, MEMGOV_MODE_MINIMAL, "threads.max", "3"), MEMGOV_OK);
    assert_int_equal(stats_of(gov).capacity, 3);
    assert_int_equal(memgov_fallback_pin(memgov_governor_fallback(gov), MEMGOV_MODE_NORMAL), MEMGOV_OK);
    assert_int_equal(stats_of(gov).capacity, 8);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- grants ---------------------------------------------------------------------------------------------------- */

static void grants_are_partial_until_nothing_is_free(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *a = take(gov, 3, MEMGOV_THREADS_NOT_CURRENT);
    assert_int_equal(memgov_threads_count(a), 3);
    memgov_threads_lease *b = take(gov, 3, MEMGOV_THREADS_NOT_CURRENT);
    assert_int_equal(memgov_threads_count(b), 1);
    memgov_threads_lease *c = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 1, 0, NULL, 0, &c), MEMGOV_EBUSY);
    assert_null(c);
    assert_non_null(strstr(memgov_last_error(), "4 of 4 threads leased"));
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(s.leased, 4);
    assert_int_equal(s.leases, 2);
    assert_int_equal(s.grants, 2);
    assert_int_equal(s.granted_threads, 4);
    assert_int_equal(s.partial_grants, 1);
    assert_int_equal(s.denials[MEMGOV_THREADS_DENIED_CAPACITY], 1);
    drop(b);
    assert_int_equal(memgov_threads_acquire(gov, 2, 0, NULL, MEMGOV_THREADS_ALL_OR_NOTHING, &c), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "all or nothing"));
    c = take(gov, 1, MEMGOV_THREADS_ALL_OR_NOTHING | MEMGOV_THREADS_NOT_CURRENT);
    assert_int_equal(memgov_threads_count(c), 1);
    assert_int_equal(memgov_close(gov), MEMGOV_EBUSY); /* leases are held */
    assert_non_null(strstr(memgov_last_error(), "2 thread leases"));
    drop(a);
    drop(c);
    s = stats_of(gov);
    assert_int_equal(s.leased, 0);
    assert_int_equal(s.peak_leased, 4);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void memory_bounds_the_grant_and_is_reserved_until_release(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.hard_limit = 10 * MiB;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_budget_create(memgov_root(gov), &bo, &b), MEMGOV_OK);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 8, 3 * MiB, b, 0, &l), MEMGOV_OK);
    assert_int_equal(memgov_threads_count(l), 3); /* 10 MiB / 3 MiB */
    memgov_budget_stats bs = {.struct_size = sizeof bs};
    assert_int_equal(memgov_budget_get_stats(b, &bs), MEMGOV_OK);
    assert_int_equal(bs.reserved, 9 * MiB);
    memgov_threads_lease_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_threads_lease_get_info(l, &info), MEMGOV_OK);
    assert_int_equal(info.reserved, 9 * MiB);
    assert_ptr_equal(info.budget, b);
    memgov_threads_lease *m = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 1, 3 * MiB, b, 0, &m), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "headroom"));
    assert_int_equal(stats_of(gov).denials[MEMGOV_THREADS_DENIED_MEMORY], 1);
    assert_int_equal(stats_of(gov).leased, 3); /* the denied request's threads went back */
    assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
    assert_int_equal(memgov_budget_get_stats(b, &bs), MEMGOV_OK);
    assert_int_equal(bs.reserved, 0);
    assert_int_equal(memgov_threads_acquire(gov, 4, 3 * MiB, b, MEMGOV_THREADS_ALL_OR_NOTHING, &m), MEMGOV_ENOMEM);
    drop(l);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_default_bytes_per_worker_is_the_key(void **state)
{
    (void)state;
    memgov *gov = open_cpus(2);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.bytes_per_worker", "100MiB"), MEMGOV_OK);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 2, MEMGOV_THREADS_DEFAULT_BYTES, NULL, 0, &l), MEMGOV_OK);
    memgov_threads_lease_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_threads_lease_get_info(l, &info), MEMGOV_OK);
    assert_int_equal(info.bytes_per_worker, 100 * MiB);
    assert_int_equal(info.reserved, 200 * MiB);
    assert_ptr_equal(info.budget, memgov_root(gov));
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void release_is_idempotent_and_the_handle_lives_until_freed(void **state)
{
    (void)state;
    memgov *gov = open_cpus(2);
    memgov_threads_lease *l = take(gov, 2, 0);
    assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
    assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
    assert_int_equal(memgov_threads_count(l), 0);
    assert_int_equal(memgov_threads_target(l), 0);
    assert_int_equal(stats_of(gov).leased, 0);
    unsigned g = 7;
    assert_int_equal(memgov_threads_resize(l, 1, &g), MEMGOV_ESTATE);
    assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
    assert_int_equal(memgov_threads_lease_free(NULL), MEMGOV_OK);
    assert_int_equal(memgov_threads_release(NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void bad_arguments_are_refused_with_their_values(void **state)
{
    (void)state;
    memgov *gov = open_cpus(2);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 0, 0, NULL, 0, &l), MEMGOV_EINVAL);
    assert_int_equal(memgov_threads_acquire(gov, MEMGOV_THREADS_MAX_WANT + 1, 0, NULL, 0, &l), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "4097"));
    assert_int_equal(memgov_threads_acquire(gov, 1, 0, NULL, 0x100, &l), MEMGOV_EINVAL);
    assert_int_equal(memgov_threads_acquire(NULL, 1, 0, NULL, 0, &l), MEMGOV_EINVAL);
    assert_int_equal(memgov_threads_acquire(gov, 1, 0, NULL, 0, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_threads_acquire(gov, 4096, UINT64_MAX / 2, NULL, MEMGOV_THREADS_ALL_OR_NOTHING, &l),
                     MEMGOV_EOVERFLOW);
    assert_int_equal(memgov_threads_get_stats(NULL, NULL), MEMGOV_EINVAL);
    l = take(gov, 1, 0);
    assert_int_equal(memgov_threads_resize(l, 0, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_threads_resize(l, MEMGOV_THREADS_MAX_WANT + 1, NULL), MEMGOV_ERANGE);
    assert_int_equal(memgov_threads_lease_remove_listener(l, 42), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_threads_lease_add_listener(l, NULL, NULL, NULL), MEMGOV_EINVAL);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- nesting --------------------------------------------------------------------------------------------------- */

static void a_nested_lease_draws_from_its_parent_never_from_the_capacity(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *outer = take(gov, 3, 0);
    memgov_threads_lease *inner = take(gov, 8, 0); /* the calling thread + the parent's 2 unused */
    assert_int_equal(memgov_threads_count(inner), 3);
    memgov_threads_lease_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_threads_lease_get_info(inner, &info), MEMGOV_OK);
    assert_int_equal(info.depth, 1);
    /* inner's 2 unused threads and its own; inner stays the current lease */
    memgov_threads_lease *innermost = take(gov, 8, MEMGOV_THREADS_NOT_CURRENT);
    assert_int_equal(memgov_threads_count(innermost), 3);
    memgov_threads_lease *deepest = take(gov, 8, 0); /* a sibling: nothing unused left, only its own thread */
    assert_int_equal(memgov_threads_count(deepest), 1);
    assert_int_equal(memgov_threads_lease_get_info(deepest, &info), MEMGOV_OK);
    assert_int_equal(info.depth, 2);
    assert_int_equal(stats_of(gov).leased, 3);
    memgov_threads_lease *other = take(gov, 8, MEMGOV_THREADS_TOP_LEVEL | MEMGOV_THREADS_NOT_CURRENT);
    assert_int_equal(memgov_threads_count(other), 1); /* from the capacity */
    assert_int_equal(stats_of(gov).leased, 4);
    assert_int_equal(memgov_threads_release(outer), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "nested"));
    drop(deepest);
    drop(innermost);
    drop(inner);
    memgov_threads_lease *again = take(gov, 2, MEMGOV_THREADS_ALL_OR_NOTHING);
    assert_int_equal(memgov_threads_count(again), 2); /* the parent's threads came back */
    drop(again);
    drop(outer);
    drop(other);
    assert_int_equal(stats_of(gov).leased, 0);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_nested_all_or_nothing_request_is_denied_for_its_parent(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *outer = take(gov, 2, 0);
    memgov_threads_lease *inner = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 3, 0, NULL, MEMGOV_THREADS_ALL_OR_NOTHING, &inner), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "of the parent lease"));
    assert_int_equal(stats_of(gov).denials[MEMGOV_THREADS_DENIED_PARENT], 1);
    drop(outer);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- targets --------------------------------------------------------------------------------------------------- */

typedef struct seen {
    unsigned calls, last;
    memgov_threads_lease *lease;
    bool resize; /* resize to the target from inside the listener */
} seen;

static void on_target(memgov_threads_lease *lease, unsigned target, void *user)
{
    seen *s = user;
    s->calls++;
    s->last = target;
    s->lease = lease;
    if (s->resize)
        assert_int_equal(memgov_threads_resize(lease, target, NULL), MEMGOV_OK);
}

static void a_mode_change_asks_holders_to_shrink_and_recovery_lets_them_grow(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    memgov_threads_lease *l = take(gov, 8, 0);
    seen s = {0};
    uint64_t id = 0;
    assert_int_equal(memgov_threads_lease_add_listener(l, on_target, &s, &id), MEMGOV_OK);
    assert_true(id != 0);
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last, 1);
    assert_ptr_equal(s.lease, l);
    assert_int_equal(memgov_threads_target(l), 1);
    assert_int_equal(memgov_threads_count(l), 8); /* advice only, until the holder resizes */
    unsigned g = 0;
    assert_int_equal(memgov_threads_resize(l, 1, &g), MEMGOV_OK);
    assert_int_equal(g, 1);
    assert_int_equal(stats_of(gov).leased, 1);
    assert_int_equal(s.calls, 1); /* following the advice is not a new target */
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL), MEMGOV_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.last, 8); /* back to what it was granted */
    assert_int_equal(memgov_threads_resize(l, memgov_threads_target(l), &g), MEMGOV_OK);
    assert_int_equal(g, 8);
    assert_int_equal(stats_of(gov).target_changes, 2);
    assert_int_equal(memgov_threads_lease_remove_listener(l, id), MEMGOV_OK);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void shrinking_capacity_is_shared_in_proportion(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_threads_lease *a = take(gov, 6, MEMGOV_THREADS_NOT_CURRENT);
    memgov_threads_lease *b = take(gov, 2, MEMGOV_THREADS_NOT_CURRENT);
    seen sa = {.resize = true}, sb = {.resize = true};
    assert_int_equal(memgov_threads_lease_add_listener(a, on_target, &sa, NULL), MEMGOV_OK);
    assert_int_equal(memgov_threads_lease_add_listener(b, on_target, &sb, NULL), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.max", "4"), MEMGOV_OK);
    assert_int_equal(memgov_threads_count(a), 3); /* 6 x 4 / 8 */
    assert_int_equal(memgov_threads_count(b), 1);
    assert_true(stats_of(gov).leased <= 4);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.max", "0"), MEMGOV_OK);
    assert_int_equal(memgov_threads_count(a), 6);
    assert_int_equal(memgov_threads_count(b), 2);
    drop(a);
    drop(b);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_limit_drop_sheds_the_workers_over_it_and_a_rise_restores_them(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.hard_limit = 100 * MiB;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_budget_create(memgov_root(gov), &bo, &b), MEMGOV_OK);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 8, 10 * MiB, b, 0, &l), MEMGOV_OK);
    assert_int_equal(memgov_threads_count(l), 8);
    seen s = {0};
    assert_int_equal(memgov_threads_lease_add_listener(l, on_target, &s, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_set_limits(b, 55 * MiB, 0), MEMGOV_OK); /* 80 MiB reserved: 25 over */
    assert_int_equal(s.last, 5);                                              /* 3 workers shed */
    assert_int_equal(memgov_threads_resize(l, 5, NULL), MEMGOV_OK);
    memgov_threads_lease_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_threads_lease_get_info(l, &info), MEMGOV_OK);
    assert_int_equal(info.reserved, 50 * MiB);
    assert_int_equal(info.entitled, 8);
    assert_int_equal(memgov_budget_set_limits(b, 100 * MiB, 0), MEMGOV_OK);
    assert_int_equal(s.last, 8);
    assert_int_equal(s.calls, 2);
    drop(l);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void refresh_reads_a_changed_quota(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *l = take(gov, 4, 0);
    seen s = {0};
    assert_int_equal(memgov_threads_lease_add_listener(l, on_target, &s, NULL), MEMGOV_OK);
    machine(4, "100000 100000");
    assert_int_equal(memgov_threads_refresh(gov), MEMGOV_OK);
    assert_int_equal(stats_of(gov).capacity, 1);
    assert_int_equal(s.last, 1);
    memgov_threads_lease *m = NULL;
    assert_int_equal(memgov_threads_acquire(gov, 1, 0, NULL, MEMGOV_THREADS_TOP_LEVEL, &m), MEMGOV_EBUSY);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void free_in_listener(memgov_threads_lease *lease, unsigned target, void *user)
{
    (void)target;
    *(int *)user += 1;
    assert_int_equal(memgov_threads_lease_free(lease), MEMGOV_OK);
}

static void a_listener_may_free_its_own_lease(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *l = take(gov, 4, 0);
    int calls = 0;
    assert_int_equal(memgov_threads_lease_add_listener(l, free_in_listener, &calls, NULL), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "threads.max", "2"), MEMGOV_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(stats_of(gov).leases, 0);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_listener_table_is_bounded(void **state)
{
    (void)state;
    memgov *gov = open_cpus(2);
    memgov_threads_lease *l = take(gov, 1, 0);
    seen s = {0};
    for (int i = 0; i < MEMGOV_THREADS_MAX_LISTENERS; i++)
        assert_int_equal(memgov_threads_lease_add_listener(l, on_target, &s, NULL), MEMGOV_OK);
    assert_int_equal(memgov_threads_lease_add_listener(l, on_target, &s, NULL), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_THREADS_MAX_LISTENERS"));
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- waiting --------------------------------------------------------------------------------------------------- */

static void a_wait_that_nothing_ends_times_out(void **state)
{
    (void)state;
    memgov *gov = open_cpus(1);
    memgov_threads_lease *held = take(gov, 1, MEMGOV_THREADS_NOT_CURRENT);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire_wait(gov, 1, 0, NULL, 0, 2000000, &l), MEMGOV_EBUSY);
    assert_null(l);
    assert_non_null(strstr(memgov_last_error(), "timed out"));
    memgov_threads_stats s = stats_of(gov);
    assert_int_equal(s.denials[MEMGOV_THREADS_DENIED_TIMEOUT], 1);
    assert_int_equal(s.waiting, 0);
    drop(held);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

typedef struct releaser {
    memgov *gov;
    memgov_threads_lease *held;
} releaser;

static void *release_when_waited_for(void *arg)
{
    releaser *r = arg;
    memgov_threads_stats s = {.struct_size = sizeof s};
    do {
        memgov_threads_get_stats(r->gov, &s);
        sched_yield();
    } while (s.waiting == 0);
    memgov_threads_lease_free(r->held);
    return NULL;
}

static void a_waiter_gets_the_threads_a_release_frees(void **state)
{
    (void)state;
    memgov *gov = open_cpus(2);
    releaser r = {gov, take(gov, 2, MEMGOV_THREADS_NOT_CURRENT)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, release_when_waited_for, &r), 0);
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire_wait(gov, 2, 0, NULL, MEMGOV_THREADS_ALL_OR_NOTHING, UINT64_MAX, &l),
                     MEMGOV_OK);
    assert_int_equal(memgov_threads_count(l), 2);
    pthread_join(th, NULL);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- parallel-for ---------------------------------------------------------------------------------------------- */

#define ITEMS 10007 /* prime: chunks never divide it evenly */

typedef struct visits {
    _Atomic unsigned seen[ITEMS];
    _Atomic unsigned calls, max_worker, bad;
    uint64_t fail_at;          /* the chunk containing this item fails; UINT64_MAX = none */
    _Atomic uint64_t after_stop; /* chunks started after the failing one returned (single worker) */
    _Atomic int failed;
    memgov *gov;
    unsigned nested_count;     /* what a lease acquired inside the body got */
    unsigned owner[ITEMS];     /* the worker of each item (static schedule) */
} visits;

static memgov_status visit(uint64_t b, uint64_t e, unsigned worker, void *ctx)
{
    visits *v = ctx;
    atomic_fetch_add(&v->calls, 1);
    if (atomic_load(&v->failed))
        atomic_fetch_add(&v->after_stop, 1);
    unsigned m = atomic_load(&v->max_worker);
    while (worker > m && !atomic_compare_exchange_weak(&v->max_worker, &m, worker))
        ;
    if (e <= b || e > ITEMS)
        atomic_fetch_add(&v->bad, 1);
    for (uint64_t i = b; i < e && i < ITEMS; i++) {
        atomic_fetch_add(&v->seen[i], 1);
        v->owner[i] = worker;
    }
    if (v->fail_at >= b && v->fail_at < e) {
        atomic_store(&v->failed, 1);
        return memgov_error_set(MEMGOV_ECANCELED, "item %llu is bad", (unsigned long long)v->fail_at);
    }
    return MEMGOV_OK;
}

static visits *new_visits(void)
{
    visits *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->fail_at = UINT64_MAX;
    return v;
}

static void every_item_exactly_once(visits *v)
{
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(atomic_load(&v->seen[i]), 1);
    assert_int_equal(atomic_load(&v->bad), 0);
}

static void every_item_runs_once_with_any_grain_and_schedule(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *l = take(gov, 4, 0);
    static const uint64_t grains[] = {0, 1, 7, 1000, ITEMS, ITEMS + 5};
    for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
        for (int is_static = 0; is_static < 2; is_static++) {
            visits *v = new_visits();
            memgov_status st = is_static ? memgov_parallel_for_static(l, ITEMS, grains[g], visit, v)
                                         : memgov_parallel_for(l, ITEMS, grains[g], visit, v);
            assert_int_equal(st, MEMGOV_OK);
            every_item_exactly_once(v);
            assert_true(atomic_load(&v->max_worker) < 4);
            free(v);
        }
    visits *v = new_visits();
    assert_int_equal(memgov_parallel_for(l, 0, 0, visit, v), MEMGOV_OK);
    assert_int_equal(atomic_load(&v->calls), 0);
    assert_int_equal(memgov_parallel_for(NULL, ITEMS, 100, visit, v), MEMGOV_OK); /* no lease: this thread */
    every_item_exactly_once(v);
    assert_int_equal(atomic_load(&v->max_worker), 0);
    free(v);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_static_schedule_gives_each_worker_its_own_chunks(void **state)
{
    (void)state;
    memgov *gov = open_cpus(3);
    memgov_threads_lease *l = take(gov, 3, MEMGOV_THREADS_ALL_OR_NOTHING);
    visits *v = new_visits();
    assert_int_equal(memgov_parallel_for_static(l, ITEMS, 10, visit, v), MEMGOV_OK);
    for (int i = 0; i < ITEMS; i++)
        assert_int_equal(v->owner[i], (unsigned)(i / 10 % 3)); /* chunk c on worker c mod 3 */
    free(v);
    v = new_visits();
    assert_int_equal(memgov_parallel_for_static(l, ITEMS, 0, visit, v), MEMGOV_OK);
    assert_int_equal(v->owner[0], 0);
    assert_int_equal(v->owner[3335], 0); /* 10007 = 3336 + 3336 + 3335 */
    assert_int_equal(v->owner[3336], 1);
    assert_int_equal(v->owner[6671], 1);
    assert_int_equal(v->owner[6672], 2);
    assert_int_equal(v->owner[ITEMS - 1], 2);
    assert_int_equal(atomic_load(&v->calls), 3);
    free(v);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_first_error_stops_the_loop_and_is_returned(void **state)
{
    (void)state;
    memgov *gov = open_cpus(4);
    memgov_threads_lease *one = take(gov, 1, MEMGOV_THREADS_NOT_CURRENT);
    visits *v = new_visits();
    v->fail_at = 50;
    assert_int_equal(memgov_parallel_for(one, ITEMS, 10, visit, v), MEMGOV_ECANCELED);
    assert_non_null(strstr(memgov_last_error(), "items [50, 60) on worker 0 returned MEMGOV_ECANCELED"));
    assert_non_null(strstr(memgov_last_error(), "item 50 is bad"));
    assert_int_equal(atomic_load(&v->calls), 6); /* one worker: nothing after the failing chunk */
    assert_int_equal(atomic_load(&v->after_stop), 0);
    free(v);
    drop(one);
    memgov_threads_lease *four = take(gov, 4, MEMGOV_THREADS_NOT_CURRENT);
    for (int is_static = 0; is_static < 2; is_static++) {
        v = new_visits();
        v->fail_at = 0;
        memgov_status st = is_static ? memgov_parallel_for_static(four, ITEMS, 1, visit, v)
                                     : memgov_parallel_for(four, ITEMS, 1, visit, v);
        assert_int_equal(st, MEMGOV_ECANCELED);
        /* at most one chunk per worker may start after the failure was recorded (those already past the check) */
        assert_true(atomic_load(&v->calls) < ITEMS);
        free(v);
    }
    drop(four);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static memgov_status nest(uint64_t b, uint64_t e, unsigned worker, void *ctx)
{
    (void)b;
    (void)e;
    visits *v = ctx;
    memgov_threads_lease *inner = NULL;
    memgov_status st = memgov_threads_acquire(v->gov, 8, 0, NULL, 0, &inner);
    if (st != MEMGOV_OK)
        return st;
    if (worker == 0)
        v->nested_count = memgov_threads_count(inner);
    memgov_threads_lease_free(inner);
    return MEMGOV_OK;
}

static void a_lease_acquired_inside_a_loop_gets_only_the_idle_threads(void **state)
{
    (void)state;
    memgov *gov = open_cpus(8);
    memgov_threads_lease *l = take(gov, 4, MEMGOV_THREADS_NOT_CURRENT);
    visits *v = new_visits();
    v->gov = gov;
    assert_int_equal(memgov_parallel_for_static(l, 4, 1, nest, v), MEMGOV_OK); /* 4 workers: none idle */
    assert_int_equal(v->nested_count, 1);
    assert_int_equal(stats_of(gov).leased, 4);
    assert_int_equal(memgov_parallel_for_static(l, 1, 1, nest, v), MEMGOV_OK); /* 1 item: 3 threads idle */
    assert_int_equal(v->nested_count, 4);
    free(v);
    assert_int_equal(memgov_threads_resize(l, 2, NULL), MEMGOV_OK);
    v = new_visits();
    assert_int_equal(memgov_parallel_for(l, ITEMS, 1, visit, v), MEMGOV_OK);
    assert_true(atomic_load(&v->max_worker) < 2); /* the loop follows the resized count */
    free(v);
    assert_int_equal(memgov_threads_release(l), MEMGOV_OK);
    assert_int_equal(memgov_parallel_for(l, 1, 1, visit, NULL), MEMGOV_ESTATE);
    assert_int_equal(memgov_parallel_for(NULL, 1, 1, NULL, NULL), MEMGOV_EINVAL);
    drop(l);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(scratch) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_cgroup_quota_of_the_container_fixture_is_rounded_up),
        cmocka_unit_test(a_quota_of_two_and_a_half_cpus_gives_three_threads),
        cmocka_unit_test(the_affinity_mask_bounds_the_capacity),
        cmocka_unit_test(sched_setaffinity_to_one_cpu_gives_a_capacity_of_one),
        cmocka_unit_test(the_capacity_is_the_least_of_its_inputs),
        cmocka_unit_test(threads_max_and_minimal_mode_lower_the_capacity),
        cmocka_unit_test(grants_are_partial_until_nothing_is_free),
        cmocka_unit_test(memory_bounds_the_grant_and_is_reserved_until_release),
        cmocka_unit_test(the_default_bytes_per_worker_is_the_key),
        cmocka_unit_test(release_is_idempotent_and_the_handle_lives_until_freed),
        cmocka_unit_test(bad_arguments_are_refused_with_their_values),
        cmocka_unit_test(a_nested_lease_draws_from_its_parent_never_from_the_capacity),
        cmocka_unit_test(a_nested_all_or_nothing_request_is_denied_for_its_parent),
        cmocka_unit_test(a_mode_change_asks_holders_to_shrink_and_recovery_lets_them_grow),
        cmocka_unit_test(shrinking_capacity_is_shared_in_proportion),
        cmocka_unit_test(a_limit_drop_sheds_the_workers_over_it_and_a_rise_restores_them),
        cmocka_unit_test(refresh_reads_a_changed_quota),
        cmocka_unit_test(a_listener_may_free_its_own_lease),
        cmocka_unit_test(the_listener_table_is_bounded),
        cmocka_unit_test(a_wait_that_nothing_ends_times_out),
        cmocka_unit_test(a_waiter_gets_the_threads_a_release_frees),
        cmocka_unit_test(every_item_runs_once_with_any_grain_and_schedule),
        cmocka_unit_test(a_static_schedule_gives_each_worker_its_own_chunks),
        cmocka_unit_test(the_first_error_stops_the_loop_and_is_returned),
        cmocka_unit_test(a_lease_acquired_inside_a_loop_gets_only_the_idle_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

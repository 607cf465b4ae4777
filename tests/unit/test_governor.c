/* Specification of the governor's wiring (memgov/governor.h): the root's limits come from the configuration
 * (file, environment, options, mode overlays), hard refusals and pressure drive the fallback machine, whose mode
 * switches the configuration's overlays, and memgov_run_with_fallback() retries a job in lighter modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "memgov.h"
#include "memgov/chunk.h"

#define MiB (1024u * 1024u)
#define FIXTURE_512M MG_FIXTURES "/probe/container-512m" /* a 512 MiB cgroup v2 limit, 100 MiB in use */
#define FIXTURE_16G MG_FIXTURES "/probe/host-16g"        /* 16 GiB, all of it available */

static char config_path[64];

/* Writes text to a fresh temporary file whose path is config_path. */
static const char *config_file(const char *text)
{
    snprintf(config_path, sizeof config_path, "/tmp/memgov-test-XXXXXX");
    int fd = mkstemp(config_path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return config_path;
}

static memgov *open_with(const char *proc_root, const char *text, uint32_t flags)
{
    memgov_options o;
    memgov_options_init(&o);
    o.proc_root = proc_root;
    o.flags = MEMGOV_OPEN_NO_ENV | flags;
    if (text != NULL)
        o.config_file = config_file(text);
    memgov *gov = NULL;
    memgov_status st = memgov_open(&o, &gov);
    if (text != NULL)
        unlink(config_path);
    assert_int_equal(st, MEMGOV_OK);
    return gov;
}

static memgov_budget_stats root_stats(memgov *gov)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(memgov_root(gov), &st), MEMGOV_OK);
    return st;
}

static void the_root_limit_defaults_to_90_percent_of_the_container_limit(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_512M, NULL, 0);
    memgov_budget_stats st = root_stats(gov);
    assert_int_equal(st.hard_limit, (uint64_t)(512 * MiB * 0.9));
    assert_int_equal(st.soft_limit, (uint64_t)((double)st.hard_limit * 0.9)); /* root.soft_ratio 0.9 */
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_config_file_sets_the_root_limits(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_512M, "root.limit = 64MiB\nroot.soft_ratio = 0.5\n", 0);
    memgov_budget_stats st = root_stats(gov);
    assert_int_equal(st.hard_limit, 64 * MiB);
    assert_int_equal(st.soft_limit, 32 * MiB);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_options_override_the_configuration(void **state)
{
    (void)state;
    memgov_options o;
    memgov_options_init(&o);
    o.proc_root = FIXTURE_512M;
    o.flags = MEMGOV_OPEN_NO_ENV;
    o.root_limit = 10 * MiB;
    o.root_soft_limit = 4 * MiB;
    o.config_file = config_file("root.limit = 64MiB\n");
    memgov *gov;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    unlink(config_path);
    assert_int_equal(root_stats(gov).hard_limit, 10 * MiB);
    assert_int_equal(root_stats(gov).soft_limit, 4 * MiB);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_environment_is_read_unless_told_not_to(void **state)
{
    (void)state;
    setenv("MEMGOV_ROOT_LIMIT", "32MiB", 1);
    memgov_options o;
    memgov_options_init(&o);
    o.proc_root = FIXTURE_512M;
    memgov *gov;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    assert_int_equal(root_stats(gov).hard_limit, 32 * MiB);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    o.flags = MEMGOV_OPEN_NO_ENV;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    assert_int_equal(root_stats(gov).hard_limit, (uint64_t)(512 * MiB * 0.9));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    unsetenv("MEMGOV_ROOT_LIMIT");
}

static void memgov_config_file_names_the_file_to_load(void **state)
{
    (void)state;
    setenv("MEMGOV_CONFIG_FILE", config_file("root.limit = 48MiB\n"), 1);
    memgov_options o;
    memgov_options_init(&o);
    o.proc_root = FIXTURE_512M;
    memgov *gov;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    assert_int_equal(root_stats(gov).hard_limit, 48 * MiB);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    unsetenv("MEMGOV_CONFIG_FILE");
    unlink(config_path);
}

static void a_bad_configuration_fails_open_and_names_the_line(void **state)
{
    (void)state;
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    o.config_file = config_file("# memgov\nroot.limit = lots\n");
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_ETYPE); /* "lots" is no size */
    assert_null(gov);
    char where[80];
    snprintf(where, sizeof where, "%s:2", config_path);
    assert_non_null(strstr(memgov_last_error(), "memgov_open: configuration file"));
    assert_non_null(strstr(memgov_last_error(), where));
    assert_non_null(strstr(memgov_last_error(), "root.limit"));
    unlink(config_path);
    o.config_file = "/nonexistent/memgov.conf";
    assert_int_not_equal(memgov_open(&o, &gov), MEMGOV_OK);
    assert_non_null(strstr(memgov_last_error(), "/nonexistent/memgov.conf"));
}

static void strict_refuses_what_non_strict_clamps(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_512M, "root.soft_ratio = 1.5\n", 0);
    assert_int_equal(root_stats(gov).soft_limit, root_stats(gov).hard_limit); /* clamped to 1 */
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV | MEMGOV_OPEN_STRICT;
    o.config_file = config_file("root.soft_ratio = 1.5\n");
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_ERANGE);
    unlink(config_path);
}

static void unknown_flags_are_refused(void **state)
{
    (void)state;
    memgov_options o;
    memgov_options_init(&o);
    o.flags = 0x80000000u;
    memgov *gov;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "0x80000000"));
}

static void a_hard_refusal_moves_the_machine_and_the_configuration_down(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 8MiB\n", 0);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    memgov_config *cfg = memgov_governor_config(gov);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_reserve(memgov_root(gov), 16 * MiB), MEMGOV_ENOMEM);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    assert_int_equal(memgov_config_mode(cfg), MEMGOV_MODE_LIGHT);
    assert_int_equal(memgov_reserve(memgov_root(gov), 16 * MiB), MEMGOV_ENOMEM);
    assert_int_equal(memgov_config_mode(cfg), MEMGOV_MODE_MINIMAL);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void a_mode_overlay_of_root_limit_applies_when_the_mode_changes(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 64MiB\n[mode.light]\nroot.limit = 16MiB\n", 0);
    assert_int_equal(root_stats(gov).hard_limit, 64 * MiB);
    assert_int_equal(memgov_fallback_pin(memgov_governor_fallback(gov), MEMGOV_MODE_LIGHT), MEMGOV_OK);
    assert_int_equal(root_stats(gov).hard_limit, 16 * MiB);
    assert_int_equal(memgov_fallback_unpin(memgov_governor_fallback(gov)), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void setting_root_limit_at_run_time_changes_the_root(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, NULL, 0);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "root.limit", "5MiB"), MEMGOV_OK);
    assert_int_equal(root_stats(gov).hard_limit, 5 * MiB);
    assert_int_equal(memgov_reserve(memgov_root(gov), 6 * MiB), MEMGOV_ENOMEM);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void pressure_from_the_root_budget_moves_the_machine_on_each_sample(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 100MiB\n", 0);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    assert_int_equal(memgov_reserve(memgov_root(gov), 72 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_monitor_sample(memgov_governor_monitor(gov)), MEMGOV_OK);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_LIGHT);
    memgov_metric_stats ms = {.struct_size = sizeof ms};
    memgov_monitor *mon = memgov_governor_monitor(gov);
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "fallback.pressure", &ms), MEMGOV_OK);
    assert_float_equal(ms.last, 0.72, 1e-9);
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "budget.root.used", &ms), MEMGOV_OK);
    assert_float_equal(ms.last, 72.0 * MiB, 0.5);
    assert_int_equal(memgov_reserve(memgov_root(gov), 14 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_mode(fb), MEMGOV_MODE_MINIMAL);
    assert_int_equal(memgov_release(memgov_root(gov), 86 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void container_memory_in_use_counts_as_pressure(void **state)
{
    (void)state;
    /* 100 MiB of the container's 512 MiB are in use outside the budget: pressure 0.195 with an idle root. */
    memgov *gov = open_with(FIXTURE_512M, NULL, 0);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_OK);
    memgov_fallback_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_fallback_get_stats(fb, &s), MEMGOV_OK);
    assert_float_equal(s.pressure, 100.0 / 512.0, 1e-9);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void fallback_disabled_keeps_normal_mode(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 8MiB\nfallback.enabled = false\n", 0);
    assert_int_equal(memgov_reserve(memgov_root(gov), 16 * MiB), MEMGOV_ENOMEM);
    assert_int_equal(memgov_fallback_mode(memgov_governor_fallback(gov)), MEMGOV_MODE_NORMAL);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

typedef struct job_ctx {
    memgov *gov;
    int calls;
    uint64_t batch_seen[4];
} job_ctx;

/* Needs a batch of at most 64 to fit: reads batch.max from the governor's configuration in every attempt. */
static memgov_status batch_job(memgov_mode mode, void *ctx)
{
    job_ctx *j = ctx;
    uint64_t batch = 0;
    assert_int_equal(memgov_config_get_unsigned(memgov_governor_config(j->gov), "batch.max", &batch), MEMGOV_OK);
    assert_int_equal(memgov_config_mode(memgov_governor_config(j->gov)), mode);
    j->batch_seen[j->calls++] = batch;
    return batch <= 64 ? MEMGOV_OK : MEMGOV_ENOMEM;
}

static void no_sleep(uint64_t ns, void *ctx)
{
    (void)ctx;
    (void)ns;
}

static void run_with_fallback_retries_with_the_lighter_overlay(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G,
                            "batch.max = 256\n[mode.light]\nbatch.max = 128\n[mode.minimal]\nbatch.max = 32\n", 0);
    job_ctx j = {.gov = gov};
    memgov_fallback_run_options ro;
    memgov_fallback_run_options_init(&ro);
    ro.sleep_ns = no_sleep;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_run_with_fallback(gov, batch_job, &j, &ro, &r), MEMGOV_OK);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(j.batch_seen[0], 256);
    assert_int_equal(j.batch_seen[1], 128);
    assert_int_equal(j.batch_seen[2], 32);
    assert_int_equal(r.attempt[2].mode, MEMGOV_MODE_MINIMAL);
    assert_int_equal(memgov_run_with_fallback(NULL, batch_job, &j, NULL, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* Reserves 48 MiB in NORMAL, 24 MiB in LIGHT, 12 MiB in MINIMAL under a 32 MiB root holding 4 MiB. */
static memgov_status reserving_job(memgov_mode mode, void *ctx)
{
    job_ctx *j = ctx;
    uint64_t need = (uint64_t)(48 >> mode) * MiB;
    j->calls++;
    memgov_status st = memgov_reserve(memgov_root(j->gov), need);
    if (st == MEMGOV_OK)
        memgov_release(memgov_root(j->gov), need);
    return st;
}

static void a_refused_attempt_steps_down_once_not_twice(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 32MiB\n", 0);
    assert_int_equal(memgov_reserve(memgov_root(gov), 4 * MiB), MEMGOV_OK);
    job_ctx j = {.gov = gov};
    memgov_fallback_run_options ro;
    memgov_fallback_run_options_init(&ro);
    ro.sleep_ns = no_sleep;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_run_with_fallback(gov, reserving_job, &j, &ro, &r), MEMGOV_OK);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.attempt[0].mode, MEMGOV_MODE_NORMAL);
    assert_int_equal(r.attempt[1].mode, MEMGOV_MODE_LIGHT); /* the refusal's step, and no second one */
    memgov_fallback_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_fallback_get_stats(memgov_governor_fallback(gov), &s), MEMGOV_OK);
    assert_int_equal(s.transitions, 1);
    assert_int_equal(s.refusals, 1);
    assert_int_equal(memgov_release(memgov_root(gov), 4 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void the_parts_of_a_null_governor_are_null(void **state)
{
    (void)state;
    assert_null(memgov_governor_config(NULL));
    assert_null(memgov_governor_fallback(NULL));
    assert_null(memgov_governor_monitor(NULL));
}

static void the_monitor_thread_starts_when_asked(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "monitor.interval = 1ms\n", MEMGOV_OPEN_START_MONITOR);
    memgov_monitor *mon = memgov_governor_monitor(gov);
    memgov_monitor_stats ms = {.struct_size = sizeof ms};
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(memgov_monitor_get_stats(mon, &ms), MEMGOV_OK);
        if (ms.samples >= 3)
            break;
        usleep(1000);
    }
    assert_true(ms.samples >= 3);
    assert_int_equal(memgov_close(gov), MEMGOV_OK); /* stops the sampler before freeing what it reads */
}

/* Reserves (batch x 1 MiB) from the root, the batch from the run's batcher; records every attempt. */
typedef struct halving_ctx {
    memgov *gov;
    memgov_batcher *batcher;
    int calls;
    uint64_t batch[16];
    memgov_mode mode[16];
} halving_ctx;

static memgov_status halving_job(memgov_mode mode, void *ctx)
{
    halving_ctx *h = ctx;
    uint64_t batch = memgov_batcher_next(h->batcher);
    h->batch[h->calls] = batch;
    h->mode[h->calls++] = mode;
    memgov_status st = memgov_reserve(memgov_root(h->gov), batch * MiB);
    if (st == MEMGOV_OK)
        memgov_release(memgov_root(h->gov), batch * MiB);
    return st;
}

/* memgov_run_with_batcher(): refused batches are halved in the same mode although each refusal reaches the fallback
 * machine through the governor's wiring; only a refusal at the floor steps the mode down. */
static void run_with_fallback_halves_the_batch_before_stepping_down(void **state)
{
    (void)state;
    memgov *gov = open_with(FIXTURE_16G, "root.limit = 20MiB\n", 0);
    memgov_batcher_options bo;
    memgov_batcher_options_init(&bo);
    bo.min = 2;
    bo.max = 64;
    bo.initial = 64;
    halving_ctx h = {.gov = gov};
    assert_int_equal(memgov_batcher_create(&bo, &h.batcher), MEMGOV_OK);
    memgov_fallback_run_options ro;
    memgov_fallback_run_options_init(&ro);
    ro.sleep_ns = no_sleep;
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_run_with_batcher(gov, h.batcher, halving_job, &h, &ro, &r), MEMGOV_OK);
    assert_int_equal(r.attempts, 3); /* 64 and 32 refused, 16 fits */
    assert_int_equal(h.batch[0], 64);
    assert_int_equal(h.batch[1], 32);
    assert_int_equal(h.batch[2], 16);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h.mode[i], MEMGOV_MODE_NORMAL);
    assert_int_equal(r.attempt[1].backoff_ns, 0); /* a halving retry does not pause */
    memgov_fallback_stats fs = {.struct_size = sizeof fs};
    assert_int_equal(memgov_fallback_get_stats(memgov_governor_fallback(gov), &fs), MEMGOV_OK);
    assert_int_equal(fs.mode, MEMGOV_MODE_NORMAL);
    assert_int_equal(fs.refusals, 2); /* counted, not moved */
    memgov_batcher_stats bs = {.struct_size = sizeof bs};
    assert_int_equal(memgov_batcher_get_stats(h.batcher, &bs), MEMGOV_OK);
    assert_int_equal(bs.ceiling, 32);
    assert_int_equal(bs.last_good, 16);

    /* Nothing fits above 1 MiB: halve to the floor (2), then step down mode by mode at the floor. */
    assert_int_equal(memgov_reserve(memgov_root(gov), 19 * MiB), MEMGOV_OK);
    h.calls = 0;
    ro.max_attempts = 7;
    assert_int_equal(memgov_run_with_batcher(gov, h.batcher, halving_job, &h, &ro, &r), MEMGOV_ENOMEM);
    assert_int_equal(r.attempts, 7);
    const uint64_t batches[] = {17, 8, 4, 2, 2, 2, 2}; /* 17: the success at 16 grew it by one step */
    const memgov_mode modes[] = {0, 0, 0, 0, 1, 2, 2};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(h.batch[i], batches[i]);
        assert_int_equal(h.mode[i], modes[i]);
    }
    assert_true(r.attempt[4].backoff_ns > 0); /* a mode step pauses */
    assert_int_equal(memgov_release(memgov_root(gov), 19 * MiB), MEMGOV_OK);
    assert_int_equal(memgov_run_with_batcher(gov, NULL, halving_job, &h, &ro, &r), MEMGOV_EINVAL);
    assert_int_equal(memgov_run_with_batcher(NULL, h.batcher, halving_job, &h, &ro, &r), MEMGOV_EINVAL);
    memgov_batcher_destroy(h.batcher);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_root_limit_defaults_to_90_percent_of_the_container_limit),
        cmocka_unit_test(a_config_file_sets_the_root_limits),
        cmocka_unit_test(the_options_override_the_configuration),
        cmocka_unit_test(the_environment_is_read_unless_told_not_to),
        cmocka_unit_test(memgov_config_file_names_the_file_to_load),
        cmocka_unit_test(a_bad_configuration_fails_open_and_names_the_line),
        cmocka_unit_test(strict_refuses_what_non_strict_clamps),
        cmocka_unit_test(unknown_flags_are_refused),
        cmocka_unit_test(a_hard_refusal_moves_the_machine_and_the_configuration_down),
        cmocka_unit_test(a_mode_overlay_of_root_limit_applies_when_the_mode_changes),
        cmocka_unit_test(setting_root_limit_at_run_time_changes_the_root),
        cmocka_unit_test(pressure_from_the_root_budget_moves_the_machine_on_each_sample),
        cmocka_unit_test(container_memory_in_use_counts_as_pressure),
        cmocka_unit_test(fallback_disabled_keeps_normal_mode),
        cmocka_unit_test(run_with_fallback_retries_with_the_lighter_overlay),
        cmocka_unit_test(a_refused_attempt_steps_down_once_not_twice),
        cmocka_unit_test(run_with_fallback_halves_the_batch_before_stepping_down),
        cmocka_unit_test(the_parts_of_a_null_governor_are_null),
        cmocka_unit_test(the_monitor_thread_starts_when_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Device budgets (memgov/gpu.h) on the simulated device, and the CUDA backend's loading path through dlopen: a
 * missing driver, fake driver libraries built by the tests (tests/gpu/fake_cuda.c) that lack a symbol, have no
 * device, or stand for a whole device (pool, release threshold, trims, context pushes). No GPU is needed. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal/fault.h"
#include "memgov.h"
#include "memgov/chunk.h"

#define MiB ((uint64_t)1 << 20)
#define FIXTURE_16G MG_FIXTURES "/probe/host-16g" /* 16 GiB, all of it available: the host's pressure is 0 */

/* Mirrors tests/gpu/fake_cuda.c's state. */
typedef struct fake_cuda_state {
    int initialised, ctx_retained, ctx_depth;
    unsigned long long used, total, release_threshold;
    int pool_created, pool_destroyed;
    unsigned long long async_allocs, async_frees, plain_allocs, plain_frees, trims, fail_next_allocs;
} fake_cuda_state;

static memgov *open_gov(const char *config_text)
{
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    o.proc_root = FIXTURE_16G;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    if (config_text != NULL)
        assert_int_equal(memgov_config_load_string(memgov_governor_config(gov), config_text, strlen(config_text), "test", 0, NULL), MEMGOV_OK);
    return gov;
}

static memgov_gpu *open_sim(memgov *gov, uint64_t total, uint64_t limit)
{
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.sim_total = total;
    o.limit = limit;
    memgov_gpu *gpu = NULL;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_OK);
    return gpu;
}

static memgov_gpu_stats stats_of(memgov_gpu *gpu)
{
    memgov_gpu_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_gpu_get_stats(gpu, &s), MEMGOV_OK);
    return s;
}

static void close_all(memgov_gpu *gpu, memgov *gov)
{
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- the device budget and its limit ------------------------------------------------------------------------ */

static void test_defaults_limit_is_the_device_total(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = NULL;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, NULL, &gpu), MEMGOV_OK);
    memgov_gpu_stats s = stats_of(gpu);
    assert_int_equal(s.backend, MEMGOV_GPU_SIMULATED);
    assert_int_equal(s.device_total, MEMGOV_GPU_SIM_DEFAULT_TOTAL);
    assert_int_equal(s.hard_limit, MEMGOV_GPU_SIM_DEFAULT_TOTAL);
    assert_int_equal(s.device_free, MEMGOV_GPU_SIM_DEFAULT_TOTAL);
    assert_int_equal(s.stream_ordered, 0);
    assert_int_equal(s.metrics, 1);
    assert_string_equal(memgov_budget_name(memgov_gpu_budget(gpu)), "sim0");
    assert_ptr_equal(memgov_gpu_of(memgov_gpu_budget(gpu)), gpu);
    assert_null(memgov_gpu_of(memgov_root(gov)));
    assert_null(memgov_budget_parent(memgov_gpu_budget(gpu))); /* a tree of its own: not under the host root */
    close_all(gpu, gov);
}

static void test_gpu_limit_percentage_is_of_the_device(void **state)
{
    (void)state;
    memgov *gov = open_gov("gpu.limit = 25%\n");
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    assert_int_equal(stats_of(gpu).hard_limit, 16 * MiB); /* of the 64 MiB device, not of the 16 GiB host */
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "gpu.limit", "1GiB"), MEMGOV_OK);
    gpu = open_sim(gov, 64 * MiB, 0);
    assert_int_equal(stats_of(gpu).hard_limit, 64 * MiB); /* never above the device's total */
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    gpu = open_sim(gov, 64 * MiB, 8 * MiB); /* the option wins over the key */
    assert_int_equal(stats_of(gpu).hard_limit, 8 * MiB);
    close_all(gpu, gov);
}

static void test_cap_refuses_with_device_budget_limit_use_request(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 16 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    void *a = memgov_gpu_malloc(b, 10 * MiB, NULL);
    assert_non_null(a);
    assert_null(memgov_gpu_malloc(b, 7 * MiB, NULL));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    const char *m = memgov_last_error();
    assert_non_null(strstr(m, "device sim0"));
    assert_non_null(strstr(m, "budget 'sim0'"));
    assert_non_null(strstr(m, "16.0 MiB")); /* the limit */
    assert_non_null(strstr(m, "10.0 MiB")); /* the use */
    assert_non_null(strstr(m, "7.00 MiB")); /* the request */
    memgov_gpu_stats s = stats_of(gpu);
    assert_int_equal(s.used, 10 * MiB);
    assert_int_equal(s.blocks, 1);
    assert_int_equal(s.allocations, 1);
    assert_int_equal(s.limit_refusals, 1);
    assert_int_equal(s.device_refusals, 0);
    assert_int_equal(s.device_free, 54 * MiB); /* the refused request never reached the device */
    assert_int_equal(memgov_gpu_free(b, a, NULL), MEMGOV_OK);
    s = stats_of(gpu);
    assert_int_equal(s.used, 0);
    assert_int_equal(s.frees, 1);
    assert_int_equal(s.peak, 10 * MiB);
    close_all(gpu, gov);
}

static void test_child_budgets_cap_and_roll_up(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 32 * MiB);
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "model";
    bo.hard_limit = 4 * MiB;
    memgov_budget *model = NULL;
    assert_int_equal(memgov_budget_create(memgov_gpu_budget(gpu), &bo, &model), MEMGOV_OK);
    assert_ptr_equal(memgov_gpu_of(model), gpu);
    void *p = memgov_gpu_malloc(model, 3 * MiB, NULL);
    assert_non_null(p);
    assert_null(memgov_gpu_malloc(model, 2 * MiB, NULL));
    assert_non_null(strstr(memgov_last_error(), "budget 'model' refused"));
    assert_int_equal(stats_of(gpu).used, 3 * MiB); /* the child's bytes count on the device budget */
    /* a block is freed on its own budget only */
    assert_int_equal(memgov_gpu_free(memgov_gpu_budget(gpu), p, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_gpu_free(model, (char *)p + 1, NULL), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_gpu_free(model, NULL, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(model), MEMGOV_EBUSY);
    assert_int_equal(memgov_gpu_free(model, p, NULL), MEMGOV_OK);
    assert_int_equal(memgov_gpu_free(model, p, NULL), MEMGOV_ENOTFOUND); /* twice: nothing credited twice */
    assert_int_equal(memgov_budget_destroy(model), MEMGOV_OK);
    close_all(gpu, gov);
}

static void test_host_and_device_budgets_do_not_mix(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    memgov_budget *dev = memgov_gpu_budget(gpu);
    assert_null(memgov_malloc(dev, 100)); /* a device budget has no host arena */
    assert_int_equal(memgov_last_status(), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "device budget"));
    assert_null(memgov_calloc(dev, 1, 100));
    assert_null(memgov_realloc(dev, NULL, 100));
    assert_null(memgov_gpu_malloc(memgov_root(gov), 100, NULL));
    assert_int_equal(memgov_last_status(), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "host budget"));
    assert_null(memgov_gpu_malloc(NULL, 100, NULL));
    assert_int_equal(memgov_gpu_reserve(memgov_root(gov), 1), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_destroy(dev), MEMGOV_EINVAL); /* the device budget goes with memgov_gpu_close */
    assert_int_equal(stats_of(gpu).used, 0);
    close_all(gpu, gov);
}

static void test_size_zero_and_beyond_the_device(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    memgov_budget *b = memgov_gpu_budget(gpu);
    void *p = memgov_gpu_malloc(b, 0, NULL);
    assert_non_null(p);
    assert_int_equal(stats_of(gpu).used, 1);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    assert_null(memgov_gpu_malloc(b, SIZE_MAX, NULL));
    assert_int_equal(memgov_last_status(), MEMGOV_EOVERFLOW);
    assert_int_equal(stats_of(gpu).used, 0);
    close_all(gpu, gov);
}

/* ---- reclaim, device refusals, events ---------------------------------------------------------------------- */

typedef struct held {
    memgov_budget *budget;
    void *block;
    unsigned calls;
} held;

static uint64_t free_held(memgov_budget *refusing, uint64_t needed, void *user)
{
    (void)refusing;
    (void)needed;
    held *h = user;
    h->calls++;
    if (h->block == NULL)
        return 0;
    memgov_gpu_free(h->budget, h->block, NULL);
    h->block = NULL;
    return 8 * MiB;
}

static void test_reclaim_runs_then_one_retry(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 16 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    held h = {b, memgov_gpu_malloc(b, 8 * MiB, NULL), 0};
    assert_non_null(h.block);
    assert_int_equal(memgov_budget_add_reclaim(b, free_held, &h, 0, NULL), MEMGOV_OK);
    void *p = memgov_gpu_malloc(b, 12 * MiB, NULL); /* an "empty cache" makes room */
    assert_non_null(p);
    assert_int_equal(h.calls, 1);
    assert_null(memgov_gpu_malloc(b, 12 * MiB, NULL)); /* nothing left to reclaim: refused after one retry */
    assert_int_equal(h.calls, 2);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    close_all(gpu, gov);
}

typedef struct seen {
    unsigned refusals, soft_crossed, soft_cleared;
    uint64_t last_request;
} seen;

static void on_event(const memgov_event *ev, void *user)
{
    seen *s = user;
    if (ev->kind == MEMGOV_EVENT_HARD_REFUSAL) {
        s->refusals++;
        s->last_request = ev->request;
    } else if (ev->kind == MEMGOV_EVENT_SOFT_CROSSED) {
        s->soft_crossed++;
    } else if (ev->kind == MEMGOV_EVENT_SOFT_CLEARED) {
        s->soft_cleared++;
    }
}

static void test_device_refusal_trims_reclaims_retries_once(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    memgov_budget *b = memgov_gpu_budget(gpu);
    seen s = {0};
    held h = {b, NULL, 0};
    assert_int_equal(memgov_budget_add_listener(b, on_event, &s, NULL), MEMGOV_OK);
    assert_int_equal(memgov_budget_add_reclaim(b, free_held, &h, 0, NULL), MEMGOV_OK);
    /* the device fails once (another process held the memory): reclaim, retry, success */
    mg_fault_arm(MG_FAULT_GPU, 0, 1);
    void *p = memgov_gpu_malloc(b, 4 * MiB, NULL);
    assert_non_null(p);
    assert_int_equal(h.calls, 1);
    memgov_gpu_stats st = stats_of(gpu);
    assert_int_equal(st.device_retries, 1);
    assert_int_equal(st.device_refusals, 0);
    assert_int_equal(s.refusals, 0);
    /* it fails twice: refused for good, announced, and the message says the device refused below the limit */
    mg_fault_arm(MG_FAULT_GPU, 0, 2);
    assert_null(memgov_gpu_malloc(b, 2 * MiB, NULL));
    assert_int_equal(mg_fault_injected(MG_FAULT_GPU), 2);
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    const char *m = memgov_last_error();
    assert_non_null(strstr(m, "device sim0"));
    assert_non_null(strstr(m, "refused 2.00 MiB for budget 'sim0'"));
    assert_non_null(strstr(m, "use 4.00 MiB"));
    assert_non_null(strstr(m, "hard limit 64.0 MiB"));
    assert_non_null(strstr(m, "60.0 MiB free of 64.0 MiB"));
    assert_non_null(strstr(m, "injected fault"));
    assert_int_equal(h.calls, 2);
    assert_int_equal(s.refusals, 1);
    assert_int_equal(s.last_request, 2 * MiB);
    st = stats_of(gpu);
    assert_int_equal(st.device_refusals, 1);
    assert_int_equal(st.used, 4 * MiB);
    memgov_budget_stats bs = {.struct_size = sizeof bs};
    assert_int_equal(memgov_budget_get_stats(b, &bs), MEMGOV_OK);
    assert_int_equal(bs.refusals, 1);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    mg_fault_disarm_all();
    close_all(gpu, gov);
}

static void test_soft_limit_events(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.sim_total = 64 * MiB;
    o.limit = 32 * MiB;
    o.soft_limit = 8 * MiB;
    memgov_gpu *gpu = NULL;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_OK);
    memgov_budget *b = memgov_gpu_budget(gpu);
    seen s = {0};
    assert_int_equal(memgov_budget_add_listener(b, on_event, &s, NULL), MEMGOV_OK);
    void *p = memgov_gpu_malloc(b, 10 * MiB, NULL);
    assert_int_equal(s.soft_crossed, 1);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    assert_int_equal(s.soft_cleared, 1);
    close_all(gpu, gov);
}

static void test_reserve_and_release(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 16 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    assert_int_equal(memgov_gpu_reserve(b, 12 * MiB), MEMGOV_OK);
    assert_int_equal(stats_of(gpu).reserved, 12 * MiB);
    assert_null(memgov_gpu_malloc(b, 5 * MiB, NULL)); /* the reservation counts against the cap */
    assert_int_equal(memgov_gpu_reserve(b, 5 * MiB), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "device sim0"));
    assert_non_null(strstr(memgov_last_error(), "hard limit of 16.0 MiB"));
    assert_int_equal(memgov_gpu_release(b, 13 * MiB), MEMGOV_ERANGE);
    assert_int_equal(memgov_gpu_release(b, 12 * MiB), MEMGOV_OK);
    memgov_gpu_stats s = stats_of(gpu);
    assert_int_equal(s.used, 0);
    assert_int_equal(s.limit_refusals, 2);
    close_all(gpu, gov);
}

/* ---- opening, closing, options ------------------------------------------------------------------------------ */

static void test_close_busy_and_names(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    void *p = memgov_gpu_malloc(memgov_gpu_budget(gpu), MiB, NULL);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_EBUSY);
    assert_non_null(strstr(memgov_last_error(), "device sim0"));
    memgov_gpu *again = NULL;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, NULL, &again), MEMGOV_EEXIST);
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.name = "second";
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &again), MEMGOV_OK);
    assert_string_equal(memgov_budget_name(memgov_gpu_budget(again)), "second");
    assert_int_equal(memgov_gpu_close(again), MEMGOV_OK);
    assert_int_equal(memgov_gpu_free(memgov_gpu_budget(gpu), p, NULL), MEMGOV_OK);
    assert_int_equal(memgov_gpu_close(NULL), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_EBUSY); /* a device still open: its events reach the governor */
    assert_non_null(strstr(memgov_last_error(), "1 device(s) still open: sim0"));
    close_all(gpu, gov);
}

static void test_bad_options(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = NULL;
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    assert_int_equal(memgov_gpu_open(NULL, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_EINVAL);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_gpu_open(gov, (memgov_gpu_backend)9, 0, &o, &gpu), MEMGOV_EINVAL);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 1, &o, &gpu), MEMGOV_ERANGE);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, -1, &o, &gpu), MEMGOV_ERANGE);
    o.flags = 0x80;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_EINVAL);
    o.flags = 0;
    o.name = "bad name";
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_EINVAL);
    o.name = NULL;
    o.sim_total = 8 * MiB;
    o.soft_limit = 9 * MiB;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "soft limit"));
    o.struct_size = 1;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu), MEMGOV_EINVAL);
    assert_null(gpu);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_METAL, 0, NULL, &gpu), MEMGOV_EUNSUPPORTED);
    assert_non_null(strstr(memgov_last_error(), "macOS"));
    assert_string_equal(memgov_gpu_backend_name(MEMGOV_GPU_CUDA), "cuda");
    assert_string_equal(memgov_gpu_backend_name((memgov_gpu_backend)0), "unknown");
    memgov_gpu_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_gpu_get_stats(NULL, &s), MEMGOV_EINVAL);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void test_failed_open_leaves_nothing(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = NULL;
    mg_fault_arm(MG_FAULT_GPU, 0, 1);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, NULL, &gpu), MEMGOV_EUNSUPPORTED);
    assert_non_null(strstr(memgov_last_error(), "injected"));
    assert_null(gpu);
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, NULL, &gpu), MEMGOV_OK); /* the name is free */
    close_all(gpu, gov);
}

/* ---- the governor: metrics, fallback pressure, refusals, batch halving ----------------------------------------- */

static void test_monitor_metrics(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 0);
    void *p = memgov_gpu_malloc(memgov_gpu_budget(gpu), 3 * MiB, NULL);
    memgov_monitor *mon = memgov_governor_monitor(gov);
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK);
    memgov_metric_stats ms = {.struct_size = sizeof ms};
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "gpu.sim0.used", &ms), MEMGOV_OK);
    assert_true(ms.last == (double)(3 * MiB));
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "gpu.sim0.free", &ms), MEMGOV_OK);
    assert_true(ms.last == (double)(61 * MiB));
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "gpu.sim0.total", &ms), MEMGOV_OK);
    assert_true(ms.last == (double)(64 * MiB));
    assert_int_equal(memgov_gpu_free(memgov_gpu_budget(gpu), p, NULL), MEMGOV_OK);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK); /* a closed device reads NaN, which stats skip */
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "gpu.sim0.used", &ms), MEMGOV_OK);
    assert_int_equal(ms.samples, 1);
    /* after the first sample a device opens without metrics; the same name reuses the ones there */
    gpu = open_sim(gov, 32 * MiB, 0);
    assert_int_equal(stats_of(gpu).metrics, 0);
    assert_int_equal(memgov_monitor_sample(mon), MEMGOV_OK);
    assert_int_equal(memgov_monitor_get_metric_stats(mon, "gpu.sim0.total", &ms), MEMGOV_OK);
    assert_true(ms.last == (double)(32 * MiB));
    close_all(gpu, gov);
}

static double pressure_after_evaluate(memgov *gov)
{
    memgov_fallback *fb = memgov_governor_fallback(gov);
    assert_int_equal(memgov_fallback_evaluate(fb), MEMGOV_OK);
    memgov_fallback_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_fallback_get_stats(fb, &s), MEMGOV_OK);
    return s.pressure;
}

static void test_fallback_pressure_includes_the_device_when_the_key_says(void **state)
{
    (void)state;
    memgov *gov = open_gov("fallback.enabled = false\n"); /* pinned: evaluations change no mode here */
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 10 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    void *p = memgov_gpu_malloc(b, 9 * MiB, NULL);
    assert_true(fabs(pressure_after_evaluate(gov) - 0.9) < 1e-9); /* the device's 9 of 10 MiB; host: 0 */
    assert_int_equal(memgov_config_set(memgov_governor_config(gov), "gpu.pressure", "false"), MEMGOV_OK);
    assert_true(pressure_after_evaluate(gov) < 0.01);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    close_all(gpu, gov);
}

static void test_device_refusal_reaches_the_fallback_machine(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 4 * MiB);
    memgov_fallback *fb = memgov_governor_fallback(gov);
    assert_null(memgov_gpu_malloc(memgov_gpu_budget(gpu), 5 * MiB, NULL));
    memgov_fallback_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_fallback_get_stats(fb, &s), MEMGOV_OK);
    assert_int_equal(s.refusals, 1);
    assert_int_equal(s.mode, MEMGOV_MODE_LIGHT); /* a hard refusal steps down one mode, as on the host */
    close_all(gpu, gov);
}

typedef struct job_ctx {
    memgov_batcher *batcher;
    memgov_budget *budget;
    uint64_t sizes[32];
    unsigned n;
} job_ctx;

/* A "training step": one device block of batch x 1 MiB. */
static memgov_status train_step(memgov_mode mode, void *user)
{
    (void)mode;
    job_ctx *j = user;
    uint64_t batch = memgov_batcher_next(j->batcher);
    j->sizes[j->n++] = batch;
    void *p = memgov_gpu_malloc(j->budget, batch * MiB, NULL);
    if (p == NULL)
        return memgov_last_status();
    memgov_gpu_free(j->budget, p, NULL);
    return MEMGOV_OK;
}

static void test_run_with_batcher_halves_on_device_refusals(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 256 * MiB, 20 * MiB);
    memgov_batcher_options bo;
    memgov_batcher_options_init(&bo);
    bo.min = 1;
    bo.max = 64;
    bo.initial = 64;
    memgov_batcher *batcher = NULL;
    assert_int_equal(memgov_batcher_create(&bo, &batcher), MEMGOV_OK);
    job_ctx j = {.batcher = batcher, .budget = memgov_gpu_budget(gpu)};
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    assert_int_equal(memgov_run_with_batcher(gov, batcher, train_step, &j, NULL, &r), MEMGOV_OK);
    assert_int_equal(j.n, 3); /* 64 and 32 refused by the 20 MiB cap, 16 fits */
    assert_int_equal(j.sizes[0], 64);
    assert_int_equal(j.sizes[1], 32);
    assert_int_equal(j.sizes[2], 16);
    memgov_fallback_stats s = {.struct_size = sizeof s};
    assert_int_equal(memgov_fallback_get_stats(memgov_governor_fallback(gov), &s), MEMGOV_OK);
    assert_int_equal(s.mode, MEMGOV_MODE_NORMAL); /* halving the batch was enough: no lighter mode */
    memgov_batcher_destroy(batcher);
    close_all(gpu, gov);
}

/* ---- the CUDA backend's loading path ------------------------------------------------------------------------- */

static memgov_status open_cuda(memgov *gov, const char *library, uint32_t flags, uint64_t threshold,
                               memgov_gpu **gpu)
{
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.library = library;
    o.flags = flags;
    o.release_threshold = threshold;
    o.limit = 32 * MiB;
    *gpu = NULL;
    return memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, gpu);
}

static void test_cuda_without_driver_is_unsupported(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu;
    assert_int_equal(open_cuda(gov, "/nonexistent/libcuda.so.1", 0, 0, &gpu), MEMGOV_EUNSUPPORTED);
    assert_null(gpu);
    assert_non_null(strstr(memgov_last_error(), "/nonexistent/libcuda.so.1 cannot be loaded"));
    assert_non_null(strstr(memgov_last_error(), "no NVIDIA driver"));
    /* the default library: where this machine has no driver, the same answer; with one, a device or a driver
     * error (also MEMGOV_EUNSUPPORTED), never a crash */
    void *real = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    memgov_status st = open_cuda(gov, NULL, 0, 0, &gpu);
    if (real == NULL) {
        assert_int_equal(st, MEMGOV_EUNSUPPORTED);
        assert_non_null(strstr(memgov_last_error(), "libcuda.so.1 cannot be loaded"));
    } else {
        dlclose(real);
        assert_true(st == MEMGOV_OK || st == MEMGOV_EUNSUPPORTED);
        if (st == MEMGOV_OK)
            assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    }
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void test_cuda_library_lacking_a_symbol(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu;
    assert_int_equal(open_cuda(gov, FAKE_CUDA_DIR "/libfake_cuda_nosym.so", 0, 0, &gpu), MEMGOV_EUNSUPPORTED);
    assert_non_null(strstr(memgov_last_error(), "lacks cuMemGetInfo_v2"));
    assert_null(gpu);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static void test_cuda_driver_without_device(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu;
    assert_int_equal(open_cuda(gov, FAKE_CUDA_DIR "/libfake_cuda_nodevice.so", 0, 0, &gpu), MEMGOV_EUNSUPPORTED);
    assert_non_null(strstr(memgov_last_error(), "cuInit failed: CUDA_ERROR_NO_DEVICE 100"));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

static fake_cuda_state *fake_state(const char *path, void **handle)
{
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(*handle);
    fake_cuda_state *(*get)(void) = (fake_cuda_state * (*)(void)) dlsym(*handle, "fake_cuda_state_get");
    assert_non_null(get);
    return get();
}

static void test_cuda_fake_device_caps_and_refusals(void **state)
{
    (void)state;
    setenv("FAKE_CUDA_TOTAL", "67108864", 1);
    const char *path = FAKE_CUDA_DIR "/libfake_cuda.so";
    void *handle;
    fake_cuda_state *fs = fake_state(path, &handle);
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu;
    assert_int_equal(open_cuda(gov, path, 0, 0, &gpu), MEMGOV_OK);
    memgov_gpu_stats s = stats_of(gpu);
    assert_string_equal(s.device, "Fake CUDA Device");
    assert_int_equal(s.device_total, 64 * MiB);
    assert_int_equal(s.hard_limit, 32 * MiB);
    assert_int_equal(s.stream_ordered, 1);
    assert_int_equal(s.release_threshold, 32 * MiB);
    assert_int_equal(fs->release_threshold, 32 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    void *p = memgov_gpu_malloc(b, 20 * MiB, (void *)0x1234);
    assert_non_null(p);
    assert_int_equal(fs->async_allocs, 1);
    assert_int_equal(fs->used, 20 * MiB);
    assert_null(memgov_gpu_malloc(b, 20 * MiB, NULL)); /* the cap: the driver is never asked */
    assert_int_equal(fs->async_allocs, 1);
    assert_non_null(strstr(memgov_last_error(), "device cuda0 (Fake CUDA Device, cuda)"));
    /* the driver answers out-of-memory twice: trim, reclaim, retry, then a refusal with the driver's words */
    fs->fail_next_allocs = 2;
    assert_null(memgov_gpu_malloc(b, MiB, NULL));
    assert_int_equal(fs->trims, 1);
    assert_non_null(strstr(memgov_last_error(), "CUDA_ERROR_OUT_OF_MEMORY"));
    assert_non_null(strstr(memgov_last_error(), "44.0 MiB free of 64.0 MiB"));
    assert_int_equal(stats_of(gpu).device_refusals, 1);
    assert_int_equal(memgov_gpu_free(b, p, NULL), MEMGOV_OK);
    assert_int_equal(fs->async_frees, 1);
    assert_int_equal(fs->used, 0);
    assert_int_equal(fs->ctx_depth, 0); /* every push was popped */
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(fs->ctx_retained, 0);
    assert_int_equal(fs->pool_destroyed, fs->pool_created);
    /* the plain path, and a threshold of 0 */
    assert_int_equal(open_cuda(gov, path, MEMGOV_GPU_PLAIN_ALLOC, 0, &gpu), MEMGOV_OK);
    assert_int_equal(stats_of(gpu).stream_ordered, 0);
    p = memgov_gpu_malloc(memgov_gpu_budget(gpu), MiB, NULL);
    assert_int_equal(fs->plain_allocs, 1);
    assert_int_equal(memgov_gpu_free(memgov_gpu_budget(gpu), p, NULL), MEMGOV_OK);
    assert_int_equal(fs->plain_frees, 1);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(open_cuda(gov, path, 0, MEMGOV_GPU_RELEASE_ALL, &gpu), MEMGOV_OK);
    assert_int_equal(fs->release_threshold, 0);
    assert_int_equal(stats_of(gpu).release_threshold, 0);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    assert_int_equal(open_cuda(gov, path, 0, 5 * MiB, &gpu), MEMGOV_OK);
    assert_int_equal(fs->release_threshold, 5 * MiB);
    assert_int_equal(memgov_gpu_close(gpu), MEMGOV_OK);
    /* one device only */
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.library = path;
    assert_int_equal(memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 1, &o, &gpu), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "reports 1 device"));
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
    dlclose(handle);
}

static void test_cuda_device_without_pools_takes_the_plain_path(void **state)
{
    (void)state;
    const char *path = FAKE_CUDA_DIR "/libfake_cuda_nopools.so";
    void *handle;
    fake_cuda_state *fs = fake_state(path, &handle);
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu;
    assert_int_equal(open_cuda(gov, path, 0, 0, &gpu), MEMGOV_OK);
    assert_int_equal(stats_of(gpu).stream_ordered, 0);
    assert_int_equal(fs->pool_created, 0);
    void *p = memgov_gpu_malloc(memgov_gpu_budget(gpu), MiB, NULL);
    assert_int_equal(fs->plain_allocs, 1);
    assert_int_equal(memgov_gpu_free(memgov_gpu_budget(gpu), p, NULL), MEMGOV_OK);
    close_all(gpu, gov);
    dlclose(handle);
}

/* ---- PyTorch's pluggable allocator functions ---------------------------------------------------------------- */

static void test_torch_shim_returns_null_on_refusal_and_never_fails_a_free(void **state)
{
    (void)state;
    memgov *gov = open_gov(NULL);
    memgov_gpu *gpu = open_sim(gov, 64 * MiB, 8 * MiB);
    memgov_budget *b = memgov_gpu_budget(gpu);
    assert_null(memgov_gpu_torch_malloc(MiB, 3, NULL)); /* nothing bound */
    assert_int_equal(memgov_last_status(), MEMGOV_ESTATE);
    assert_int_equal(memgov_gpu_torch_bind(3, memgov_root(gov)), MEMGOV_EINVAL);
    assert_int_equal(memgov_gpu_torch_bind(MEMGOV_GPU_TORCH_DEVICES, b), MEMGOV_ERANGE);
    assert_int_equal(memgov_gpu_torch_bind(3, b), MEMGOV_OK);
    void *p = memgov_gpu_torch_malloc(6 * MiB, 3, NULL);
    assert_non_null(p);
    assert_null(memgov_gpu_torch_malloc(4 * MiB, 3, NULL)); /* refused: NULL (torch's MemPool raises OOM) */
    assert_non_null(strstr(memgov_last_error(), "budget 'sim0' refused"));
    assert_null(memgov_gpu_torch_malloc(-1, 3, NULL));
    assert_int_equal(memgov_gpu_torch_bind(3, NULL), MEMGOV_EBUSY); /* torch still holds a block */
    memgov_gpu_torch_free((char *)p + 8, 6 * MiB, 3, NULL); /* not a block: nothing happens, nothing raised */
    memgov_gpu_torch_free(NULL, 0, 3, NULL);
    memgov_gpu_torch_free(p, 6 * MiB, -1, NULL);
    assert_int_equal(stats_of(gpu).used, 6 * MiB);
    memgov_gpu_torch_free(p, 6 * MiB, 3, NULL);
    assert_int_equal(stats_of(gpu).used, 0);
    assert_int_equal(memgov_gpu_torch_bind(3, NULL), MEMGOV_OK);
    close_all(gpu, gov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_limit_is_the_device_total),
        cmocka_unit_test(test_gpu_limit_percentage_is_of_the_device),
        cmocka_unit_test(test_cap_refuses_with_device_budget_limit_use_request),
        cmocka_unit_test(test_child_budgets_cap_and_roll_up),
        cmocka_unit_test(test_host_and_device_budgets_do_not_mix),
        cmocka_unit_test(test_size_zero_and_beyond_the_device),
        cmocka_unit_test(test_reclaim_runs_then_one_retry),
        cmocka_unit_test(test_device_refusal_trims_reclaims_retries_once),
        cmocka_unit_test(test_soft_limit_events),
        cmocka_unit_test(test_reserve_and_release),
        cmocka_unit_test(test_close_busy_and_names),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_failed_open_leaves_nothing),
        cmocka_unit_test(test_monitor_metrics),
        cmocka_unit_test(test_fallback_pressure_includes_the_device_when_the_key_says),
        cmocka_unit_test(test_device_refusal_reaches_the_fallback_machine),
        cmocka_unit_test(test_run_with_batcher_halves_on_device_refusals),
        cmocka_unit_test(test_cuda_without_driver_is_unsupported),
        cmocka_unit_test(test_cuda_library_lacking_a_symbol),
        cmocka_unit_test(test_cuda_driver_without_device),
        cmocka_unit_test(test_cuda_fake_device_caps_and_refusals),
        cmocka_unit_test(test_cuda_device_without_pools_takes_the_plain_path),
        cmocka_unit_test(test_torch_shim_returns_null_on_refusal_and_never_fails_a_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

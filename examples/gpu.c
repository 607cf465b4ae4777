/* Device budgets (memgov/gpu.h): a capped budget for a GPU, a model's budget below it, a reclaim callback standing
 * for a framework's "empty cache", and the refusal a too-large batch gets. Runs on the simulated device so that it
 * works on any machine; on a machine with an NVIDIA driver, MEMGOV_GPU_CUDA gives the real device instead (the
 * example tries it first and says why it fell back).
 *
 *   cc gpu.c $(pkg-config --cflags --libs memgov) && ./a.out */
#include <stdio.h>

#include "memgov.h"

#define MiB ((uint64_t)1 << 20)

/* The "cache" a framework keeps: one block it can give back when memgov asks. */
typedef struct cache {
    memgov_budget *budget;
    void *block;
    uint64_t bytes;
} cache;

static uint64_t empty_cache(memgov_budget *refusing, uint64_t needed, void *user)
{
    cache *c = user;
    if (c->block == NULL)
        return 0;
    printf("reclaim: budget '%s' needs %llu more bytes: emptying the cache (%llu bytes)\n",
           memgov_budget_name(refusing), (unsigned long long)needed, (unsigned long long)c->bytes);
    memgov_gpu_free(c->budget, c->block, NULL);
    c->block = NULL;
    return c->bytes;
}

int main(void)
{
    memgov *gov = NULL;
    if (memgov_open(NULL, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_gpu_options o;
    memgov_gpu_options_init(&o);
    o.limit = 256 * MiB; /* the device budget's cap (else the key gpu.limit, e.g. "80%" of the device) */
    memgov_gpu *gpu = NULL;
    if (memgov_gpu_open(gov, MEMGOV_GPU_CUDA, 0, &o, &gpu) != MEMGOV_OK) {
        printf("CUDA not available (%s): using the simulated device\n", memgov_last_error());
        o.sim_total = 1024 * MiB;
        if (memgov_gpu_open(gov, MEMGOV_GPU_SIMULATED, 0, &o, &gpu) != MEMGOV_OK) {
            fprintf(stderr, "memgov_gpu_open: %s\n", memgov_last_error());
            return 1;
        }
    }
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "model";
    bo.hard_limit = 192 * MiB;
    memgov_budget *model = NULL;
    memgov_budget_create(memgov_gpu_budget(gpu), &bo, &model);

    cache c = {model, memgov_gpu_malloc(model, 64 * MiB, NULL), 64 * MiB};
    memgov_budget_add_reclaim(model, empty_cache, &c, 0, NULL);
    void *weights = memgov_gpu_malloc(model, 100 * MiB, NULL);
    void *batch = memgov_gpu_malloc(model, 80 * MiB, NULL); /* needs the cache's 64 MiB: reclaimed, then fits */
    printf("batch of 80 MiB: %s\n", batch != NULL ? "allocated after the reclaim" : memgov_last_error());
    void *big = memgov_gpu_malloc(model, 64 * MiB, NULL); /* nothing left to reclaim: refused */
    printf("batch of 64 MiB more: %s\n", big != NULL ? "allocated" : memgov_last_error());

    memgov_gpu_stats s = {.struct_size = sizeof s};
    memgov_gpu_get_stats(gpu, &s);
    char used[24], limit[24], total[24];
    memgov_format_bytes(s.used, used, sizeof used);
    memgov_format_bytes(s.hard_limit, limit, sizeof limit);
    memgov_format_bytes(s.device_total, total, sizeof total);
    printf("%s (%s): %s used of the %s cap, device total %s, %llu refusal(s)\n", memgov_budget_name(memgov_gpu_budget(gpu)),
           s.device, used, limit, total, (unsigned long long)(s.limit_refusals + s.device_refusals));

    memgov_gpu_free(model, batch, NULL);
    memgov_gpu_free(model, weights, NULL);
    memgov_gpu_free(model, big, NULL);
    memgov_budget_destroy(model);
    int ok = memgov_gpu_close(gpu) == MEMGOV_OK && memgov_close(gov) == MEMGOV_OK && batch != NULL && big == NULL;
    return ok ? 0 : 1;
}

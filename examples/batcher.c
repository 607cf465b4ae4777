/* AIMD batcher: a training loop whose batches fit only up to 300 items (a simulated memory limit) finds that
 * size by itself, and follows the limit when it rises to 900. Build: see examples/meson.build. */
#include <stdio.h>

#include "memgov.h"
#include "memgov/chunk.h"

static uint64_t limit = 300;

/* One step of the "training loop": refused when the batch does not fit. */
static memgov_status train_step(uint64_t batch)
{
    return batch <= limit ? MEMGOV_OK : MEMGOV_ENOMEM;
}

int main(void)
{
    memgov_batcher_options o;
    memgov_batcher_options_init(&o);
    o.min = 1;
    o.max = 4096;
    o.step = 32;
    memgov_batcher *b = NULL;
    if (memgov_batcher_create(&o, &b) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    uint64_t best = 0; /* the largest batch that fitted in the last 40 steps */
    for (int step = 0; step < 400; step++) {
        if (step == 200)
            limit = 900; /* another process exits: more memory */
        uint64_t batch = memgov_batcher_next(b);
        if (train_step(batch) == MEMGOV_OK) {
            memgov_batcher_success(b, batch);
            best = batch > best ? batch : best;
        } else
            memgov_batcher_refused(b, batch);
        if (step % 40 == 39) {
            printf("steps %3d..%3d: largest batch that fitted %4llu (limit %llu)\n", step - 39, step,
                   (unsigned long long)best, (unsigned long long)limit);
            if (step < 399)
                best = 0;
        }
    }
    memgov_batcher_stats st = {.struct_size = sizeof st};
    memgov_batcher_get_stats(b, &st);
    printf("%llu successes, %llu refusals (probes of the size above, and the first climb)\n",
           (unsigned long long)st.successes, (unsigned long long)st.refusals);
    memgov_batcher_destroy(b);
    return best == 900 ? 0 : 1;
}

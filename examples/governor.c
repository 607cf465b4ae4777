/* examples/governor.c — a batch job that degrades instead of dying (docs/governor.md).
 *
 * The governor is opened from a small configuration: a 64 MiB root, batch.max 32 normally, 8 in LIGHT mode and
 * 2 in MINIMAL. The job allocates batch.max blocks of 4 MiB from its budget; the first attempt is refused (32
 * blocks do not fit), the refusal moves the governor to LIGHT, and memgov_run_with_fallback() runs the job again
 * with the LIGHT overlay's batch size. Build: cc governor.c $(pkg-config --cflags --libs memgov) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <memgov.h>

#define MiB (1024u * 1024u)

static const char config[] = "root.limit = 64MiB\n"
                             "batch.max = 32\n"
                             "[mode.light]\n"
                             "batch.max = 8\n"
                             "[mode.minimal]\n"
                             "batch.max = 2\n";

typedef struct job {
    memgov *gov;
    memgov_budget *budget;
} job;

static memgov_status run_batch(memgov_mode mode, void *ctx)
{
    job *j = ctx;
    uint64_t batch = 0;
    memgov_config_get_unsigned(memgov_governor_config(j->gov), "batch.max", &batch);
    printf("attempt in %s mode with batch.max = %llu\n", memgov_mode_name(mode), (unsigned long long)batch);
    void *blocks[32] = {0};
    memgov_status st = MEMGOV_OK;
    for (uint64_t i = 0; i < batch && i < 32; i++) {
        if ((blocks[i] = memgov_malloc(j->budget, 4 * MiB)) == NULL) {
            st = memgov_last_status();
            printf("  refused: %s\n", memgov_last_error());
            break;
        }
    }
    for (int i = 0; i < 32; i++)
        memgov_free(j->budget, blocks[i]);
    return st;
}

int main(void)
{
    char path[] = "/tmp/memgov-example-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, config, sizeof config - 1) != (ssize_t)(sizeof config - 1))
        return 1;
    close(fd);

    memgov_options o;
    memgov_options_init(&o);
    o.config_file = path;
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov;
    memgov_status st = memgov_open(&o, &gov);
    unlink(path);
    if (st != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "batches";
    job j = {.gov = gov};
    if (memgov_budget_create(memgov_root(gov), &bo, &j.budget) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        memgov_close(gov);
        return 1;
    }
    memgov_fallback_run_result r = {.struct_size = sizeof r};
    st = memgov_run_with_fallback(gov, run_batch, &j, NULL, &r);
    printf("%s after %u attempt(s); the governor is in %s mode\n", memgov_status_name(st), r.attempts,
           memgov_mode_name(memgov_fallback_mode(memgov_governor_fallback(gov))));
    memgov_budget_destroy(j.budget);
    memgov_close(gov);
    return st == MEMGOV_OK ? 0 : 1;
}

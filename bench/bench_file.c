/* malloc/free on a file-backed budget (memgov/memmap.h) against a RAM budget, small and large blocks; and a RAM
 * budget with a spill target set (nothing spills) to show what the spill check adds to the free path. The loop is
 * bench_alloc's: batches of blocks of one size, each touched on its first byte, then freed; ns per pair. Each
 * (contender, size) is measured REPEATS times for about 0.2 s and the median is printed with the file/RAM ratio.
 * One thread. The file lives in $TMPDIR, else /var/tmp (or argv[1]).
 *
 * usage: bench_file [DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memgov.h"

#define REPEATS 5
#define TARGET_NS 200000000.0

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per malloc+free pair over `rounds` batches of `batch` blocks of `size` bytes. */
static double run(memgov_budget *b, size_t size, int batch, long rounds)
{
    void *blocks[32];
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < batch; i++) {
            if ((blocks[i] = memgov_malloc(b, size)) == NULL) {
                fprintf(stderr, "bench_file: %s\n", memgov_last_error());
                exit(1);
            }
            *(volatile char *)blocks[i] = 1;
        }
        for (int i = 0; i < batch; i++)
            memgov_free(b, blocks[i]);
    }
    return (now_ns() - t0) / (double)(rounds * batch);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_ns(memgov_budget *b, size_t size, int batch)
{
    long rounds = 1;
    double per = run(b, size, batch, 10); /* warm-up and calibration */
    rounds = (long)(TARGET_NS / (per * batch)) + 1;
    double v[REPEATS];
    for (int i = 0; i < REPEATS; i++)
        v[i] = run(b, size, batch, rounds);
    qsort(v, REPEATS, sizeof v[0], cmp);
    return v[REPEATS / 2];
}

int main(int argc, char **argv)
{
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 8ull << 30;
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov;
    memgov_budget *ram, *spilling, *file;
    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.hard_limit = 2ull << 30;
    bo.flags = MEMGOV_BUDGET_OWN_ARENA;
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.dir = argc > 1 ? argv[1] : NULL;
    if (memgov_open(&o, &gov) != MEMGOV_OK || (bo.name = "ram", memgov_budget_create(memgov_root(gov), &bo, &ram)) ||
        (bo.name = "ram+spill", memgov_budget_create(memgov_root(gov), &bo, &spilling)) ||
        (bo.name = "file", memgov_file_budget_create(memgov_root(gov), &bo, &fo, &file)) ||
        memgov_budget_set_spill(spilling, file, 0) != MEMGOV_OK) {
        fprintf(stderr, "bench_file: %s\n", memgov_last_error());
        return 1;
    }
    memgov_file_budget_stats fs = {.struct_size = sizeof fs};
    memgov_file_budget_get_stats(file, &fs);
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la != NULL) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
    printf("bench_file: one thread, median of %d runs of ~0.2 s, ns per malloc+free pair (first byte touched); file "
           "in %s; load average %.2f %.2f %.2f\n\n", REPEATS, fs.dir, load[0], load[1], load[2]);
    printf("%10s %6s %12s %12s %12s %10s %12s\n", "size", "batch", "ram", "ram+spill", "file", "file/ram",
           "spill/ram");
    size_t sizes[] = {64, 4096, 64 << 10, 1 << 20, 16 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int batch = sizes[i] >= (1 << 20) ? 4 : 32;
        double r = median_ns(ram, sizes[i], batch), s = median_ns(spilling, sizes[i], batch),
               f = median_ns(file, sizes[i], batch);
        printf("%10zu %6d %12.1f %12.1f %12.1f %9.2fx %11.3fx\n", sizes[i], batch, r, s, f, f / r, s / r);
    }
    memgov_spill_stats ss = {.struct_size = sizeof ss};
    memgov_spill_get_stats(spilling, &ss);
    if (ss.spilled != 0) {
        fprintf(stderr, "bench_file: the ram+spill budget spilled %llu blocks\n", (unsigned long long)ss.spilled);
        return 1;
    }
    return 0;
}

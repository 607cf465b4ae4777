/* The malloc/free loop that bench/bench_run.py runs through libmemgov-preload.so, glibc and Debian's jemalloc
 * (LD_PRELOAD): a batch of 32 blocks of one size is allocated (each touched), then freed, ROUNDS times per size.
 * Prints one line per size: "SIZE NS_PER_PAIR". The program calls plain malloc/free: whichever allocator the
 * process has answers. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH 32

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    static const size_t sizes[] = {16, 64, 256, 1024, 4096};
    void *volatile blocks[BATCH];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int warm = 0; warm < 1000; warm++)
            for (int i = 0; i < BATCH; i++)
                free(malloc(sizes[s]));
        double t0 = now_ns();
        for (long r = 0; r < rounds; r++) {
            for (int i = 0; i < BATCH; i++) {
                char *p = malloc(sizes[s]);
                p[0] = (char)i;
                blocks[i] = p;
            }
            for (int i = 0; i < BATCH; i++)
                free(blocks[i]);
        }
        printf("%zu %.2f\n", sizes[s], (now_ns() - t0) / ((double)rounds * BATCH));
    }
    return 0;
}

/* The benchmarks' clock and the comparison for sorting samples to take their median. */
#ifndef MG_BENCH_TIMING_H
#define MG_BENCH_TIMING_H

#include <time.h>

static inline double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* qsort's comparison of doubles, ascending. */
static inline int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif

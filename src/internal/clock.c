/* The default clock and sleep; see clock.h. */
#include <errno.h>
#include <time.h>

#include "internal/clock.h"

uint64_t mg_monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mg_sleep_ns(uint64_t ns, void *ctx)
{
    (void)ctx;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

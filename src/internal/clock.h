/* Internal: the default clock of the parts that take an injectable one (docs/design.md 4.10). */
#ifndef MG_INTERNAL_CLOCK_H
#define MG_INTERNAL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds; the signature of the options' clock_ns fields (ctx is ignored). */
uint64_t mg_monotonic_ns(void *ctx);

/* Sleeps ns nanoseconds (CLOCK_MONOTONIC, resumed after signals); the signature of the sleep_ns fields. */
void mg_sleep_ns(uint64_t ns, void *ctx);

#endif

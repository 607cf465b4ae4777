/* Internal to libmemgov-preload.so (src/preload): what preload.c (the allocation functions) and report.c (the
 * exit record, the mode hooks) share. */
#ifndef MG_PRELOAD_H
#define MG_PRELOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "memgov/governor.h"

/* memgov's own allocations (raw.h maps malloc & co. of memgov's sources to these in this build): uncharged. */
void *mg_raw_malloc(size_t size);
void *mg_raw_calloc(size_t count, size_t size);
void *mg_raw_realloc(void *ptr, size_t size);
void mg_raw_free(void *ptr);
char *mg_raw_strdup(const char *s);
int mg_raw_posix_memalign(void **out, size_t align, size_t size);
void *mg_raw_aligned_alloc(size_t align, size_t size);
/* pthread_create for memgov's threads: everything the new thread allocates is uncharged. */
int mg_raw_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* Brackets code whose allocations must be uncharged (nestable; per thread). */
void mg_preload_raw_enter(void);
void mg_preload_raw_leave(void);

/* Raw blocks (allocated before the governor was open) freed by the program since, and foreign pointers (not from
 * this jemalloc) given to free or realloc. */
extern _Atomic uint64_t mg_preload_early_frees, mg_preload_foreign_frees;

/* After the governor is open, before the first charged allocation: the listeners that feed the exit record, the
 * mode hooks (run.on_mode_change, run.mode_file) and the monitor's thread. Called raw. */
void mg_preload_report_start(memgov *gov);

/* A message on stderr, formatted into a stack buffer (no allocation). */
void mg_preload_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

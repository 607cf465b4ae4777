/* Internal, for the preload library's build of memgov's sources only (forced in with -include by
 * src/preload/meson.build): memgov's own allocations in a governed process go to the private jemalloc without
 * being charged (they are the governor's bookkeeping, and charging them could re-enter the governor while it
 * holds its locks), and the threads memgov starts (the monitor's sampler) allocate uncharged too, whatever
 * library they call. preload.c defines these functions. */
#ifndef MG_PRELOAD_RAW_H
#define MG_PRELOAD_RAW_H

#include "preload/preload.h"

#define malloc(n) mg_raw_malloc(n)
#define calloc(n, s) mg_raw_calloc(n, s)
#define realloc(p, n) mg_raw_realloc(p, n)
#define free(p) mg_raw_free(p)
#define strdup(s) mg_raw_strdup(s)
#define posix_memalign(o, a, n) mg_raw_posix_memalign(o, a, n)
#define aligned_alloc(a, n) mg_raw_aligned_alloc(a, n)
#define pthread_create(t, a, f, x) mg_raw_thread_create(t, a, f, x)

#endif

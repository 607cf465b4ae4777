/* Internal, for tests: fault injection. A test arms a site so that, after `skip` more passes, the next `count`
 * operations of that site fail; the code under test asks mg_fault_hit() just before the real operation and takes
 * its failure path when it answers true. Sites are shared by every component (allocator, OS calls, file I/O,
 * GPU). Unarmed, a check costs one relaxed atomic load. The state is process-wide. */
#ifndef MG_INTERNAL_FAULT_H
#define MG_INTERNAL_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>

typedef enum mg_fault_site {
    MG_FAULT_ALLOC = 0,  /* the allocator backend (jemalloc mallocx/rallocx, or the C library in libc builds) */
    MG_FAULT_OS_CALL,    /* system calls: mmap, fallocate, sysconf, ... */
    MG_FAULT_FILE_IO,    /* file opens, reads and writes */
    MG_FAULT_GPU,        /* GPU backend calls */
    MG_FAULT_SITE_COUNT_
} mg_fault_site;

/* Makes operations skip+1 .. skip+count of `site` (counted from now) fail. count 0 disarms the site. */
void mg_fault_arm(mg_fault_site site, unsigned skip, unsigned count);

/* Disarms every site. */
void mg_fault_disarm_all(void);

/* How many failures the site has injected since it was last armed. */
unsigned mg_fault_injected(mg_fault_site site);

extern _Atomic unsigned mg_fault_armed_[MG_FAULT_SITE_COUNT_];
/* Called (when set) whenever a site is armed or runs out, for a fast path that does not ask mg_fault_hit() and
 * must switch itself off while its site is armed (the budget allocation fast path). */
extern void (*_Atomic mg_fault_changed_)(void);
bool mg_fault_hit_slow_(mg_fault_site site);

/* True if this operation of `site` must fail. */
static inline bool mg_fault_hit(mg_fault_site site)
{
    if (atomic_load_explicit(&mg_fault_armed_[site], memory_order_relaxed) == 0)
        return false;
    return mg_fault_hit_slow_(site);
}

#endif

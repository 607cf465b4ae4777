/* libmemgov-preload.so: the C allocation functions of an unmodified program, charged to the process default
 * governor's root budget over the library's own jemalloc (docs/run.md). `memgov run` loads it with LD_PRELOAD.
 *
 * Three kinds of pointer reach free() and realloc(), told apart by jemalloc's own address map (mgje_owner):
 * - governed blocks: from the root budget's arena, charged in usable bytes, freed with memgov_free() (which
 *   credits them exactly, whichever thread frees them);
 * - raw blocks: from jemalloc's automatic arenas, uncharged: everything allocated before the governor is open
 *   (ld.so, libc and the libraries initialised before this one), memgov's own bookkeeping (raw.h) and anything a
 *   thread allocates while memgov is working for it (event listeners, reports, the monitor's thread);
 * - foreign pointers, which this jemalloc never handed out (ld.so's minimal malloc, garbage): free() leaves them
 *   alone and counts them; realloc() copies what is readable into a new block.
 * No dlsym, no call into another malloc: nothing here can recurse into a bootstrap. The thread-local state is
 * initial-exec (see meson.build). */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "budget/budget_internal.h"
#include "internal/je.h"
#include "preload/preload.h"

#define EXPORT __attribute__((visibility("default")))

size_t mgje_owner(const void *ptr, unsigned *arena);

static _Atomic(memgov_budget *) root; /* NULL until the governor is open (then for good) */
static _Atomic unsigned root_arena = ~0u;
static _Thread_local unsigned raw_depth; /* > 0: this thread allocates uncharged */
_Atomic uint64_t mg_preload_early_frees, mg_preload_foreign_frees;

static inline memgov_budget *governing(void)
{
    memgov_budget *r = atomic_load_explicit(&root, memory_order_acquire);
    return raw_depth == 0 ? r : NULL;
}

static inline void *enomem_if_null(void *p)
{
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

void mg_preload_raw_enter(void)
{
    raw_depth++;
}

void mg_preload_raw_leave(void)
{
    raw_depth--;
}

/* ---- the three kinds ----------------------------------------------------------------------------------------- */

typedef enum { FOREIGN, RAW, GOVERNED } kind;

static inline kind kind_of(const void *ptr, size_t *usable)
{
    unsigned arena;
    *usable = mgje_owner(ptr, &arena);
    if (*usable == 0)
        return FOREIGN;
    return arena == atomic_load_explicit(&root_arena, memory_order_relaxed) ? GOVERNED : RAW;
}

/* A charged call (memgov may run listeners, which allocate: those allocations are raw). */
#define CHARGED(expr)                                                                                              \
    ({                                                                                                             \
        raw_depth++;                                                                                               \
        __typeof__(expr) r_ = (expr);                                                                              \
        raw_depth--;                                                                                               \
        r_;                                                                                                        \
    })

static void *alloc_aligned(size_t align, size_t size)
{
    memgov_budget *r = governing();
    if (r != NULL)
        return enomem_if_null(CHARGED(memgov_aligned_alloc(r, align, size)));
    return enomem_if_null(mgje_mallocx(size == 0 ? 1 : size, MALLOCX_ALIGN(align)));
}

static void do_free(void *ptr)
{
    if (ptr == NULL)
        return;
    size_t usable;
    switch (kind_of(ptr, &usable)) {
    case GOVERNED:
        raw_depth++;
        memgov_free(atomic_load_explicit(&root, memory_order_relaxed), ptr);
        raw_depth--;
        break;
    case RAW:
        if (raw_depth == 0 && atomic_load_explicit(&root, memory_order_relaxed) != NULL)
            atomic_fetch_add_explicit(&mg_preload_early_frees, 1, memory_order_relaxed);
        mgje_dallocx(ptr, 0);
        break;
    case FOREIGN:
        atomic_fetch_add_explicit(&mg_preload_foreign_frees, 1, memory_order_relaxed);
        break;
    }
}

/* The bytes from p on that are mapped, up to `want` (a foreign block's size is unknown). */
static size_t readable_bytes(const void *p, size_t want)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~((uintptr_t)page - 1), end = (uintptr_t)p + want;
    unsigned char v;
    uintptr_t a = start;
    while (a < end && mincore((void *)a, (size_t)page, &v) == 0)
        a += (uintptr_t)page;
    return a >= end ? want : (a > (uintptr_t)p ? a - (uintptr_t)p : 0);
}

static void *do_malloc(size_t size);

static void *do_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return do_malloc(size);
    if (size == 0) { /* glibc's behaviour */
        do_free(ptr);
        return NULL;
    }
    size_t old;
    kind k = kind_of(ptr, &old);
    if (k == GOVERNED)
        return enomem_if_null(CHARGED(memgov_realloc(atomic_load_explicit(&root, memory_order_relaxed), ptr, size)));
    if (k == RAW && governing() == NULL)
        return enomem_if_null(mgje_rallocx(ptr, size, 0));
    /* A raw block the governed program grows becomes a charged one; a foreign one is copied and left alone. */
    void *q = do_malloc(size);
    if (q == NULL)
        return NULL;
    if (k == RAW) {
        memcpy(q, ptr, old < size ? old : size);
        do_free(ptr);
    } else {
        memcpy(q, ptr, readable_bytes(ptr, size));
        atomic_fetch_add_explicit(&mg_preload_foreign_frees, 1, memory_order_relaxed);
    }
    return q;
}

static void *do_malloc(size_t size)
{
    memgov_budget *r = governing();
    if (r != NULL)
        return enomem_if_null(CHARGED(memgov_malloc(r, size)));
    return enomem_if_null(mgje_malloc(size == 0 ? 1 : size));
}

static bool power_of_two(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

/* ---- the exported functions ------------------------------------------------------------------------------- */

EXPORT void *malloc(size_t size)
{
    return do_malloc(size);
}

EXPORT void free(void *ptr)
{
    do_free(ptr);
}

EXPORT void *calloc(size_t count, size_t size)
{
    if (count != 0 && size > SIZE_MAX / count) {
        errno = ENOMEM;
        return NULL;
    }
    memgov_budget *r = governing();
    if (r != NULL)
        return enomem_if_null(CHARGED(memgov_calloc(r, count, size)));
    size_t n = count * size;
    return enomem_if_null(mgje_calloc(1, n == 0 ? 1 : n));
}

EXPORT void *realloc(void *ptr, size_t size)
{
    return do_realloc(ptr, size);
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
    if (count != 0 && size > SIZE_MAX / count) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(ptr, count * size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(align, size);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up to one. (Up to 8 bytes every block has
 * it; a block of less than 16 bytes may have no more than 8.) */
EXPORT void *memalign(size_t align, size_t size)
{
    if (align <= 8)
        return do_malloc(size);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!power_of_two(align))
        align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
    return alloc_aligned(align, size);
}

EXPORT void *valloc(size_t size)
{
    return alloc_aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(page, size == 0 ? page : (size + page - 1) & ~(page - 1));
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    size_t usable;
    return ptr == NULL || kind_of(ptr, &usable) == FOREIGN ? 0 : usable;
}

/* glibc's internal names, which some programs and libraries call directly. */
EXPORT void *__libc_malloc(size_t size) __attribute__((alias("malloc"), copy(malloc)));
EXPORT void __libc_free(void *ptr) __attribute__((alias("free"), copy(free)));
EXPORT void *__libc_calloc(size_t count, size_t size) __attribute__((alias("calloc"), copy(calloc)));
EXPORT void *__libc_realloc(void *ptr, size_t size) __attribute__((alias("realloc"), copy(realloc)));
EXPORT void *__libc_memalign(size_t align, size_t size) __attribute__((alias("memalign"), copy(memalign)));
EXPORT void *__libc_valloc(size_t size) __attribute__((alias("valloc"), copy(valloc)));
EXPORT void *__libc_pvalloc(size_t size) __attribute__((alias("pvalloc"), copy(pvalloc)));
EXPORT int __posix_memalign(void **out, size_t align, size_t size) __attribute__((alias("posix_memalign"), copy(posix_memalign)));

/* ---- memgov's own allocations (raw.h) --------------------------------------------------------------------- */

#define RAW_CALL(expr)                                                                                             \
    ({                                                                                                             \
        raw_depth++;                                                                                               \
        __typeof__(expr) r_ = (expr);                                                                              \
        raw_depth--;                                                                                               \
        r_;                                                                                                        \
    })

void *mg_raw_malloc(size_t size)
{
    return RAW_CALL(do_malloc(size));
}

void *mg_raw_calloc(size_t count, size_t size)
{
    return RAW_CALL(calloc(count, size));
}

void *mg_raw_realloc(void *ptr, size_t size)
{
    return RAW_CALL(do_realloc(ptr, size));
}

void mg_raw_free(void *ptr)
{
    do_free(ptr);
}

char *mg_raw_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mg_raw_malloc(n);
    return p != NULL ? memcpy(p, s, n) : NULL;
}

int mg_raw_posix_memalign(void **out, size_t align, size_t size)
{
    return RAW_CALL(posix_memalign(out, align, size));
}

void *mg_raw_aligned_alloc(size_t align, size_t size)
{
    return RAW_CALL(aligned_alloc(align, size));
}

typedef struct raw_thread {
    void *(*fn)(void *);
    void *arg;
} raw_thread;

static void *raw_thread_main(void *p)
{
    raw_thread t = *(raw_thread *)p;
    mg_raw_free(p);
    raw_depth = 1; /* for the thread's whole life */
    return t.fn(t.arg);
}

int mg_raw_thread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    raw_thread *t = mg_raw_malloc(sizeof *t);
    if (t == NULL)
        return EAGAIN;
    t->fn = fn;
    t->arg = arg;
    int rc = RAW_CALL(pthread_create(thread, attr, raw_thread_main, t));
    if (rc != 0)
        mg_raw_free(t);
    return rc;
}

/* ---- start --------------------------------------------------------------------------------------------------- */

/* Runs when ld.so initialises this library, after libc and before the program's main: opens the default governor
 * (configuration from MEMGOV_* and MEMGOV_CONFIG_FILE), then charges every allocation from here on. If the
 * governor cannot be opened the program runs uncapped, after a message on stderr. */
__attribute__((constructor)) static void preload_start(void)
{
    raw_depth++;
    memgov *gov = memgov_default();
    if (gov == NULL) {
        mg_preload_say("memgov-preload: no cap for this process: %s\n", memgov_last_error());
    } else {
        memgov_budget *r = memgov_root(gov);
        /* Governed blocks are told by their arena (kind_of), so the root keeps its one arena: no shards
         * (budget_internal.h; nothing has allocated from the root yet). */
        r->single_arena = true;
        atomic_store_explicit(&root_arena, r->arena, memory_order_relaxed);
        mg_preload_report_start(gov);
        atomic_store_explicit(&root, r, memory_order_release);
    }
    raw_depth--;
}

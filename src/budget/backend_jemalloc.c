/* The allocation backend of -Dalloc_backend=jemalloc (the default): the private jemalloc with one explicit
 * tcache per (thread, arena), arenas pooled. Chosen in src/meson.build; the interface is backend.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/backend.h"
#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/fault.h"
#include "internal/grow.h"
#include "internal/je.h"

/* ---- the private jemalloc's options ---------------------------------------------------------------------- */

/* Compiled-in run-time options of the private jemalloc (its `malloc_conf` symbol, read at its initialisation;
 * MGJE_MALLOC_CONF in the environment still overrides each one). Chosen by measurement for 16 B .. 64 KiB
 * (docs/design.md 4.18, docs/benchmarks.md "Thread-cache tuning"): thread caches hold the large classes up to
 * 64 KiB too (jemalloc's default stops at 32 KiB: above, every block took the arena's locks), and every bin holds at
 * least MG_JE_SLOTS blocks (jemalloc's defaults, 20 for the classes of 4 KiB and up, made a batch of 32 flush and
 * refill the bin through the arena on every round); the thread-cache GC runs every 256 KiB a thread allocates
 * instead of every 64 KiB (at 64 KiB blocks it ran at every allocation). The fast path's tables follow tcache_max
 * (classes_fill). */
#define MG_JE_SLOTS 64
#define MG_JE_STR_(x) #x
#define MG_JE_STR(x) MG_JE_STR_(x)
const char *mgje_malloc_conf = "tcache_max:65536,tcache_nslots_small_min:" MG_JE_STR(MG_JE_SLOTS)
                               ",tcache_nslots_large:" MG_JE_STR(MG_JE_SLOTS) ",tcache_gc_incr_bytes:262144";

/* ---- size classes ---------------------------------------------------------------------------------------- */

mg_class mg_size_class[MG_FAST_SMALL / 8 + 1];
mg_class mg_size_class_big[MG_FAST_MAX / 1024 + 1];
uint32_t mg_index_usable[MG_FAST_CLASSES];
_Atomic size_t mg_fast_max;
static size_t classes_max; /* the largest size the tables serve: 0, MG_FAST_SMALL or MG_FAST_MAX */
/* mg_backend_init's arguments (every call passes the same). */
static _Atomic bool plain_stocks;
static void (*_Atomic thread_flushed)(void);
static pthread_once_t classes_once = PTHREAD_ONCE_INIT;

static void fast_gate(void)
{
    bool on = atomic_load(&plain_stocks) &&
              atomic_load_explicit(&mg_fault_armed_[MG_FAULT_ALLOC], memory_order_relaxed) == 0;
    atomic_store_explicit(&mg_fast_max, on ? classes_max : 0, memory_order_relaxed);
}

/* The class of every size in (step(k-1), step k] (k = 0: the size 1), or false if they do not share one that
 * nallocx and the glue agree on. */
static bool class_of(size_t k, size_t step, mg_class *c)
{
    size_t first = k == 0 ? 1 : k * step - step + 1, last = k == 0 ? 1 : k * step, u, u_first;
    size_t n = mgje_nallocx(last, 0), n_first = mgje_nallocx(first, 0);
    unsigned index = mgje_fast_index(last, &u), index_first = mgje_fast_index(first, &u_first);
    if (n != n_first || n != u || u != u_first || index != index_first || index == ~0u)
        return false;
    c->usable = (uint32_t)n;
    c->index = index;
    mg_index_usable[index] = (uint32_t)n;
    return true;
}

/* The glue's layout of the tcache bins matches mg_je_bin (internal/je.h), and jemalloc lets the fast path pop
 * inline. */
static bool bins_mirrored(void)
{
    size_t l[6];
    int ok = mgje_fast_bin_layout(l);
    return ok && l[0] == MG_JE_BINS_OFFSET && l[1] == MG_JE_BIN_SIZE && l[2] == offsetof(mg_je_bin, head) &&
           l[3] == offsetof(mg_je_bin, nrequests) && l[4] == offsetof(mg_je_bin, low_water) &&
           l[5] == offsetof(mg_je_bin, full);
}

/* The glue's geometry of a thread's rtree cache matches the inline free's (mg_je_rtree_elm, internal/je.h), and
 * every class thread caches hold fits mg_index_usable. */
static bool rtree_mirrored(void)
{
    size_t g[10];
    int ok = mgje_fast_rtree_layout(g);
    return ok && g[0] == MG_JE_RTREE_NCACHE && g[1] == MG_JE_RTREE_KEY_BITS && g[2] == MG_JE_LEAF_SHIFT &&
           g[3] == MG_JE_LEAF_BITS && g[4] == MG_JE_SZIND_SHIFT && g[5] == sizeof(uint64_t) &&
           g[6] == sizeof(mg_je_rtree_elm) && g[7] == offsetof(mg_je_rtree_elm, leaf) && g[8] == 0 &&
           g[9] <= MG_FAST_CLASSES;
}

static void classes_fill(void)
{
    /* Every size in (8(k-1), 8k] shares the class of 8k: jemalloc's classes up to MG_FAST_SMALL are multiples of 8;
     * above, every size in (1024(k-1), 1024k] shares the class of 1024k (classes of 2 KiB steps up to 16 KiB, 4 KiB
     * to 32 KiB, 8 KiB to 64 KiB). Checked for the first size of each range too, and against the glue's view of
     * the classes (which ends where jemalloc's thread caches end: tcache_max): a jemalloc built or configured
     * otherwise serves less from the fast path (or nothing: mg_fast_max 0) rather than miscounting; so does one
     * whose tcache bins do not match the fast path's inline pop (bins_mirrored). */
    if (!bins_mirrored() || !rtree_mirrored())
        goto done;
    for (size_t k = 0; k <= MG_FAST_SMALL / 8; k++)
        if (!class_of(k, 8, &mg_size_class[k]))
            goto done;
    classes_max = MG_FAST_SMALL;
    for (size_t k = MG_FAST_SMALL / 1024 + 1; k <= MG_FAST_MAX / 1024; k++)
        if (!class_of(k, 1024, &mg_size_class_big[k]))
            goto done;
    classes_max = MG_FAST_MAX;
done:
    atomic_store(&mg_fault_changed_, fast_gate);
    fast_gate();
}

/* The pool of arenas given back (below). */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned *pool;
static size_t pool_len, pool_cap;
static mg_fork_lock pool_fork; /* pool_lock across fork() (internal/atfork.h) */

static void backend_init(void)
{
    mg_fork_lock_add(&pool_fork, &pool_lock, MG_FORK_RANK_LEAF, NULL, NULL);
    classes_fill();
}

void mg_backend_init(bool stocks_plain, void (*on_thread_flush)(void))
{
    atomic_store(&plain_stocks, stocks_plain);
    atomic_store(&thread_flushed, on_thread_flush);
    pthread_once(&classes_once, backend_init);
}

/* ---- arenas ---------------------------------------------------------------------------------------------- */

/* From the pool, else a new arena (whose creation fails when MG_FAULT_ALLOC is armed). */
static bool arena_new(unsigned *arena)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_len > 0) {
        *arena = pool[--pool_len];
        pthread_mutex_unlock(&pool_lock);
        return true;
    }
    pthread_mutex_unlock(&pool_lock);
    unsigned a;
    size_t len = sizeof a;
    if (mg_fault_hit(MG_FAULT_ALLOC) || mgje_mallctl("arenas.create", &a, &len, NULL, 0) != 0)
        return false;
    *arena = a;
    return true;
}

bool mg_arena_try_acquire(unsigned *arena)
{
    return !mg_fault_hit(MG_FAULT_ALLOC) && arena_new(arena);
}

memgov_status mg_arena_acquire(unsigned *arena)
{
    if (!arena_new(arena))
        return mg_fail(MEMGOV_ENOMEM, "jemalloc could not create an arena for a budget");
    return MEMGOV_OK;
}

void mg_arena_give_back(unsigned arena)
{
    pthread_mutex_lock(&pool_lock);
    unsigned *grown = mg_grow(pool, &pool_cap, pool_len, sizeof *grown, 16);
    if (grown == NULL) { /* the arena stays unused: a few pages, no harm */
        pthread_mutex_unlock(&pool_lock);
        return;
    }
    pool = grown;
    pool[pool_len++] = arena;
    pthread_mutex_unlock(&pool_lock);
}

static uint64_t arena_stat(unsigned arena, const char *leaf)
{
    char name[96];
    size_t v = 0, len = sizeof v;
    snprintf(name, sizeof name, "stats.arenas.%u.%s", arena, leaf);
    if (mgje_mallctl(name, &v, &len, NULL, 0) != 0)
        return 0;
    return v;
}

void mg_arena_stats(const unsigned *arenas, unsigned n, memgov_budget_stats *st)
{
    mg_je_stats_refresh();
    size_t page = 4096, len = sizeof page;
    mgje_mallctl("arenas.page", &page, &len, NULL, 0);
    st->own_arena = 1;
    for (unsigned i = 0; i < n; i++) {
        unsigned a = arenas[i];
        st->arena_allocated += arena_stat(a, "small.allocated") + arena_stat(a, "large.allocated");
        st->arena_active += arena_stat(a, "pactive") * page;
        st->arena_resident += arena_stat(a, "resident");
        st->arena_mapped += arena_stat(a, "mapped");
        st->arena_retained += arena_stat(a, "retained");
    }
}

/* ---- one explicit tcache per (thread, arena) ------------------------------------------------------------- */

#define TCACHE_SLOTS 32
typedef struct tcache_slot {
    unsigned arena;
    unsigned tcache;
} tcache_slot;

/* One thread-local object, so that the fast path resolves one TLS address (global-dynamic model in the .so). */
static _Thread_local struct {
    unsigned count;
    tcache_slot slots[TCACHE_SLOTS];
} tcaches;
static pthread_key_t tcache_key;
static bool tcache_key_ok;
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;

static void tcache_thread_exit(void *unused)
{
    (void)unused;
    mg_backend_thread_flush();
}

static void tcache_key_create(void)
{
    tcache_key_ok = pthread_key_create(&tcache_key, tcache_thread_exit) == 0;
}

/* The slow path: this thread's first block of this arena. Without a cache slot (table full, jemalloc refusing)
 * the thread goes uncached for that arena: slower, still exact. */
static int tcache_flags_slow(unsigned arena)
{
    pthread_once(&tcache_once, tcache_key_create);
    if (!tcache_key_ok || tcaches.count == TCACHE_SLOTS)
        return MALLOCX_TCACHE_NONE;
    unsigned tc;
    size_t len = sizeof tc;
    if (mgje_mallctl("tcache.create", &tc, &len, NULL, 0) != 0)
        return MALLOCX_TCACHE_NONE;
    if (pthread_setspecific(tcache_key, &tcache_key) != 0) {
        mgje_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc);
        return MALLOCX_TCACHE_NONE;
    }
    tcaches.slots[tcaches.count].arena = arena;
    tcaches.slots[tcaches.count].tcache = tc;
    tcaches.count++;
    return MALLOCX_TCACHE(tc);
}

static inline int tcache_flags(unsigned arena)
{
    for (unsigned i = 0; i < tcaches.count; i++)
        if (tcaches.slots[i].arena == arena)
            return MALLOCX_TCACHE(tcaches.slots[i].tcache);
    return tcache_flags_slow(arena);
}

void mg_backend_thread_flush(void)
{
    void (*hook)(void) = atomic_load(&thread_flushed);
    if (hook != NULL)
        hook(); /* the stock code's: the fast-path bindings of this thread's slots name these tcaches */
    for (unsigned i = 0; i < tcaches.count; i++)
        mgje_mallctl("tcache.destroy", NULL, NULL, &tcaches.slots[i].tcache, sizeof(unsigned));
    tcaches.count = 0;
}

bool mg_backend_fast_bind(unsigned arena, void **tcache, int *flags)
{
    *flags = MALLOCX_ARENA(arena) | tcache_flags(arena);
    *tcache = mgje_fast_tcache(*flags);
    return *tcache != NULL;
}

/* ---- blocks ---------------------------------------------------------------------------------------------- */

static inline int align_flag(size_t align)
{
    return align == 0 ? 0 : MALLOCX_LG_ALIGN(__builtin_ctzll((unsigned long long)align));
}

size_t mg_backend_size_for(size_t size, size_t align)
{
    return mgje_nallocx(size, align_flag(align));
}

void *mg_backend_alloc(unsigned arena, size_t size, size_t align, bool zero)
{
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    int flags = MALLOCX_ARENA(arena) | tcache_flags(arena) | align_flag(align) | (zero ? MALLOCX_ZERO : 0);
    return mgje_mallocx(size, flags);
}

void *mg_backend_resize(unsigned arena, void *ptr, size_t size)
{
    if (mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    return mgje_rallocx(ptr, size, MALLOCX_ARENA(arena) | tcache_flags(arena));
}

void mg_backend_free(unsigned arena, void *ptr, size_t size)
{
    if (size != 0)
        mgje_sdallocx(ptr, size, tcache_flags(arena));
    else
        mgje_dallocx(ptr, tcache_flags(arena));
}

size_t mg_backend_usable(const void *ptr)
{
    return mgje_sallocx(ptr, 0);
}

/* The BLAS and OpenMP thread pools loaded in the process (memgov_pools_*): found by walking the loaded objects and
 * asking each for the control functions it defines itself, read and set through those functions only. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/grow.h"
#include "internal/structsize.h"
#include "memgov/threads.h"
#include "threads/pools.h"
#include "threads/pools_elf.h"

#define VERSION_MAX 64      /* bytes kept of a version string, terminator included */
#define MKL_VERSION_BUF 256 /* what MKL_Get_Version_String may write */

/* How to read and set one pool. `wide` getters and setters take and return a 64-bit integer (BLIS's dim_t in a
 * 64-bit integer build), the others an int. */
typedef struct pool {
    memgov_pool_kind kind;
    uint32_t flags;
    const char *name;
    const char *threading;
    char *path;
    char version[VERSION_MAX];
    size_t order; /* index of the kind in KINDS */
    void *get;
    void *set;
    bool wide;
    bool has_saved;
    int saved;
    int limit;
} pool;

/* A reference on an object holding a pool, which keeps it loaded while the snapshot lives. */
typedef struct ref {
    char *object; /* the name it is opened by ("" for the main program) */
    void *handle; /* from dlopen(RTLD_NOLOAD); NULL in the cached copy (below) */
} ref;

struct memgov_pools {
    pool *items;
    size_t count, cap;
    ref *refs;
    size_t nrefs, refs_cap;
};

/* ---- calling the pools' functions ---------------------------------------------------------------------------- */

typedef int (*int_getter)(void);
typedef void (*int_setter)(int);
typedef int64_t (*wide_getter)(void);
typedef void (*wide_setter)(int64_t);

/* A function pointer from dlsym's object pointer (POSIX guarantees the conversion). */
#define FN(type, ptr) ((type)(uintptr_t)(ptr))

static int64_t pool_read(const pool *p)
{
    return p->wide ? FN(wide_getter, p->get)() : FN(int_getter, p->get)();
}

static void pool_write(const pool *p, int threads)
{
    if (p->wide)
        FN(wide_setter, p->set)(threads);
    else
        FN(int_setter, p->set)(threads);
}

/* A value a pool's getter may answer and memgov may put back: 1..MEMGOV_POOLS_MAX_THREADS, and BLIS's -1. */
static bool restorable(const pool *p, int64_t v)
{
    return (v >= 1 && v <= MEMGOV_POOLS_MAX_THREADS) || (p->kind == MEMGOV_POOL_BLIS && v == -1);
}

/* ---- finding the pools ----------------------------------------------------------------------------------------- */


/* A loaded object that may hold a pool, as dl_iterate_phdr reports it: its name ("" for the main program), load
 * bias and the address ranges of its PT_LOAD segments (nseg 0: more than MAX_SEGMENTS, dladdr1 decides). */
#define MAX_SEGMENTS 16
typedef struct loaded {
    char *name;
    ElfW(Addr) base;
    uintptr_t lo[MAX_SEGMENTS], hi[MAX_SEGMENTS];
    int nseg;
} loaded;

/* A loaded object opened again (dlopen RTLD_NOLOAD) to look its symbols up. */
typedef struct opened {
    void *handle;
    const loaded *obj;
    const struct link_map *map;
} opened;

static bool owns(const opened *o, const void *addr)
{
    if (o->obj->nseg == 0) { /* dladdr1 scans the owner's whole symbol table: only when the ranges are unknown */
        Dl_info info;
        struct link_map *owner = NULL;
        return dladdr1(addr, &info, (void **)&owner, RTLD_DL_LINKMAP) != 0 && owner == o->map;
    }
    for (int i = 0; i < o->obj->nseg; i++)
        if ((uintptr_t)addr >= o->obj->lo[i] && (uintptr_t)addr < o->obj->hi[i])
            return true;
    return false;
}

/* The address of `symbol` if the object defines it itself: dlsym on a handle also searches the object's
 * dependencies, so where the definition lies decides (a libblas.so.3 that reaches OpenBLAS through its
 * dependency is not a second OpenBLAS). */
static void *own_symbol(const opened *o, const char *symbol)
{
    void *addr = dlsym(o->handle, symbol);
    return addr != NULL && owns(o, addr) ? addr : NULL;
}

static void *own_symbol_of(const opened *o, const char *symbol, const char *ilp64)
{
    void *addr = own_symbol(o, symbol);
    return addr != NULL || ilp64 == NULL ? addr : own_symbol(o, ilp64);
}

/* Copies at most VERSION_MAX - 1 bytes of the first word after `skip` words of text into out. */
static void copy_word(char *out, const char *text, int skip)
{
    out[0] = '\0';
    if (text == NULL)
        return;
    size_t len = strnlen(text, 4096);
    size_t i = 0;
    for (int w = 0;; w++) {
        while (i < len && text[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && text[i] != ' ')
            i++;
        if (w == skip) {
            size_t n = i - start < VERSION_MAX - 1 ? i - start : VERSION_MAX - 1;
            memcpy(out, text + start, n);
            out[n] = '\0';
            return;
        }
        if (i >= len)
            return;
    }
}

typedef const char *(*text_fn)(void);
typedef int (*int_query)(void);
typedef int64_t (*wide_query)(void);
typedef void (*mkl_version_fn)(char *, int);

static void describe_openblas(pool *p, const opened *o)
{
    void *config = own_symbol_of(o, "openblas_get_config", "openblas_get_config64_");
    if (config != NULL) {
        const char *text = FN(text_fn, config)();
        if (text != NULL && strncmp(text, "OpenBLAS ", 9) == 0)
            copy_word(p->version, text, 1);
    }
    void *parallel = own_symbol_of(o, "openblas_get_parallel", "openblas_get_parallel64_");
    int layer = parallel != NULL ? FN(int_query, parallel)() : -1;
    p->threading = layer == 0 ? "disabled" : layer == 1 ? "pthreads" : layer == 2 ? "openmp" : "";
    if (layer == 2)
        p->flags |= MEMGOV_POOL_PER_THREAD;
}

/* BLIS's integers (dim_t, gint_t) are 64-bit unless it was built for 32; bli_info_get_int_type_size says which.
 * Its own answer is a gint_t: its low 32 bits are right in either build. */
static void describe_blis(pool *p, const opened *o)
{
    void *size = own_symbol(o, "bli_info_get_int_type_size");
    p->wide = size == NULL || (int32_t)FN(wide_query, size)() != 32;
    void *version = own_symbol(o, "bli_info_get_version_str");
    if (version != NULL)
        copy_word(p->version, FN(text_fn, version)(), 0);
    void *omp = own_symbol(o, "bli_info_get_enable_openmp");
    void *pth = own_symbol(o, "bli_info_get_enable_pthreads");
    if (omp != NULL && (int32_t)FN(wide_query, omp)() != 0)
        p->threading = "openmp";
    else if (pth != NULL && (int32_t)FN(wide_query, pth)() != 0)
        p->threading = "pthreads";
    else if (omp != NULL && pth != NULL)
        p->threading = "disabled";
}

static void describe_mkl(pool *p, const opened *o)
{
    void *version = own_symbol(o, "MKL_Get_Version_String");
    if (version == NULL)
        return;
    char buf[MKL_VERSION_BUF] = {0};
    FN(mkl_version_fn, version)(buf, (int)sizeof buf - 1);
    const char *at = strstr(buf, "Version ");
    if (at != NULL)
        copy_word(p->version, at, 1);
}

/* The kinds, in the order a snapshot keeps them: the OpenMP runtimes first, so that a restore (in reverse order)
 * puts the calling thread's OpenMP count back last, after an OpenMP-built OpenBLAS's setter has changed it. */
typedef struct kind_spec {
    memgov_pool_kind kind;
    const char *name;
    const char *get, *set, *ilp64_get, *ilp64_set;
    void (*describe)(pool *, const opened *);
} kind_spec;

static const kind_spec KINDS[] = {
    {MEMGOV_POOL_GNU_OPENMP, "openmp", "omp_get_max_threads", "omp_set_num_threads", NULL, NULL, NULL},
    {MEMGOV_POOL_OPENBLAS, "openblas", "openblas_get_num_threads", "openblas_set_num_threads",
     "openblas_get_num_threads64_", "openblas_set_num_threads64_", describe_openblas},
    {MEMGOV_POOL_BLIS, "blis", "bli_thread_get_num_threads", "bli_thread_set_num_threads", NULL, NULL,
     describe_blis},
    {MEMGOV_POOL_MKL, "mkl", "MKL_Get_Max_Threads", "MKL_Set_Num_Threads", NULL, NULL, describe_mkl},
};

/* Which OpenMP runtime an object defining omp_get_max_threads is. */
static void describe_openmp(pool *p, const opened *o)
{
    p->threading = "openmp";
    p->flags |= MEMGOV_POOL_PER_THREAD;
    if (own_symbol(o, "__kmpc_fork_call") != NULL) {
        p->kind = MEMGOV_POOL_LLVM_OPENMP;
        p->name = "libomp";
    } else if (own_symbol(o, "GOMP_parallel") != NULL) {
        p->kind = MEMGOV_POOL_GNU_OPENMP;
        p->name = "libgomp";
    } else {
        p->kind = MEMGOV_POOL_OTHER_OPENMP;
    }
}

typedef struct walk {
    loaded *items;
    size_t count, cap;
    bool failed;
} walk;

/* Notes the objects whose own symbol table has a pool's getter, or cannot be read (then dlsym decides). */
static int note_object(struct dl_phdr_info *info, size_t size, void *data)
{
    const char *getters[2 * sizeof KINDS / sizeof KINDS[0]];
    size_t n = 0;
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        getters[n++] = KINDS[k].get;
        if (KINDS[k].ilp64_get != NULL)
            getters[n++] = KINDS[k].ilp64_get;
    }
    if (mg_elf_defines(info, getters, n) == 0)
        return 0;
    walk *w = data;
    loaded *grown = mg_grow(w->items, &w->cap, w->count, sizeof *w->items, 8);
    char *name = strdup(info->dlpi_name != NULL ? info->dlpi_name : "");
    if (grown == NULL || name == NULL) {
        free(name);
        w->failed = true;
        return 1; /* stops the walk */
    }
    w->items = grown;
    loaded *obj = &w->items[w->count++];
    *obj = (loaded){.name = name, .base = info->dlpi_addr};
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (obj->nseg == MAX_SEGMENTS) {
            obj->nseg = 0;
            break;
        }
        obj->lo[obj->nseg] = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        obj->hi[obj->nseg++] = (uintptr_t)info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    return 0;
}

static char *object_path(const char *name)
{
    char *real = realpath(name[0] != '\0' ? name : "/proc/self/exe", NULL);
    return real != NULL ? real : strdup(name);
}

/* Adds the pool of kind KINDS[spec] if the object of handle h defines its getter. False when memory ran out. */
static bool add_pool(memgov_pools *s, const opened *o, size_t spec, bool *found)
{
    const kind_spec *k = &KINDS[spec];
    void *get = own_symbol_of(o, k->get, k->ilp64_get);
    if (get == NULL)
        return true;
    pool *grown = mg_grow(s->items, &s->cap, s->count, sizeof *s->items, 4);
    if (grown == NULL)
        return false;
    s->items = grown;
    char *path = object_path(o->obj->name);
    if (path == NULL)
        return false;
    pool *p = &s->items[s->count++];
    *p = (pool){.kind = k->kind, .order = spec, .name = k->name, .threading = "", .path = path, .get = get,
                .set = own_symbol_of(o, k->set, k->ilp64_set)};
    if (k->describe != NULL)
        k->describe(p, o);
    else
        describe_openmp(p, o);
    if (p->set == NULL || !restorable(p, pool_read(p)))
        p->flags |= MEMGOV_POOL_READ_ONLY;
    *found = true;
    return true;
}

/* Adds the pools that a loaded object defines, keeping a reference on it if there are any. False when memory
 * ran out. */
static bool add_object_pools(memgov_pools *s, const loaded *obj)
{
    opened o = {.handle = dlopen(obj->name[0] != '\0' ? obj->name : NULL, RTLD_LAZY | RTLD_NOLOAD), .obj = obj};
    if (o.handle == NULL)
        return true; /* unloaded meanwhile, or not openable (the vDSO): no pool */
    struct link_map *map = NULL;
    bool found = false, ok = true;
    if (dlinfo(o.handle, RTLD_DI_LINKMAP, &map) == 0 && map != NULL && map->l_addr == obj->base) {
        o.map = map;
        for (size_t k = 0; ok && k < sizeof KINDS / sizeof KINDS[0]; k++)
            ok = add_pool(s, &o, k, &found);
    }
    if (ok && found) {
        ref *grown = mg_grow(s->refs, &s->refs_cap, s->nrefs, sizeof *s->refs, 4);
        char *object = grown != NULL ? strdup(obj->name) : NULL;
        if (object != NULL) {
            s->refs = grown;
            s->refs[s->nrefs++] = (ref){object, o.handle};
            return true;
        }
        if (grown != NULL)
            s->refs = grown;
        ok = false;
    }
    dlclose(o.handle); /* on failure the snapshot is destroyed, so its pools of this object go unused */
    return ok;
}

/* Stable order by kind (KINDS' order), the objects' load order within a kind. */
static void order_by_kind(memgov_pools *s)
{
    for (size_t i = 1; i < s->count; i++) {
        pool p = s->items[i];
        size_t j = i;
        for (; j > 0 && s->items[j - 1].order > p.order; j--)
            s->items[j] = s->items[j - 1];
        s->items[j] = p;
    }
}

/* Finds the pools by walking the loaded objects. NULL when memory ran out. */
static memgov_pools *walk_objects(void)
{
    memgov_pools *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    walk w = {0};
    dl_iterate_phdr(note_object, &w);
    bool ok = !w.failed;
    for (size_t i = 0; ok && i < w.count; i++)
        ok = add_object_pools(s, &w.items[i]);
    for (size_t i = 0; i < w.count; i++)
        free(w.items[i].name);
    free(w.items);
    if (!ok) {
        memgov_pools_destroy(s);
        return NULL;
    }
    order_by_kind(s);
    return s;
}

/* ---- the last walk, reused while no object was loaded or unloaded ---------------------------------------------- */
/*
 * The loader counts the objects it has loaded and unloaded (dlpi_adds, dlpi_subs). While both stay the same, the
 * last walk's pools are still the pools loaded, and their function pointers still valid: a find copies them and
 * takes fresh references, and checks the counts again after taking them (an unload in between makes it walk).
 * The copy kept here holds no reference: a library its user closes may still be unloaded.
 */

typedef struct generation {
    unsigned long long adds, subs;
} generation;

static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *(generation *)data = (generation){info->dlpi_adds, info->dlpi_subs};
    return 1;
}

/* {0, 0} where the loader does not count (then nothing is reused). */
static generation loader_generation(void)
{
    generation g = {0, 0};
    dl_iterate_phdr(first_object, &g);
    return g;
}

static bool same_generation(generation a, generation b)
{
    return a.adds != 0 && a.adds == b.adds && a.subs == b.subs;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER; /* never held while calling the loader */
static mg_fork_lock cache_fork;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static memgov_pools *cached;
static generation cached_generation;

static void cache_init(void)
{
    mg_fork_lock_add(&cache_fork, &cache_lock, MG_FORK_RANK_LEAF, NULL, NULL);
}

/* A copy of s's pools and objects, without references and without saved values. NULL when memory ran out. */
static memgov_pools *copy_pools(const memgov_pools *s)
{
    memgov_pools *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->items = calloc(s->count + 1, sizeof *c->items);
    c->refs = calloc(s->nrefs + 1, sizeof *c->refs);
    bool ok = c->items != NULL && c->refs != NULL;
    for (size_t i = 0; ok && i < s->count; i++) {
        c->items[i] = s->items[i];
        c->items[i].has_saved = false;
        c->items[i].limit = 0;
        ok = (c->items[i].path = strdup(s->items[i].path)) != NULL;
        c->count += ok;
    }
    for (size_t i = 0; ok && i < s->nrefs; i++) {
        ok = (c->refs[i].object = strdup(s->refs[i].object)) != NULL;
        c->nrefs += ok;
    }
    c->cap = c->count;
    c->refs_cap = c->nrefs;
    if (!ok) {
        memgov_pools_destroy(c);
        return NULL;
    }
    return c;
}

/* Takes a reference on every object of a copy. False if one is not loaded any more. */
static bool open_refs(memgov_pools *c)
{
    for (size_t i = 0; i < c->nrefs; i++) {
        const char *object = c->refs[i].object;
        c->refs[i].handle = dlopen(object[0] != '\0' ? object : NULL, RTLD_LAZY | RTLD_NOLOAD);
        if (c->refs[i].handle == NULL)
            return false;
    }
    return true;
}

/* The cached pools with fresh references, if nothing was loaded or unloaded since they were found; else NULL. */
static memgov_pools *from_cache(generation now)
{
    pthread_mutex_lock(&cache_lock);
    memgov_pools *c = cached != NULL && same_generation(cached_generation, now) ? copy_pools(cached) : NULL;
    pthread_mutex_unlock(&cache_lock);
    if (c != NULL && !(open_refs(c) && same_generation(loader_generation(), now))) {
        memgov_pools_destroy(c);
        c = NULL;
    }
    return c;
}

static void remember(const memgov_pools *s, generation found)
{
    if (!same_generation(loader_generation(), found))
        return; /* something was loaded or unloaded during the walk */
    memgov_pools *c = copy_pools(s), *old;
    if (c == NULL)
        return;
    pthread_mutex_lock(&cache_lock);
    old = cached;
    cached = c;
    cached_generation = found;
    pthread_mutex_unlock(&cache_lock);
    memgov_pools_destroy(old);
}

MEMGOV_API memgov_status memgov_pools_find(memgov_pools **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_pools_find: out is NULL");
    *out = NULL;
    pthread_once(&cache_once, cache_init);
    generation now = loader_generation();
    memgov_pools *s = from_cache(now);
    if (s == NULL) {
        s = walk_objects();
        if (s == NULL)
            return mg_fail(MEMGOV_ENOMEM, "memgov_pools_find: no memory for the list of loaded objects and pools");
        remember(s, now);
    }
    *out = s;
    return MEMGOV_OK;
}

/* ---- reading, limiting, restoring ------------------------------------------------------------------------------ */

MEMGOV_API size_t memgov_pools_count(const memgov_pools *pools)
{
    return pools != NULL ? pools->count : 0;
}

MEMGOV_API memgov_status memgov_pools_get(const memgov_pools *pools, size_t index, memgov_pool_info *out)
{
    if (pools == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_pools_get: %s is NULL", pools == NULL ? "pools" : "out");
    if (index >= pools->count)
        return mg_fail(MEMGOV_ENOTFOUND, "memgov_pools_get: index %zu is past the snapshot's %zu pools", index,
                       pools->count);
    const pool *p = &pools->items[index];
    int64_t now = pool_read(p);
    memgov_pool_info info = {
        .struct_size = sizeof info, .kind = p->kind, .flags = p->flags, .name = p->name, .path = p->path,
        .version = p->version, .threading = p->threading,
        .threads = now < INT32_MIN ? INT32_MIN : now > INT32_MAX ? INT32_MAX : (int)now,
        .saved_threads = p->has_saved ? p->saved : 0, .limit = p->limit};
    return mg_struct_out(out, &info, sizeof info, "memgov_pool_info");
}

MEMGOV_API memgov_status memgov_pools_limit(memgov_pools *pools, int threads)
{
    if (pools == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_pools_limit: pools is NULL");
    if (threads < 1 || threads > MEMGOV_POOLS_MAX_THREADS)
        return mg_fail(MEMGOV_ERANGE, "memgov_pools_limit: %d threads is outside [1, %d] "
                       "(MEMGOV_POOLS_MAX_THREADS)", threads, MEMGOV_POOLS_MAX_THREADS);
    memgov_status st = MEMGOV_OK;
    for (size_t i = 0; i < pools->count; i++) {
        pool *p = &pools->items[i];
        if (p->flags & MEMGOV_POOL_READ_ONLY)
            continue;
        if (!p->has_saved) {
            int64_t before = pool_read(p);
            if (!restorable(p, before))
                continue; /* a per-thread value this thread sees out of range: left alone */
            p->saved = (int)before;
            p->has_saved = true;
        }
        pool_write(p, threads);
        p->limit = threads;
        int64_t after = pool_read(p);
        if (after > threads && st == MEMGOV_OK)
            st = mg_fail(MEMGOV_ESTATE, "memgov_pools_limit: pool '%s' (%s) reports %lld threads after being "
                         "limited to %d", p->name, p->path, (long long)after, threads);
    }
    return st;
}

MEMGOV_API memgov_status memgov_pools_restore(memgov_pools *pools)
{
    if (pools == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_pools_restore: pools is NULL");
    for (size_t i = pools->count; i-- > 0;) {
        pool *p = &pools->items[i];
        if (!p->has_saved)
            continue;
        pool_write(p, p->saved);
        p->has_saved = false;
        p->limit = 0;
    }
    return MEMGOV_OK;
}

/* ---- one pool at a time, for the leases (threads/pools.h) ---------------------------------------------------- */

uint32_t mg_pools_flags(const memgov_pools *pools, size_t i)
{
    return pools->items[i].flags;
}

int64_t mg_pools_read(const memgov_pools *pools, size_t i)
{
    return pool_read(&pools->items[i]);
}

void mg_pools_write(const memgov_pools *pools, size_t i, int n)
{
    pool_write(&pools->items[i], n);
}

const void *mg_pools_key(const memgov_pools *pools, size_t i)
{
    return pools->items[i].get;
}

int mg_pools_restorable(const memgov_pools *pools, size_t i, int64_t v)
{
    return restorable(&pools->items[i], v);
}

MEMGOV_API void memgov_pools_destroy(memgov_pools *pools)
{
    if (pools == NULL)
        return;
    for (size_t i = 0; i < pools->count; i++)
        free(pools->items[i].path);
    for (size_t i = 0; i < pools->nrefs; i++) {
        if (pools->refs[i].handle != NULL)
            dlclose(pools->refs[i].handle);
        free(pools->refs[i].object);
    }
    free(pools->items);
    free(pools->refs);
    free(pools);
}

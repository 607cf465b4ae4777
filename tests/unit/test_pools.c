/* The BLAS and OpenMP pools (memgov_pools_*, memgov/threads.h) against the real libraries of Debian loaded into
 * this process with dlopen, and against stand-ins (tests/unit/fake_pool.c). A library, once loaded, stays, so
 * each scenario runs in a process of its own: `test_pools SCENARIO [LIBRARY...]` (tests/meson.build):
 *   none                      nothing loaded: no pools; the argument checks; the child environment
 *   openblas-pthread LIB BLAS OpenBLAS (pthreads) and the libblas.so.3 that reaches it through a dependency
 *   openblas-openmp LIB       OpenBLAS (OpenMP) and the libgomp it brings
 *   gomp LIB | omp LIB        the GNU and LLVM OpenMP runtimes
 *   blis LIB                  BLIS (pthreads)
 *   fakes MKL STUB HOSTILE STUBBORN GETTER_ONLY   the stand-ins
 *   hook (the same stand-ins)   the pools limited by leases (MEMGOV_THREADS_LIMIT_POOLS, src/threads/pools_hook.c)
 *   races (the same stand-ins)  finds on three threads while the main thread loads and unloads one (suite
 *                             concurrent: TSan) */
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memgov.h"
#include "threads/pools_elf.h"
#include "threads/threads_internal.h"

static char **libs; /* the scenario's library paths (argv after the scenario) */
static int nlibs;

static void *load(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        fail_msg("cannot load %s: %s (scripts/bootstrap.sh installs the Debian packages these tests need)", path,
                 dlerror());
    return h;
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (p == NULL)
        fail_msg("%s lacks %s", libs[0], name);
    return p;
}

typedef int (*int_get)(void);
typedef void (*int_set)(int);
typedef int64_t (*wide_get)(void);
typedef void (*wide_set)(int64_t);
#define FN(type, ptr) ((type)(uintptr_t)(ptr))

static memgov_pool_info info_of(const memgov_pools *pools, size_t i)
{
    memgov_pool_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_pools_get(pools, i, &info), MEMGOV_OK);
    return info;
}

/* Finds the pools, expecting exactly one, of this kind, name, threading layer and flags; returns its description. */
static memgov_pool_info find_the_one(memgov_pools **pools, memgov_pool_kind kind, const char *name,
                                     const char *threading, uint32_t flags)
{
    assert_int_equal(memgov_pools_find(pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(*pools), 1);
    memgov_pool_info info = info_of(*pools, 0);
    assert_int_equal(info.kind, kind);
    assert_string_equal(info.name, name);
    assert_string_equal(info.threading, threading);
    assert_int_equal(info.flags, flags);
    return info;
}

static void assert_path_is(const char *path, const char *file)
{
    char *real = realpath(file, NULL);
    assert_non_null(real);
    assert_string_equal(path, real);
    free(real);
}

/* ---- none ---------------------------------------------------------------------------------------------------- */

static void a_process_without_pools_finds_none(void **state)
{
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_non_null(pools);
    assert_int_equal(memgov_pools_count(pools), 0);
    assert_int_equal(memgov_pools_limit(pools, 1), MEMGOV_OK);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    memgov_pool_info info = {.struct_size = sizeof info};
    assert_int_equal(memgov_pools_get(pools, 0, &info), MEMGOV_ENOTFOUND);
    assert_non_null(strstr(memgov_last_error(), "index 0"));
    memgov_pools_destroy(pools);
}

static void bad_arguments_are_refused_with_the_limit_named(void **state)
{
    assert_int_equal(memgov_pools_find(NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_pools_count(NULL), 0);
    assert_int_equal(memgov_pools_limit(NULL, 1), MEMGOV_EINVAL);
    assert_int_equal(memgov_pools_restore(NULL), MEMGOV_EINVAL);
    memgov_pools_destroy(NULL);
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_get(pools, 0, NULL), MEMGOV_EINVAL);
    memgov_pool_info info = {.struct_size = 0};
    assert_int_equal(memgov_pools_get(NULL, 0, &info), MEMGOV_EINVAL);
    assert_int_equal(memgov_pools_limit(pools, 0), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_POOLS_MAX_THREADS"));
    assert_int_equal(memgov_pools_limit(pools, -3), MEMGOV_ERANGE);
    assert_int_equal(memgov_pools_limit(pools, MEMGOV_POOLS_MAX_THREADS + 1), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "65537"));
    assert_int_equal(memgov_pools_limit(pools, MEMGOV_POOLS_MAX_THREADS), MEMGOV_OK);
    memgov_pools_destroy(pools);
}

static const char *env_value(char **envp, const char *name)
{
    size_t len = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
            if (found != NULL)
                fail_msg("%s is set twice", name);
            found = envp[i] + len + 1;
        }
    return found;
}

static void the_child_environment_sets_every_pool_variable_and_keeps_the_rest(void **state)
{
    const char *base[] = {"PATH=/usr/bin", "OMP_NUM_THREADS=64", "OPENBLAS_NUM_THREADS_X=9", "NOEQUALS",
                          "MKL_NUM_THREADS=", "HOME=/root", NULL};
    char **envp = NULL;
    assert_int_equal(memgov_pools_child_env(base, 3, &envp), MEMGOV_OK);
    size_t names = 0;
    for (const char *name; (name = memgov_pools_env_name(names)) != NULL; names++)
        assert_string_equal(env_value(envp, name), "3");
    assert_true(names >= 7);
    assert_string_equal(memgov_pools_env_name(0), "OMP_NUM_THREADS");
    assert_string_equal(env_value(envp, "PATH"), "/usr/bin");
    assert_string_equal(env_value(envp, "HOME"), "/root");
    assert_string_equal(env_value(envp, "OPENBLAS_NUM_THREADS_X"), "9"); /* a longer name is another variable */
    size_t count = 0, noequals = 0;
    for (; envp[count] != NULL; count++)
        noequals += strcmp(envp[count], "NOEQUALS") == 0;
    assert_int_equal(noequals, 1);
    assert_int_equal(count, 4 + names); /* PATH, the longer name, NOEQUALS, HOME + ours */
    memgov_pools_child_env_free(envp);

    assert_int_equal(memgov_pools_child_env(NULL, MEMGOV_POOLS_MAX_THREADS, &envp), MEMGOV_OK);
    assert_string_equal(env_value(envp, "BLIS_NUM_THREADS"), "65536");
    memgov_pools_child_env_free(envp);
    memgov_pools_child_env_free(NULL);
}

static void the_child_environment_checks_its_size(void **state)
{
    char **envp = (char **)1;
    assert_int_equal(memgov_pools_child_env(NULL, 0, &envp), MEMGOV_ERANGE);
    assert_null(envp);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_POOLS_MAX_THREADS"));
    assert_int_equal(memgov_pools_child_env(NULL, MEMGOV_POOLS_MAX_THREADS + 1, &envp), MEMGOV_ERANGE);
    assert_int_equal(memgov_pools_child_env(NULL, INT_MIN, &envp), MEMGOV_ERANGE);
    assert_int_equal(memgov_pools_child_env(NULL, 2, NULL), MEMGOV_EINVAL);
}

/* ---- OpenBLAS -------------------------------------------------------------------------------------------------- */

static void openblas_is_limited_and_restored_through_its_own_functions(void **state)
{
    void *h = load(libs[0]);
    void *blas = load(libs[1]); /* libblas.so.3: reaches OpenBLAS through its dependency, is not a pool itself */
    int_get get = FN(int_get, sym(h, "openblas_get_num_threads"));
    int_set set = FN(int_set, sym(h, "openblas_set_num_threads"));
    set(3);
    assert_int_equal(get(), 3);

    memgov_pools *pools = NULL;
    memgov_pool_info info = find_the_one(&pools, MEMGOV_POOL_OPENBLAS, "openblas", "pthreads", 0);
    assert_path_is(info.path, libs[0]);
    const char *config = FN(const char *(*)(void), sym(h, "openblas_get_config"))();
    assert_true(strlen(info.version) > 0);
    assert_non_null(strstr(config, info.version));
    assert_int_equal(info.threads, 3);
    assert_int_equal(info.saved_threads, 0);

    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
    assert_int_equal(get(), 2);
    info = info_of(pools, 0);
    assert_int_equal(info.threads, 2);
    assert_int_equal(info.saved_threads, 3);
    assert_int_equal(info.limit, 2);
    assert_int_equal(memgov_pools_limit(pools, 1), MEMGOV_OK); /* a second limit keeps the first saved value */
    assert_int_equal(get(), 1);
    assert_int_equal(info_of(pools, 0).saved_threads, 3);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(get(), 3);
    info = info_of(pools, 0);
    assert_int_equal(info.saved_threads, 0);
    assert_int_equal(info.limit, 0);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK); /* nothing saved: nothing changes */
    assert_int_equal(get(), 3);
    memgov_pools_destroy(pools);
    dlclose(blas);
    dlclose(h);
}

typedef struct reading {
    int_get get;
    int value;
} reading;

static void *read_on_another_thread(void *arg)
{
    reading *r = arg;
    r->value = r->get();
    return NULL;
}

/* OpenBLAS with pthreads keeps one count for the process: another thread's calls see the limit. */
static void openblas_pthreads_limit_is_process_wide(void **state)
{
    void *h = load(libs[0]);
    int_get get = FN(int_get, sym(h, "openblas_get_num_threads"));
    FN(int_set, sym(h, "openblas_set_num_threads"))(3);
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
    reading r = {.get = get};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_on_another_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.value, 2);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    memgov_pools_destroy(pools);
    dlclose(h);
}

static void openblas_openmp_and_its_libgomp_are_both_limited_and_restored(void **state)
{
    void *h = load(libs[0]);
    int_get blas_get = FN(int_get, sym(h, "openblas_get_num_threads"));
    int_set blas_set = FN(int_set, sym(h, "openblas_set_num_threads"));
    int_get omp_get = FN(int_get, sym(h, "omp_get_max_threads")); /* found through the dependency: libgomp */
    int_set omp_set = FN(int_set, sym(h, "omp_set_num_threads"));
    blas_set(3);
    omp_set(3);

    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), 2);
    memgov_pool_info gomp = info_of(pools, 0), blas = info_of(pools, 1); /* OpenMP runtimes come first */
    assert_int_equal(gomp.kind, MEMGOV_POOL_GNU_OPENMP);
    assert_string_equal(gomp.name, "libgomp");
    assert_int_equal(gomp.flags, MEMGOV_POOL_PER_THREAD);
    assert_string_equal(gomp.version, "");
    assert_int_equal(blas.kind, MEMGOV_POOL_OPENBLAS);
    assert_string_equal(blas.threading, "openmp");
    assert_int_equal(blas.flags, MEMGOV_POOL_PER_THREAD);
    assert_path_is(blas.path, libs[0]);

    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
    assert_int_equal(blas_get(), 2);
    assert_int_equal(omp_get(), 2);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(blas_get(), 3);
    assert_int_equal(omp_get(), 3);
    memgov_pools_destroy(pools);
    /* h stays open: unloading libgomp makes its constructor's allocation look leaked to LeakSanitizer */
}

/* ---- the ELF reader that spares dlsym its misses ----------------------------------------------------------- */

static const char *const PROBED[] = {"omp_get_max_threads", "openblas_get_num_threads", "GOMP_parallel", "malloc",
                                     "dgemm_", "cblas_dgemm", "gfortran_set_args", "no_such_symbol_anywhere"};
#define NPROBED (sizeof PROBED / sizeof PROBED[0])

typedef struct agreement {
    int objects, known, disagreements, defined;
} agreement;

static bool inside(const struct dl_phdr_info *info, const void *addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (uintptr_t)addr >= lo && (uintptr_t)addr < lo + ph->p_memsz)
            return true;
    }
    return false;
}

/* For every named object: the ELF reader's answer against dlsym's address lying in the object's own segments. */
static int compare_with_dlsym(struct dl_phdr_info *info, size_t size, void *data)
{
    agreement *a = data;
    void *h = info->dlpi_name[0] != '\0' ? dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    if (h == NULL)
        return 0;
    a->objects++;
    uint32_t bits = mg_elf_defines(info, PROBED, NPROBED);
    if (bits != MG_ELF_UNKNOWN) {
        a->known++;
        for (size_t i = 0; i < NPROBED; i++) {
            void *addr = dlsym(h, PROBED[i]);
            bool expected = addr != NULL && inside(info, addr);
            a->defined += expected;
            if (expected != ((bits >> i) & 1)) {
                print_error("%s: %s: ELF reader %d, dlsym %d\n", info->dlpi_name, PROBED[i], (int)((bits >> i) & 1),
                            (int)expected);
                a->disagreements++;
            }
        }
    }
    dlclose(h);
    return 0;
}

static void the_elf_reader_agrees_with_the_loader_on_every_object(void **state)
{
    void *h = load(libs[0]);
    agreement a = {0};
    dl_iterate_phdr(compare_with_dlsym, &a);
    assert_int_equal(a.disagreements, 0);
    assert_true(a.objects >= 5); /* libc, libm, libgomp, libgfortran, OpenBLAS, ... */
    assert_int_equal(a.known, a.objects);
    assert_true(a.defined >= 6); /* malloc, omp_*, GOMP_parallel, openblas_*, dgemm_, cblas_dgemm, gfortran_* */
    (void)h;
}

/* Tables that point outside the object's readable segments are refused, never followed. */
static void the_elf_reader_refuses_tables_outside_the_object(void **state)
{
    static ElfW(Dyn) dyn[4];
    static uint32_t hash[4] = {1, 1, 1, 6};
    ElfW(Phdr) ph[2] = {{.p_type = PT_LOAD, .p_flags = PF_R, .p_vaddr = (uintptr_t)dyn, .p_memsz = sizeof dyn},
                        {.p_type = PT_DYNAMIC, .p_flags = PF_R, .p_vaddr = (uintptr_t)dyn, .p_memsz = sizeof dyn}};
    struct dl_phdr_info info = {.dlpi_addr = 0, .dlpi_name = "fake", .dlpi_phdr = ph, .dlpi_phnum = 2};
    const char *names[] = {"omp_get_max_threads"};
    dyn[0] = (ElfW(Dyn)){.d_tag = DT_GNU_HASH, .d_un.d_ptr = (uintptr_t)hash};
    dyn[1] = (ElfW(Dyn)){.d_tag = DT_SYMTAB, .d_un.d_ptr = (uintptr_t)hash};
    dyn[2] = (ElfW(Dyn)){.d_tag = DT_STRTAB, .d_un.d_ptr = (uintptr_t)hash};
    dyn[3] = (ElfW(Dyn)){.d_tag = DT_STRSZ, .d_un.d_val = 16};
    assert_int_equal(mg_elf_defines(&info, names, 1), MG_ELF_UNKNOWN); /* hash table outside the segment */
    ph[0].p_memsz = 0;
    assert_int_equal(mg_elf_defines(&info, names, 1), MG_ELF_UNKNOWN); /* dynamic section outside */
    info.dlpi_phnum = 0;
    assert_int_equal(mg_elf_defines(&info, names, 1), MG_ELF_UNKNOWN); /* no dynamic section at all */
}

/* ---- the OpenMP runtimes --------------------------------------------------------------------------------------- */

typedef struct region {
    int_get team_size; /* omp_get_num_threads */
    int seen;
} region;

static void count_team(void *data)
{
    region *r = data;
    __atomic_store_n(&r->seen, r->team_size(), __ATOMIC_RELAXED);
}

typedef struct other_thread {
    int_get get;
    int before, after;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int step;
} other_thread;

/* Another thread's OpenMP count, read before and after the main thread's limit. */
static void *watch(void *arg)
{
    other_thread *o = arg;
    pthread_mutex_lock(&o->lock);
    o->before = o->get();
    o->step = 1;
    pthread_cond_broadcast(&o->cond);
    while (o->step != 2)
        pthread_cond_wait(&o->cond, &o->lock);
    o->after = o->get();
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

static void openmp_runtime_limits_the_calling_threads_regions_only(memgov_pool_kind kind, const char *name)
{
    void *h = load(libs[0]);
    int_get get = FN(int_get, sym(h, "omp_get_max_threads"));
    int_set set = FN(int_set, sym(h, "omp_set_num_threads"));
    set(3);
    other_thread o = {.get = get, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, watch, &o), 0);
    pthread_mutex_lock(&o.lock);
    while (o.step != 1)
        pthread_cond_wait(&o.cond, &o.lock);
    pthread_mutex_unlock(&o.lock);

    memgov_pools *pools = NULL;
    memgov_pool_info info = find_the_one(&pools, kind, name, "openmp", MEMGOV_POOL_PER_THREAD);
    assert_int_equal(info.threads, 3);

    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
    assert_int_equal(get(), 2);
    /* A parallel region this thread starts now has two threads (GOMP_parallel: both runtimes have it). */
    region r = {.team_size = FN(int_get, sym(h, "omp_get_num_threads"))};
    FN(void (*)(void (*)(void *), void *, unsigned, unsigned), sym(h, "GOMP_parallel"))(count_team, &r, 0, 0);
    assert_int_equal(r.seen, 2);

    pthread_mutex_lock(&o.lock);
    o.step = 2;
    pthread_cond_broadcast(&o.cond);
    pthread_mutex_unlock(&o.lock);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(o.after, o.before); /* the other thread's count is its own */

    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(get(), 3);
    memgov_pools_destroy(pools);
}

static void libgomp_limits_the_calling_threads_regions_only(void **state)
{
    openmp_runtime_limits_the_calling_threads_regions_only(MEMGOV_POOL_GNU_OPENMP, "libgomp");
}

static void libomp_limits_the_calling_threads_regions_only(void **state)
{
    openmp_runtime_limits_the_calling_threads_regions_only(MEMGOV_POOL_LLVM_OPENMP, "libomp");
}

/* ---- BLIS ------------------------------------------------------------------------------------------------------ */

static void blis_is_limited_and_restored_even_from_not_set(void **state)
{
    void *h = load(libs[0]);
    wide_get get = FN(wide_get, sym(h, "bli_thread_get_num_threads"));
    wide_set set = FN(wide_set, sym(h, "bli_thread_set_num_threads"));
    int64_t initial = get(); /* -1 unless BLIS_NUM_THREADS or a call set it */

    memgov_pools *pools = NULL;
    memgov_pool_info info = find_the_one(&pools, MEMGOV_POOL_BLIS, "blis", "pthreads", 0);
    assert_string_equal(info.version, FN(const char *(*)(void), sym(h, "bli_info_get_version_str"))());
    assert_int_equal(info.threads, initial);

    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
    assert_int_equal(get(), 2);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(get(), initial);

    set(3);
    assert_int_equal(memgov_pools_limit(pools, 1), MEMGOV_OK);
    assert_int_equal(get(), 1);
    assert_int_equal(info_of(pools, 0).saved_threads, 3);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(get(), 3);
    memgov_pools_destroy(pools);
}

/* ---- stand-ins ------------------------------------------------------------------------------------------------- */

enum { FAKE_MKL, FAKE_OMP_STUB, FAKE_HOSTILE, FAKE_STUBBORN, FAKE_GETTER_ONLY, FAKES };

static size_t pool_at_path(const memgov_pools *pools, const char *file)
{
    char *real = realpath(file, NULL);
    assert_non_null(real);
    for (size_t i = 0; i < memgov_pools_count(pools); i++)
        if (strcmp(info_of(pools, i).path, real) == 0) {
            free(real);
            return i;
        }
    fail_msg("no pool at %s", real);
    return 0;
}

static int set_calls(void *h)
{
    return FN(int_get, sym(h, "fake_set_calls_value"))();
}

static void odd_libraries_are_reported_and_never_trusted(void **state)
{
    assert_int_equal(nlibs, FAKES);
    void *h[FAKES];
    for (int i = 0; i < FAKES; i++)
        h[i] = load(libs[i]);
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), FAKES);

    memgov_pool_info mkl = info_of(pools, pool_at_path(pools, libs[FAKE_MKL]));
    assert_int_equal(mkl.kind, MEMGOV_POOL_MKL);
    assert_string_equal(mkl.name, "mkl");
    assert_string_equal(mkl.version, "2099.1");
    assert_int_equal(mkl.threads, 4);
    memgov_pool_info stub = info_of(pools, pool_at_path(pools, libs[FAKE_OMP_STUB]));
    assert_int_equal(stub.kind, MEMGOV_POOL_OTHER_OPENMP);
    assert_string_equal(stub.name, "openmp");
    assert_int_equal(stub.flags, MEMGOV_POOL_PER_THREAD);
    assert_int_equal(pool_at_path(pools, libs[FAKE_OMP_STUB]), 0); /* OpenMP first */
    memgov_pool_info hostile = info_of(pools, pool_at_path(pools, libs[FAKE_HOSTILE]));
    assert_int_equal(hostile.kind, MEMGOV_POOL_OPENBLAS);
    assert_int_equal(hostile.flags, MEMGOV_POOL_READ_ONLY); /* -7 threads */
    assert_int_equal(hostile.threads, -7);
    assert_string_equal(hostile.version, "");
    assert_string_equal(hostile.threading, "");
    memgov_pool_info stubborn = info_of(pools, pool_at_path(pools, libs[FAKE_STUBBORN]));
    assert_int_equal(stubborn.kind, MEMGOV_POOL_OPENBLAS); /* through the ILP64 names */
    assert_int_equal(strlen(stubborn.version), 63);
    assert_int_equal(stubborn.threads, 8);
    memgov_pool_info getter_only = info_of(pools, pool_at_path(pools, libs[FAKE_GETTER_ONLY]));
    assert_int_equal(getter_only.kind, MEMGOV_POOL_BLIS);
    assert_int_equal(getter_only.flags, MEMGOV_POOL_READ_ONLY);

    /* The stubborn pool does not take its limit: named in the error; the others are limited all the same. */
    assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_ESTATE);
    assert_non_null(strstr(memgov_last_error(), "reports 8 threads after being limited to 2"));
    assert_non_null(strstr(memgov_last_error(), "fake_stubborn"));
    assert_int_equal(FN(int_get, sym(h[FAKE_MKL], "MKL_Get_Max_Threads"))(), 2);
    assert_int_equal(FN(int_get, sym(h[FAKE_OMP_STUB], "omp_get_max_threads"))(), 2);
    assert_int_equal(set_calls(h[FAKE_HOSTILE]), 0); /* read-only pools are never set */
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    assert_int_equal(FN(int_get, sym(h[FAKE_MKL], "MKL_Get_Max_Threads"))(), 4);
    assert_int_equal(FN(int_get, sym(h[FAKE_OMP_STUB], "omp_get_max_threads"))(), 6);
    assert_int_equal(set_calls(h[FAKE_STUBBORN]), 2); /* limited, then restored */
    assert_int_equal(set_calls(h[FAKE_HOSTILE]), 0);
    memgov_pools_destroy(pools);
}

/* The snapshot keeps its objects loaded: the user's dlclose does not unload a pool memgov may still call; destroying
 * the snapshot drops that reference. */
static void a_snapshot_keeps_its_pools_loaded(void **state)
{
    void *h = load(libs[FAKE_MKL]);
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), 1);
    assert_int_equal(dlclose(h), 0);
    void *again = dlopen(libs[FAKE_MKL], RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(again);
    assert_int_equal(dlclose(again), 0);
    assert_int_equal(memgov_pools_limit(pools, 3), MEMGOV_OK);
    assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
    memgov_pools_destroy(pools);
    assert_null(dlopen(libs[FAKE_MKL], RTLD_NOW | RTLD_NOLOAD));
}

/* A find reuses the last walk only while nothing was loaded or unloaded: a library loaded or unloaded since shows. */
static void a_find_sees_every_load_and_unload_since_the_last(void **state)
{
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), 0);
    memgov_pools_destroy(pools);

    void *h = load(libs[FAKE_MKL]);
    for (int round = 0; round < 2; round++) { /* a walk, then the same pools again without one */
        assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
        assert_int_equal(memgov_pools_count(pools), 1);
        memgov_pool_info mkl = info_of(pools, 0);
        assert_int_equal(mkl.kind, MEMGOV_POOL_MKL);
        assert_string_equal(mkl.version, "2099.1");
        assert_int_equal(memgov_pools_limit(pools, 2), MEMGOV_OK);
        assert_int_equal(FN(int_get, sym(h, "MKL_Get_Max_Threads"))(), 2);
        assert_int_equal(memgov_pools_restore(pools), MEMGOV_OK);
        assert_int_equal(FN(int_get, sym(h, "MKL_Get_Max_Threads"))(), 4);
        memgov_pools_destroy(pools);
    }
    assert_int_equal(dlclose(h), 0);
    assert_null(dlopen(libs[FAKE_MKL], RTLD_NOW | RTLD_NOLOAD)); /* the remembered walk holds no reference */
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), 0);
    memgov_pools_destroy(pools);
}

/* ---- the lease hook (pools_hook.c) --------------------------------------------------------------------------- */

typedef struct hook_fakes {
    int_get mkl, omp; /* a process-wide pool and a per-thread one (the stand-ins keep one count each) */
} hook_fakes;

static hook_fakes load_hook_fakes(void)
{
    return (hook_fakes){FN(int_get, sym(load(libs[FAKE_MKL]), "MKL_Get_Max_Threads")),
                        FN(int_get, sym(load(libs[FAKE_OMP_STUB]), "omp_get_max_threads"))};
}

typedef struct holder {
    unsigned count;
    void *state;
    pthread_barrier_t *step;
} holder;

/* Applies its count, waits for the main thread to look, then restores its own lease (on its own thread). */
static void *hold_on_another_thread(void *arg)
{
    holder *h = arg;
    mg_threads_pools_apply(NULL, h->count, &h->state);
    pthread_barrier_wait(h->step);
    pthread_barrier_wait(h->step);
    mg_threads_pools_restore(NULL, &h->state);
    pthread_barrier_wait(h->step);
    return NULL;
}

/* This thread holds a lease of `mine` while another thread's lease of `theirs` comes and goes: the process-wide
 * pool runs at the smaller count while both are held, at `mine` after the other ends, at its own count after both. */
static void share_with_another_thread(hook_fakes f, unsigned mine, unsigned theirs)
{
    void *state_mine = NULL;
    mg_threads_pools_apply(NULL, mine, &state_mine);
    assert_non_null(state_mine);
    assert_int_equal(f.mkl(), mine);
    pthread_barrier_t step;
    pthread_barrier_init(&step, NULL, 2);
    holder other = {.count = theirs, .step = &step};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_on_another_thread, &other), 0);
    pthread_barrier_wait(&step); /* both held */
    assert_int_equal(f.mkl(), mine < theirs ? mine : theirs);
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* the other lease ended */
    assert_int_equal(f.mkl(), mine);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&step);
    mg_threads_pools_restore(NULL, &state_mine);
    assert_null(state_mine);
    assert_int_equal(f.mkl(), 4);
    assert_int_equal(f.omp(), 6);
}

/* Two leases held at once on two threads share a process-wide pool at the smaller count, whichever came first. */
static void leases_on_two_threads_share_process_wide_pools_at_the_smaller_count(void **state)
{
    hook_fakes f = load_hook_fakes();
    assert_int_equal(f.mkl(), 4);
    share_with_another_thread(f, 3, 1);
    share_with_another_thread(f, 1, 3);
}

/* Nested leases on one thread limit every pool in turn and restore in turn; a resize moves the count. */
static void nested_leases_restore_in_turn_and_a_resize_moves_the_count(void **state)
{
    hook_fakes f = load_hook_fakes();
    void *outer = NULL, *inner = NULL;
    mg_threads_pools_apply(NULL, 2, &outer);
    assert_int_equal(f.mkl(), 2);
    assert_int_equal(f.omp(), 2);
    mg_threads_pools_apply(NULL, 1, &inner);
    assert_int_equal(f.mkl(), 1);
    assert_int_equal(f.omp(), 1);
    mg_threads_pools_restore(NULL, &inner);
    assert_int_equal(f.mkl(), 2);
    assert_int_equal(f.omp(), 2);
    mg_threads_pools_apply(NULL, 3, &outer); /* a resize of the held lease */
    assert_int_equal(f.mkl(), 3);
    assert_int_equal(f.omp(), 3);
    mg_threads_pools_restore(NULL, &outer);
    assert_int_equal(f.mkl(), 4);
    assert_int_equal(f.omp(), 6);
    mg_threads_pools_restore(NULL, &outer); /* released twice: nothing */
    assert_int_equal(f.mkl(), 4);
}

/* ---- pools limited by a lease (MEMGOV_THREADS_LIMIT_POOLS) ------------------------------------------------- */

static memgov *open_governor(void)
{
    memgov_options o;
    memgov_options_init(&o);
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    assert_int_equal(memgov_open(&o, &gov), MEMGOV_OK);
    return gov;
}

static memgov_threads_lease *acquire_limiting(memgov *gov, unsigned want)
{
    memgov_threads_lease *l = NULL;
    assert_int_equal(memgov_threads_acquire(gov, want, 0, NULL, MEMGOV_THREADS_LIMIT_POOLS, &l), MEMGOV_OK);
    return l;
}

/* A lease with the flag limits every pool to its count while held, a nested one to its own, and each release
 * puts back what was there before it. */
static void a_lease_limits_the_pools_while_held(void **state)
{
    hook_fakes f = load_hook_fakes();
    memgov *gov = open_governor();
    memgov_threads_lease *outer = acquire_limiting(gov, 2);
    int n = (int)memgov_threads_count(outer); /* 2, or 1 on a one-CPU machine */
    assert_int_equal(f.mkl(), n);
    assert_int_equal(f.omp(), n);
    memgov_threads_lease *inner = acquire_limiting(gov, 1);
    assert_int_equal(f.mkl(), 1);
    assert_int_equal(f.omp(), 1);
    assert_int_equal(memgov_threads_lease_free(inner), MEMGOV_OK);
    assert_int_equal(f.mkl(), n);
    assert_int_equal(f.omp(), n);
    memgov_threads_lease *plain = NULL; /* without the flag: nothing changes */
    assert_int_equal(memgov_threads_acquire(gov, 1, 0, NULL, 0, &plain), MEMGOV_OK);
    assert_int_equal(f.mkl(), n);
    assert_int_equal(memgov_threads_lease_free(plain), MEMGOV_OK);
    assert_int_equal(memgov_threads_release(outer), MEMGOV_OK);
    assert_int_equal(f.mkl(), 4);
    assert_int_equal(f.omp(), 6);
    assert_int_equal(memgov_threads_release(outer), MEMGOV_OK); /* idempotent */
    assert_int_equal(f.mkl(), 4);
    assert_int_equal(memgov_threads_lease_free(outer), MEMGOV_OK);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* Debian's OpenBLAS (pthreads) under a real lease: its own getter shows the lease's count, then the count before. */
static void openblas_follows_a_lease_with_the_flag(void **state)
{
    void *h = load(libs[0]);
    int_get get = FN(int_get, sym(h, "openblas_get_num_threads"));
    FN(int_set, sym(h, "openblas_set_num_threads"))(3);
    memgov *gov = open_governor();
    memgov_threads_lease *l = acquire_limiting(gov, 2);
    assert_int_equal(get(), (int)memgov_threads_count(l));
    assert_int_equal(memgov_threads_resize(l, 1, NULL), MEMGOV_OK);
    assert_int_equal(get(), 1);
    assert_int_equal(memgov_threads_lease_free(l), MEMGOV_OK);
    assert_int_equal(get(), 3);
    assert_int_equal(memgov_close(gov), MEMGOV_OK);
}

/* ---- concurrent finds while a library comes and goes (suite concurrent, also under TSan) ------------------- */

typedef struct finder {
    int rounds, bad;
} finder;

/* Finds, describes, limits and restores over and over: the pools are the stand-in OpenMP runtime (always loaded)
 * and, while the main thread has it loaded, the MKL stand-in. */
static void *find_repeatedly(void *arg)
{
    finder *f = arg;
    for (int r = 0; r < f->rounds; r++) {
        memgov_pools *pools = NULL;
        if (memgov_pools_find(&pools) != MEMGOV_OK) {
            f->bad++;
            continue;
        }
        size_t n = memgov_pools_count(pools);
        f->bad += n < 1 || n > 2;
        for (size_t i = 0; i < n; i++) {
            memgov_pool_info info = {.struct_size = sizeof info};
            f->bad += memgov_pools_get(pools, i, &info) != MEMGOV_OK ||
                      (info.kind != MEMGOV_POOL_OTHER_OPENMP && info.kind != MEMGOV_POOL_MKL);
        }
        memgov_pools_destroy(pools);
    }
    return NULL;
}

static void finds_race_with_loads_and_unloads(void **state)
{
    load(libs[FAKE_OMP_STUB]);
    enum { FINDERS = 3 };
    finder f[FINDERS];
    pthread_t t[FINDERS];
    for (int i = 0; i < FINDERS; i++) {
        f[i] = (finder){.rounds = 300};
        assert_int_equal(pthread_create(&t[i], NULL, find_repeatedly, &f[i]), 0);
    }
    for (int r = 0; r < 40; r++)
        assert_int_equal(dlclose(load(libs[FAKE_MKL])), 0);
    for (int i = 0; i < FINDERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(f[i].bad, 0);
    }
    memgov_pools *pools = NULL;
    assert_int_equal(memgov_pools_find(&pools), MEMGOV_OK);
    assert_int_equal(memgov_pools_count(pools), 1); /* the MKL stand-in is gone, whatever the last walk saw */
    memgov_pools_destroy(pools);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_pools SCENARIO [LIBRARY...]\n");
        return 2;
    }
    libs = argv + 2;
    nlibs = argc - 2;
    const char *scenario = argv[1];
    if (strcmp(scenario, "none") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(a_process_without_pools_finds_none),
            cmocka_unit_test(bad_arguments_are_refused_with_the_limit_named),
            cmocka_unit_test(the_child_environment_sets_every_pool_variable_and_keeps_the_rest),
            cmocka_unit_test(the_child_environment_checks_its_size),
            cmocka_unit_test(the_elf_reader_refuses_tables_outside_the_object),
        };
        return cmocka_run_group_tests_name("pools-none", tests, NULL, NULL);
    }
    if (strcmp(scenario, "openblas-pthread") == 0 && nlibs == 2) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(openblas_is_limited_and_restored_through_its_own_functions),
            cmocka_unit_test(openblas_pthreads_limit_is_process_wide),
            cmocka_unit_test(openblas_follows_a_lease_with_the_flag),
        };
        return cmocka_run_group_tests_name("pools-openblas-pthread", tests, NULL, NULL);
    }
    if (strcmp(scenario, "openblas-openmp") == 0 && nlibs == 1) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(openblas_openmp_and_its_libgomp_are_both_limited_and_restored),
            cmocka_unit_test(the_elf_reader_agrees_with_the_loader_on_every_object),
        };
        return cmocka_run_group_tests_name("pools-openblas-openmp", tests, NULL, NULL);
    }
    if (strcmp(scenario, "gomp") == 0 && nlibs == 1) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(libgomp_limits_the_calling_threads_regions_only)};
        return cmocka_run_group_tests_name("pools-gomp", tests, NULL, NULL);
    }
    if (strcmp(scenario, "omp") == 0 && nlibs == 1) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(libomp_limits_the_calling_threads_regions_only)};
        return cmocka_run_group_tests_name("pools-omp", tests, NULL, NULL);
    }
    if (strcmp(scenario, "blis") == 0 && nlibs == 1) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(blis_is_limited_and_restored_even_from_not_set)};
        return cmocka_run_group_tests_name("pools-blis", tests, NULL, NULL);
    }
    if (strcmp(scenario, "fakes") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(a_snapshot_keeps_its_pools_loaded), /* these two first: they need nothing loaded */
            cmocka_unit_test(a_find_sees_every_load_and_unload_since_the_last),
            cmocka_unit_test(odd_libraries_are_reported_and_never_trusted),
        };
        return cmocka_run_group_tests_name("pools-fakes", tests, NULL, NULL);
    }
    if (strcmp(scenario, "hook") == 0 && nlibs == FAKES) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(leases_on_two_threads_share_process_wide_pools_at_the_smaller_count),
            cmocka_unit_test(nested_leases_restore_in_turn_and_a_resize_moves_the_count),
            cmocka_unit_test(a_lease_limits_the_pools_while_held),
        };
        return cmocka_run_group_tests_name("pools-hook", tests, NULL, NULL);
    }
    if (strcmp(scenario, "races") == 0 && nlibs == FAKES) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(finds_race_with_loads_and_unloads)};
        return cmocka_run_group_tests_name("pools-races", tests, NULL, NULL);
    }
    fprintf(stderr, "test_pools: unknown scenario '%s' or wrong number of libraries (%d)\n", scenario, nlibs);
    return 2;
}

/*
 * memgov/threads.h — threads handed out the way bytes are: the BLAS and OpenMP thread pools loaded in the
 * process (found, limited, restored, and the environment that limits a child's). docs/threads.md explains them.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * Its functions are exported under the MEMGOV_EXPERIMENTAL version node. The struct_size rule of common.h applies.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_THREADS_H
#define MEMGOV_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- BLAS and OpenMP thread pools -------------------------------------------------------------------------- */
/*
 * The pools are found as threadpoolctl finds them: every object loaded in the process (dl_iterate_phdr, the main
 * program included) is opened again with RTLD_NOLOAD, and a pool is an object that itself defines (not merely
 * reaches through a dependency) the control functions of a kind below (each object's own ELF symbol table is read
 * first, so that only objects holding a pool are asked through dlsym). Each pool is then read and set through its
 * own functions only; nothing is loaded that was not loaded already, and a snapshot holds a reference on each
 * pool's object so that it cannot be unloaded while the snapshot lives.
 *
 * What a limit acts on (docs/threads.md has the table):
 * - OpenBLAS built with pthreads, BLIS, MKL: the library's process-wide thread count
 *   (openblas_set_num_threads, bli_thread_set_num_threads, MKL_Set_Num_Threads): every thread's later BLAS calls.
 * - The OpenMP runtimes (GNU libgomp, LLVM libomp and Intel's libiomp5): omp_set_num_threads(), which sets the
 *   nthreads-var ICV of the CALLING THREAD only: the parallel regions that thread starts afterwards (and regions
 *   nested in them start from it). Regions started by other threads are not limited; OMP_NUM_THREADS in the
 *   environment (memgov_pools_child_env) is the process-wide default, read once when the runtime starts.
 * - OpenBLAS built with OpenMP: its count follows the calling thread's OpenMP nthreads-var at every call, so it
 *   is per thread as well (openblas_set_num_threads sets both).
 * Such pools carry MEMGOV_POOL_PER_THREAD.
 */

/* The kinds of pool memgov knows. Values are pinned. */
typedef enum memgov_pool_kind {
    MEMGOV_POOL_OPENBLAS = 1,     /* openblas_get_num_threads / openblas_set_num_threads (or their ILP64 "64_"
                                     names); version from openblas_get_config() */
    MEMGOV_POOL_BLIS = 2,         /* bli_thread_get_num_threads / bli_thread_set_num_threads; version from
                                     bli_info_get_version_str() */
    MEMGOV_POOL_MKL = 3,          /* MKL_Get_Max_Threads / MKL_Set_Num_Threads; version from
                                     MKL_Get_Version_String() */
    MEMGOV_POOL_GNU_OPENMP = 4,   /* omp_get_max_threads / omp_set_num_threads in an object defining GOMP_parallel
                                     and not __kmpc_fork_call (libgomp) */
    MEMGOV_POOL_LLVM_OPENMP = 5,  /* the same in an object defining __kmpc_fork_call (LLVM libomp, Intel libiomp5) */
    MEMGOV_POOL_OTHER_OPENMP = 6, /* the same in an object defining neither */
} memgov_pool_kind;

/* Flags of memgov_pool_info. */
#define MEMGOV_POOL_PER_THREAD 0x1u /* the count and the limit are the calling thread's (OpenMP, see above) */
#define MEMGOV_POOL_READ_ONLY 0x2u  /* memgov does not change this pool: no setter, or its getter answered a value
                                       outside [1, MEMGOV_POOLS_MAX_THREADS] when it was found (BLIS's -1, "not
                                       set", is in range for BLIS and restored as -1) */

/* The largest thread count memgov_pools_limit() and memgov_pools_child_env() accept. */
#define MEMGOV_POOLS_MAX_THREADS 65536

/* One pool of a snapshot (struct_size rule, stats direction: written up to the smaller size). The strings belong
 * to the snapshot and stay valid until memgov_pools_destroy(). */
typedef struct memgov_pool_info {
    size_t struct_size;
    memgov_pool_kind kind;
    uint32_t flags;         /* MEMGOV_POOL_* */
    const char *name;       /* "openblas", "blis", "mkl", "libgomp", "libomp", "openmp"; never NULL */
    const char *path;       /* the object's file, symbolic links resolved ("" for the main program if
                               /proc/self/exe cannot be read); never NULL */
    const char *version;    /* "0.3.21"; "" where the library does not say (the OpenMP runtimes never do) */
    const char *threading;  /* the pool's threading layer: "pthreads", "openmp", "disabled" (a sequential
                               build); "" where the library does not say */
    int threads;            /* the pool's own getter, read by this call (for MEMGOV_POOL_PER_THREAD: as the
                               calling thread sees it); BLIS answers -1 while no count was ever set */
    int saved_threads;      /* the value the first memgov_pools_limit() saved, which memgov_pools_restore()
                               puts back; 0 while nothing is saved */
    int limit;              /* the count the last memgov_pools_limit() set; 0 if none since the last restore */
} memgov_pool_info;

/* A snapshot of the pools found, with the values saved by a limit. Opaque. */
typedef struct memgov_pools memgov_pools;

/* Finds the pools loaded in the process now and returns them in a new snapshot (*out; none found is a snapshot of
 * count 0). Pools loaded later are not in it: find again. Destroy with memgov_pools_destroy().
 * Errors: MEMGOV_EINVAL (out NULL), MEMGOV_ENOMEM; *out is NULL on failure.
 * Thread safety: any thread; the loaded objects are walked under the dynamic loader's lock. */
MEMGOV_API memgov_status memgov_pools_find(memgov_pools **out);

/* The number of pools in the snapshot; 0 for NULL. Thread safety: as the snapshot (below). */
MEMGOV_API size_t memgov_pools_count(const memgov_pools *pools);

/* Describes pool `index` (0 .. count - 1) of the snapshot, reading its current thread count through its getter.
 * Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_ENOTFOUND (index >= count; the message names both). */
MEMGOV_API memgov_status memgov_pools_get(const memgov_pools *pools, size_t index, memgov_pool_info *out);

/* Limits every pool of the snapshot that memgov may change to `threads` threads. The first limit of a snapshot
 * (or the first after a restore) saves each pool's current count; later limits only change the count, so that
 * memgov_pools_restore() always goes back to the values from before the first limit. Pools are set in the
 * snapshot's order and each is read back: a pool may cap the count lower (OpenBLAS at its build's MAX_THREADS)
 * but must not report more. A pool whose setter fails to take does not stop the others.
 * Errors: MEMGOV_EINVAL (pools NULL), MEMGOV_ERANGE (threads < 1 or > MEMGOV_POOLS_MAX_THREADS; nothing is
 * changed), MEMGOV_ESTATE (a pool reports more than `threads` after its setter: the message names the pool, its
 * path and both values; the other pools are limited and the saved values stay restorable).
 * Thread safety: one thread at a time per snapshot. For the process-wide pools (no MEMGOV_POOL_PER_THREAD) the
 * last writer wins across snapshots and threads; per-thread pools are limited for the calling thread. */
MEMGOV_API memgov_status memgov_pools_limit(memgov_pools *pools, int threads);

/* Sets every pool limited by this snapshot back to its saved count, in the reverse order of the limit, and
 * forgets the saved values; a snapshot with nothing saved is left alone (MEMGOV_OK). Per-thread pools must be
 * restored from the thread that limited them. Errors: MEMGOV_EINVAL (pools NULL). Thread safety: as
 * memgov_pools_limit(). */
MEMGOV_API memgov_status memgov_pools_restore(memgov_pools *pools);

/* Frees the snapshot and drops its references on the pools' objects. It does NOT restore: call
 * memgov_pools_restore() first to put the saved counts back. NULL is a no-op. */
MEMGOV_API void memgov_pools_destroy(memgov_pools *pools);

/* The name of the index-th environment variable memgov_pools_child_env() sets (0 .. until NULL is returned):
 * OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, MKL_NUM_THREADS, BLIS_NUM_THREADS,
 * VECLIB_MAXIMUM_THREADS, NUMEXPR_NUM_THREADS. Static strings. Thread safety: any thread. */
MEMGOV_API const char *memgov_pools_env_name(size_t index);

/* Builds the environment for a child process whose BLAS and OpenMP pools should start with `threads` threads:
 * a copy of `base` (a NULL-terminated array of "NAME=value" strings, e.g. environ; NULL means the empty
 * environment) in which every variable memgov_pools_env_name() lists is set to `threads` (replacing any value
 * base has; entries without '=' are copied unchanged), ready for execve() or posix_spawn(). *envp_out is one
 * allocation holding the NULL-terminated array and its strings: free it with memgov_pools_child_env_free().
 * Errors: MEMGOV_EINVAL (envp_out NULL), MEMGOV_ERANGE (threads < 1 or > MEMGOV_POOLS_MAX_THREADS),
 * MEMGOV_EOVERFLOW (base's total size does not fit size_t), MEMGOV_ENOMEM; *envp_out is NULL on failure.
 * Thread safety: any thread, as long as no other thread changes `base` meanwhile (setenv changes environ). */
MEMGOV_API memgov_status memgov_pools_child_env(const char *const *base, int threads, char ***envp_out);

/* Frees what memgov_pools_child_env() returned; NULL is a no-op. Thread safety: any thread. */
MEMGOV_API void memgov_pools_child_env_free(char **envp);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_THREADS_H */

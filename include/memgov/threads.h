/*
 * memgov/threads.h — threads handed out the way bytes are: the thread-budget controller (a lease is a number of
 * worker threads granted out of the governor's thread capacity, with the memory of those workers reserved on a
 * budget for the lease's lifetime) and the BLAS and OpenMP thread pools loaded in the process (found, limited,
 * restored, and the environment that limits a child's). docs/threads.md explains both and shows recipes.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * Its functions are exported under the MEMGOV_EXPERIMENTAL version node. The struct_size rule of common.h applies.
 *
 * Capacity. A governor's thread capacity is the least of: the CPUs in the process's affinity mask, the cgroup's
 * CPU quota (cpu.max, or cfs_quota_us / cfs_period_us, the smallest along the cgroup's ancestors) rounded UP to
 * whole CPUs (1.5 CPUs of quota give 2 threads: the quota is a rate, not a set of CPUs, so a second thread still
 * gets half a CPU of work done), the physical cores when the key threads.use_smt is false (the hardware threads
 * otherwise), and the key threads.max (0 = no limit of its own; in MINIMAL mode 0 means 1, so the lightest mode
 * runs single-threaded unless [mode.minimal] threads.max says otherwise). It is never below 1. The facts come
 * from the probe (memgov/probe.h) under the governor's proc_root, read when the controller is first used and
 * again by memgov_threads_refresh(); the keys are read at each mode change and each change of a threads.* key.
 *
 * Leases. A lease's count includes the thread that acquired it: a lease of n lets that thread run n - 1 helpers
 * beside itself. The sum of the counts of the top-level leases never exceeds the capacity when a lease is
 * granted or grown; a capacity that drops below the leased sum asks holders to shrink (targets, below) and
 * grants nothing until the sum is back under it. A lease acquired by a thread that already holds one (its
 * "current" lease: the last one it acquired and has not released, or the lease of the memgov_parallel_for loop
 * it runs in) is nested: it draws from that parent's unused threads, never from the capacity, and its own
 * thread, already counted in the parent, is its first; so nested parallel code never oversubscribes.
 *
 * Thread safety: every function may be called from any thread. A lease handle may be used from any thread, but
 * memgov_threads_lease_free() must not race with another call on the same handle.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_THREADS_H
#define MEMGOV_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/governor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A lease of worker threads. Opaque; made by memgov_threads_acquire(), its threads and memory given back by
 * memgov_threads_release(), the handle freed by memgov_threads_lease_free(). */
typedef struct memgov_threads_lease memgov_threads_lease;

/* memgov_threads_acquire()'s bytes_per_worker: the configuration key threads.bytes_per_worker. */
#define MEMGOV_THREADS_DEFAULT_BYTES UINT64_MAX
/* At most this many listeners per lease; one more is MEMGOV_ERANGE. */
#define MEMGOV_THREADS_MAX_LISTENERS 4
/* The largest count a lease may ask for (want); more is MEMGOV_ERANGE. */
#define MEMGOV_THREADS_MAX_WANT 4096

/* Flags of memgov_threads_acquire(). */
#define MEMGOV_THREADS_ALL_OR_NOTHING 0x1u /* grant exactly `want` or nothing (default: anything from 1 to want) */
#define MEMGOV_THREADS_TOP_LEVEL      0x2u /* ignore the calling thread's current lease: draw from the capacity */
#define MEMGOV_THREADS_NOT_CURRENT    0x4u /* do not make the new lease the calling thread's current lease (e.g. a
                                              lease acquired for threads that another thread will start) */
#define MEMGOV_THREADS_LIMIT_POOLS    0x8u /* while the lease is held, limit the BLAS and OpenMP thread pools
                                              found at the acquire (memgov_pools_find) to the lease's count,
                                              following resizes, and restore them at release. Process-wide pools
                                              run at the smallest count of the leases holding them; per-thread
                                              (OpenMP) ones are set for the acquiring thread and restored only by
                                              a release on that thread (docs/threads.md "Leases and the pools") */

/* ---- acquiring and releasing ------------------------------------------------------------------------------- */

/* Acquires worker threads from gov without waiting. The count granted is
 *     n = min(want, free threads, headroom of `budget` / bytes_per_worker)
 * where the free threads are the capacity minus the top-level leases' counts (for a nested lease: 1 + the
 * parent's unused threads) and the headroom is the least, over `budget` and its ancestors, of hard limit minus
 * use (no limit: unbounded). n >= 1 on success; with MEMGOV_THREADS_ALL_OR_NOTHING, n == want. This mode is
 * "whatever is free now"; add MEMGOV_THREADS_ALL_OR_NOTHING for a strict non-blocking try, or use
 * memgov_threads_acquire_wait() to wait. n * bytes_per_worker bytes are reserved on `budget` (memgov_reserve)
 * until the lease is released; bytes_per_worker 0 reserves nothing and lets memory bound nothing;
 * MEMGOV_THREADS_DEFAULT_BYTES takes the key threads.bytes_per_worker. `budget` NULL is the parent lease's
 * budget for a nested lease, else the governor's root; it must belong to gov and outlive the lease.
 * Unless MEMGOV_THREADS_NOT_CURRENT is given, the lease becomes the calling thread's current lease.
 * On success *out is the lease (memgov_threads_count() gives n), owned by the caller.
 * Errors: MEMGOV_EINVAL (gov or out NULL, want 0, unknown flag), MEMGOV_ERANGE (want above
 * MEMGOV_THREADS_MAX_WANT), MEMGOV_EBUSY (no thread free, or fewer than want with ALL_OR_NOTHING: the message
 * names the capacity, the leased count and want), MEMGOV_ENOMEM (the headroom does not cover one worker, or
 * want workers with ALL_OR_NOTHING: the message names the budget, its headroom and bytes_per_worker; or no
 * memory for the handle), MEMGOV_EOVERFLOW (want * bytes_per_worker above 2^64 - 1 with ALL_OR_NOTHING).
 * A denial is counted in memgov_threads_stats with its reason. Nothing is held on failure. */
MEMGOV_API memgov_status memgov_threads_acquire(memgov *gov, unsigned want, uint64_t bytes_per_worker,
                                                memgov_budget *budget, unsigned flags,
                                                memgov_threads_lease **out);

/* As memgov_threads_acquire(), but when nothing can be granted yet (no thread free; with ALL_OR_NOTHING fewer
 * than want), waits until a release, a shrink or a capacity change makes a grant possible, at most timeout_ns
 * nanoseconds (0: do not wait, as memgov_threads_acquire; UINT64_MAX: no limit). Memory is not waited for: a
 * headroom too small fails at once with MEMGOV_ENOMEM. Errors: as memgov_threads_acquire(); MEMGOV_EBUSY when
 * the time ran out (the message says "timed out" and names the wait). */
MEMGOV_API memgov_status memgov_threads_acquire_wait(memgov *gov, unsigned want, uint64_t bytes_per_worker,
                                                     memgov_budget *budget, unsigned flags, uint64_t timeout_ns,
                                                     memgov_threads_lease **out);

/* Gives the lease's threads back to its parent or the capacity and releases its reserved memory; waiters are
 * woken. The handle stays valid (count 0, target 0) until memgov_threads_lease_free(). Idempotent: releasing a
 * released lease does nothing and returns MEMGOV_OK. If the lease is the calling thread's current lease, its
 * parent becomes current again. A memgov_threads_resize() growing the lease on another thread (its memory being
 * reserved) finishes first, and what it added is given back too. Errors: MEMGOV_EINVAL (NULL), MEMGOV_EBUSY
 * (nested leases acquired from it are still held, or a memgov_parallel_for loop still runs on it: release them
 * or let it end first; or the calling thread is itself growing the lease, i.e. the release comes from a budget
 * callback run by that resize's reservation; nothing changes). */
MEMGOV_API memgov_status memgov_threads_release(memgov_threads_lease *lease);

/* Releases the lease if it is still held (as memgov_threads_release, whose error it returns, leaving the handle
 * alive when it fails) and frees the handle. NULL is a no-op returning MEMGOV_OK. The handle must not be used
 * afterwards (as with free()). */
MEMGOV_API memgov_status memgov_threads_lease_free(memgov_threads_lease *lease);

/* The lease's count of threads now (the calling thread included); 0 once released or for NULL. */
MEMGOV_API unsigned memgov_threads_count(const memgov_threads_lease *lease);

/* ---- shrinking and growing --------------------------------------------------------------------------------- */

/* The count the controller asks the lease to run with now. It equals the count until the capacity drops (a
 * mode change lowering threads.max, memgov_threads_refresh() finding fewer CPUs) or the hard limit of the
 * lease's budget or an ancestor drops below its use: then the top-level leases are asked to shrink so that
 * their counts fit again (each to max(1, count * capacity / leased), and by the workers whose reserved memory
 * exceeds the budget's use over its limit), and nested ones to fit their parent's target. When capacity or
 * memory recovers, the target grows back, up to the count the lease was granted (or last resized to), as far
 * as free threads and headroom allow. It is only advice: the holder reads it at its next safe point (polling
 * this function or from a listener) and calls memgov_threads_resize(). 0 for NULL or a released lease. */
MEMGOV_API unsigned memgov_threads_target(const memgov_threads_lease *lease);

/* Changes the lease's count to n: shrinking (n below the count) always succeeds and gives the threads and their
 * memory back; growing takes what is free now, as memgov_threads_acquire() would (never waits), and may stop
 * below n. *granted (may be NULL) receives the count afterwards, which is also the lease's new entitlement (the
 * most a recovering target grows back to). Errors: MEMGOV_EINVAL (NULL lease, n 0), MEMGOV_ESTATE (released),
 * MEMGOV_ERANGE (n above MEMGOV_THREADS_MAX_WANT). A growth that found nothing free is not an error. */
MEMGOV_API memgov_status memgov_threads_resize(memgov_threads_lease *lease, unsigned n, unsigned *granted);

/* Called when a lease's target changes, with the new target; the holder should resize at its next safe point.
 * Called outside memgov's locks, on the thread that caused the change (a mode change, a limit change, a
 * release that lets targets grow, memgov_threads_refresh()); it may call any memgov function but should not
 * block: memgov_threads_resize() from inside it is allowed. Calls for one lease never overlap. */
typedef void (*memgov_threads_target_fn)(memgov_threads_lease *lease, unsigned target, void *user);

/* Registers a target listener on the lease. *id_out (may be NULL) receives its id: never 0, never given twice
 * by the governor. Errors: MEMGOV_EINVAL (NULL lease or fn), MEMGOV_ESTATE (released), MEMGOV_ERANGE (the lease
 * already has MEMGOV_THREADS_MAX_LISTENERS). */
MEMGOV_API memgov_status memgov_threads_lease_add_listener(memgov_threads_lease *lease, memgov_threads_target_fn fn,
                                                           void *user, uint64_t *id_out);

/* Removes listener `id`. Afterwards it is not called again and (called outside a listener of this lease) no call
 * of it is running on any thread, so its user data may be freed; from inside one it does not wait.
 * Errors: MEMGOV_EINVAL (NULL), MEMGOV_ENOTFOUND (no such id on this lease). */
MEMGOV_API memgov_status memgov_threads_lease_remove_listener(memgov_threads_lease *lease, uint64_t id);

/* Probes the affinity mask, the cgroup quota and the cores again and recomputes the capacity (e.g. after
 * sched_setaffinity or a container resize); targets change as a capacity drop or rise says. Errors:
 * MEMGOV_EINVAL (NULL), MEMGOV_ENOMEM (the controller could not be created). */
MEMGOV_API memgov_status memgov_threads_refresh(memgov *gov);

/* ---- statistics -------------------------------------------------------------------------------------------- */

/* Why a request was denied (stats.denials[] indices). Values are pinned. */
typedef enum memgov_threads_denial {
    MEMGOV_THREADS_DENIED_CAPACITY = 0, /* no thread free in the capacity (or fewer than want, all-or-nothing) */
    MEMGOV_THREADS_DENIED_PARENT = 1,   /* nested: the parent lease had no unused thread (or fewer than want) */
    MEMGOV_THREADS_DENIED_MEMORY = 2,   /* the budget's headroom did not cover the workers' memory */
    MEMGOV_THREADS_DENIED_TIMEOUT = 3,  /* memgov_threads_acquire_wait ran out of time */
    MEMGOV_THREADS_DENIED_COUNT_ = 4
} memgov_threads_denial;

/* The controller's numbers. Begins with struct_size: set it to sizeof(memgov_threads_stats). */
typedef struct memgov_threads_stats {
    size_t struct_size;
    unsigned capacity;        /* threads the governor may lease now (see the top of this header) */
    unsigned leased;          /* sum of the counts of the top-level leases now */
    unsigned peak_leased;     /* the highest `leased` so far */
    unsigned waiting;         /* threads blocked in memgov_threads_acquire_wait now */
    unsigned leases;          /* leases held now, nested ones included */
    uint64_t grants;          /* leases granted so far (nested ones included) */
    uint64_t granted_threads; /* sum of their counts at grant time */
    uint64_t partial_grants;  /* grants below want */
    uint64_t denials[MEMGOV_THREADS_DENIED_COUNT_]; /* refused requests by reason */
    uint64_t target_changes;  /* listener notifications of a new target (shrink or grow) */
    /* the facts behind the capacity; 0 = unknown or no limit */
    unsigned allowed_cpus;    /* CPUs in the affinity mask */
    double cpu_quota;         /* cgroup CPU quota in CPUs */
    unsigned physical_cores, logical_cpus; /* hwloc */
    unsigned use_smt;         /* the key threads.use_smt */
    unsigned threads_max;     /* threads.max as the current mode resolves it (MINIMAL's 0 is already 1 here) */
    char capacity_why[160];   /* which of the above decided the capacity, e.g. "cgroup cpu quota 1.5 -> 2" */
} memgov_threads_stats;

/* Fills *out (up to its struct_size). Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_ENOMEM (the
 * controller could not be created). */
MEMGOV_API memgov_status memgov_threads_get_stats(memgov *gov, memgov_threads_stats *out);

/* One lease's numbers. Begins with struct_size: set it to sizeof(memgov_threads_lease_info). */
typedef struct memgov_threads_lease_info {
    size_t struct_size;
    unsigned want;            /* asked for */
    unsigned count;           /* granted now (0 once released) */
    unsigned target;          /* memgov_threads_target() */
    unsigned entitled;        /* what a recovering target grows back to */
    unsigned depth;           /* 0 top-level, 1 nested in a top-level lease, ... */
    unsigned flags;           /* the acquire flags */
    uint64_t bytes_per_worker;/* resolved (the key's value for MEMGOV_THREADS_DEFAULT_BYTES) */
    uint64_t reserved;        /* bytes reserved on the budget now */
    memgov_budget *budget;    /* the budget the memory is reserved on */
    uint64_t resizes;         /* successful memgov_threads_resize() calls that changed the count */
} memgov_threads_lease_info;

/* Fills *out (up to its struct_size) with the lease's numbers. Errors: MEMGOV_EINVAL (NULL, bad struct_size). */
MEMGOV_API memgov_status memgov_threads_lease_get_info(const memgov_threads_lease *lease,
                                                       memgov_threads_lease_info *out);

/* ---- parallel-for ------------------------------------------------------------------------------------------ */

/* A loop body: runs items [begin, end) (end > begin) on worker `worker` (0 = the calling thread; every worker
 * index is below the lease's count when the loop started, so per-worker scratch may be indexed by it; two calls
 * with the same index never overlap). MEMGOV_OK continues the loop; any other status stops it: no new chunk is
 * started anywhere, chunks already running finish, and memgov_parallel_for() returns the first such status. */
typedef memgov_status (*memgov_parallel_fn)(uint64_t begin, uint64_t end, unsigned worker, void *ctx);

/* Runs fn over items [0, n) with the lease's threads, dynamically: chunks of `grain` items (0 = n / (8 x the
 * workers), at least 1) are taken in order by whichever worker is free, so uneven items balance. The workers
 * are the calling thread and helpers of memgov's internal pool (parked threads, started on first need and kept
 * for later loops, never more at once than the leases allow); their number is the lease's count, or its target
 * when that is lower, minus the threads already busy in loops or nested leases of it (at least 1: the caller).
 * While the loop runs, the lease is every worker's current lease, so a lease acquired inside fn is nested in it
 * and gets only the threads the loop leaves idle. lease NULL runs everything on the calling thread (worker 0).
 * n 0 calls nothing. Returns MEMGOV_OK, or the first non-OK status of fn with a message naming the chunk, the
 * worker and that thread's last error. Errors: MEMGOV_EINVAL (fn NULL, a lease handle that is not one),
 * MEMGOV_ESTATE (the lease was released). Thread safety: any thread; loops on one lease may run at once from
 * several threads (each takes what the others leave). */
MEMGOV_API memgov_status memgov_parallel_for(memgov_threads_lease *lease, uint64_t n, uint64_t grain,
                                             memgov_parallel_fn fn, void *ctx);

/* As memgov_parallel_for(), statically: chunk c (items [c x grain, (c + 1) x grain)) runs on worker c mod W, W
 * the workers; grain 0 gives each worker one contiguous block of about n / W items. Worker w always gets the
 * same items for the same n, grain and W (OpenMP's schedule(static, grain)). */
MEMGOV_API memgov_status memgov_parallel_for_static(memgov_threads_lease *lease, uint64_t n, uint64_t grain,
                                                    memgov_parallel_fn fn, void *ctx);

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
 * count 0). Pools loaded later are not in it: find again. Destroy with memgov_pools_destroy(). The last walk of
 * the loaded objects is reused while the dynamic loader reports no object loaded or unloaded since, which makes a
 * repeated find cheap (about a microsecond; docs/threads.md).
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

/*
 * memgov/budget.h — budgets: a tree of hard and soft byte caps, allocation charged to them, reserve/release
 * for memory owned elsewhere, reclaim callbacks, events and statistics. docs/budgets.md explains the model.
 *
 * Accounting. Every block is charged in usable bytes (what the allocator really hands out, which may be more
 * than asked for) to its budget and to every ancestor up to the governor's root. A charge that would take any
 * level above its hard limit is refused as a whole: no level keeps any part of it, and the charged total of a
 * budget never exceeds its hard limit at any moment, even with many threads. Small blocks (<= 64 KiB) are served
 * from per-thread stocks of pre-charged bytes (per thread and budget a batch of the configuration's
 * budget.charge_batch, up to 16 times it for a busy thread), refilled only with the headroom below every level's
 * soft and hard limits; a refusal first gives every
 * stock under the refusing budget back, so a request fails only when the live bytes plus the request exceed the
 * limit. A block's bytes are credited when memgov_free() returns (until then it still counts as used).
 *
 * The refusal path. When a level refuses, the reclaim callbacks registered on the refusing budget and on every
 * budget below it run synchronously, highest priority first, until they report enough freed bytes; then the
 * request is retried exactly once. If it is refused again the call fails with MEMGOV_ENOMEM and a last-error
 * message naming the refusing budget, its hard limit, its use and peak and the request, in binary units.
 *
 * Threads. Allocation, free, reserve/release, limit changes and stats may be called from any thread at any time
 * on a live budget. Creating a child, registering callbacks and destroying are serialised internally; destroying
 * a budget while another thread still uses it is the caller's error. The library never touches a destroyed
 * budget: a callback of it running on another thread keeps it alive until the callback returns.
 *
 * fork(). Every lock of the library is taken before fork() and released in the parent and re-initialised in the
 * child (pthread_atfork), so a child of a multi-threaded parent may call every function of this header on the
 * budgets it inherited; docs/budgets.md says what the child inherits.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_BUDGET_H
#define MEMGOV_BUDGET_H

#include "memgov/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A budget: a node of the budget tree with its limits and counters. Opaque; created by
 * memgov_budget_create() (or, for the root, by memgov_open()) and destroyed by memgov_budget_destroy(). */
typedef struct memgov_budget memgov_budget;

/* The longest chain from the root to a budget, the root included. */
#define MEMGOV_BUDGET_MAX_DEPTH 16
/* At most this many reclaim callbacks and this many event listeners per budget; one more is MEMGOV_ERANGE. */
#define MEMGOV_BUDGET_MAX_CALLBACKS 8

/* ---- creation ---------------------------------------------------------------------------------------------- */

/* Budget flags. */
#define MEMGOV_BUDGET_OWN_ARENA 0x1u /* the budget's blocks come from a jemalloc arena of its own (stats per arena),
                                        split into up to 16 shards that its threads spread over (configuration
                                        key budget.arena_shards, docs/budgets.md); without it they come from the
                                        parent's arena (and shards) */

/* Options of memgov_budget_create(). Begins with struct_size (docs/abi.md); fill with memgov_budget_options_init. */
typedef struct memgov_budget_options {
    size_t struct_size;
    const char *name;     /* shown in messages and stats; copied; NULL gives "budget" */
    uint64_t hard_limit;  /* bytes that charges never exceed; 0 = no limit of its own (ancestors still apply) */
    uint64_t soft_limit;  /* bytes above which a SOFT_CROSSED event is sent; 0 = none; must be <= hard_limit */
    uint32_t flags;       /* MEMGOV_BUDGET_* flags */
} memgov_budget_options;

/* Fills *opts with the defaults (no limits, no flags, name NULL) and sets struct_size. Thread safety: any. */
MEMGOV_API void memgov_budget_options_init(memgov_budget_options *opts);

/* Creates a budget under `parent` (any budget of a governor, e.g. memgov_root()). opts may be NULL (defaults).
 * On success *out is the new budget, owned by the library until memgov_budget_destroy().
 * Errors: MEMGOV_EINVAL (parent or out NULL, bad struct_size, unknown flag), MEMGOV_ERANGE (soft limit above
 * the hard limit, tree deeper than MEMGOV_BUDGET_MAX_DEPTH), MEMGOV_ENOMEM (no memory or no arena for the
 * budget itself). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_create(memgov_budget *parent, const memgov_budget_options *opts,
                                              memgov_budget **out);

/* Destroys a budget that has no live bytes (blocks or reservations) and no children. Otherwise fails with
 * MEMGOV_EBUSY and a message giving the live bytes and the children's names, and the budget stays as it was.
 * The root is destroyed by memgov_close() only (MEMGOV_EINVAL here). NULL is a no-op returning MEMGOV_OK.
 * Its callbacks go with it. A run of one of them in progress on another thread (a refusal of an ancestor) is
 * waited for, unless destroy is called from inside a memgov callback on this thread: then it returns at once and
 * the budget's memory is freed when the last such run returns.
 * Thread safety: any thread, but no other thread may still use the budget. */
MEMGOV_API memgov_status memgov_budget_destroy(memgov_budget *budget);

/* The budget's name (owned by the budget, valid until it is destroyed). Thread safety: any thread. */
MEMGOV_API const char *memgov_budget_name(const memgov_budget *budget);

/* The budget's parent; NULL for a root. Thread safety: any thread. */
MEMGOV_API memgov_budget *memgov_budget_parent(const memgov_budget *budget);

/* Changes the limits at run time (same meaning as in the options: 0 = none). A hard limit below the current use
 * is allowed: new charges are refused until the use drops below it. Sends a LIMIT_CHANGED event.
 * Errors: MEMGOV_EINVAL (budget NULL), MEMGOV_ERANGE (soft above hard). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_set_limits(memgov_budget *budget, uint64_t hard_limit,
                                                  uint64_t soft_limit);

/* ---- allocation -------------------------------------------------------------------------------------------- */

/* Allocates `size` bytes charged to `budget` (and its ancestors) in usable bytes. Size 0 is treated as 1: a
 * unique block that must be freed. Returns NULL and sets the last status on failure: MEMGOV_ENOMEM (refused
 * after reclaim and one retry, or the system has no memory; the message says which), MEMGOV_EINVAL (budget NULL).
 * Never aborts. The block is freed with memgov_free() on the same budget. Thread safety: any thread. */
MEMGOV_API void *memgov_malloc(memgov_budget *budget, size_t size);

/* Like memgov_malloc() for count * size bytes, zero-filled. MEMGOV_EOVERFLOW when count * size overflows. */
MEMGOV_API void *memgov_calloc(memgov_budget *budget, size_t count, size_t size);

/* Resizes a block of `budget` to `size` bytes (0 is treated as 1), keeping its contents up to the smaller size.
 * Only the difference in usable bytes is charged (or credited). On failure returns NULL, sets the last status
 * as memgov_malloc() does, and leaves the original block intact, allocated and charged. ptr NULL is
 * memgov_malloc(). A block from memgov_aligned_alloc() keeps its alignment only by chance (as with C realloc).
 * Thread safety: any thread; the block must not be used concurrently. */
MEMGOV_API void *memgov_realloc(memgov_budget *budget, void *ptr, size_t size);

/* Allocates `size` bytes aligned to `alignment` (a power of two). Errors as memgov_malloc(), plus MEMGOV_EINVAL
 * for an alignment that is not a power of two and MEMGOV_EOVERFLOW when size rounded up to the alignment
 * overflows. Free it with memgov_free(). */
MEMGOV_API void *memgov_aligned_alloc(memgov_budget *budget, size_t alignment, size_t size);

/* Frees a block of `budget` and credits its usable bytes. ptr NULL is a no-op. Passing a block of another
 * budget corrupts both budgets' accounting. Thread safety: any thread. */
MEMGOV_API void memgov_free(memgov_budget *budget, void *ptr);

/* Like memgov_free() when the caller knows the size it asked for. Only for blocks from
 * memgov_malloc/calloc/realloc with that size; aligned blocks go to memgov_free(). ptr NULL is a no-op. On the
 * jemalloc fast path it costs what memgov_free() does (the free's own lookup gives the size); elsewhere the size
 * saves a lookup. Thread safety: any thread. */
MEMGOV_API void memgov_sized_free(memgov_budget *budget, void *ptr, size_t size);

/* The usable size of a block of `budget`: the bytes charged for it (>= the size asked for). 0 for NULL.
 * Thread safety: any thread. */
MEMGOV_API size_t memgov_usable_size(memgov_budget *budget, const void *ptr);

/* ---- memory allocated elsewhere ---------------------------------------------------------------------------- */

/* Charges `bytes` owned elsewhere (a numpy buffer, a tensor, a GPU block) to the budget and its ancestors under
 * the same rules as an allocation (reclaim, one retry, events). Errors: MEMGOV_ENOMEM (refused: some level's hard
 * limit would be passed, however large the request; message as for allocation), MEMGOV_EOVERFLOW (no limit
 * refuses it but some level's use would pass 2^64 - 1, possible only where no level has a limit), MEMGOV_EINVAL.
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_reserve(memgov_budget *budget, uint64_t bytes);

/* Credits `bytes` reserved before with memgov_reserve(). Errors: MEMGOV_ERANGE when more than the budget's
 * reserved bytes are released (nothing is credited), MEMGOV_EINVAL. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_release(memgov_budget *budget, uint64_t bytes);

/* ---- reclaim callbacks ------------------------------------------------------------------------------------- */

/* Called synchronously, on the refused thread and outside memgov's locks, when `refusing` (this callback's
 * budget or an ancestor) refused a request: free what you can (with memgov_free / memgov_release, any budget) and
 * return the number of bytes freed; `needed` is what the refusing budget lacks. It may call any memgov function,
 * including registering and removing callbacks and destroying budgets (see memgov_budget_remove_reclaim for what
 * a removal from inside a callback means). */
typedef uint64_t (*memgov_reclaim_fn)(memgov_budget *refusing, uint64_t needed, void *user);

/* Registers a reclaim callback on `budget`; higher `priority` runs first (ties: registration order). Callbacks
 * run until the sum of their answers reaches `needed`, then the request is retried once. On success *id_out (may
 * be NULL) receives the callback's id for memgov_budget_remove_reclaim(): never 0, never given twice by the
 * governor. The callback stays registered until it is removed or the budget is destroyed.
 * Errors: MEMGOV_EINVAL (NULL budget or fn), MEMGOV_ERANGE (the budget already has MEMGOV_BUDGET_MAX_CALLBACKS
 * reclaim callbacks). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_add_reclaim(memgov_budget *budget, memgov_reclaim_fn fn, void *user,
                                                   int priority, uint64_t *id_out);

/* Removes the reclaim callback `id` of `budget`. When it returns, the callback will not be started again, and
 * (called outside any memgov callback) no run of it is in progress on any thread: it waits for runs already
 * started to return, so the callback's `user` data may be freed afterwards. Called from inside a memgov callback
 * (a reclaim callback or a listener, on this thread) it does not wait, so that it can never deadlock: runs in
 * progress, the calling one included, finish normally after it returned. Because it waits, do not call it while
 * holding a lock of your own that the callback takes. Errors: MEMGOV_EINVAL (budget NULL),
 * MEMGOV_ENOTFOUND (no callback with that id on this budget, e.g. removed already). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_remove_reclaim(memgov_budget *budget, uint64_t id);

/* ---- events ------------------------------------------------------------------------------------------------ */

/* What happened. Values are pinned. */
typedef enum memgov_event_kind {
    MEMGOV_EVENT_SOFT_CROSSED = 1, /* a charge took the use above the soft limit (stocks drained first: bytes
                                      pre-charged to stocks do not make a crossing) */
    MEMGOV_EVENT_SOFT_CLEARED = 2, /* a credit took the use back to or below the soft limit; follows exactly one
                                      SOFT_CROSSED of the same budget */
    MEMGOV_EVENT_HARD_REFUSAL = 3, /* a request was refused for good (after reclaim and the retry) */
    MEMGOV_EVENT_LIMIT_CHANGED = 4 /* memgov_budget_set_limits() was called */
} memgov_event_kind;

/* An event, valid only during the listener call. Begins with struct_size: read fields beyond the ones your
 * header knows only if struct_size covers them. */
typedef struct memgov_event {
    size_t struct_size;
    memgov_event_kind kind;
    memgov_budget *budget;  /* the budget the event is about (for a refusal: the one that refused) */
    memgov_budget *origin;  /* the budget the request was made on (== budget except for ancestor refusals) */
    uint64_t used;          /* the budget's use after the change, bytes */
    uint64_t peak;          /* the budget's peak, bytes */
    uint64_t hard_limit;    /* 0 = none */
    uint64_t soft_limit;    /* 0 = none */
    uint64_t request;       /* the bytes asked for (refusal, soft crossing/clearing), else 0 */
} memgov_event;

/* Receives events. Called on the thread that caused the event, outside memgov's internal locks; it may call any
 * memgov function, including registering and removing listeners (see memgov_budget_remove_listener). */
typedef void (*memgov_event_fn)(const memgov_event *event, void *user);

/* Registers a listener on `budget`. It receives the events of this budget and of every budget below it, so a
 * listener on the root (memgov_root()) hears every event of the governor: this is how a whole-process observer
 * such as the fallback machine learns of every hard refusal. On success *id_out (may be NULL) receives its id for
 * memgov_budget_remove_listener(): never 0, never given twice by the governor. Errors: MEMGOV_EINVAL (NULL budget
 * or fn), MEMGOV_ERANGE (the budget already has MEMGOV_BUDGET_MAX_CALLBACKS listeners). Thread safety: any
 * thread. */
MEMGOV_API memgov_status memgov_budget_add_listener(memgov_budget *budget, memgov_event_fn fn, void *user,
                                                    uint64_t *id_out);

/* Removes the listener `id` of `budget`. As memgov_budget_remove_reclaim(): afterwards it is not called again,
 * and (called outside any memgov callback) no delivery to it is in progress on any thread; from inside a callback
 * it does not wait. Errors: MEMGOV_EINVAL (budget NULL), MEMGOV_ENOTFOUND (no listener with that id on this
 * budget). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_remove_listener(memgov_budget *budget, uint64_t id);

/* ---- statistics -------------------------------------------------------------------------------------------- */

/* A budget's numbers. Begins with struct_size: set it to sizeof(memgov_budget_stats) before the call. */
typedef struct memgov_budget_stats {
    size_t struct_size;
    uint64_t used;            /* live bytes now: blocks and reservations of this budget and its descendants */
    uint64_t peak;            /* highest charged bytes since creation or memgov_budget_reset_peak(): `used` plus
                                 bytes pre-charged to per-thread stocks for small blocks (at most 32 times
                                 budget.charge_batch per thread, only below the soft and hard limits); never above
                                 the hard limit in force when it was reached. Lowering the limit
                                 (memgov_budget_set_limits) does not lower it: reset it to start again */
    uint64_t hard_limit;      /* 0 = none */
    uint64_t soft_limit;      /* 0 = none */
    uint64_t reserved;        /* bytes of memgov_reserve() on this budget not yet released */
    uint64_t allocations;     /* successful allocations on this budget (resizing a block counts none) */
    uint64_t frees;           /* frees on this budget */
    uint64_t refusals;        /* requests this budget refused for good */
    uint64_t reclaims;        /* calls of this budget's reclaim callbacks */
    uint32_t children;        /* direct children */
    uint32_t own_arena;       /* 1 if the budget has its own jemalloc arena (the fields below are filled, each
                                 summed over the arena's shards) */
    uint64_t arena_allocated; /* jemalloc: bytes allocated in the arena (blocks in thread caches included) */
    uint64_t arena_active;    /* jemalloc: bytes in active pages */
    uint64_t arena_resident;  /* jemalloc: bytes resident */
    uint64_t arena_mapped;    /* jemalloc: bytes mapped */
    uint64_t arena_retained;  /* jemalloc: bytes retained (virtual memory kept for reuse) */
} memgov_budget_stats;

/* Fills *out (up to its struct_size) with the budget's numbers. The arena fields refresh jemalloc's statistics,
 * which takes jemalloc's global lock: call it for reports, not on a hot path (a struct_size that ends before
 * arena_allocated skips the refresh). Errors: MEMGOV_EINVAL (NULL, bad
 * struct_size). Thread safety: any thread; the numbers are a snapshot, each exact at its own moment: every call
 * that has returned is counted, a call still in progress on another thread may or may not be (a drain of the
 * stocks by another thread is never seen half done). */
MEMGOV_API memgov_status memgov_budget_get_stats(memgov_budget *budget, memgov_budget_stats *out);

/* Resets the peak to the bytes charged now (the use plus the stocks). Errors: MEMGOV_EINVAL (NULL).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_budget_reset_peak(memgov_budget *budget);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_BUDGET_H */

/* Internal to src/budget: the budget and tree objects, and the charge protocol between the files of src/budget. */
#ifndef MG_BUDGET_INTERNAL_H
#define MG_BUDGET_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "memgov/budget.h"
#include "budget/tree.h"
#include "internal/atfork.h"

#define MG_NO_LIMIT UINT64_MAX

/* A limit as the public API spells it (0 = none) from the stored form, and back. */
static inline uint64_t mg_limit_out(uint64_t v)
{
    return v == MG_NO_LIMIT ? 0 : v;
}

static inline uint64_t mg_limit_in(uint64_t v)
{
    return v == 0 ? MG_NO_LIMIT : v;
}

/* The budget tree of one governor (made by mg_tree_open, budget/tree.h): its lock, the condition its callback
 * removals and destroys wait on, and the stocks' batch. */
struct mg_tree {
    /* The tree's shape, every budget's callback tables, pins and the callback ids. Lock order: internal/atfork.h
     * (MG_FORK_RANK_TREE). */
    pthread_mutex_t lock;
    pthread_cond_t calls_done; /* broadcast when a callback run or an event delivery ends */
    _Atomic uint64_t charge_batch; /* budget.charge_batch: the most a stock refill adds (0: no stocks) */
    _Atomic unsigned arena_shards; /* budget.arena_shards resolved (1..MG_SHARDS_MAX): arenas per own-arena budget */
    _Atomic bool spill_direct;     /* MINIMAL mode with memmap.spill_minimal: large requests go to spill at once */
    uint64_t last_id;              /* the last callback id given out (ids start at 1, never reused) */
    memgov_budget *root;
    void *device_owner; /* a device tree's (src/gpu) owner; NULL: a host tree, whose budgets allocate */
    mg_fork_lock fork;
};

/* One registered callback: a reclaim callback or an event listener (the table says which). */
typedef struct mg_callback {
    uint64_t id;
    union {
        memgov_reclaim_fn reclaim;
        memgov_event_fn event;
    } fn;
    void *user;
    int priority;     /* reclaim callbacks only */
    unsigned running; /* runs in progress on some thread */
    bool removed;     /* removed while running: it stays (and starts no run) until the last run ends */
} mg_callback;

/* A budget's reclaim callbacks or its listeners, in registration order, under the tree's lock. `live` counts the
 * entries not removed (at most MEMGOV_BUDGET_MAX_CALLBACKS); removed ones still running take the extra room. */
#define MG_CALLBACK_ROOM (2 * MEMGOV_BUDGET_MAX_CALLBACKS)
typedef struct mg_callback_table {
    mg_callback entry[MG_CALLBACK_ROOM];
    unsigned n, live;
} mg_callback_table;

/* Per-thread charge stocks (docs/design.md 4.4, after the memory cgroup's per-CPU stock; slot owners, the drain
 * handshake and the fast path: stock.h and stock.c): bytes already charged to the budget and every ancestor,
 * handed out to small allocations and taken back from small frees without touching the shared counters. A stock
 * is refilled by at most its slot's batch (charge.c, stock_batch: the tree's charge_batch, up to MG_STOCK_GROW
 * times it for a busy slot), and only with the headroom every level has below its soft and hard limits, so
 * stocks vanish near a limit and accounting there is exact; a refusal drains every stock under the refusing
 * budget before it fails, and a level crossing its soft limit drains (and closes) every stock below it. */
#define MG_STOCK_OWNED 16                  /* slots each owned by one live thread */
#define MG_STOCK_SLOTS (MG_STOCK_OWNED + 1) /* and one shared by the threads beyond them */
#define MG_STOCK_BATCH_DEFAULT ((uint64_t)256 << 10) /* budget.charge_batch's default, until the key is read */
#define MG_STOCK_BATCH_MAX MG_TREE_BATCH_MAX         /* and its upper bound */
#define MG_STOCK_MAX_CHARGE ((uint64_t)64 << 10) /* larger requests always go to the shared counters */
/* A slot's batch adapts (charge.c, stock_batch): it doubles, up to MG_STOCK_GROW x charge_batch (and
 * MG_STOCK_BATCH_MAX), when the slot went back to the shared counters within MG_STOCK_BUSY_OPS operations, and
 * halves, down to charge_batch, when that took more than MG_STOCK_IDLE_OPS. */
#define MG_STOCK_GROW 16
#define MG_STOCK_BUSY_OPS 128u
#define MG_STOCK_IDLE_OPS 4096u

/* A slot's word: the stocked bytes, and MG_STOCK_OPEN while frees may add to them. A drain empties and closes a
 * slot; only a refill (which needs headroom below every level's soft and hard limit) opens it again. So a free
 * never hides in a stock while some level is over a limit, without looking at the levels. */
#define MG_STOCK_OPEN ((uint64_t)1 << 63)

static inline uint64_t mg_stock_bytes(uint64_t word)
{
    return word & ~MG_STOCK_OPEN;
}

typedef struct mg_stock {
    alignas(64) _Atomic uint64_t word;
    _Atomic unsigned busy;  /* the owner is inside a plain (unlocked) update of `word` */
    _Atomic unsigned drain; /* drainers at work on the slot: meanwhile the owner uses compare-and-swap */
    /* This budget's operations counted in this slot: written by the slot's owner alone with a plain atomic load
     * and store (the shared slot: fetch-and-add). */
    _Atomic uint64_t n_alloc, n_free;
    /* The most the slot may hold from frees: twice the slot's batch when it was last refilled (charge.c,
     * stock_batch). */
    _Atomic uint64_t cap;
    /* The owner's own, never read by other threads: the thread token (mg_me.tok) the two below were made for;
     * the owner's explicit jemalloc tcache for this budget's arena (for the glue, internal/je.h) and the jemalloc
     * flags naming the arena and that tcache (for the public calls). */
    uint64_t tok;
    void *je_tcache;
    int flags;
    /* The owner's own: the low bits of n_alloc + n_free at the slot's last refill or overflow (charge.c,
     * stock_batch). */
    uint32_t mark;
} mg_stock;

/* Arena shards (docs/design.md 4.16, docs/budgets.md): a budget with its own arena has up to MG_SHARDS_MAX
 * jemalloc arenas, shard 0 made with the budget, the others on the first use by a thread mapped to them; each
 * thread uses the shard (its stock slot index - 1) mod the tree's arena_shards, so threads of one budget do not
 * share an arena's locks. Blocks may be freed through any shard's tcache (jemalloc returns each block to its own
 * arena), and the budget's counters do not depend on the arena, so accounting is the same with any shard count. */
#define MG_SHARDS_MAX 16
#define MG_SHARD_NONE (~0u) /* memgov_budget.shard[k]: not created yet */

struct memgov_budget {
    /* Charged bytes: live bytes plus the stocks of this budget and of its descendants. Written by refills,
     * give-backs and large charges; a cache line of its own, so that the read-mostly fields below stay shared. */
    alignas(64) _Atomic uint64_t used;
    /* Read by refills and credits, written rarely (a new peak, a limit change). */
    alignas(64) _Atomic uint64_t peak; /* highest `used` (stocks included) */
    _Atomic uint64_t hard;   /* MG_NO_LIMIT = none */
    _Atomic uint64_t soft;   /* MG_NO_LIMIT = none */
    _Atomic uint64_t n_refusal, n_reclaim, reserved;
    _Atomic bool soft_over; /* SOFT_CROSSED announced and SOFT_CLEARED not yet: events come in pairs */
    /* Spill (src/budget/spill.c): the spill target, a file-backed budget, or NULL. Read by every free (a spilled
     * block is recognised by its address), hence here among the read-mostly fields. */
    _Atomic(memgov_budget *) spill;
    mg_stock stock[MG_STOCK_SLOTS];
    /* Fixed at creation. */
    alignas(64) mg_tree *tree;
    memgov_budget *parent;
    memgov_budget *up; /* the next level charged: the parent, or NULL for a file-backed budget, whose bytes are on
                          disk and not in its ancestors' memory (set under tree->lock; file_budget.c) */
    unsigned depth; /* root = 1 */
    unsigned arena;  /* shard 0: the arena made with the budget (with own_arena), else its arena home's */
    bool own_arena;
    /* The budget kept to one arena (no shards: an arena with hooks of its own, e.g. file-backed). Set before the
     * budget is used by any thread. */
    bool single_arena;
    memgov_budget *home; /* the budget whose arenas this one uses: itself with own_arena, else its parent's home */
    /* With own_arena: shard k's arena (shard[0] == arena), MG_SHARD_NONE until made (mg_budget_arena). */
    _Atomic unsigned shard[MG_SHARDS_MAX];
    bool device; /* of a device tree: no arena, memgov_malloc refuses; blocks are charged by src/gpu */
    char *name;
    /* Under tree->lock. */
    memgov_budget *first_child, *next_sibling;
    mg_callback_table reclaim, listen;
    unsigned pins; /* callback runs and event deliveries using this budget now: it is not freed meanwhile */
    bool dead;     /* destroyed while pinned: the last unpin frees it */
    /* File-backed budgets (src/budget/file_budget.c, src/memmap): the file the blocks come from (the budget's own,
     * or its parent's for a child without an arena of its own), NULL for a RAM budget. Fixed at creation. */
    struct mg_filearena *file;
    bool own_file;
    /* Spill (spill.c): the smallest request that spills; the budgets naming this one as their target (under
     * tree->lock); the counters of memgov_spill_stats. */
    uint64_t spill_min;
    unsigned spill_refs;
    _Atomic uint64_t n_spilled, n_spilled_direct, n_spill_failed, spill_live_blocks, spill_live_bytes;
};

/* Creates a budget (root when parent is NULL) of `tree`; validates the options. */
memgov_status mg_budget_new(mg_tree *tree, memgov_budget *parent, const memgov_budget_options *opts,
                            memgov_budget **out);
/* The arena the calling thread uses for b's blocks: its shard of b's arena home, made on first use (shard 0 if
 * that fails: slower, still exact). */
unsigned mg_budget_arena(memgov_budget *b);
/* Fails with MEMGOV_EBUSY and a message when b has live bytes or children; `what` names the operation. Called
 * with tree->lock held. */
memgov_status mg_budget_check_idle(memgov_budget *b, const char *what);
/* Frees a budget's memory (name, arena, the object); its stocks are drained and it is out of the tree. */
void mg_budget_free(memgov_budget *b);
/* The budget's live bytes: charged minus the stocks of its subtree. Takes tree->lock; _locked: held already. */
uint64_t mg_budget_live(memgov_budget *b);
uint64_t mg_budget_live_locked(memgov_budget *b);
/* True when slot owners update their slots without a locked instruction (membarrier registered); false in the
 * locked fallback (no membarrier, MG_STOCK_FORCE_LOCKED in the environment, a TSan build). Decided once. */
bool mg_stock_plain(void);
/* The allocations (or frees) counted in a slot. */
uint64_t mg_stock_count_allocs(mg_stock *s);
uint64_t mg_stock_count_frees(mg_stock *s);

/* ---- spill (spill.c) -----------------------------------------------------------------------------------------
 * Only budgets with a spill target reach these; the free path pays one load and a branch for the others. */

/* Serves a request of `size` bytes (align 0 = default; zero: zero-filled) that b refused, or (direct: MINIMAL mode,
 * memmap.spill_minimal) did not ask, from b's spill target: the block, counted and announced (SPILLED), or NULL
 * when it is below the spill minimum (b's error stays) or the target refused too (the message says both). */
void *mg_spill_alloc(memgov_budget *b, size_t size, size_t align, bool zero, bool direct);
/* True when the tree is in MINIMAL mode with memmap.spill_minimal set and `size` may spill from b. */
bool mg_spill_direct(memgov_budget *b, size_t size);
/* The spill target of b when ptr is one of its blocks, else NULL. */
static inline memgov_budget *mg_spill_owner(memgov_budget *b, const void *ptr);
/* memgov_free, memgov_realloc and memgov_usable_size of a spilled block of b (target: mg_spill_owner's answer). */
void mg_spill_free(memgov_budget *b, memgov_budget *target, void *ptr);
void *mg_spill_realloc(memgov_budget *b, memgov_budget *target, void *ptr, size_t size);
size_t mg_spill_usable(memgov_budget *target, const void *ptr);
/* Under tree->lock: MEMGOV_EBUSY when b is some budget's spill target or has live spilled blocks. */
memgov_status mg_spill_check_idle(memgov_budget *b, const char *what);
/* Under tree->lock, when b leaves the tree: its target no longer counts it. */
void mg_spill_unlink(memgov_budget *b);

/* ---- events and callbacks (events.c) ------------------------------------------------------------------------
 * Callbacks run outside the tree's lock. While one runs, its entry counts the run (mg_callback.running) and its
 * budget is pinned (memgov_budget.pins), so that a removal waits for the run to end and a destroy never frees a
 * budget that a run still uses. */

/* Events that a drain made due (SOFT_CLEARED), collected under the tree's lock and announced after it is released:
 * each one pins its budget's chain (it and its ancestors) until it has been delivered. */
typedef struct mg_pending_event {
    memgov_budget *budget, *origin;
    uint64_t request;
} mg_pending_event;
typedef struct mg_pending {
    mg_pending_event *ev;
    size_t n, cap;
} mg_pending;

/* Counts how many calls of memgov callbacks the calling thread is inside (a callback calling memgov). */
extern _Thread_local unsigned mg_in_callback;

/* Sends an event of `kind` about b (origin: the budget the request was made on) to the listeners of b and of
 * every ancestor. b must stay alive meanwhile (the caller's budget, or pinned). Takes tree->lock. */
void mg_announce(memgov_event_kind kind, memgov_budget *b, memgov_budget *origin, uint64_t request);
/* Sends a LIMIT_CHANGED event for b. */
void mg_budget_announce_limits(memgov_budget *b);
/* Under tree->lock: queues a SOFT_CLEARED of b (origin: the drained budget) and pins origin's chain. */
void mg_pending_add(mg_pending *p, memgov_budget *b, memgov_budget *origin, uint64_t request);
/* After the lock is released: announces what was queued, unpins, frees the queue. */
void mg_pending_flush(mg_tree *tree, mg_pending *p);
/* Under tree->lock: releases a pin; a dead budget whose last pin this was is freed. */
void mg_unpin_locked(memgov_budget *b);
/* Runs the reclaim callbacks of `refusing` and of every budget below it, highest priority first, until their
 * answers add up to `needed`. Takes tree->lock between the calls, never during one. */
void mg_reclaim_run(memgov_budget *refusing, uint64_t needed);
/* The repairs after fork() in the child (only the forking thread survives): no run is in progress any more. */
void mg_callbacks_after_fork(mg_tree *tree);

/* ---- drains (stock.c) ------------------------------------------------------------------------------------- */

/* Gives every stock of b's subtree back to the shared counters, atomically for anyone holding tree->lock (the
 * statistics, a destroy's check). Takes tree->lock. */
void mg_drain_subtree(memgov_budget *b);
/* Under tree->lock: gives b's own stocks back (b must be out of other threads' hands); SOFT_CLEARED events of its
 * ancestors are queued in *p. */
void mg_drain_own_locked(memgov_budget *b, mg_pending *p);

/* A charge in progress: served from a stock (levels == 0, slot set; an allocation's count already added to the
 * slot's word), or charged to the levels (`charged` bytes: the request plus `extra` for the slot's refill) with
 * each level's use after it. */
typedef struct mg_charge {
    memgov_budget *budget;
    uint64_t bytes;
    uint64_t charged;
    uint64_t extra;
    uint64_t cap; /* with extra: the slot's cap after the refill */
    mg_stock *slot;
    bool allocation;
    unsigned levels;
    uint64_t after[MEMGOV_BUDGET_MAX_DEPTH];
} mg_charge;

/* Charges `bytes` to b and all its ancestors, reclaiming and retrying once on refusal; `allocation`: the charge
 * is for a block and counts as an allocation (a rollback uncounts it). MEMGOV_OK: the charge is pending in *c and
 * must be committed (mg_charge_commit) or rolled back (mg_charge_rollback). Otherwise nothing is charged, the
 * last error is set (MEMGOV_ENOMEM with the refusal message, or MEMGOV_EOVERFLOW), and the refusal was counted
 * and announced. */
memgov_status mg_charge_begin(memgov_budget *b, uint64_t bytes, bool allocation, mg_charge *c);
/* Makes a pending charge final: peaks, soft-limit events, the allocation count. */
void mg_charge_commit(const mg_charge *c);
/* Undoes a pending charge as if it never happened. */
void mg_charge_rollback(const mg_charge *c);
/* Credits `bytes` to b and its ancestors (soft-limit events). */
void mg_uncharge(memgov_budget *b, uint64_t bytes);
/* mg_uncharge() for a freed block, counted as a free. */
void mg_uncharge_free(memgov_budget *b, uint64_t bytes);
/* Credits `bytes` to the shared counters of b and its ancestors, bypassing the stocks (soft-limit events). */
void mg_credit_levels(memgov_budget *b, uint64_t bytes);
/* A free of `bytes` that the caller's own slot s (owned) had no room for: gives them back to the levels
 * together with what s holds above its batch, in one credit, and adapts the batch (charge.c, stock_batch). */
void mg_stock_overflow(memgov_budget *b, mg_stock *s, uint64_t bytes);
/* The same with the tree's lock held: SOFT_CLEARED events are queued in *p (announce them with mg_pending_flush
 * after the lock is released); origin: the budget named as the events' origin. */
void mg_credit_levels_queued(memgov_budget *b, uint64_t bytes, memgov_budget *origin, mg_pending *p);

#include "memmap/filearena.h"

static inline memgov_budget *mg_spill_owner(memgov_budget *b, const void *ptr)
{
    memgov_budget *t = atomic_load_explicit(&b->spill, memory_order_relaxed);
    return t != NULL && mg_filearena_owns(t->file, ptr) ? t : NULL;
}

#endif

/* Internal: the per-thread stock slots (budget_internal.h). The owner's side is inlined here into the allocation
 * fast path (alloc_fast.h) and the charge paths (charge.c); the rest (slot ownership, the drainer's side, drains)
 * is stock.c.
 *
 * Slot ownership. A thread takes one of the MG_STOCK_OWNED slot indices at its first charge and keeps it until it
 * exits (then the index, with whatever its slots hold in each budget, passes to the next thread that takes it);
 * threads beyond MG_STOCK_OWNED share the last slot. The owner of a slot updates its word with a plain atomic
 * load and store (no locked instruction); the only other writers are drainers (a refusal, a soft-limit crossing,
 * a limit change, a destroy), and they synchronise with the owner by an asymmetric handshake:
 *   owner:   busy = 1; compiler fence; if drain == 0 { load word; store word }; busy = 0
 *   drainer: drain++; membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); wait until busy == 0; empty and close the
 *            word with a compare-and-swap; drain--
 * membarrier runs a full memory barrier on every running thread of the process (a descheduled one passes one when
 * it is switched back in), so after it either the owner's busy = 1 is visible to the drainer, which waits, or the
 * owner's next load of `drain` sees the drainer's increment and the owner takes the compare-and-swap path. Where
 * membarrier cannot be used (no kernel support, a seccomp filter, MG_STOCK_FORCE_LOCKED set in the environment, a
 * ThreadSanitizer build: TSan does not model membarrier and would report the plain updates as races) every slot
 * update is a compare-and-swap, as for the shared slot. The slot's counts are written by its owner alone and need
 * no handshake. */
#ifndef MG_BUDGET_STOCK_H
#define MG_BUDGET_STOCK_H

#include "budget/budget_internal.h"

/* The calling thread's stock identity. index: 0 none yet, 1..MG_STOCK_OWNED the owned slot index + 1, above that
 * the shared slot. tok: unique per thread (and renewed when the thread's tcaches are flushed), so that a slot's
 * cached fast-path binding (its tcache and flags, stamped with mg_stock.tok) is never used by another thread that
 * later takes the same index, nor after the tcache is destroyed. */
typedef struct mg_thread_stock {
    unsigned index;
    uint64_t tok;
    /* The thread's rtree cache in the private jemalloc (mgje_fast_rtree_ctx), set before the thread's first
     * fast-path binding: the inline free looks blocks up there (alloc_fast.h). */
    const void *je_rtree;
} mg_thread_stock;
extern _Thread_local mg_thread_stock mg_me;
/* Owners may update their slots without a locked instruction (membarrier registered). Set once, before any
 * thread has an index (mg_stock_take_index runs the initialisation). */
extern bool mg_stock_plain_ok;

/* The drainer's half of the handshake (stock.c): mg_drain_mark() on each slot, one mg_drain_fence(), then
 * mg_drain_take() on each (`k`: the slot's index in its budget) waits for its owner to leave, empties and closes
 * it, unmarks it and returns the bytes it held. */
void mg_drain_mark(mg_stock *s);
void mg_drain_fence(void);
uint64_t mg_drain_take(mg_stock *s, unsigned k);
/* Empties and closes a slot with a compare-and-swap; returns how many bytes it held. Only with the slot marked and
 * fenced (mg_drain_take), or by its owner. */
uint64_t mg_slot_close(mg_stock *s);
/* Opens the caller's slot with `bytes` more in it, and up to `cap` bytes of room for frees. */
void mg_slot_refill(mg_stock *s, uint64_t bytes, uint64_t cap);
/* Gives the calling thread an index (the slow half of mg_my_slot). */
unsigned mg_stock_take_index(void);
/* A fresh token for the calling thread: its slots' cached bindings are stale (its tcaches were destroyed). */
void mg_stock_retoken(void);

#define MG_HOT __attribute__((always_inline)) static inline

MG_HOT mg_stock *mg_my_slot(memgov_budget *b)
{
    unsigned i = mg_me.index;
    if (__builtin_expect(i == 0, 0))
        i = mg_stock_take_index();
    return &b->stock[i <= MG_STOCK_OWNED ? i - 1 : MG_STOCK_OWNED];
}

/* True when the calling thread owns slot s (the one mg_my_slot gave it) rather than sharing the last one. */
MG_HOT bool mg_slot_owned(void)
{
    return mg_me.index - 1u < MG_STOCK_OWNED;
}

/* The owner's entry, for a caller that knows it owns s and that membarrier is registered: true when it has
 * entered the slot (busy = 1, no drain under way) and must call mg_owner_leave(). */
MG_HOT bool mg_owner_try(mg_stock *s)
{
    atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the drainer's membarrier orders the store before the load */
    if (__builtin_expect(atomic_load_explicit(&s->drain, memory_order_acquire) == 0, 1))
        return true;
    atomic_store_explicit(&s->busy, 0, memory_order_release);
    return false;
}

/* True when the calling thread may update its own slot without a locked instruction: then it has entered the
 * slot (busy = 1) and must call mg_owner_leave(). */
MG_HOT bool mg_owner_enter(mg_stock *s)
{
    return mg_stock_plain_ok && mg_slot_owned() && mg_owner_try(s);
}

MG_HOT void mg_owner_leave(mg_stock *s)
{
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

/* Takes `bytes` out of the caller's slot if it holds that many (open or not). */
MG_HOT bool mg_slot_take(mg_stock *s, uint64_t bytes)
{
    uint64_t w;
    if (mg_owner_enter(s)) {
        w = atomic_load_explicit(&s->word, memory_order_relaxed);
        bool ok = mg_stock_bytes(w) >= bytes;
        if (ok)
            atomic_store_explicit(&s->word, w - bytes, memory_order_relaxed);
        mg_owner_leave(s);
        return ok;
    }
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    do {
        if (mg_stock_bytes(w) < bytes)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, w - bytes, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* True when a slot holding `w` is open and may take `bytes` more and stay within `cap` (at most
 * MG_STOCK_BATCH_MAX). A closed slot is empty (w == 0: only a refill puts bytes into a slot, and it opens it), so
 * w - MG_STOCK_OPEN is 2^63 for it; `bytes` (a block's size) is below 2^62, so the sum cannot wrap. */
MG_HOT bool mg_slot_fits(uint64_t w, uint64_t bytes, uint64_t cap)
{
    return bytes < ((uint64_t)1 << 62) && w - MG_STOCK_OPEN + bytes <= cap;
}

/* The slot's cap (mg_stock.cap). */
MG_HOT uint64_t mg_slot_cap(mg_stock *s)
{
    return atomic_load_explicit(&s->cap, memory_order_relaxed);
}

/* Puts `bytes` back into the caller's slot if it is open and then holds at most its cap. */
MG_HOT bool mg_slot_put(mg_stock *s, uint64_t bytes)
{
    uint64_t w;
    if (mg_owner_enter(s)) {
        w = atomic_load_explicit(&s->word, memory_order_relaxed);
        bool ok = mg_slot_fits(w, bytes, mg_slot_cap(s));
        if (ok)
            atomic_store_explicit(&s->word, w + bytes, memory_order_relaxed);
        mg_owner_leave(s);
        return ok;
    }
    w = atomic_load_explicit(&s->word, memory_order_relaxed);
    do {
        if (!mg_slot_fits(w, bytes, mg_slot_cap(s)))
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, w + bytes, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* Counts in a counter of a slot the caller owns. */
MG_HOT void mg_count_owned(_Atomic uint64_t *c, uint64_t delta)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta, memory_order_relaxed);
}

/* Counts one operation (+1) or takes one back (-1) in the caller's slot counter c. */
MG_HOT void mg_slot_count(_Atomic uint64_t *c, uint64_t delta)
{
    if (mg_slot_owned())
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(c, delta, memory_order_relaxed);
}

#endif

/* Internal: the budget and governor objects, and the charge protocol shared by src/budget and src/governor. */
#ifndef MG_BUDGET_INTERNAL_H
#define MG_BUDGET_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "memgov/budget.h"
#include "memgov/governor.h"

#define MG_NO_LIMIT UINT64_MAX

struct memgov {
    pthread_mutex_t lock; /* the tree's shape and every budget's callback tables */
    memgov_budget *root;
    bool is_default;
};

typedef struct mg_reclaim_entry {
    memgov_reclaim_fn fn;
    void *user;
    int priority;
} mg_reclaim_entry;

typedef struct mg_listener {
    memgov_event_fn fn;
    void *user;
} mg_listener;

struct memgov_budget {
    /* Written by every charge and credit of this budget or a descendant: a cache line of its own, so that the
     * read-mostly fields below stay shared between CPUs. */
    alignas(64) _Atomic uint64_t used;
    /* Read by every charge, written rarely (a new peak, a limit change). */
    alignas(64) _Atomic uint64_t peak;
    _Atomic uint64_t hard;   /* MG_NO_LIMIT = none */
    _Atomic uint64_t soft;   /* MG_NO_LIMIT = none */
    /* Counters of this budget's own operations. */
    alignas(64) _Atomic uint64_t n_alloc, n_free;
    _Atomic uint64_t n_refusal, n_reclaim, reserved;
    /* Fixed at creation. */
    alignas(64) memgov *gov;
    memgov_budget *parent;
    unsigned depth; /* root = 1 */
    unsigned arena;
    bool own_arena;
    char *name;
    /* Under gov->lock. */
    memgov_budget *first_child, *next_sibling;
    mg_reclaim_entry reclaim[MEMGOV_BUDGET_MAX_CALLBACKS];
    unsigned n_reclaim_cb;
    mg_listener listen[MEMGOV_BUDGET_MAX_CALLBACKS];
    unsigned n_listen;
};

/* Creates a budget (root when parent is NULL) of gov; validates the options. */
memgov_status mg_budget_new(memgov *gov, memgov_budget *parent, const memgov_budget_options *opts,
                            memgov_budget **out);
/* Fails with MEMGOV_EBUSY and a message when b has live bytes or children; `what` names the operation. Called
 * with gov->lock held. */
memgov_status mg_budget_check_idle(memgov_budget *b, const char *what);
/* Frees a budget already unlinked and idle, giving back its arena. */
void mg_budget_delete(memgov_budget *b);

/* A charge in progress: levels charged so far and each one's use after it. */
typedef struct mg_charge {
    memgov_budget *budget;
    uint64_t bytes;
    unsigned levels;
    uint64_t after[MEMGOV_BUDGET_MAX_DEPTH];
} mg_charge;

/* Charges `bytes` to b and all its ancestors, reclaiming and retrying once on refusal. MEMGOV_OK: the charge is
 * pending in *c and must be committed (mg_charge_commit) or rolled back (mg_charge_rollback). Otherwise nothing
 * is charged, the last error is set (MEMGOV_ENOMEM with the refusal message, or MEMGOV_EOVERFLOW), and the
 * refusal was counted and announced. */
memgov_status mg_charge_begin(memgov_budget *b, uint64_t bytes, mg_charge *c);
/* Makes a pending charge final: peaks, soft-limit events. */
void mg_charge_commit(const mg_charge *c);
/* Undoes a pending charge as if it never happened. */
void mg_charge_rollback(const mg_charge *c);
/* Sends a LIMIT_CHANGED event for b. */
void mg_budget_announce_limits(memgov_budget *b);
/* Credits `bytes` to b and its ancestors (soft-limit events). */
void mg_uncharge(memgov_budget *b, uint64_t bytes);

#endif

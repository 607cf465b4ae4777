/* Internal: what the governor sees of src/budget. A governor owns one budget tree: its root budget, its lock and
 * the stocks' batch; the governor code never reads or writes budget internals (docs/design.md 2.2). */
#ifndef MG_BUDGET_TREE_H
#define MG_BUDGET_TREE_H

#include <stdbool.h>
#include <stdint.h>

#include "memgov/budget.h"

typedef struct mg_tree mg_tree;

/* Creates a tree with a root budget made from *root_opts. On failure nothing is left and the last error says
 * why (MEMGOV_ENOMEM, or the options' errors as in memgov_budget_create). */
memgov_status mg_tree_open(const memgov_budget_options *root_opts, mg_tree **out);
/* A device tree (src/gpu, docs/design.md 4.19): its budgets have no arena and refuse memgov_malloc & co.
 * (MEMGOV_EINVAL); device blocks are charged to them through budget/external.h. `owner` (not NULL) is returned by
 * mg_tree_device_owner(). */
memgov_status mg_tree_open_device(const memgov_budget_options *root_opts, void *owner, mg_tree **out);
/* The owner given to mg_tree_open_device(); NULL for a governor's (host) tree. */
void *mg_tree_device_owner(const mg_tree *tree);
/* The root budget. */
memgov_budget *mg_tree_root(const mg_tree *tree);
/* MEMGOV_OK when the root has no live bytes and no children, else MEMGOV_EBUSY with a message that starts with
 * `what`. */
memgov_status mg_tree_check_idle(mg_tree *tree, const char *what);
/* Frees the tree and its root (after mg_tree_check_idle said it is idle). NULL is ignored. */
void mg_tree_free(mg_tree *tree);
/* The tree of a budget. */
mg_tree *mg_budget_tree(const memgov_budget *budget);
/* A budget's live bytes and limits (0 = none) now: memgov_budget_get_stats without the arena's statistics (no
 * jemalloc lock), for the governor's pressure and metrics. */
typedef struct mg_tree_levels {
    uint64_t live, hard, soft;
} mg_tree_levels;
mg_tree_levels mg_tree_levels_of(memgov_budget *budget);
/* Sets the most a stock refill adds (budget.charge_batch; 0 turns stocks off); clamped to MG_TREE_BATCH_MAX. */
#define MG_TREE_BATCH_MAX ((uint64_t)16 << 20)
void mg_tree_set_charge_batch(mg_tree *tree, uint64_t batch);
/* Sets how many arena shards each budget with its own arena spreads its threads over (budget.arena_shards,
 * resolved: 0 there means the usable CPUs); clamped to 1..16 (MG_SHARDS_MAX). Threads already bound to a shard
 * move at their next binding; blocks stay valid whatever the count. */
void mg_tree_set_arena_shards(mg_tree *tree, unsigned shards);
/* Sets whether requests that may spill go to their budget's spill target at once (the governor: MINIMAL mode with
 * memmap.spill_minimal; src/budget/spill.c). */
void mg_tree_set_spill_direct(mg_tree *tree, bool direct);

#endif

/* Internal: blocks that live outside any arena (device memory, src/gpu) charged to a device budget (budget/tree.h
 * mg_tree_open_device) under the rules of memgov_malloc(): all levels or none, reclaim callbacks and one retry on a
 * refusal, events, counted as allocations and frees. docs/design.md 4.19. */
#ifndef MG_BUDGET_EXTERNAL_H
#define MG_BUDGET_EXTERNAL_H

#include <stdint.h>

#include "memgov/budget.h"

/* Makes the block once its charge is pending: returns it, or NULL with the last error set (MEMGOV_ENOMEM: the
 * device itself has no room; anything else: a failure that no reclaim can help). */
typedef void *(*mg_external_make_fn)(uint64_t bytes, void *ctx);

/* Charges `bytes` to b and its ancestors, then calls make(bytes, ctx). A charge refused by a limit fails as
 * memgov_malloc() does (reclaim, one retry, HARD_REFUSAL, MEMGOV_ENOMEM with the budget's message). When make
 * answers MEMGOV_ENOMEM (a device refusal below the limits) the charge is rolled back, the reclaim callbacks of b
 * and below it run once for `bytes`, and charge and make are tried once more; a second device refusal is counted
 * as b's refusal and announced (HARD_REFUSAL on b), with make's message. On success *block is make's block and the
 * charge is final; on failure nothing is charged. */
memgov_status mg_external_alloc(memgov_budget *b, uint64_t bytes, mg_external_make_fn make, void *ctx, void **block);

/* Credits a block's `bytes` to b and its ancestors, counted as a free. */
void mg_external_free(memgov_budget *b, uint64_t bytes);

#endif

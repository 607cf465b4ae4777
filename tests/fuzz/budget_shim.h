/* The fuzz target's budget shim (budget_shim.c): bytes in use and the cap (0 = none). */
#ifndef MG_FUZZ_BUDGET_SHIM_H
#define MG_FUZZ_BUDGET_SHIM_H
#include <stdbool.h>
#include <stddef.h>
extern size_t mg_shim_cap, mg_shim_used;
#endif

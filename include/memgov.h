/*
 * memgov.h — umbrella header of memgov, the in-process memory governor. Includes every public header and
 * nothing else. See docs/ for concepts and recipes; each header is the reference for its functions.
 */
#ifndef MEMGOV_H
#define MEMGOV_H

#include "memgov/common.h"
#include "memgov/budget.h"
#include "memgov/config.h"
#include "memgov/fallback.h"
#include "memgov/governor.h"
#include "memgov/gpu.h"
#include "memgov/kernels.h"
#include "memgov/memmap.h"
#include "memgov/monitor.h"
#include "memgov/probe.h"
#include "memgov/threads.h"

#endif /* MEMGOV_H */

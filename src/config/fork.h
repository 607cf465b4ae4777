/* Internal: the configuration's lock around fork() (the preload library's fork handlers, src/preload/report.c),
 * for files that cannot include config_internal.h. Before fork: takes the lock; after it: releases it. */
#ifndef MG_CONFIG_FORK_H
#define MG_CONFIG_FORK_H

#include "memgov/config.h"

void mg_config_fork_prepare(memgov_config *cfg);
void mg_config_fork_release(memgov_config *cfg);

#endif

/* Internal: memgov's own configuration keys (keys.c). */
#ifndef MG_CONFIG_KEYS_H
#define MG_CONFIG_KEYS_H

#include "memgov/config.h"

extern const memgov_config_key mg_builtin_keys[];
extern const size_t mg_builtin_key_count;

#endif

/* Internal to src/governor: the parts a governor owns besides its budget tree (configuration, fallback machine,
 * monitor) and the wiring between them. They talk to each other only through their public headers. */
#ifndef MG_GOVERNOR_PARTS_H
#define MG_GOVERNOR_PARTS_H

#include <stdbool.h>

#include "memgov/budget.h"
#include "memgov/config.h"
#include "memgov/fallback.h"
#include "memgov/governor.h"
#include "memgov/monitor.h"

typedef struct mg_parts {
    memgov_config *config;
    memgov_fallback *fallback;
    memgov_monitor *monitor;
    memgov_budget *root;
    memgov_config_result *loaded; /* the messages of the loads at opening (memgov_governor_config_result()) */
    char *proc_root;         /* NULL = the real /proc */
    uint64_t root_limit;     /* the options' overrides; 0 = from the configuration */
    uint64_t root_soft_limit;
    uint64_t config_listener;
    uint64_t root_listener;
    int config_listening, root_listening;
} mg_parts;

/* First half of opening: creates the parts' configuration (defaults, file, environment as opts say) and the
 * root budget's options from it. On failure nothing is left and the last error says why. */
memgov_status mg_parts_configure(const memgov_options *opts, mg_parts **out, memgov_budget_options *root);

/* Second half, once the root budget exists: creates the fallback machine and the monitor (its sampler started
 * when start_monitor) and wires them to the root and to the configuration. On failure the caller undoes
 * everything with mg_parts_close(). */
memgov_status mg_parts_wire(mg_parts *parts, memgov_budget *root, bool start_monitor);

/* Unwires and frees everything mg_parts_configure() and mg_parts_wire() made (either may not have run).
 * The root budget itself is the caller's. NULL is ignored. */
void mg_parts_close(mg_parts *parts);

#endif

/* Internal: the registry of open devices (src/gpu) that the governor's pressure source and a monitor's metrics
 * read, so that the governor (below src/gpu) reaches device budgets without including src/gpu (docs/design.md
 * 2.2, 4.19). An entry belongs to a host tree, keyed by that governor's root budget; its `levels` function answers
 * the device budget's use and hard limit. The registry's lock (MG_FORK_RANK_DEVICES) is held while an entry's
 * functions run, so a removal waits for a reader in progress. */
#ifndef MG_INTERNAL_DEVICES_H
#define MG_INTERNAL_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_device_entry {
    const void *owner; /* the governor's root budget */
    const char *name;  /* the device's name, for messages */
    /* The device budget's use and hard limit (0 = none) now; may take a budget tree's lock. */
    void (*levels)(void *ctx, uint64_t *used, uint64_t *limit);
    void *ctx;
    struct mg_device_entry *prev, *next; /* the registry's */
} mg_device_entry;

/* Registers *e (kept alive by the caller until mg_devices_remove). Thread safety: any thread, holding no lock. */
void mg_devices_add(mg_device_entry *e);
/* Unregisters it; returns when no reader uses it. */
void mg_devices_remove(mg_device_entry *e);
/* The fullest device of `owner` (the highest used / limit among those with a limit): true and its pair, or false
 * when it has none. */
bool mg_devices_fullest(const void *owner, uint64_t *used, uint64_t *limit);

/* How many devices of `owner` are registered; their names, comma-separated, in names[size] (cut to fit). */
unsigned mg_devices_of(const void *owner, char *names, size_t size);

#endif

/* Internal: which of a few symbol names a loaded object defines, read from its own ELF GNU hash table. The pools'
 * finder (pools.c) asks this of every loaded object so that dlsym, whose misses search the object's whole
 * dependency tree and format an error each time, runs only where a control function is there (docs/design.md
 * 4.17). */
#ifndef MG_THREADS_POOLS_ELF_H
#define MG_THREADS_POOLS_ELF_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

/* The answer when the object's tables cannot be read safely (no DT_GNU_HASH, an address outside its readable
 * segments): every name may be defined, so the caller asks dlsym. */
#define MG_ELF_UNKNOWN UINT32_MAX

/* Bit i set: names[i] is defined (not undefined) in the object's dynamic symbol table. n <= 31. Reads only memory
 * inside the object's readable PT_LOAD segments. Call from a dl_iterate_phdr callback (the object cannot be
 * unloaded meanwhile). */
uint32_t mg_elf_defines(const struct dl_phdr_info *info, const char *const *names, size_t n);

#endif

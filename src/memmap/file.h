/* Internal to src/memmap: the file of a file-backed budget (docs/design.md 4.9): an unlinked file in a directory,
 * one MAP_SHARED mapping of a reserved span of address space over it, and the file's disk space allocated range by
 * range before a range is used (so a full disk is an error, never a SIGBUS) and punched out when it is not. The
 * file offset of an address is its distance from the mapping's base, so ranges that jemalloc splits or merges
 * always stay contiguous in the file too. */
#ifndef MG_MEMMAP_FILE_H
#define MG_MEMMAP_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memgov/memmap.h"

typedef struct mg_file {
    int fd;
    char *dir;               /* the directory, as given (for messages and stats) */
    unsigned char *base;     /* the mapping: [base, base + span) maps file offsets [0, span) */
    size_t span;
    _Atomic size_t next;     /* offset of the first byte never handed out by mg_file_take */
    _Atomic uint64_t committed;     /* bytes allocated in the file (mg_file_commit minus mg_file_punch) */
    _Atomic uint64_t grow_failures; /* mg_file_commit failures */
    /* In a child of fork(): the mapping was replaced by a private copy-on-write one, and the file (shared with the
     * parent through the inherited descriptor) is never allocated or punched again by this process. */
    bool private_copy;
    struct mg_file *prev_open, *next_open; /* the process's open files (file.c), for fork() */
} mg_file;

/* Opens an unlinked file in `dir` (O_TMPFILE, else a random name unlinked at once; mode 0600; the directory opened
 * with O_NOFOLLOW) and maps `span` bytes of it. `placement` DISK refuses a memory filesystem. On failure nothing
 * is left and the last error says why (MEMGOV_EINVAL, MEMGOV_EIO, MEMGOV_ENOMEM). */
memgov_status mg_file_open(mg_file *f, const char *dir, memgov_file_placement placement, size_t span);
/* Fork: in the child, every open file's mapping becomes a private copy-on-write mapping of the file (the child
 * sees its blocks as they are, and its writes never reach the parent's file), its commits allocate nothing in the
 * file and its purges replace ranges with fresh anonymous zero pages (docs/memmap.md). */
/* Unmaps and closes the file (its disk space goes with it). */
void mg_file_close(mg_file *f);
/* `size` bytes (a multiple of the page size) aligned to `align` (a power of two, at least the page size), never
 * handed out before; NULL when the span is used up (recorded for mg_file_refused). Lock-free. */
void *mg_file_take(mg_file *f, size_t size, size_t align);
/* Allocates the file's disk space under [addr, addr + len) (page-aligned): true when done; false when the
 * filesystem refused (ENOSPC, EFBIG, EDQUOT, ...; recorded for mg_file_refused), and then nothing is allocated. */
bool mg_file_commit(mg_file *f, void *addr, size_t len);
/* Gives the disk space under [addr, addr + len) back (a hole: it reads as zeros). */
void mg_file_punch(mg_file *f, void *addr, size_t len);
/* True when p lies in f's mapping. */
static inline bool mg_file_owns(const mg_file *f, const void *p)
{
    return (uintptr_t)p - (uintptr_t)f->base < f->span;
}
/* Reports the calling thread's last failure of f (mg_file_take, mg_file_commit) for an allocation of `size`
 * bytes on budget `name`: MEMGOV_ENOMEM with the directory, the error and the free space there. Returns NULL. */
void *mg_file_refused(mg_file *f, const char *name, size_t size);
/* Drops the mapping's pages from the resident set (a child's private copy: nothing). */
void mg_file_page_out(mg_file *f);
/* Fills the file fields of *st. */
void mg_file_stats(mg_file *f, memgov_file_budget_stats *st);

#endif

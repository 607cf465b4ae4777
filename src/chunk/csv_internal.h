/* Internal to src/chunk: the CSV chunker's block summaries and its parallel window reader (csv_scan.c), used by
 * the record-boundary state machine (csv.c). */
#ifndef MG_CHUNK_CSV_INTERNAL_H
#define MG_CHUNK_CSV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/common.h"
#include "memgov/threads.h"

/* The unit of summary: a window is cut into blocks of this many bytes (the last one may be shorter). */
#define MG_CSV_BLOCK ((size_t)64 * 1024)

/* What one pass over a block found, for both possible quote states at its start. "Local parity" p of a byte is
 * the number of quote characters before it in the block, mod 2; a line feed is outside quotes exactly when p
 * equals the quote state at the block's start, which the second pass (csv.c) supplies. Offsets are absolute
 * file offsets plus one (0 = none), so that an offset + 1 is the end of a record ending at that line feed. */
typedef struct mg_csv_block {
    uint64_t first_lf[2]; /* the first line feed with local parity 0 / 1 */
    uint64_t last_lf[2];  /* the last one */
    uint64_t last_quote;  /* the last quote character */
    unsigned parity;      /* quote characters in the block, mod 2 */
} mg_csv_block;

/* Summarises block p[0..n) that starts at file offset `base`. */
void mg_csv_scan_block(const char *p, size_t n, uint64_t base, char quote, mg_csv_block *out);

/* Reads file bytes [offset, offset + len) into buf with pread (len <= the buffer) and summarises them into
 * blocks[0 .. ceil(len / MG_CSV_BLOCK)) with memgov_parallel_for_static: each worker reads and scans one
 * contiguous run of blocks. The workers are the lease's, or (lease NULL, threads > 1) those of a lease of up to
 * `threads` from the default governor, taken for the call. MEMGOV_EIO with a message (errno's text, or "the
 * file shrank" when a read ends early) on failure. */
memgov_status mg_csv_read_window(int fd, uint64_t offset, size_t len, char *buf, char quote, unsigned threads,
                                 memgov_threads_lease *lease, mg_csv_block *blocks, const char *path);

#endif

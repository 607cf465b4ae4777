/*
 * memgov/chunk.h — processing data in pieces sized from the memory there is: a chunk planner, an AIMD batch-size
 * controller and a quote-aware CSV record chunker. docs/chunking.md explains them with a worked example.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * Its functions are exported under the MEMGOV_EXPERIMENTAL version node. The struct_size rule of common.h applies.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_CHUNK_H
#define MEMGOV_CHUNK_H

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/config.h"
#include "memgov/fallback.h"
#include "memgov/governor.h"
#include "memgov/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- chunk planner ----------------------------------------------------------------------------------------- */

/* What to plan (struct_size rule; fill with memgov_chunk_plan_options_init()). Bytes and counts of items. */
typedef struct memgov_chunk_plan_options {
    size_t struct_size;
    uint64_t item_bytes;     /* bytes of one item (a row, a sample); required, >= 1 */
    double working_set;      /* copies of its input a step holds at once (a sort that copies: 2; parse + frame:
                                about 3); the planner divides by it. 0 = 1; otherwise >= 1 */
    uint64_t total_items;    /* items in all, to count the chunks; 0 = unknown (chunks is then 0) */
    uint64_t min_items;      /* fewest items per chunk; 0 = 1, or chunk.rows_min when `config` is given */
    uint64_t max_items;      /* most items per chunk; 0 = none, or chunk.rows_max when `config` is given */
    uint64_t align_items;    /* items per chunk is rounded down to a multiple of it (SIMD width, a GPU tile)
                                when memory allows at least one multiple and max_items does not decide; 0 = 1 */
    uint64_t in_flight;      /* chunks held at once (workers x chunks each); the memory is shared by them; 0 = 1 */
    memgov_budget *budget;   /* plan from the headroom of this budget and its ancestors: the smallest over the
                                chain of soft limit - use (while below the soft limit), else hard limit - use;
                                a level without limits does not count. Borrowed. NULL = target_bytes alone */
    uint64_t target_bytes;   /* an explicit byte target; with a budget the smaller of the two. 0 = none */
    const memgov_config *config; /* its mode scales the memory by the recommendations' share (NORMAL 1, LIGHT
                                1/2, MINIMAL 1/4) and its chunk.rows_min / chunk.rows_max are the defaults of
                                min_items / max_items. Borrowed. NULL = NORMAL, no keys */
} memgov_chunk_plan_options;

/* Fills o with the defaults (every field 0 / NULL) and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_chunk_plan_options_init(memgov_chunk_plan_options *o);

/* A plan (struct_size rule, stats direction: written up to the smaller size). */
typedef struct memgov_chunk_plan {
    size_t struct_size;
    uint64_t items;          /* items per chunk, >= 1 */
    uint64_t chunks;         /* ceil(total_items / items); 0 when total_items is 0 */
    uint64_t chunk_bytes;    /* the memory one chunk takes while processed: items x ceil(item_bytes x
                                working_set); saturates at UINT64_MAX */
    uint64_t memory_bytes;   /* the memory the plan divided among in_flight chunks, after the mode's share */
    memgov_mode mode;        /* the mode it planned for */
    int over_memory;         /* 1 when min_items made the chunk larger than its share of memory_bytes */
    char reason[192];        /* one line, e.g. "64.0 MiB headroom of budget 'etl' x 1/2 (light mode) / 2 in
                                flight / 3072 B per item (1024 B x 3 copies) = 10922 items" */
} memgov_chunk_plan;

/* Plans items per chunk with the library's one sizing formula, the one memgov_config_recommend() uses for
 * chunk_rows:
 *     items = memory x share(mode) / (in_flight x ceil(item_bytes x working_set))
 * rounded down to a multiple of align_items, bounded by max_items then min_items (min wins), then by
 * total_items; memory = min(budget headroom, target_bytes). A budget's headroom is read once, now: it is a
 * snapshot, not a reservation. Writes *out.
 * Errors: MEMGOV_EINVAL (NULL, bad struct_size, item_bytes 0, working_set below 1, max_items below min_items,
 * neither a budget nor a target_bytes), MEMGOV_EOVERFLOW (item_bytes x working_set beyond 64 bits),
 * MEMGOV_ESTATE (the budget and its ancestors have no limit and target_bytes is 0: nothing to plan from),
 * MEMGOV_ENOMEM (the budget has no headroom left: use at or above a limit; the message names it).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_chunk_plan_compute(const memgov_chunk_plan_options *opts, memgov_chunk_plan *out);

/* ---- AIMD batcher ------------------------------------------------------------------------------------------ */

/* A batch-size controller (additive increase, multiplicative decrease). Opaque. */
typedef struct memgov_batcher memgov_batcher;

/* Options (struct_size rule; fill with memgov_batcher_options_init()). Sizes are items per batch. */
typedef struct memgov_batcher_options {
    size_t struct_size;
    uint64_t min;            /* the floor; 0 = batch.min of `config`, else 1 */
    uint64_t max;            /* the ceiling it never exceeds; 0 = batch.max of `config`, else 1024 */
    uint64_t initial;        /* the first size; 0 = min (a cautious start: successes double it up to max
                                until a refusal is seen, see memgov_batcher_success()) */
    uint64_t step;           /* the additive increase; 0 = max(1, max / 64) */
    uint32_t reprobe_after;  /* successes at the largest size below a remembered refusal before that size is
                                tried again (the limit may have risen); 0 = 16; UINT32_MAX = never */
    uint32_t history_capacity; /* events kept for memgov_batcher_history(); 0 = 256, at most 2^20 */
    const memgov_config *config; /* source of the batch.min / batch.max defaults; borrowed, read at create only */
} memgov_batcher_options;

/* Fills o with the defaults (every field 0 / NULL) and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_batcher_options_init(memgov_batcher_options *o);

/* Creates a batcher. opts may be NULL. Errors: MEMGOV_EINVAL (out NULL, bad struct_size, min above max, initial
 * outside min..max), MEMGOV_ERANGE (history_capacity over 2^20), MEMGOV_ENOMEM. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_batcher_create(const memgov_batcher_options *opts, memgov_batcher **out);

/* Frees it. NULL is accepted. No other call may be running or follow. */
MEMGOV_API void memgov_batcher_destroy(memgov_batcher *b);

/* The size to try next, min..max. 0 for NULL. Thread safety: any thread. */
MEMGOV_API uint64_t memgov_batcher_next(memgov_batcher *b);

/* Reports that a batch of `size` items fitted. The size grows from the current one:
 * - below the largest size known to fit (the last known good): doubled, up to that size (multiplicative
 *   recovery after a refusal);
 * - otherwise by `step`, but to at most half-way to the lowest size known to be refused (the remembered
 *   ceiling), so that it settles on the largest size that fits; with no refusal seen yet and the initial
 *   default (start at min), doubled instead of stepped (slow start);
 * - right below the remembered ceiling, after reprobe_after successes there: the ceiling itself is tried again.
 * A success at or above the remembered ceiling forgets it (the limit has risen). Never above max.
 * Errors: MEMGOV_EINVAL (b NULL, size 0). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_batcher_success(memgov_batcher *b, uint64_t size);

/* Reports that a batch of `size` items was refused memory: the ceiling becomes min(ceiling, size), the next size
 * half of the smaller of `size` and the current size, not below min; a last known good at or above `size` is
 * forgotten (the limit has fallen). Returns MEMGOV_OK when the next size is smaller than `size`, MEMGOV_ERANGE
 * when `size` was already at the floor (nothing smaller to try: the caller must economise some other way, e.g.
 * a lighter mode); the state is updated either way. Errors: MEMGOV_EINVAL (b NULL, size 0).
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_batcher_refused(memgov_batcher *b, uint64_t size);

/* Kinds of batcher event. Values are pinned. */
typedef enum memgov_batcher_event_kind {
    MEMGOV_BATCHER_SUCCESS = 1,
    MEMGOV_BATCHER_REFUSED = 2,
} memgov_batcher_event_kind;

/* One reported outcome (struct_size rule, stats direction). */
typedef struct memgov_batcher_event {
    size_t struct_size;
    uint64_t seq;            /* 1 for the first report, then consecutive */
    memgov_batcher_event_kind kind;
    uint64_t size;           /* the size reported */
    uint64_t next;           /* memgov_batcher_next() after it */
    uint64_t ceiling;        /* the remembered ceiling after it; 0 = none */
    uint64_t last_good;      /* the last known good after it; 0 = none */
} memgov_batcher_event;

/* The index-th event of those kept (the last history_capacity), oldest first. Errors: MEMGOV_EINVAL (NULL,
 * bad struct_size), MEMGOV_ENOTFOUND (index >= the number kept). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_batcher_history(memgov_batcher *b, size_t index, memgov_batcher_event *out);

/* Counters and state (struct_size rule, stats direction). */
typedef struct memgov_batcher_stats {
    size_t struct_size;
    uint64_t next, min, max, step;
    uint64_t ceiling;        /* lowest size refused and not since forgotten; 0 = none */
    uint64_t last_good;      /* largest size that fitted and not since forgotten; 0 = none */
    uint64_t successes, refusals;
    uint64_t history_kept;
} memgov_batcher_stats;

/* Fills *out. Errors: MEMGOV_EINVAL (NULL, bad struct_size). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_batcher_get_stats(memgov_batcher *b, memgov_batcher_stats *out);

/* ---- halve the batch, then step the mode down ------------------------------------------------------------- */

/* memgov_fallback_run() with a batcher: the "halve the batch and retry" recovery that training loops write by
 * hand. The job reads its batch size with memgov_batcher_next(batcher); the run reports each attempt's outcome
 * to the batcher (MEMGOV_OK: memgov_batcher_success(), MEMGOV_ENOMEM: memgov_batcher_refused(), both with the
 * size memgov_batcher_next() gave before the attempt). A refused attempt above the batcher's floor is retried
 * at once, in the same mode, with the halved batch (no pause); a refusal at the floor steps the mode down as
 * memgov_fallback_run() does (with the backoff pause). While an attempt above the floor runs, refusals that the
 * calling thread reports to this machine (memgov_fallback_notify_refusal(), which a governor calls for every
 * hard refusal) are counted but move nothing: the run decides. max_attempts defaults to
 * MEMGOV_FALLBACK_MAX_ATTEMPTS here. Errors: as memgov_fallback_run(), MEMGOV_EINVAL for a NULL batcher.
 * Thread safety: any thread; the batcher may be shared with other runs. */
MEMGOV_API memgov_status memgov_fallback_run_batched(memgov_fallback *fb, memgov_batcher *batcher,
                                                     memgov_fallback_job_fn job, void *user,
                                                     const memgov_fallback_run_options *opts,
                                                     memgov_fallback_run_result *result);

/* memgov_fallback_run_batched() on the governor's fallback machine (memgov_run_with_fallback() with a batcher).
 * Errors: as memgov_fallback_run_batched(), MEMGOV_EINVAL for a NULL governor. */
MEMGOV_API memgov_status memgov_run_with_batcher(memgov *gov, memgov_batcher *batcher, memgov_fallback_job_fn job,
                                                 void *user, const memgov_fallback_run_options *opts,
                                                 memgov_fallback_run_result *result);

/* ---- CSV record chunker ------------------------------------------------------------------------------------ */

/* Splits a CSV file into byte ranges that start and end on record boundaries, so that each range (with the
 * header prepended) parses alone. RFC 4180: a record ends at a line feed (a CRLF's CR stays in the record) that
 * is outside quotes; a quote character opens and closes quoted text, a doubled quote inside quoted text is a
 * literal quote (it toggles twice), and quoted text may hold delimiters, CR and LF. A quote character in the
 * middle of an unquoted field (RFC 4180 forbids it) is taken as opening quoted text, where Python's csv module
 * and pandas take it literally: such files may be split differently from how they parse. NUL bytes and invalid
 * UTF-8 are bytes like any other. Boundaries do not depend on the delimiter; it is checked and kept for the
 * parsers the ranges are handed to. */
typedef struct memgov_csv memgov_csv;

/* Options (struct_size rule; fill with memgov_csv_options_init()). */
typedef struct memgov_csv_options {
    size_t struct_size;
    uint64_t target_bytes;   /* most bytes per chunk (a longer record is returned alone, flagged); 0 = 64 MiB */
    int has_header;          /* 1 = the first record is a header: memgov_csv_header() gives it, chunks skip it */
    char delimiter;          /* 0 = ','; must differ from quote, CR and LF */
    char quote;              /* 0 = '"'; must not be CR or LF */
    uint32_t threads;        /* threads finding boundaries (each scans a slice of the read buffer; quote parity
                                is resolved in a second pass); 0 = 1; at most 256; how many run is decided by
                                a lease (see lease) */
    uint64_t buffer_bytes;   /* the read buffer: the memory used whatever the file's size; 0 = 8 MiB;
                                at least 64 KiB, rounded up to a multiple of 64 KiB, at most 1 GiB */
    memgov_budget *budget;   /* the buffer is allocated from it (memgov_malloc); NULL = malloc. Borrowed */
    memgov_threads_lease *lease; /* the first pass runs on this lease's threads (memgov_parallel_for, memgov/threads.h)
                                    and `threads` is ignored; NULL = `threads` > 1 asks the default governor
                                    (memgov_default()) for a lease of that many at each read, nested in the calling
                                    thread's current lease of it, and runs on what it grants. Borrowed: it must stay
                                    held while the chunker reads */
} memgov_csv_options;

/* Fills o with the defaults and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_csv_options_init(memgov_csv_options *o);

/* One chunk: bytes [offset, offset + length) of the file. */
typedef struct memgov_csv_chunk {
    size_t struct_size;
    uint64_t offset;         /* byte offset in the file */
    uint64_t length;         /* bytes; > 0 */
    uint64_t index;          /* 0 for the first chunk, then consecutive */
    uint32_t flags;          /* MEMGOV_CSV_CHUNK_* */
} memgov_csv_chunk;

/* memgov_csv_chunk.flags: a single record longer than target_bytes, returned alone. */
#define MEMGOV_CSV_CHUNK_OVERSIZED 0x1u
/* memgov_csv_chunk.flags: the last chunk, ending at end of file without a line feed. */
#define MEMGOV_CSV_CHUNK_NO_FINAL_NEWLINE 0x2u

/* Opens `path` for chunking: reads its size, allocates the buffer and, with has_header, finds the header.
 * Errors: MEMGOV_EINVAL (NULL, bad struct_size, bad option; the message names it), MEMGOV_ERANGE
 * (buffer_bytes or threads out of bounds), MEMGOV_ENOTFOUND (no such file), MEMGOV_EIO (open, read or stat
 * failed; errno's text; a file that changes size), MEMGOV_EPARSE (the header's quote is not closed: message
 * with the quote's byte offset and line), MEMGOV_ENOMEM (the budget refused the buffer). Nothing is left open
 * on failure. Thread safety: any thread; the object belongs to one thread at a time. */
MEMGOV_API memgov_status memgov_csv_open(const char *path, const memgov_csv_options *opts, memgov_csv **out);

/* Closes the file and frees the buffer (credited to the budget). NULL is accepted. */
MEMGOV_API void memgov_csv_close(memgov_csv *csv);

/* The header record's bytes [0, *length) with its line feed (0 when has_header was not set; the whole file
 * when it has a single record). Errors: MEMGOV_EINVAL (NULL). */
MEMGOV_API memgov_status memgov_csv_header(const memgov_csv *csv, uint64_t *length);

/* The file's size in bytes as read at open. 0 for NULL. */
MEMGOV_API uint64_t memgov_csv_size(const memgov_csv *csv);

/* The next chunk, in file order, into *out (struct_size rule, stats direction). Returns MEMGOV_OK with a chunk,
 * or MEMGOV_ENOTFOUND after the last one (not an error: the last status is not set). The chunks cover the file
 * after the header exactly, without gaps or overlaps.
 * Errors: MEMGOV_EINVAL (NULL, bad struct_size), MEMGOV_EPARSE (a quote opened and never closed: the message
 * names its byte offset and line, both counted from 0 and 1 in the file), MEMGOV_EIO (read failed; the file
 * changed size since open: shrank under a read or differs at the end). After an error the object returns the
 * same error again. Thread safety: one thread at a time per object. */
MEMGOV_API memgov_status memgov_csv_next(memgov_csv *csv, memgov_csv_chunk *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_CHUNK_H */

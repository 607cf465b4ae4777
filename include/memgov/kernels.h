/*
 * memgov/kernels.h — column kernels: dtype downcast (plan, apply, fused), dictionary encoding (factorize) with
 * its memory inside a budget, and one-pass streaming statistics. docs/kernels.md explains the rules.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * Its functions are exported under the MEMGOV_EXPERIMENTAL version node.
 *
 * Columns are plain C arrays of a memgov_dtype (common.h) in native byte order; any alignment is accepted.
 * Kernels run a scalar reference or, on x86-64, an AVX2 or AVX-512 variant chosen once at first use from the
 * CPU (memgov_kernels_isa() names it); every variant gives bit-identical results. Environment variable
 * MEMGOV_KERNELS_ISA=scalar|avx2|avx512, read once at first use, caps the choice (a variant the CPU lacks is
 * never chosen).
 *
 * Thread safety: every function may be called from any thread; a caller's buffers, accumulators and dictionary
 * objects must not be used by two threads at once unless stated (two threads may read one dictionary).
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_KERNELS_H
#define MEMGOV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel variant in use: "scalar", "avx2" or "avx512". Static string. Thread safety: any thread. */
MEMGOV_API const char *memgov_kernels_isa(void);

/* ---- downcast ---------------------------------------------------------------------------------------------- */

/* Flags of memgov_kernels_downcast_options. */
#define MEMGOV_DOWNCAST_UNSIGNED 0x1u      /* unsigned targets allowed (only when the column's minimum is >= 0) */
#define MEMGOV_DOWNCAST_FLOAT_TO_INT 0x2u  /* a float column whose values are all integral, finite and not NaN may
                                              become an integer column (-0.0 becomes 0) */
#define MEMGOV_DOWNCAST_KEEP_FLOAT64 0x4u  /* never float64 -> float32 */

/* Options of the downcast calls. Begins with struct_size; fill with memgov_kernels_downcast_options_init(). */
typedef struct memgov_kernels_downcast_options {
    size_t struct_size;
    uint32_t flags;      /* MEMGOV_DOWNCAST_*; default 0 (signed integer targets only, floats stay floats) */
    double abs_tolerance; /* float -> float32: a value v whose float32 rounding f has |f - v| <= abs_tolerance ... */
    double rel_tolerance; /* ... or |f - v| <= rel_tolerance * |v| counts as fitting. Both 0 (default): only values
                             that round-trip exactly fit. NaN stays NaN (its payload may lose low bits, as in numpy);
                             +-inf stays +-inf; a finite value that becomes +-inf in float32 never fits. Negative or
                             NaN tolerances are MEMGOV_EINVAL. Integer targets are always exact. */
    memgov_threads_lease *lease; /* memgov_kernels_plan_downcast() scans on this lease's threads
                                    (memgov_parallel_for_static: one contiguous run per thread, the runs' findings
                                    merged in order: the plan equals the one a single thread makes, except that
                                    a min or max of zero may be -0.0 where it was 0.0 or the reverse, as between
                                    the SIMD variants); the lease must
                                    not grow during the call. NULL (default): the calling thread alone. The
                                    conversions (apply, and the fused memgov_kernels_downcast) always run on the
                                    calling thread. Borrowed */
} memgov_kernels_downcast_options;

/* Fills *opts with the defaults above and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_kernels_downcast_options_init(memgov_kernels_downcast_options *opts);

/* What a scan of a column found and the narrowest dtype that holds every value. Begins with struct_size: set it
 * to sizeof(memgov_kernels_downcast_plan) before the call (the library writes up to that size). */
typedef struct memgov_kernels_downcast_plan {
    size_t struct_size;
    memgov_dtype from;       /* the column's dtype */
    memgov_dtype to;         /* the narrowest dtype that holds every value under the options (may equal from) */
    uint64_t count;          /* elements scanned */
    uint64_t nan_count;      /* NaN elements (float columns; 0 for integer columns) */
    double min, max;         /* smallest and largest value other than NaN, as double (integers beyond 2^53 rounded);
                                NaN when there is none */
    int64_t int_min, int_max;    /* signed integer columns (and bool): the exact minimum and maximum */
    uint64_t uint_min, uint_max; /* unsigned integer columns: the exact minimum and maximum */
    uint64_t bytes_from;     /* count * size of from */
    uint64_t bytes_to;       /* count * size of to */
    uint64_t bytes_saved;    /* bytes_from - bytes_to */
} memgov_kernels_downcast_plan;

/* Scans `count` elements of `from` at `src` and fills *plan. The rules, in order:
 * - integers (signed, unsigned, bool): the narrowest of int8, int16, int32, int64 that holds [min, max]; with
 *   MEMGOV_DOWNCAST_UNSIGNED and min >= 0, an unsigned type of the same width when it is narrower than the
 *   narrowest signed one (e.g. 200..255 -> uint8). Never wider than from (a uint64 column above INT64_MAX stays
 *   uint64). bool stays bool.
 * - floats: float64 -> float32 when every value fits (see the tolerances); with MEMGOV_DOWNCAST_FLOAT_TO_INT and
 *   every value integral, finite and not NaN, the integer rule above applies to the values, and the integer
 *   target wins when it is strictly narrower than the float target (a tie keeps the float). float16 and float32
 *   columns stay as they are unless they become integers.
 * - an empty column: int8 for integer columns, float32 for float64 (float16/float32: unchanged).
 * Errors: MEMGOV_EINVAL (src NULL with count > 0, plan NULL, bad struct_size, unknown flag or dtype, negative or NaN
 * tolerance), MEMGOV_EOVERFLOW (count above SIZE_MAX / 8, for every downcast call). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_kernels_plan_downcast(const void *src, memgov_dtype from, size_t count,
                                                     const memgov_kernels_downcast_options *opts, memgov_kernels_downcast_plan *plan);

/* Converts `count` elements of `from` at `src` into `to` at `dst` (count * size of `to` bytes). Any numeric pair
 * is accepted (widening too). dst == src converts in place when `to` is not wider than `from` (front to back, no
 * second buffer); any other overlap is MEMGOV_EINVAL. Every value must fit `to` under the same rules as the plan
 * (integers in range; floats into integers only when integral and finite; float32 targets within the options'
 * tolerances; NaN and +-inf fit float targets only). The first value that does not fit stops the call with
 * MEMGOV_ERANGE, a message naming its index and value, and *bad_index (if not NULL) set to it: then elements
 * [0, index) of dst are converted and no byte of dst at or past element `index` of `to` was written (in place:
 * the source bytes from there on are intact, those before are not). Errors also: MEMGOV_EINVAL (NULL with
 * count > 0, unknown dtype, overlap, bad options), MEMGOV_EOVERFLOW. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_kernels_apply_downcast(const void *src, memgov_dtype from, size_t count, void *dst,
                                               memgov_dtype to, const memgov_kernels_downcast_options *opts,
                                               size_t *bad_index);

/* Plans and converts in one pass over memory: scans the column block by block (64 Ki elements, in cache),
 * converting each block to the narrowest dtype seen so far and widening what was written when a later value
 * needs more. On success dst holds `count` elements of plan->to (the same dtype memgov_kernels_plan_downcast() would choose) and
 * *plan is filled. dst must have room for count * size of `from` bytes (the worst case), or be src (in place;
 * no second buffer). In place with non-zero tolerances, values written as float32 before a later value forced
 * float64 keep their float32 rounding (still within the tolerances); out of place they are converted again from
 * src. Errors as memgov_kernels_plan_downcast() plus MEMGOV_EINVAL for a partial overlap of src and dst; on an error dst may
 * have been written but nothing is reported as converted. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_kernels_downcast(const void *src, memgov_dtype from, size_t count, void *dst,
                                         const memgov_kernels_downcast_options *opts, memgov_kernels_downcast_plan *plan);

/* ---- dictionary encoding ----------------------------------------------------------------------------------- */

/* A dictionary-encoded column: codes, one per input element (-1 for nulls), and the distinct values. Opaque;
 * made by a memgov_kernels_factorize_* call, its memory (hash table while building, dictionary and codes after)
 * charged to the caller's budget, freed by memgov_kernels_dict_destroy(). Two threads may read one at once. */
typedef struct memgov_kernels_dict memgov_kernels_dict;

/* Flags of memgov_kernels_factorize_options. */
#define MEMGOV_FACTORIZE_SORT 0x1u /* dictionary sorted (strings bytewise, shorter prefix first; integers
                                      ascending) instead of first-appearance order (pd.factorize(sort=False)) */

/* Options of the factorize calls. Begins with struct_size; fill with memgov_kernels_factorize_options_init(). */
typedef struct memgov_kernels_factorize_options {
    size_t struct_size;
    uint32_t flags; /* MEMGOV_FACTORIZE_*; default 0 */
} memgov_kernels_factorize_options;

/* Fills *opts with the defaults and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_kernels_factorize_options_init(memgov_kernels_factorize_options *opts);

/* Common to the factorize calls. `budget` pays for the hash table, the dictionary and the codes (the calls use
 * memgov_malloc/realloc/free on it). `validity` is an optional Arrow validity bitmap (bit i of byte i/8, least
 * significant bit first; 0 = null; NULL = no nulls). On success *out is a new dictionary whose codes are the
 * narrowest signed integer type that holds every code and -1 (int8 up to 128 distinct values, then int16, ...).
 * Errors: MEMGOV_EINVAL (NULL arguments with count > 0, bad struct_size, unknown flag, bad offsets: the message
 * names the first bad index and values), MEMGOV_EOVERFLOW (sizes overflow), MEMGOV_ENOMEM (the budget refused
 * or the system has no memory: everything allocated so far is freed, *out is left unchanged, and no codes are
 * presented). Thread safety: any thread; the budget may be shared with other threads. */

/* Strings in Arrow layout with int32 offsets: string i is data[offsets[i] .. offsets[i+1]). offsets has count + 1
 * elements; they must satisfy 0 <= offsets[0] <= offsets[1] <= ... <= offsets[count] <= data_size, checked before
 * any byte of data is read (else MEMGOV_EINVAL naming the index and values). data may be NULL when data_size is
 * 0. */
MEMGOV_API memgov_status memgov_kernels_factorize_utf8(memgov_budget *budget, const int32_t *offsets,
                                                       const char *data, size_t data_size, size_t count,
                                                       const uint8_t *validity, const memgov_kernels_factorize_options *opts,
                                                       memgov_kernels_dict **out);

/* As memgov_kernels_factorize_utf8() with int64 offsets (Arrow large_utf8). */
MEMGOV_API memgov_status memgov_kernels_factorize_large_utf8(memgov_budget *budget, const int64_t *offsets,
                                                             const char *data, size_t data_size, size_t count,
                                                             const uint8_t *validity,
                                                             const memgov_kernels_factorize_options *opts,
                                                             memgov_kernels_dict **out);

/* Strings as pointer and length arrays: string i is ptrs[i][0 .. lengths[i]); ptrs[i] NULL is a null (then its
 * length is ignored; validity, if given, also marks nulls). A non-NULL ptrs[i] must point to lengths[i]
 * readable bytes (the caller's promise: it cannot be checked). */
MEMGOV_API memgov_status memgov_kernels_factorize_strings(memgov_budget *budget, const char *const *ptrs,
                                                          const size_t *lengths, size_t count,
                                                          const uint8_t *validity,
                                                          const memgov_kernels_factorize_options *opts,
                                                          memgov_kernels_dict **out);

/* An int64 column. */
MEMGOV_API memgov_status memgov_kernels_factorize_int64(memgov_budget *budget, const int64_t *values, size_t count,
                                                        const uint8_t *validity,
                                                        const memgov_kernels_factorize_options *opts,
                                                        memgov_kernels_dict **out);

/* Frees the dictionary and its codes, crediting its budget. NULL is a no-op. The budget must still exist. */
MEMGOV_API void memgov_kernels_dict_destroy(memgov_kernels_dict *dict);

/* The number of distinct non-null values. 0 for NULL. */
MEMGOV_API size_t memgov_kernels_dict_size(const memgov_kernels_dict *dict);

/* The number of null elements in the input. 0 for NULL. */
MEMGOV_API size_t memgov_kernels_dict_null_count(const memgov_kernels_dict *dict);

/* The codes: `count` elements (the input's length) of *dtype (int8, int16, int32 or int64), owned by the
 * dictionary, valid until it is destroyed; code c refers to value c of the dictionary, -1 is a null. Returns NULL
 * with *dtype MEMGOV_DTYPE_INVALID for a NULL dict. dtype and count may be NULL. */
MEMGOV_API const void *memgov_kernels_dict_codes(const memgov_kernels_dict *dict, memgov_dtype *dtype,
                                                 size_t *count);

/* String dictionaries: value i (0 <= i < size) as a pointer to its bytes (not NUL-terminated) and *length. NULL
 * for an out-of-range i or an int64 dictionary (*length then 0; length may be NULL). */
MEMGOV_API const char *memgov_kernels_dict_string(const memgov_kernels_dict *dict, size_t i, size_t *length);

/* String dictionaries in Arrow large_utf8 layout: *offsets (size + 1 int64) and *data, owned by the dictionary.
 * MEMGOV_EINVAL for NULL arguments or an int64 dictionary. */
MEMGOV_API memgov_status memgov_kernels_dict_strings(const memgov_kernels_dict *dict, const int64_t **offsets,
                                                     const char **data);

/* Int64 dictionaries: the `size` distinct values in dictionary order, owned by the dictionary. NULL for a
 * string dictionary or NULL dict. */
MEMGOV_API const int64_t *memgov_kernels_dict_int64(const memgov_kernels_dict *dict);

/* ---- streaming statistics ---------------------------------------------------------------------------------- */

/* An accumulator of count, NaN count, min, max, mean, variance and a compensated sum, fed chunk by chunk.
 * Caller-owned plain struct (no allocation): initialise with memgov_kernels_accumulator_init(), read with
 * memgov_kernels_accumulator_result(). The fields are the state of the algorithm (docs/kernels.md), not for writing. */
typedef struct memgov_kernels_accumulator {
    size_t struct_size;
    uint64_t count;     /* values other than NaN */
    uint64_t nan_count; /* NaN values */
    double min, max;    /* NaN until a value arrives */
    double shift;       /* the first finite value seen (0 if beyond 2^1000): values are folded as x - shift, so that
                           data far from 0 (timestamps, 1e9 + noise) keep their variance's precision */
    double mean;        /* running mean of x - shift (Welford / Chan) */
    double m2;          /* sum of squared deviations from the mean */
    double sum, sum_c;  /* Neumaier-compensated sum of x and its compensation */
} memgov_kernels_accumulator;

/* The results. Begins with struct_size: set it to sizeof(memgov_kernels_summary) before the call. */
typedef struct memgov_kernels_summary {
    size_t struct_size;
    uint64_t count, nan_count;
    double min, max;  /* NaN when count is 0 */
    double mean;      /* NaN when count is 0 */
    double var;       /* population variance (numpy var, ddof=0); NaN when count is 0 */
    double var_sample;/* sample variance (ddof=1, pandas var); NaN when count < 2 */
    double std;       /* sqrt(var) */
    double sum;       /* compensated sum; 0 when count is 0 */
} memgov_kernels_summary;

/* Resets *acc to the empty state and sets its struct_size. Thread safety: any thread (acc is the caller's). */
MEMGOV_API void memgov_kernels_accumulator_init(memgov_kernels_accumulator *acc);

/* Adds `count` elements of `dtype` at `data` (any numeric dtype; bool counts 0/1; integers are converted to
 * double, rounding beyond 2^53). NaN elements only count in nan_count; +-inf make the mean and variance inf/NaN
 * as in numpy. Errors: MEMGOV_EINVAL (acc NULL or not initialised, data NULL with count > 0, unknown dtype),
 * MEMGOV_EOVERFLOW. On error acc is unchanged. Thread safety: one thread per accumulator at a time. */
MEMGOV_API memgov_status memgov_kernels_accumulate(memgov_kernels_accumulator *acc, const void *data, memgov_dtype dtype,
                                                 size_t count);

/* Merges `other` into `acc` (Chan et al.'s pairwise formula), as if acc had also been fed other's data: chunks
 * handled by different threads combine into the statistics of the whole column. Errors: MEMGOV_EINVAL (NULL or
 * uninitialised). Thread safety: acc one thread at a time; other is only read. */
MEMGOV_API memgov_status memgov_kernels_accumulator_merge(memgov_kernels_accumulator *acc, const memgov_kernels_accumulator *other);

/* Fills *out (up to its struct_size) from acc. Errors: MEMGOV_EINVAL (NULL, uninitialised, bad struct_size). */
MEMGOV_API memgov_status memgov_kernels_accumulator_result(const memgov_kernels_accumulator *acc, memgov_kernels_summary *out);

/* One call: init, accumulate, result. Errors as those three. */
MEMGOV_API memgov_status memgov_kernels_describe(const void *data, memgov_dtype dtype, size_t count,
                                               memgov_kernels_summary *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_KERNELS_H */

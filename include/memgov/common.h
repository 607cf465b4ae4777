/*
 * memgov/common.h — what every part of memgov shares: the export macro, versions, status codes, the
 * thread-local last error, the dtype enum, byte formatting and the struct_size rule.
 *
 * Conventions of the stable ABI (see docs/abi.md):
 * - Every exported name starts with memgov_ (functions, types) or MEMGOV_ (macros, enum constants).
 * - Fallible functions return memgov_status; MEMGOV_OK is 0. On failure they also set the calling thread's last
 *   status and last error message (memgov_last_status(), memgov_last_error()). Functions that return a pointer
 *   (allocation) return NULL on failure and set the same two.
 * - Enum values are pinned: a value, once released, keeps its number forever; new values are appended.
 * - Option and stats structs begin with `size_t struct_size`, which the caller sets to sizeof(the struct) as
 *   its header declares it (the matching _init function does this). The library reads only the fields that
 *   struct_size covers and treats the rest as zero; a struct_size larger than the library knows is accepted
 *   only if the unknown tail is all zero bytes, else the call fails with MEMGOV_EINVAL. Stats structs are
 *   written up to the smaller of the two sizes. This is how fields are added without breaking old callers.
 * - No function aborts the process on bad input or on memory exhaustion.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_COMMON_H
#define MEMGOV_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------------------------------------------ */

/* MEMGOV_API marks a function exported from libmemgov.so. Everything else is built with hidden visibility. */
#if defined(_WIN32)
#  if defined(MEMGOV_BUILDING)
#    define MEMGOV_API __declspec(dllexport)
#  else
#    define MEMGOV_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define MEMGOV_API __attribute__((visibility("default")))
#else
#  define MEMGOV_API
#endif

/* ---- versions ---------------------------------------------------------------------------------------------- */

/* The release version of the headers the caller compiled against. The ABI version is the soname's number
 * (libmemgov.so.1) and changes only on an incompatible change; releases inside one ABI only add symbols. */
#define MEMGOV_VERSION_MAJOR 0
#define MEMGOV_VERSION_MINOR 1
#define MEMGOV_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, for preprocessor comparisons. */
#define MEMGOV_VERSION_NUMBER (MEMGOV_VERSION_MAJOR * 10000 + MEMGOV_VERSION_MINOR * 100 + MEMGOV_VERSION_PATCH)
#define MEMGOV_VERSION_STRING "0.1.0"

/* The release version of the library loaded at run time, as MEMGOV_VERSION_NUMBER computes it.
 * Thread safety: any thread, any time. */
MEMGOV_API unsigned memgov_version_number(void);

/* The release version of the loaded library as "MAJOR.MINOR.PATCH". The string is static: never free it.
 * Thread safety: any thread, any time. */
MEMGOV_API const char *memgov_version_string(void);

/* One line describing how the loaded library was built: allocation backend, jemalloc version, build type and
 * optional features, e.g. "backend=jemalloc-5.3.0 buildtype=release sanitize=none hwloc=2.9.0 libcpuid=0.6.2".
 * Static string: never free it. Thread safety: any thread, any time. */
MEMGOV_API const char *memgov_build_info(void);

/* ---- status codes ------------------------------------------------------------------------------------------ */

/* Result of a fallible call. Values are pinned forever; new codes are appended before MEMGOV_STATUS_COUNT_. */
typedef enum memgov_status {
    MEMGOV_OK = 0,           /* success */
    MEMGOV_EINVAL = 1,       /* an argument is invalid (NULL where an object is required, bad value, bad struct_size) */
    MEMGOV_ENOMEM = 2,       /* refused: a hard limit would be exceeded, or the system has no memory for it */
    MEMGOV_EOVERFLOW = 3,    /* a size computation would overflow (count * size, alignment round-up, unit scaling) */
    MEMGOV_EBUSY = 4,        /* the object is in use (live bytes, children, running thread) */
    MEMGOV_ENOTFOUND = 5,    /* no such key, name, file or object */
    MEMGOV_EEXIST = 6,       /* already exists (duplicate key or name) */
    MEMGOV_ERANGE = 7,       /* a value is outside its allowed range; a fixed-size table (callbacks) is full */
    MEMGOV_ETYPE = 8,        /* a value has the wrong type for its key */
    MEMGOV_EPARSE = 9,       /* text could not be parsed (configuration file, size with units, duration) */
    MEMGOV_EIO = 10,         /* an operating-system I/O call failed; the message carries errno's text */
    MEMGOV_ENOSPC = 11,      /* no space left on the device backing a file or memory map */
    MEMGOV_EUNSUPPORTED = 12,/* not supported on this platform or in this build */
    MEMGOV_ESTATE = 13,      /* the call is not valid in the object's current state */
    MEMGOV_ECANCELED = 14,   /* the operation was canceled by a callback or a shutdown */
    MEMGOV_EINTERNAL = 15,   /* an internal invariant failed; please report it with the message */
    MEMGOV_STATUS_COUNT_     /* not a status: the number of codes this header knows */
} memgov_status;

/* The constant's name of a status, e.g. "MEMGOV_ENOMEM"; "MEMGOV_UNKNOWN_STATUS" for a value this library does
 * not know. Static string: never free it. Thread safety: any thread, any time. */
MEMGOV_API const char *memgov_status_name(memgov_status status);

/* A one-line English description of a status, e.g. "refused: a hard memory limit would be exceeded";
 * "unknown status" for a value this library does not know. Static string. Thread safety: any thread. */
MEMGOV_API const char *memgov_status_str(memgov_status status);

/* The status of the calling thread's most recent failed memgov call, or MEMGOV_OK if none failed yet (or
 * memgov_clear_error() was called since). Successful calls do not reset it. Thread safety: per thread. */
MEMGOV_API memgov_status memgov_last_status(void);

/* The calling thread's most recent error message: what failed, with the value and the limit it broke,
 * e.g. "budget 'model' refused 64.0 MiB: use 980.0 MiB + request would exceed its hard limit of 1.00 GiB".
 * "" if there is none. The string is owned by the library and stays valid until the same thread's next
 * failing memgov call; copy it to keep it. Thread safety: per thread. */
MEMGOV_API const char *memgov_last_error(void);

/* Resets the calling thread's last status to MEMGOV_OK and its message to "". Thread safety: per thread. */
MEMGOV_API void memgov_clear_error(void);

/* ---- dtypes ------------------------------------------------------------------------------------------------ */

/* Element types of the kernels, arrays and chunk planners. Values are pinned forever. */
typedef enum memgov_dtype {
    MEMGOV_DTYPE_INVALID = 0,
    MEMGOV_DTYPE_INT8 = 1,
    MEMGOV_DTYPE_INT16 = 2,
    MEMGOV_DTYPE_INT32 = 3,
    MEMGOV_DTYPE_INT64 = 4,
    MEMGOV_DTYPE_UINT8 = 5,
    MEMGOV_DTYPE_UINT16 = 6,
    MEMGOV_DTYPE_UINT32 = 7,
    MEMGOV_DTYPE_UINT64 = 8,
    MEMGOV_DTYPE_FLOAT16 = 9,  /* IEEE 754 binary16 (numpy float16) */
    MEMGOV_DTYPE_FLOAT32 = 10,
    MEMGOV_DTYPE_FLOAT64 = 11,
    MEMGOV_DTYPE_BOOL = 12,    /* one byte, 0 or 1 (numpy bool_) */
    MEMGOV_DTYPE_COUNT_        /* not a dtype: the number this header knows */
} memgov_dtype;

/* Size in bytes of one element of the dtype; 0 for MEMGOV_DTYPE_INVALID or an unknown value.
 * Thread safety: any thread. */
MEMGOV_API size_t memgov_dtype_size(memgov_dtype dtype);

/* The dtype's numpy-style name ("int8", "uint16", "float32", "bool", ...); "invalid" for an unknown value.
 * Static string. Thread safety: any thread. */
MEMGOV_API const char *memgov_dtype_name(memgov_dtype dtype);

/* Looks up a dtype by its numpy-style name (as memgov_dtype_name() returns; case-sensitive).
 * Returns MEMGOV_OK and sets *out, or MEMGOV_ENOTFOUND (message names the text) or MEMGOV_EINVAL if name or
 * out is NULL. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_dtype_from_name(const char *name, memgov_dtype *out);

/* ---- modes ------------------------------------------------------------------------------------------------- */

/* The fallback machine's modes (memgov/fallback.h): how hard the job must economise. The configuration's
 * per-mode overlays ([mode.light], [mode.minimal]) are resolved for the current mode. Values are pinned. */
typedef enum memgov_mode {
    MEMGOV_MODE_NORMAL = 0,  /* full settings */
    MEMGOV_MODE_LIGHT = 1,   /* lighter settings: smaller batches and chunks, fewer threads */
    MEMGOV_MODE_MINIMAL = 2, /* the least memory that still makes progress */
    MEMGOV_MODE_COUNT_       /* not a mode: the number this header knows */
} memgov_mode;

/* The mode's lower-case name: "normal", "light", "minimal"; "invalid" for an unknown value. Static string.
 * Thread safety: any thread. */
MEMGOV_API const char *memgov_mode_name(memgov_mode mode);

/* ---- bytes for people -------------------------------------------------------------------------------------- */

/* Writes `bytes` in binary units with three significant digits ("512 B", "1.50 KiB", "64.0 MiB", "2.00 GiB",
 * up to EiB) into buf, always NUL-terminated when buf_size > 0. Returns the length the full text needs
 * (excluding the NUL), like snprintf; at most 16. Thread safety: any thread (buf is the caller's). */
MEMGOV_API size_t memgov_format_bytes(uint64_t bytes, char *buf, size_t buf_size);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_COMMON_H */

/* Mapped arrays: .npy files mapped MAP_SHARED (memmap.h, docs/memmap.md "Mapped arrays"). A create builds the
 * file without a name, sizes it, writes the header last and links it under its name as the last fallible step,
 * so that no failure and no crash leaves a partial file at the path. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/error.h"
#include "internal/fault.h"
#include "internal/structsize.h"
#include "memmap/fsutil.h"
#include "memmap/npy.h"

struct memgov_mmarray {
    unsigned char *map;
    size_t map_len;          /* offset + nbytes */
    uint64_t offset, nbytes;
    memgov_dtype dtype;
    size_t ndim;
    uint64_t shape[MEMGOV_MMARRAY_MAX_NDIM];
    int writable;
    memgov_budget *budget;
    uint64_t charged;
    char path[];
};

MEMGOV_API void memgov_mmarray_options_init(memgov_mmarray_options *o)
{
    mg_struct_init(o, sizeof *o);
}

static memgov_status read_options(const memgov_mmarray_options *in, memgov_mmarray_options *o)
{
    memgov_mmarray_options_init(o);
    memgov_status s = mg_struct_in(o, sizeof *o, in, "memgov_mmarray_options");
    if (s != MEMGOV_OK)
        return s;
    if (o->flags & ~(MEMGOV_MMARRAY_WRITE | MEMGOV_MMARRAY_OVERWRITE))
        return mg_fail(MEMGOV_EINVAL, "memgov_mmarray_options: unknown flags 0x%x", o->flags);
    if (o->file_mode & ~07777u)
        return mg_fail(MEMGOV_EINVAL, "memgov_mmarray_options: file_mode 0%o has bits beyond 07777", o->file_mode);
    if (o->file_mode == 0)
        o->file_mode = 0644;
    return MEMGOV_OK;
}

/* What create and open check first: the pointers, the options (into *o), the byte order. */
static memgov_status begin(const char *fn, const char *path, memgov_mmarray **out,
                           const memgov_mmarray_options *opts, memgov_mmarray_options *o)
{
    if (path == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: %s is NULL", fn, path == NULL ? "path" : "out");
    *out = NULL;
    memgov_status s = read_options(opts, o);
    if (s != MEMGOV_OK)
        return s;
    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
        return mg_fail(MEMGOV_EUNSUPPORTED, "%s: mapped arrays need a little-endian machine", fn);
    return MEMGOV_OK;
}

/* A handle for path with the header's facts; charged and mapped by the caller. */
static memgov_mmarray *handle_new(const char *path, const mg_npy_header *h)
{
    size_t plen = strlen(path);
    memgov_mmarray *a = calloc(1, sizeof *a + plen + 1);
    if (a == NULL)
        return NULL;
    memcpy(a->path, path, plen + 1);
    a->dtype = h->dtype;
    a->ndim = h->ndim;
    memcpy(a->shape, h->shape, sizeof a->shape);
    a->offset = h->offset;
    a->nbytes = h->nbytes;
    a->map_len = (size_t)(h->offset + h->nbytes);
    return a;
}

static memgov_status charge(memgov_mmarray *a, memgov_budget *budget)
{
    if (budget == NULL)
        return MEMGOV_OK;
    memgov_status s = memgov_reserve(budget, a->map_len);
    if (s == MEMGOV_OK) {
        a->budget = budget;
        a->charged = a->map_len;
    }
    return s;
}

static void uncharge(memgov_mmarray *a)
{
    if (a->budget != NULL && a->charged > 0)
        memgov_release(a->budget, a->charged);
    a->charged = 0;
}

static memgov_status map(memgov_mmarray *a, int fd, int writable)
{
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mg_fault_hit(MG_FAULT_OS_CALL) ? (errno = ENOMEM, MAP_FAILED)
            : mmap(NULL, a->map_len, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        return mg_fail(err == ENOMEM ? MEMGOV_ENOMEM : MEMGOV_EIO, "mmap of %zu bytes of '%.200s': %s", a->map_len,
                       a->path, strerror(err));
    }
    a->map = p;
    a->writable = writable;
    return MEMGOV_OK;
}

/* Frees a handle that may be charged and mapped. */
static void handle_free(memgov_mmarray *a)
{
    if (a == NULL)
        return;
    if (a->map != NULL)
        munmap(a->map, a->map_len);
    uncharge(a);
    free(a);
}

/* ---- create ------------------------------------------------------------------------------------------------ */

/* Where a file under construction lives: an O_TMPFILE descriptor (no name) or a hidden name in the directory. */
typedef struct tempfile {
    int fd;
    int named;                 /* 1: `name` exists in the directory and must be renamed or unlinked */
    char dir[PATH_MAX];
    char name[PATH_MAX];
} tempfile;

static _Atomic unsigned temp_counter;

static memgov_status temp_name(tempfile *t, const char *path, const char *base)
{
    unsigned n = atomic_fetch_add(&temp_counter, 1);
    int len = snprintf(t->name, sizeof t->name, "%s/.%s.memgov-%ld-%u.tmp", t->dir, base, (long)getpid(), n);
    if (len < 0 || (size_t)len >= sizeof t->name)
        return mg_fail(MEMGOV_EINVAL, "mapped array path '%.200s' is too long for its temporary name (PATH_MAX "
                       "%d)", path, PATH_MAX);
    return MEMGOV_OK;
}

/* Opens the nameless (or hidden) file in the directory of path. */
static memgov_status temp_open(tempfile *t, const char *path, unsigned mode)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t dlen = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (*base == '\0')
        return mg_fail(MEMGOV_EINVAL, "mapped array path '%.200s' names a directory, not a file", path);
    if (dlen + 1 > sizeof t->dir)
        return mg_fail(MEMGOV_EINVAL, "mapped array path '%.200s' is longer than PATH_MAX (%d)", path, PATH_MAX);
    if (dlen == 0)
        strcpy(t->dir, ".");
    else {
        memcpy(t->dir, path, dlen);
        t->dir[dlen] = '\0';
    }
    t->fd = -1;
    t->named = 0;
    if (mg_fault_hit(MG_FAULT_FILE_IO))
        return mg_fs_fail(EACCES, "open (injected) in", t->dir, NULL);
#ifdef O_TMPFILE
    /* O_TMPFILE needs /proc to give the file a name afterwards (linkat of /proc/self/fd/N, 'publish') */
    if (access("/proc/self/fd", X_OK) == 0) {
        t->fd = open(t->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
        if (t->fd >= 0)
            return MEMGOV_OK;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return mg_fs_fail(errno, "open(O_TMPFILE) in", t->dir, NULL);
    }
#endif
    for (int attempt = 0; attempt < 100; attempt++) {
        memgov_status s = temp_name(t, path, base);
        if (s != MEMGOV_OK)
            return s;
        t->fd = open(t->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (t->fd >= 0) {
            t->named = 1;
            return MEMGOV_OK;
        }
        if (errno != EEXIST)
            return mg_fs_fail(errno, "open", t->name, t->dir);
    }
    return mg_fail(MEMGOV_EIO, "no free temporary name for '%.200s' after 100 tries", path);
}

static void temp_discard(tempfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->named)
        unlink(t->name);
    t->fd = -1;
    t->named = 0;
}

/* Gives the finished file its name: without overwrite, only if path does not exist (linkat, or renameat2 with
 * RENAME_NOREPLACE); with overwrite, by rename (atomic replacement). */
static memgov_status publish(tempfile *t, const char *path, int overwrite)
{
    if (mg_fault_hit(MG_FAULT_OS_CALL))
        return mg_fs_fail(EIO, "rename (injected) to", path, NULL);
    if (!t->named) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", t->fd);
        if (!overwrite) {
            if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0)
                return mg_fs_fail(errno, "link", path, t->dir);
            return MEMGOV_OK;
        }
        const char *slash = strrchr(path, '/');
        memgov_status s = temp_name(t, path, slash != NULL ? slash + 1 : path);
        if (s != MEMGOV_OK)
            return s;
        if (linkat(AT_FDCWD, proc, AT_FDCWD, t->name, AT_SYMLINK_FOLLOW) != 0)
            return mg_fs_fail(errno, "link", t->name, t->dir);
        t->named = 1;
    }
    if (overwrite) {
        if (rename(t->name, path) != 0)
            return mg_fs_fail(errno, "rename to", path, t->dir);
    } else if (renameat2(AT_FDCWD, t->name, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return mg_fs_fail(errno, "rename to", path, t->dir);
        if (link(t->name, path) != 0) /* a filesystem without RENAME_NOREPLACE */
            return mg_fs_fail(errno, "link", path, t->dir);
        unlink(t->name);
    }
    t->named = 0;
    return MEMGOV_OK;
}

/* Sizes the file (ftruncate) and allocates its blocks (posix_fallocate) so that writes through the mapping
 * never meet a full disk. */
static memgov_status size_file(tempfile *t, const char *path, uint64_t total)
{
    if (mg_fault_hit(MG_FAULT_OS_CALL))
        return mg_fs_fail(EFBIG, "ftruncate (injected) of", path, t->dir);
    if (ftruncate(t->fd, (off_t)total) != 0)
        return mg_fs_fail(errno, "ftruncate of", path, t->dir);
    if (total == 0)
        return MEMGOV_OK;
    int err = mg_fault_hit(MG_FAULT_OS_CALL) ? ENOSPC : posix_fallocate(t->fd, 0, (off_t)total);
    if (err != 0)
        return mg_fs_fail(err, "allocating the blocks of", path, t->dir);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_mmarray_create(const char *path, memgov_dtype dtype, size_t ndim,
                                               const uint64_t *shape, const memgov_mmarray_options *opts,
                                               memgov_mmarray **out)
{
    if (shape == NULL && ndim > 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_mmarray_create: shape is NULL");
    memgov_mmarray_options o;
    memgov_status s = begin("memgov_mmarray_create", path, out, opts, &o);
    if (s != MEMGOV_OK)
        return s;
    mg_npy_header h = {.dtype = dtype, .ndim = ndim};
    if ((s = mg_npy_nbytes(dtype, ndim, shape, &h.nbytes)) != MEMGOV_OK)
        return s;
    memcpy(h.shape, shape, ndim * sizeof *shape);
    char header[MG_NPY_FORMAT_MAX];
    size_t hlen;
    if ((s = mg_npy_format(dtype, ndim, shape, header, sizeof header, &hlen)) != MEMGOV_OK)
        return s;
    h.offset = hlen;
    if (h.nbytes > (uint64_t)INT64_MAX - hlen || h.nbytes + hlen > SIZE_MAX)
        return mg_fail(MEMGOV_EOVERFLOW, "mapped array '%.200s': %" PRIu64 " data bytes + a %zu-byte header do not "
                       "fit in a file offset and a mapping", path, h.nbytes, hlen);
    size_t plen = strlen(path);
    if (plen == 0 || path[plen - 1] == '/')
        return mg_fail(MEMGOV_EINVAL, "mapped array path '%.200s' names a directory, not a file", path);
    struct stat st;
    if (!(o.flags & MEMGOV_MMARRAY_OVERWRITE) && lstat(path, &st) == 0) /* early: before allocating the blocks */
        return mg_fail(MEMGOV_EEXIST, "mapped array '%.200s' exists (set MEMGOV_MMARRAY_OVERWRITE to replace it)",
                       path);
    memgov_mmarray *a = handle_new(path, &h);
    if (a == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_mmarray_create: no memory for the handle");
    if ((s = charge(a, o.budget)) != MEMGOV_OK) {
        handle_free(a);
        return s;
    }
    tempfile t;
    if ((s = temp_open(&t, path, o.file_mode)) == MEMGOV_OK &&
        (s = size_file(&t, path, a->map_len)) == MEMGOV_OK) {
        /* the data region is zeros already (allocated blocks); the header comes last */
        int err = mg_fault_hit(MG_FAULT_FILE_IO) ? ENOSPC : mg_fs_pwrite_all(t.fd, header, hlen, 0) != 0 ? errno : 0;
        if (err != 0)
            s = mg_fs_fail(err, "writing the header of", path, t.dir);
        else if ((s = map(a, t.fd, 1)) == MEMGOV_OK)
            s = publish(&t, path, (o.flags & MEMGOV_MMARRAY_OVERWRITE) != 0);
    }
    temp_discard(&t);
    if (s != MEMGOV_OK) {
        handle_free(a);
        return s;
    }
    *out = a;
    return MEMGOV_OK;
}

/* ---- open, flush, close ------------------------------------------------------------------------------------ */

static memgov_status read_header(int fd, const char *path, uint64_t file_size, mg_npy_header *h)
{
    unsigned char prefix[MG_NPY_PREFIX_MAX];
    long got = mg_fault_hit(MG_FAULT_FILE_IO) ? (errno = EIO, -1) : mg_fs_pread_all(fd, prefix, sizeof prefix, 0);
    if (got < 0)
        return mg_fs_fail(errno, "reading", path, NULL);
    uint64_t total;
    memgov_status s = mg_npy_prefix(prefix, (size_t)got, path, &total);
    if (s != MEMGOV_OK)
        return s;
    if (total > file_size)
        return mg_fail(MEMGOV_EPARSE, "'%.200s': .npy header says it is %" PRIu64 " bytes long but the file has %"
                       PRIu64 " bytes", path, total, file_size);
    unsigned char *buf = malloc((size_t)total);
    if (buf == NULL)
        return mg_fail(MEMGOV_ENOMEM, "no memory for the %" PRIu64 "-byte header of '%.200s'", total, path);
    got = mg_fault_hit(MG_FAULT_FILE_IO) ? (errno = EIO, -1) : mg_fs_pread_all(fd, buf, (size_t)total, 0);
    if (got < 0)
        s = mg_fs_fail(errno, "reading", path, NULL);
    else
        s = mg_npy_parse(buf, (size_t)got, file_size, path, h);
    free(buf);
    return s;
}

MEMGOV_API memgov_status memgov_mmarray_open(const char *path, const memgov_mmarray_options *opts,
                                             memgov_mmarray **out)
{
    memgov_mmarray_options o;
    memgov_status s = begin("memgov_mmarray_open", path, out, opts, &o);
    if (s != MEMGOV_OK)
        return s;
    int writable = (o.flags & MEMGOV_MMARRAY_WRITE) != 0;
    /* O_NONBLOCK: a FIFO at path must not block the open; it is refused below as not a regular file */
    int fd = mg_fault_hit(MG_FAULT_FILE_IO) ? (errno = EACCES, -1)
           : open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return mg_fs_fail(errno, "open", path, NULL);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        s = mg_fs_fail(errno, "fstat", path, NULL);
    } else if (!S_ISREG(st.st_mode)) {
        s = mg_fail(MEMGOV_EPARSE, "'%.200s' is not a regular file", path);
    } else {
        mg_npy_header h;
        memgov_mmarray *a = NULL;
        if ((s = read_header(fd, path, (uint64_t)st.st_size, &h)) == MEMGOV_OK &&
            (h.offset + h.nbytes > SIZE_MAX))
            s = mg_fail(MEMGOV_EOVERFLOW, "'%.200s': %" PRIu64 " bytes do not fit in a mapping", path,
                        h.offset + h.nbytes);
        if (s == MEMGOV_OK && (a = handle_new(path, &h)) == NULL)
            s = mg_fail(MEMGOV_ENOMEM, "memgov_mmarray_open: no memory for the handle");
        if (s == MEMGOV_OK && (s = charge(a, o.budget)) == MEMGOV_OK)
            s = map(a, fd, writable);
        if (s == MEMGOV_OK)
            *out = a;
        else
            handle_free(a);
    }
    close(fd);
    return s;
}

MEMGOV_API memgov_status memgov_mmarray_flush(memgov_mmarray *array)
{
    if (array == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_mmarray_flush: array is NULL");
    if (!array->writable)
        return MEMGOV_OK;
    if (mg_fault_hit(MG_FAULT_OS_CALL))
        return mg_fs_fail(EIO, "msync (injected) of", array->path, NULL);
    if (msync(array->map, array->map_len, MS_SYNC) != 0)
        return mg_fs_fail(errno, "msync of", array->path, NULL);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_mmarray_close(memgov_mmarray *array)
{
    handle_free(array);
    return MEMGOV_OK;
}

MEMGOV_API void *memgov_mmarray_data(const memgov_mmarray *array)
{
    return array != NULL ? array->map + array->offset : NULL;
}

MEMGOV_API memgov_dtype memgov_mmarray_dtype(const memgov_mmarray *array)
{
    return array != NULL ? array->dtype : MEMGOV_DTYPE_INVALID;
}

MEMGOV_API size_t memgov_mmarray_ndim(const memgov_mmarray *array)
{
    return array != NULL ? array->ndim : 0;
}

MEMGOV_API const uint64_t *memgov_mmarray_shape(const memgov_mmarray *array)
{
    return array != NULL ? array->shape : NULL;
}

MEMGOV_API uint64_t memgov_mmarray_nbytes(const memgov_mmarray *array)
{
    return array != NULL ? array->nbytes : 0;
}

MEMGOV_API uint64_t memgov_mmarray_offset(const memgov_mmarray *array)
{
    return array != NULL ? array->offset : 0;
}

MEMGOV_API int memgov_mmarray_writable(const memgov_mmarray *array)
{
    return array != NULL && array->writable;
}

MEMGOV_API const char *memgov_mmarray_path(const memgov_mmarray *array)
{
    return array != NULL ? array->path : NULL;
}

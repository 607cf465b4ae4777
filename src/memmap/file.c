/* The file of a file-backed budget; see file.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/fault.h"
#include "memmap/file.h"
#include "memmap/fsutil.h"

/* The calling thread's last failure of a file: which file, and errno (0: the span was used up). */
static _Thread_local const mg_file *failed_file;
static _Thread_local int failed_errno;

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static bool on_memory_fs(int fd)
{
    struct statfs s;
    return fstatfs(fd, &s) == 0 && (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

/* A file in the directory `dirfd` that no path names: O_TMPFILE, or (a filesystem without it) a random name
 * created exclusively and unlinked at once. -1 with errno on failure. */
static int unlinked_file(int dirfd)
{
    int fd = mg_fault_hit(MG_FAULT_FILE_IO) ? (errno = EOPNOTSUPP, -1) /* tests: a filesystem without it */
                                            : openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20);
    for (int attempt = 0; attempt < 100; attempt++) {
        char name[64];
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        snprintf(name, sizeof name, ".memgov-%d-%016lx", (int)getpid(), seed);
        int flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_RDWR | O_CLOEXEC;
        fd = mg_fault_hit(MG_FAULT_FILE_IO) ? (errno = EACCES, -1) : openat(dirfd, name, flags, 0600);
        if (fd >= 0) {
            if (unlinkat(dirfd, name, 0) != 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
            }
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* ---- the process's open files, for fork() ------------------------------------------------------------------- */

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_file *files;
static mg_fork_lock files_fork;
static pthread_once_t files_once = PTHREAD_ONCE_INIT;

/* In the child: each mapping becomes a private copy of the file (the parent's pages stay the parent's). */
static void files_after_fork(void *arg)
{
    (void)arg;
    for (mg_file *f = files; f != NULL; f = f->next_open) {
        if (mmap(f->base, f->span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, f->fd, 0) ==
            MAP_FAILED)
            mmap(f->base, f->span, PROT_NONE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        f->private_copy = true;
    }
}

static void files_init(void)
{
    mg_fork_lock_add(&files_fork, &files_lock, MG_FORK_RANK_LEAF, files_after_fork, NULL);
}

static void files_add(mg_file *f)
{
    pthread_once(&files_once, files_init);
    pthread_mutex_lock(&files_lock);
    f->prev_open = NULL;
    f->next_open = files;
    if (files != NULL)
        files->prev_open = f;
    files = f;
    pthread_mutex_unlock(&files_lock);
}

static void files_remove(mg_file *f)
{
    pthread_mutex_lock(&files_lock);
    if (f->prev_open != NULL)
        f->prev_open->next_open = f->next_open;
    else
        files = f->next_open;
    if (f->next_open != NULL)
        f->next_open->prev_open = f->prev_open;
    pthread_mutex_unlock(&files_lock);
}

/* ---- open, close ------------------------------------------------------------------------------------------- */

memgov_status mg_file_open(mg_file *f, const char *dir, memgov_file_placement placement, size_t span)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        int e = errno;
        if (e == ENOTDIR || e == ELOOP)
            return mg_fail(MEMGOV_EINVAL, "file budget directory '%s' is not a directory (symlinks are not "
                           "followed): %s", dir, strerror(e));
        return mg_fail(MEMGOV_EIO, "cannot open the file budget directory '%s': %s", dir, strerror(e));
    }
    if (placement == MEMGOV_FILE_PLACEMENT_DISK && on_memory_fs(dirfd)) {
        close(dirfd);
        return mg_fail(MEMGOV_EINVAL, "file budget directory '%s' is on a memory filesystem (tmpfs or ramfs) but "
                       "the placement is 'disk'", dir);
    }
    int fd = unlinked_file(dirfd);
    int e = errno;
    close(dirfd);
    if (fd < 0)
        return mg_fail(MEMGOV_EIO, "cannot create a file in the file budget directory '%s': %s", dir, strerror(e));
    void *base = mg_fault_hit(MG_FAULT_OS_CALL) ? (errno = ENOMEM, MAP_FAILED)
                 : mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (base == MAP_FAILED) {
        e = errno;
        close(fd);
        char s[24];
        memgov_format_bytes(span, s, sizeof s);
        return mg_fail(MEMGOV_ENOMEM, "cannot map %s of address space for a file in '%s': %s", s, dir,
                       strerror(e));
    }
    f->dir = strdup(dir);
    if (f->dir == NULL) {
        munmap(base, span);
        close(fd);
        return mg_fail(MEMGOV_ENOMEM, "no memory for the file budget directory's name");
    }
    f->fd = fd;
    f->base = base;
    f->span = span;
    files_add(f);
    return MEMGOV_OK;
}

void mg_file_close(mg_file *f)
{
    files_remove(f);
    if (f->base != NULL)
        munmap(f->base, f->span);
    if (f->fd >= 0)
        close(f->fd);
    free(f->dir);
    f->base = NULL;
    f->fd = -1;
    f->dir = NULL;
}

void *mg_file_take(mg_file *f, size_t size, size_t align)
{
    size_t old = atomic_load_explicit(&f->next, memory_order_relaxed), at;
    uintptr_t base = (uintptr_t)f->base;
    do {
        at = ((base + old + align - 1) & ~(uintptr_t)(align - 1)) - base; /* the address is aligned */
        if (at < old || at > f->span || size > f->span - at) {
            failed_file = f;
            failed_errno = 0;
            return NULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(&f->next, &old, at + size, memory_order_relaxed,
                                                    memory_order_relaxed));
    return f->base + at;
}

bool mg_file_commit(mg_file *f, void *addr, size_t len)
{
    off_t off = (off_t)((unsigned char *)addr - f->base);
    int e = 0;
    if (f->private_copy) /* a child's fresh range: anonymous memory, not the parent's file (nor beyond its end) */
        return mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                    0) != MAP_FAILED;
    if (mg_fault_hit(MG_FAULT_OS_CALL))
        e = ENOSPC;
    else if (fallocate(f->fd, 0, off, (off_t)len) != 0)
        e = errno == EOPNOTSUPP ? posix_fallocate(f->fd, off, (off_t)len) : errno;
    if (e == 0) {
        atomic_fetch_add_explicit(&f->committed, len, memory_order_relaxed);
        return true;
    }
    /* Nothing of the range may stay allocated: a partial allocation would be charged to no one. */
    fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len);
    atomic_fetch_add_explicit(&f->grow_failures, 1, memory_order_relaxed);
    failed_file = f;
    failed_errno = e;
    return false;
}

void mg_file_punch(mg_file *f, void *addr, size_t len)
{
    off_t off = (off_t)((unsigned char *)addr - f->base);
    if (f->private_copy) { /* fresh zero pages in place of the child's private copy; the file is the parent's */
        mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        return;
    }
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) != 0)
        madvise(addr, len, MADV_REMOVE); /* a filesystem without hole punching; failing that, the blocks stay */
    atomic_fetch_sub_explicit(&f->committed, len, memory_order_relaxed);
}

void *mg_file_refused(mg_file *f, const char *name, size_t size)
{
    char req[24], fr[24] = "unknown", sp[24];
    memgov_format_bytes(size, req, sizeof req);
    uint64_t avail = mg_fs_free_bytes(f->dir);
    if (avail != UINT64_MAX)
        memgov_format_bytes(avail, fr, sizeof fr);
    if (failed_file == f && failed_errno != 0)
        mg_fail(MEMGOV_ENOMEM, "file budget '%s': the file in '%s' could not grow for %s (%zu bytes): %s (free space "
                "in '%s': %s)", name, f->dir, req, size, strerror(failed_errno), f->dir, fr);
    else if (failed_file == f) {
        memgov_format_bytes(f->span, sp, sizeof sp);
        mg_fail(MEMGOV_ENOMEM, "file budget '%s': its address space of %s in '%s' is used up by %s (%zu bytes) "
                "(memgov_file_budget_options.address_space; free space in '%s': %s)", name, sp, f->dir, req, size,
                f->dir, fr);
    } else
        mg_fail(MEMGOV_ENOMEM, "file budget '%s': no memory for %s (%zu bytes) in '%s' (free space there: %s)", name,
                req, size, f->dir, fr);
    failed_file = NULL;
    return NULL;
}

void mg_file_page_out(mg_file *f)
{
    size_t page = page_size(), used = (atomic_load(&f->next) + page - 1) & ~(page - 1);
    if (!f->private_copy && used > 0)
        madvise(f->base, used, MADV_DONTNEED); /* shared mapping: dirty pages go to the page cache, not away */
}

void mg_file_stats(mg_file *f, memgov_file_budget_stats *st)
{
    snprintf(st->dir, sizeof st->dir, "%s", f->dir);
    struct stat s;
    if (fstat(f->fd, &s) == 0) {
        st->disk_bytes = (uint64_t)s.st_blocks * 512;
        st->file_size = (uint64_t)s.st_size;
    }
    st->committed_bytes = atomic_load(&f->committed);
    st->address_space = f->span;
    st->grow_failures = atomic_load(&f->grow_failures);
    /* Resident pages of the range ever handed out, by mincore in windows of 4096 pages. */
    size_t page = page_size(), used = atomic_load(&f->next), window = 4096 * page;
    unsigned char vec[4096];
    for (size_t at = 0; at < used; at += window) {
        size_t len = used - at < window ? used - at : window;
        if (mincore(f->base + at, len, vec) != 0)
            continue;
        for (size_t i = 0; i < (len + page - 1) / page; i++)
            st->resident_bytes += (vec[i] & 1) ? page : 0;
    }
}

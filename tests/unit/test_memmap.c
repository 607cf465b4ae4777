/* File-backed budgets and spill (memgov/memmap.h): blocks in an unlinked file, the file's disk space following the
 * blocks, a full disk (RLIMIT_FSIZE, injected fallocate/mmap/open failures) as an allocation error with nothing
 * changed and no SIGBUS, alignment, directories, configuration defaults, fork, and spill from a RAM budget. Runs
 * with both backends (the ASan build: every block its own range of the file). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "budget/backend.h"
#include "budget/tree.h"
#include "budget_support.h"

typedef struct mm_fixture {
    fixture f;
    char dir[256];
} mm_fixture;

static int setup(void **state)
{
    static mm_fixture m;
    void *inner;
    if (open_gov(&inner) != 0)
        return -1;
    m.f = *(fixture *)inner;
    const char *base = getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] != '\0' ? getenv("TMPDIR") : "/var/tmp";
    snprintf(m.dir, sizeof m.dir, "%s/memgov-test-memmap-XXXXXX", base);
    if (mkdtemp(m.dir) == NULL)
        return -1;
    *state = &m;
    return 0;
}

static int teardown(void **state)
{
    mm_fixture *m = *state;
    rmdir(m->dir);
    fixture *f = &m->f;
    void *inner = f;
    return close_gov(&inner);
}

/* Entries in the directory besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n++;
    closedir(d);
    return n;
}

static memgov_budget *file_budget(mm_fixture *m, const char *name, uint64_t hard)
{
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.name = name;
    o.hard_limit = hard;
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.dir = m->dir;
    memgov_budget *b = NULL;
    assert_int_equal(memgov_file_budget_create(m->f.root, &o, &fo, &b), MEMGOV_OK);
    return b;
}

static memgov_file_budget_stats file_stats(memgov_budget *b)
{
    memgov_file_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_file_budget_get_stats(b, &st), MEMGOV_OK);
    return st;
}

/* ---- blocks in a file ---------------------------------------------------------------------------------------- */

static void blocks_live_in_an_unlinked_file_whose_disk_use_follows_them(void **state)
{
    mm_fixture *m = *state;
    int fds = open_fds();
    memgov_budget *b = file_budget(m, "disk", 256 * MiB);
    assert_true(memgov_budget_is_file_backed(b));
    assert_false(memgov_budget_is_file_backed(m->f.root));
    assert_int_equal(entries(m->dir), 0); /* no path names the file */
    assert_int_equal(open_fds(), fds + 1);
    assert_int_equal(file_stats(b).disk_bytes, 0); /* nothing allocated before a block needs it */
    unsigned char *p = memgov_malloc(b, 24 * MiB);
    assert_non_null(p);
    memset(p, 0xab, 24 * MiB);
    memgov_file_budget_stats st = file_stats(b);
    assert_string_equal(st.dir, m->dir);
    assert_true(st.disk_bytes >= 24 * MiB);
    assert_true(st.committed_bytes >= 24 * MiB);
    assert_true(st.resident_bytes > 0 && st.resident_bytes <= st.committed_bytes);
    assert_true(used(b) >= 24 * MiB);
    assert_int_equal(used(m->f.root), 0); /* disk bytes are not charged to the RAM ancestors */
    assert_int_equal(p[24 * MiB - 1], 0xab);
    memgov_free(b, p);
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_file_budget_purge(b), MEMGOV_OK);
    st = file_stats(b);
    assert_true(st.disk_bytes < 4 * MiB); /* the freed range was punched out */
    assert_true(st.committed_bytes < 4 * MiB);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(open_fds(), fds); /* closed */
    assert_int_equal(entries(m->dir), 0);
}

static void small_blocks_reallocation_and_calloc_keep_their_contents(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *b = file_budget(m, "small", 0);
    enum { N = 600 };
    unsigned char *blk[N];
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 37) % 20000;
        assert_non_null(blk[i] = memgov_malloc(b, n));
        assert_true(memgov_usable_size(b, blk[i]) >= n);
        memset(blk[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(blk[i][(size_t)(i * 37) % 20000], i & 0xff);
    unsigned char *r = memgov_realloc(b, blk[5], 3 * MiB);
    assert_non_null(r);
    for (size_t k = 0; k < 1 + (5 * 37) % 20000; k++)
        assert_int_equal(r[k], 5);
    blk[5] = memgov_realloc(b, r, 10);
    assert_non_null(blk[5]);
    assert_int_equal(blk[5][9], 5);
    unsigned char *z = memgov_calloc(b, 1000, 1000);
    assert_non_null(z);
    for (size_t k = 0; k < 1000 * 1000; k += 4093)
        assert_int_equal(z[k], 0);
    memgov_free(b, z);
    for (int i = 0; i < N; i++)
        memgov_free(b, blk[i]);
    memgov_budget_stats st = stats_of(b);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.allocations, st.frees);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void alignments_above_the_page_size_are_honoured(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *b = file_budget(m, "aligned", 0);
    size_t aligns[] = {8192, 65536, 2 * MiB, 8 * MiB};
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = memgov_aligned_alloc(b, aligns[i], 100 * KiB);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] & (aligns[i] - 1), 0);
        memset(p[i], 1, 100 * KiB);
    }
    for (int i = 0; i < 4; i++)
        memgov_free(b, p[i]);
    assert_int_equal(used(b), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void the_hard_limit_caps_the_file_and_the_refusal_names_it(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *b = file_budget(m, "capped", 8 * MiB);
    void *p = memgov_malloc(b, 6 * MiB);
    assert_non_null(p);
    assert_null(memgov_malloc(b, 4 * MiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "budget 'capped' refused"));
    assert_int_equal(stats_of(b).refusals, 1);
    memgov_free(b, p);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void children_without_an_arena_use_the_parents_file(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *b = file_budget(m, "parent", 0);
    memgov_budget *c = child(b, "child", 0, 0, 0);
    assert_true(memgov_budget_is_file_backed(c));
    uint64_t before = file_stats(b).committed_bytes;
    void *p = memgov_malloc(c, 3 * MiB);
    assert_non_null(p);
    assert_true(file_stats(b).committed_bytes >= before + 3 * MiB);
    assert_true(used(b) >= 3 * MiB);
    assert_int_equal(used(m->f.root), 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_EBUSY); /* a child */
    memgov_free(c, p);
    assert_int_equal(memgov_budget_destroy(c), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

static void without_o_tmpfile_a_named_file_is_unlinked_at_once(void **state)
{
    mm_fixture *m = *state;
    mg_fault_arm(MG_FAULT_FILE_IO, 0, 1); /* O_TMPFILE answers EOPNOTSUPP, as on a filesystem without it */
    memgov_budget *b = file_budget(m, "named", 0);
    assert_int_equal(mg_fault_injected(MG_FAULT_FILE_IO), 1);
    assert_int_equal(entries(m->dir), 0); /* created O_EXCL, unlinked before the call returned */
    void *p = memgov_malloc(b, 2 * MiB);
    assert_non_null(p);
    memset(p, 5, 2 * MiB);
    assert_true(file_stats(b).disk_bytes >= 2 * MiB);
    memgov_free(b, p);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(entries(m->dir), 0);
}

/* ---- directories and defaults --------------------------------------------------------------------------------- */

static memgov_status create_in(mm_fixture *m, const char *dir, memgov_file_placement placement, memgov_budget **b)
{
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.dir = dir;
    fo.placement = placement;
    *b = NULL;
    return memgov_file_budget_create(m->f.root, NULL, &fo, b);
}

static void bad_directories_are_refused_with_their_name(void **state)
{
    mm_fixture *m = *state;
    uint32_t children = stats_of(m->f.root).children;
    memgov_budget *b;
    char missing[300], link[300];
    snprintf(missing, sizeof missing, "%s/none", m->dir);
    assert_int_equal(create_in(m, missing, MEMGOV_FILE_PLACEMENT_AUTO, &b), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), missing));
    snprintf(link, sizeof link, "%s/link", m->dir);
    assert_int_equal(symlink(m->dir, link), 0);
    assert_int_equal(create_in(m, link, MEMGOV_FILE_PLACEMENT_AUTO, &b), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "symlinks are not followed"));
    unlink(link);
    if (access("/dev/shm", W_OK) == 0) {
        assert_int_equal(create_in(m, "/dev/shm", MEMGOV_FILE_PLACEMENT_DISK, &b), MEMGOV_EINVAL);
        assert_non_null(strstr(memgov_last_error(), "memory filesystem"));
        assert_int_equal(create_in(m, m->dir, MEMGOV_FILE_PLACEMENT_RAM, &b), MEMGOV_OK);
        assert_string_equal(file_stats(b).dir, "/dev/shm");
        assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    }
    assert_int_equal(stats_of(m->f.root).children, children);
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.purge_delay_ms = -2;
    assert_int_equal(memgov_file_budget_create(m->f.root, NULL, &fo, &b), MEMGOV_EINVAL);
    memgov_file_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_file_budget_get_stats(m->f.root, &st), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "not file-backed"));
}

static void the_configuration_and_tmpdir_give_the_defaults(void **state)
{
    mm_fixture *m = *state;
    memgov_config *cfg = memgov_governor_config(m->f.gov);
    assert_int_equal(memgov_config_set(cfg, "memmap.dir", m->dir), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "memmap.cap", "3MiB"), MEMGOV_OK);
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.config = cfg;
    memgov_budget *b;
    assert_int_equal(memgov_file_budget_create(m->f.root, NULL, &fo, &b), MEMGOV_OK);
    assert_string_equal(file_stats(b).dir, m->dir);
    assert_int_equal(stats_of(b).hard_limit, 3 * MiB);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "memmap.dir", ""), MEMGOV_OK);
    assert_int_equal(memgov_config_set(cfg, "memmap.cap", "0"), MEMGOV_OK);
    char *old = getenv("TMPDIR") != NULL ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", m->dir, 1);
    assert_int_equal(memgov_file_budget_create(m->f.root, NULL, &fo, &b), MEMGOV_OK);
    assert_string_equal(file_stats(b).dir, m->dir);
    assert_int_equal(stats_of(b).hard_limit, 0);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    if (old != NULL)
        setenv("TMPDIR", old, 1);
    else
        unsetenv("TMPDIR");
    free(old);
}

/* ---- a full disk ---------------------------------------------------------------------------------------------- */

/* In a child process (a file size limit and a SIGBUS would be the test's own end): the file may grow to 32 MiB;
 * a block beyond fails with a message naming the directory, the error and the free space, changes no counter, and
 * the blocks held before stay usable. Exit status 0 when all of that held, else the number of the failed check. */
static int full_disk_child(mm_fixture *m)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {32 * MiB, 32 * MiB};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 1;
    memgov_budget *b = file_budget(m, "fsize", 0);
    unsigned char *p = memgov_malloc(b, 2 * MiB);
    if (p == NULL)
        return 2;
    memset(p, 7, 2 * MiB);
    memgov_budget_stats before = stats_of(b);
    for (int i = 0; i < 3; i++) {
        if (memgov_malloc(b, 64 * MiB) != NULL)
            return 3;
        if (memgov_last_status() != MEMGOV_ENOMEM)
            return 4;
        const char *e = memgov_last_error();
        if (strstr(e, m->dir) == NULL || strstr(e, strerror(EFBIG)) == NULL || strstr(e, "free space") == NULL) {
            fprintf(stderr, "message: %s\n", e);
            return 5;
        }
    }
    memgov_budget_stats after = stats_of(b);
    if (memcmp(&before, &after, offsetof(memgov_budget_stats, arena_allocated)) != 0)
        return 6;
    if (file_stats(b).grow_failures < 3)
        return 7;
    memset(p, 8, 2 * MiB); /* still backed: no SIGBUS */
    memgov_free(b, p);
    if (memgov_budget_destroy(b) != MEMGOV_OK)
        return 8;
    return entries(m->dir) == 0 ? 0 : 9;
}

static void a_full_disk_is_an_allocation_error_never_a_sigbus(void **state)
{
    mm_fixture *m = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(full_disk_child(m));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d", WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void injected_failures_of_open_mmap_and_fallocate_leave_nothing(void **state)
{
    mm_fixture *m = *state;
    uint32_t children = stats_of(m->f.root).children;
    int fds = open_fds();
    memgov_budget *b = NULL;
    mg_fault_arm(MG_FAULT_FILE_IO, 0, 2); /* the file's creation: O_TMPFILE, then the named file */
    assert_int_equal(create_in(m, m->dir, MEMGOV_FILE_PLACEMENT_AUTO, &b), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), m->dir));
    assert_int_equal(mg_fault_injected(MG_FAULT_FILE_IO), 2);
    mg_fault_arm(MG_FAULT_OS_CALL, 0, 1); /* the mapping */
    assert_int_equal(create_in(m, m->dir, MEMGOV_FILE_PLACEMENT_AUTO, &b), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "cannot map"));
#ifndef MG_ALLOC_LIBC
    mg_fault_arm(MG_FAULT_ALLOC, 0, 1); /* the arena */
    assert_int_equal(create_in(m, m->dir, MEMGOV_FILE_PLACEMENT_AUTO, &b), MEMGOV_ENOMEM);
#endif
    assert_null(b);
    assert_int_equal(stats_of(m->f.root).children, children);
    assert_int_equal(open_fds(), fds);
    assert_int_equal(entries(m->dir), 0);

    b = file_budget(m, "faulty", 0);
    void *keep = memgov_malloc(b, 100 * KiB);
    assert_non_null(keep);
    memgov_budget_stats before = stats_of(b);
    memgov_file_budget_stats fbefore = file_stats(b);
    mg_fault_arm(MG_FAULT_OS_CALL, 0, 1000); /* every fallocate */
    assert_null(memgov_malloc(b, 5 * MiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "could not grow"));
    assert_non_null(strstr(memgov_last_error(), strerror(ENOSPC)));
    assert_null(memgov_aligned_alloc(b, 4 * MiB, 3 * MiB));
    assert_null(memgov_realloc(b, keep, 9 * MiB)); /* keep stays */
    assert_true(mg_fault_injected(MG_FAULT_OS_CALL) >= 3);
    mg_fault_disarm_all();
    memgov_budget_stats after = stats_of(b);
    assert_memory_equal(&before, &after, offsetof(memgov_budget_stats, arena_allocated));
    memgov_file_budget_stats fafter = file_stats(b);
    assert_int_equal(fafter.committed_bytes, fbefore.committed_bytes);
    assert_int_equal(fafter.disk_bytes, fbefore.disk_bytes);
    memset(keep, 1, 100 * KiB);
    void *p = memgov_malloc(b, 5 * MiB); /* the disk is back */
    assert_non_null(p);
    memset(p, 2, 5 * MiB);
    memgov_free(b, p);
    memgov_free(b, keep);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
    assert_int_equal(open_fds(), fds);
}

/* ---- fork ----------------------------------------------------------------------------------------------------- */

static void a_child_of_fork_gets_a_private_copy_and_leaves_the_file_alone(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *b = file_budget(m, "forked", 0);
    unsigned char *p = memgov_malloc(b, 4 * MiB);
    assert_non_null(p);
    memset(p, 'P', 4 * MiB);
    uint64_t disk = file_stats(b).disk_bytes;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = p[0] != 'P' || p[4 * MiB - 1] != 'P';
        memset(p, 'C', 4 * MiB); /* the child's copy */
        unsigned char *q = memgov_malloc(b, 8 * MiB);
        bad |= (q == NULL) << 1;
        if (q != NULL) {
            memset(q, 'Q', 8 * MiB);
            memgov_free(b, q);
        }
        memgov_free(b, p);
        memgov_file_budget_purge(b);
        bad |= (memgov_budget_destroy(b) != MEMGOV_OK) << 2;
        _exit(bad);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (size_t k = 0; k < 4 * MiB; k += 4096)
        assert_int_equal(p[k], 'P');
    assert_int_equal(file_stats(b).disk_bytes, disk); /* the child neither grew nor punched the file */
    memgov_free(b, p);
    assert_int_equal(memgov_budget_destroy(b), MEMGOV_OK);
}

/* ---- spill ---------------------------------------------------------------------------------------------------- */

static unsigned spilled_events;
static uint64_t spilled_request;

static void on_event(const memgov_event *ev, void *user)
{
    (void)user;
    if (ev->kind == MEMGOV_EVENT_SPILLED) {
        spilled_events++;
        spilled_request = ev->request;
    }
}

static memgov_spill_stats spill_stats(memgov_budget *b)
{
    memgov_spill_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_spill_get_stats(b, &st), MEMGOV_OK);
    return st;
}

static void refused_large_requests_spill_to_the_file_budget(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *ram = child(m->f.root, "ram", 512 * KiB, 0, 0);
    memgov_budget *disk = file_budget(m, "spill", 64 * MiB);
    assert_int_equal(memgov_budget_set_spill(ram, disk, 128 * KiB), MEMGOV_OK);
    spilled_events = 0;
    uint64_t id;
    assert_int_equal(memgov_budget_add_listener(ram, on_event, NULL, &id), MEMGOV_OK);
    void *small = memgov_malloc(ram, 1000); /* fits: RAM */
    assert_non_null(small);
    unsigned char *big = memgov_malloc(ram, 4 * MiB); /* refused by ram: spilled */
    assert_non_null(big);
    memset(big, 3, 4 * MiB);
    assert_int_equal(spilled_events, 1);
    assert_int_equal(spilled_request, 4 * MiB);
    assert_true(used(disk) >= 4 * MiB);
    assert_true(used(ram) < 64 * KiB);
    assert_true(memgov_usable_size(ram, big) >= 4 * MiB);
    memgov_spill_stats s = spill_stats(ram);
    assert_ptr_equal(s.target, disk);
    assert_int_equal(s.min_bytes, 128 * KiB);
    assert_int_equal(s.spilled, 1);
    assert_int_equal(s.live_blocks, 1);
    assert_true(s.live_bytes >= 4 * MiB);
    assert_int_equal(stats_of(ram).refusals, 1); /* the refusal happened, then the spill */
    /* Below the spill minimum a refusal stays a refusal. */
    void *fill = memgov_malloc(ram, 448 * KiB);
    assert_non_null(fill);
    assert_int_equal(spill_stats(ram).spilled, 1);
    assert_null(memgov_malloc(ram, 80 * KiB));
    assert_int_equal(memgov_last_status(), MEMGOV_ENOMEM);
    /* A spilled block stays in the target when resized, and is freed there. */
    unsigned char *bigger = memgov_realloc(ram, big, 8 * MiB);
    assert_non_null(bigger);
    assert_int_equal(bigger[4 * MiB - 1], 3);
    assert_true(used(disk) >= 8 * MiB);
    assert_true(spill_stats(ram).live_bytes >= 8 * MiB);
    /* The target refusing too fails the call, saying both. */
    assert_null(memgov_malloc(ram, 100 * MiB));
    assert_non_null(strstr(memgov_last_error(), "spill target refused it too"));
    assert_int_equal(spill_stats(ram).failed, 1);
    /* Neither budget can go while the other depends on it. */
    assert_int_equal(memgov_budget_destroy(disk), MEMGOV_EBUSY);
    assert_int_equal(memgov_budget_destroy(ram), MEMGOV_EBUSY);
    assert_int_equal(memgov_budget_set_spill(ram, NULL, 0), MEMGOV_EBUSY);
    memgov_free(ram, bigger);
    memgov_sized_free(ram, fill, 448 * KiB);
    memgov_free(ram, small);
    assert_int_equal(used(disk), 0);
    assert_int_equal(used(ram), 0);
    assert_int_equal(spill_stats(ram).live_blocks, 0);
    assert_int_equal(memgov_budget_remove_listener(ram, id), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(ram), MEMGOV_OK); /* and with it its claim on the target */
    assert_int_equal(memgov_budget_destroy(disk), MEMGOV_OK);
}

static void spill_targets_are_checked(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *ram = child(m->f.root, "ram", 0, 0, 0);
    memgov_budget *other = child(m->f.root, "other", 0, 0, 0);
    memgov_budget *disk = file_budget(m, "spill", 0);
    memgov_budget *disk_child = child(disk, "below", 0, 0, 0);
    assert_int_equal(memgov_budget_set_spill(ram, other, 0), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "not file-backed"));
    assert_int_equal(memgov_budget_set_spill(ram, disk, 1024), MEMGOV_ERANGE);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_SPILL_MIN_LOWEST"));
    assert_int_equal(memgov_budget_set_spill(disk_child, disk, 0), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_set_spill(ram, disk, 0), MEMGOV_OK);
    assert_int_equal(spill_stats(ram).min_bytes, MEMGOV_SPILL_MIN_DEFAULT);
    assert_int_equal(memgov_budget_set_spill(disk, ram, 0), MEMGOV_EINVAL);
    assert_int_equal(memgov_budget_set_spill(ram, NULL, 0), MEMGOV_OK);
    assert_null(spill_stats(ram).target);
    assert_int_equal(memgov_budget_destroy(disk_child), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(disk), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(other), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(ram), MEMGOV_OK);
}

static void in_minimal_mode_large_requests_go_to_spill_at_once(void **state)
{
    mm_fixture *m = *state;
    memgov_budget *ram = child(m->f.root, "ram", 0, 0, 0); /* would accept it */
    memgov_budget *disk = file_budget(m, "spill", 0);
    assert_int_equal(memgov_budget_set_spill(ram, disk, 64 * KiB), MEMGOV_OK);
    assert_int_equal(memgov_config_set(memgov_governor_config(m->f.gov), "memmap.spill_minimal", "true"), MEMGOV_OK);
    memgov_fallback *fb = memgov_governor_fallback(m->f.gov);
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL), MEMGOV_OK); /* earlier refusals stepped it down */
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_MINIMAL), MEMGOV_OK);
    void *p = memgov_malloc(ram, 256 * KiB);
    void *q = memgov_malloc(ram, 32 * KiB); /* below the minimum: RAM */
    assert_non_null(p);
    assert_non_null(q);
    assert_true(used(disk) >= 256 * KiB);
    assert_true(used(ram) >= 32 * KiB && used(ram) < 256 * KiB);
    memgov_spill_stats s = spill_stats(ram);
    assert_int_equal(s.spilled_direct, 1);
    assert_int_equal(stats_of(ram).refusals, 0);
    assert_int_equal(memgov_fallback_unpin(fb), MEMGOV_OK);
    assert_int_equal(memgov_fallback_pin(fb, MEMGOV_MODE_NORMAL), MEMGOV_OK);
    void *r = memgov_malloc(ram, 256 * KiB); /* NORMAL: RAM again */
    assert_non_null(r);
    assert_int_equal(spill_stats(ram).spilled, 1);
    assert_int_equal(memgov_fallback_unpin(fb), MEMGOV_OK);
    memgov_free(ram, p);
    memgov_free(ram, q);
    memgov_free(ram, r);
    assert_int_equal(memgov_config_set(memgov_governor_config(m->f.gov), "memmap.spill_minimal", "false"), MEMGOV_OK);
    assert_int_equal(memgov_budget_set_spill(ram, NULL, 0), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(disk), MEMGOV_OK);
    assert_int_equal(memgov_budget_destroy(ram), MEMGOV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_live_in_an_unlinked_file_whose_disk_use_follows_them),
        cmocka_unit_test(small_blocks_reallocation_and_calloc_keep_their_contents),
        cmocka_unit_test(alignments_above_the_page_size_are_honoured),
        cmocka_unit_test(the_hard_limit_caps_the_file_and_the_refusal_names_it),
        cmocka_unit_test(children_without_an_arena_use_the_parents_file),
        cmocka_unit_test(without_o_tmpfile_a_named_file_is_unlinked_at_once),
        cmocka_unit_test(bad_directories_are_refused_with_their_name),
        cmocka_unit_test(the_configuration_and_tmpdir_give_the_defaults),
        cmocka_unit_test(a_full_disk_is_an_allocation_error_never_a_sigbus),
        cmocka_unit_test(injected_failures_of_open_mmap_and_fallocate_leave_nothing),
        cmocka_unit_test(a_child_of_fork_gets_a_private_copy_and_leaves_the_file_alone),
        cmocka_unit_test(refused_large_requests_spill_to_the_file_budget),
        cmocka_unit_test(spill_targets_are_checked),
        cmocka_unit_test(in_minimal_mode_large_requests_go_to_spill_at_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* RAM-disk folders (memgov/memmap.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget_support.h"
#include "memgov/memmap.h"

typedef struct scratch {
    fixture f;
    char parent[256];   /* a private parent under /dev/shm, so that sweeps see only this test's folders */
} scratch;

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void rm_tree(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", path);
}

static int setup(void **state)
{
    static scratch s;
    void *fs = NULL;
    if (open_gov(&fs) != 0)
        return -1;
    s.f = *(fixture *)fs;
    snprintf(s.parent, sizeof s.parent, "/dev/shm/memgov-test-ramdisk-XXXXXX");
    if (mkdtemp(s.parent) == NULL)
        return -1;
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    scratch *s = *state;
    rm_tree(s->parent);
    void *fs = &s->f;
    return close_gov(&fs);
}

static uint64_t reserved(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    return st.reserved;
}

static memgov_ramdisk *make(scratch *s, uint64_t cap, memgov_budget *budget)
{
    memgov_ramdisk_options o;
    memgov_ramdisk_options_init(&o);
    o.cap = cap;
    o.parent = s->parent;
    o.budget = budget;
    memgov_ramdisk *d = NULL;
    if (memgov_ramdisk_create(&o, &d) != MEMGOV_OK)
        fail_msg("ramdisk_create: %s", memgov_last_error());
    return d;
}


static void a_folder_is_made_in_the_parent_and_removed_on_close(void **state)
{
    scratch *s = *state;
    memgov_ramdisk *d = make(s, 1 * MiB, NULL);
    const char *path = memgov_ramdisk_path(d);
    char want[300];
    snprintf(want, sizeof want, "%s/memgov-ramdisk.%ld.", s->parent, (long)getpid());
    assert_memory_equal(path, want, strlen(want));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(memgov_ramdisk_cap(d), 1 * MiB);
    int fd;
    assert_int_equal(memgov_ramdisk_create_file(d, "x.bin", 5000, &fd), MEMGOV_OK);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char copy[300];
    snprintf(copy, sizeof copy, "%s", path);
    assert_int_equal(memgov_ramdisk_close(d), MEMGOV_OK);
    assert_false(exists(copy));
}

static void files_are_charged_to_the_cap_and_the_budget(void **state)
{
    scratch *s = *state;
    memgov_ramdisk *d = make(s, 64 * KiB, s->f.root);
    long page = sysconf(_SC_PAGESIZE);
    int fd;
    assert_int_equal(memgov_ramdisk_create_file(d, "a", 1, &fd), MEMGOV_OK);
    close(fd);
    assert_int_equal(memgov_ramdisk_used(d), (uint64_t)page);
    assert_int_equal(reserved(s->f.root), (uint64_t)page);
    assert_int_equal(memgov_ramdisk_create_file(d, "b", 64 * KiB, &fd), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "cap of 64.0 KiB"));
    assert_int_equal(fd, -1);
    char p[400];
    snprintf(p, sizeof p, "%s/b", memgov_ramdisk_path(d));
    assert_false(exists(p));
    assert_int_equal(memgov_ramdisk_create_file(d, "a", 1, &fd), MEMGOV_EEXIST);
    assert_int_equal(memgov_ramdisk_create_file(d, "../escape", 1, &fd), MEMGOV_EINVAL);
    assert_int_equal(memgov_ramdisk_create_file(d, "..", 1, &fd), MEMGOV_EINVAL);
    assert_int_equal(memgov_ramdisk_used(d), (uint64_t)page);
    assert_int_equal(memgov_ramdisk_remove_file(d, "a"), MEMGOV_OK);
    assert_int_equal(memgov_ramdisk_used(d), 0);
    assert_int_equal(reserved(s->f.root), 0);
    assert_int_equal(memgov_ramdisk_remove_file(d, "a"), MEMGOV_ENOTFOUND);
    memgov_ramdisk_close(d);

    /* the budget refuses before the cap does: root is 1 MiB */
    d = make(s, 4 * MiB, s->f.root);
    assert_int_equal(memgov_ramdisk_create_file(d, "big", 2 * MiB, &fd), MEMGOV_ENOMEM);
    assert_int_equal(memgov_ramdisk_used(d), 0);
    assert_int_equal(reserved(s->f.root), 0);
    memgov_ramdisk_close(d);
}

/* A library given the folder's path writes files by itself; recount finds them and moves the charge. */
static void recount_charges_what_others_wrote(void **state)
{
    scratch *s = *state;
    memgov_ramdisk *d = make(s, 256 * KiB, s->f.root);
    char p[400];
    snprintf(p, sizeof p, "%s/sub", memgov_ramdisk_path(d));
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/sub/lib.out", memgov_ramdisk_path(d));
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    static char block[100 * 1024];
    memset(block, 7, sizeof block);
    assert_int_equal(write(fd, block, sizeof block), (ssize_t)sizeof block);
    close(fd);
    uint64_t used = 0;
    assert_int_equal(memgov_ramdisk_recount(d, &used), MEMGOV_OK);
    assert_true(used >= sizeof block && used < sizeof block + 8 * KiB);
    assert_int_equal(memgov_ramdisk_used(d), used);
    assert_int_equal(reserved(s->f.root), used);
    /* more than the cap: counted, and the call says so */
    fd = open(p, O_WRONLY | O_APPEND);
    for (int i = 0; i < 2; i++)
        assert_int_equal(write(fd, block, sizeof block), (ssize_t)sizeof block);
    close(fd);
    assert_int_equal(memgov_ramdisk_recount(d, &used), MEMGOV_ENOMEM);
    assert_non_null(strstr(memgov_last_error(), "more than its cap of 256 KiB"));
    assert_int_equal(memgov_ramdisk_used(d), used);
    unlink(p);
    assert_int_equal(memgov_ramdisk_recount(d, &used), MEMGOV_OK);
    assert_int_equal(used, 0);
    assert_int_equal(reserved(s->f.root), 0);
    memgov_ramdisk_close(d);
}

static void a_parent_on_disk_is_refused_unless_allowed(void **state)
{
    scratch *s = *state;
    (void)s;
    char disk[] = "memgov-ramdisk-parent-XXXXXX"; /* in the build directory */
    assert_non_null(mkdtemp(disk));
    struct statfs fs;
    assert_int_equal(statfs(disk, &fs), 0);
    if (fs.f_type == 0x01021994 || fs.f_type == (long)0x858458f6) {
        rmdir(disk);
        skip(); /* the build directory itself is on tmpfs: no disk filesystem to test with */
    }
    memgov_ramdisk_options o;
    memgov_ramdisk_options_init(&o);
    o.cap = 4096;
    o.parent = disk;
    memgov_ramdisk *d = (memgov_ramdisk *)1;
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_EUNSUPPORTED);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_RAMDISK_ALLOW_DISK"));
    assert_null(d);
    o.flags = MEMGOV_RAMDISK_ALLOW_DISK;
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_OK);
    memgov_ramdisk_close(d);
    assert_int_equal(rmdir(disk), 0); /* empty again */
}

static void bad_options_are_refused(void **state)
{
    scratch *s = *state;
    memgov_ramdisk_options o;
    memgov_ramdisk_options_init(&o);
    memgov_ramdisk *d;
    o.parent = s->parent;
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_EINVAL); /* cap 0 */
    o.cap = 4096;
    o.prefix = "../x";
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_EINVAL);
    o.prefix = NULL;
    o.cap = UINT64_MAX / 2;
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_ENOSPC);
    assert_non_null(strstr(memgov_last_error(), "less than the cap"));
    o.cap = 4096;
    o.parent = "/nonexistent-memgov-parent";
    assert_int_equal(memgov_ramdisk_create(&o, &d), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_ramdisk_close(NULL), MEMGOV_OK);
}

/* A folder of a dead process, and one of a process whose pid was reused (another start time), go; the folders of
 * this process and of a live child stay. */
static void a_sweep_removes_dead_processes_folders_only(void **state)
{
    scratch *s = *state;
    pid_t live = fork();
    if (live == 0) {
        pause();
        _exit(0);
    }
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    memgov_ramdisk *mine = make(s, 4096, NULL);
    /* this process's start time is in its own folder's name */
    unsigned long long start;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/memgov-ramdisk.%ld.%%llu.", s->parent, (long)getpid());
    assert_int_equal(sscanf(memgov_ramdisk_path(mine), prefix, &start), 1);
    char live_dir[400], dead_dir[400], reused_dir[400], other_prefix[400], link_dir[400];
    /* the live child's start time: read like the library does, from /proc */
    char stat_path[64], buf[1024];
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", (long)live);
    FILE *f = fopen(stat_path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    char *p = strrchr(buf, ')') + 2;
    for (int field = 3; field < 22; field++)
        p = strchr(p, ' ') + 1;
    unsigned long long live_start = strtoull(p, NULL, 10);
    snprintf(live_dir, sizeof live_dir, "%s/memgov-ramdisk.%ld.%llu.0", s->parent, (long)live, live_start);
    snprintf(dead_dir, sizeof dead_dir, "%s/memgov-ramdisk.%ld.%llu.0", s->parent, (long)dead, start);
    snprintf(reused_dir, sizeof reused_dir, "%s/memgov-ramdisk.%ld.%llu.9", s->parent, (long)getpid(), start + 1);
    snprintf(other_prefix, sizeof other_prefix, "%s/other.%ld.%llu.0", s->parent, (long)dead, start);
    snprintf(link_dir, sizeof link_dir, "%s/memgov-ramdisk.%ld.%llu.1", s->parent, (long)dead, start);
    assert_int_equal(mkdir(live_dir, 0700), 0);
    assert_int_equal(mkdir(dead_dir, 0700), 0);
    assert_int_equal(mkdir(reused_dir, 0700), 0);
    assert_int_equal(mkdir(other_prefix, 0700), 0);
    assert_int_equal(symlink(live_dir, link_dir), 0); /* a link named like a dead folder: not a folder */
    char inner[500];
    snprintf(inner, sizeof inner, "%s/data", dead_dir);
    close(open(inner, O_WRONLY | O_CREAT, 0600));

    unsigned removed = 0;
    assert_int_equal(memgov_ramdisk_sweep(s->parent, NULL, &removed), MEMGOV_OK);
    assert_int_equal(removed, 2);
    assert_false(exists(dead_dir));
    assert_false(exists(reused_dir));
    assert_true(exists(live_dir));
    assert_true(exists(memgov_ramdisk_path(mine)));
    assert_true(exists(other_prefix));
    assert_true(exists(link_dir));

    kill(live, SIGKILL);
    assert_int_equal(waitpid(live, NULL, 0), live);
    /* the next create sweeps: the child is dead now */
    memgov_ramdisk *next = make(s, 4096, NULL);
    assert_false(exists(live_dir));
    assert_true(exists(memgov_ramdisk_path(mine)));
    memgov_ramdisk_close(next);
    memgov_ramdisk_close(mine);
    rmdir(other_prefix);
    unlink(link_dir);
}

/* Links inside the folder pointing outside it (to a directory and to a file) are removed, their targets kept. */
static void removal_never_follows_a_link_out_of_the_folder(void **state)
{
    scratch *s = *state;
    char outside[300], victim[400], link1[400], link2[400], sub[400], link3[500];
    snprintf(outside, sizeof outside, "%s/outside", s->parent);
    assert_int_equal(mkdir(outside, 0700), 0);
    snprintf(victim, sizeof victim, "%s/precious", outside);
    close(open(victim, O_WRONLY | O_CREAT, 0600));
    memgov_ramdisk *d = make(s, 4096, NULL);
    snprintf(link1, sizeof link1, "%s/to-dir", memgov_ramdisk_path(d));
    snprintf(link2, sizeof link2, "%s/to-file", memgov_ramdisk_path(d));
    snprintf(sub, sizeof sub, "%s/sub", memgov_ramdisk_path(d));
    snprintf(link3, sizeof link3, "%s/sub/to-dir", memgov_ramdisk_path(d));
    assert_int_equal(symlink(outside, link1), 0);
    assert_int_equal(symlink(victim, link2), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(symlink(outside, link3), 0);
    uint64_t used;
    assert_int_equal(memgov_ramdisk_recount(d, &used), MEMGOV_OK);
    assert_int_equal(memgov_ramdisk_close(d), MEMGOV_OK);
    assert_true(exists(victim));
    assert_false(exists(sub));
    unlink(victim);
    rmdir(outside);
}

/* A process that exits without closing its folder has it removed by the atexit handler; one killed leaves it for
 * the next sweep; a forked child that exits leaves its parent's folder alone. */
static void exit_removes_the_folder_a_kill_leaves_it_to_the_sweep(void **state)
{
    scratch *s = *state;
    int pipefd[2];
    char path[2][300] = {{0}};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        if (pid == 0) {
            memgov_ramdisk *d = make(s, 4096, NULL);
            assert_int_equal(write(pipefd[1], memgov_ramdisk_path(d), strlen(memgov_ramdisk_path(d)) + 1),
                             (ssize_t)strlen(memgov_ramdisk_path(d)) + 1);
            if (k == 0)
                exit(0); /* atexit */
            pause();
        }
        close(pipefd[1]);
        assert_true(read(pipefd[0], path[k], sizeof path[k] - 1) > 0);
        close(pipefd[0]);
        if (k == 1)
            kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
    }
    assert_false(exists(path[0]));
    assert_true(exists(path[1]));
    unsigned removed;
    assert_int_equal(memgov_ramdisk_sweep(s->parent, NULL, &removed), MEMGOV_OK);
    assert_int_equal(removed, 1);
    assert_false(exists(path[1]));

    memgov_ramdisk *d = make(s, 4096, NULL);
    pid_t pid = fork();
    if (pid == 0)
        exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_true(exists(memgov_ramdisk_path(d)));
    memgov_ramdisk_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_folder_is_made_in_the_parent_and_removed_on_close),
        cmocka_unit_test(files_are_charged_to_the_cap_and_the_budget),
        cmocka_unit_test(recount_charges_what_others_wrote),
        cmocka_unit_test(a_parent_on_disk_is_refused_unless_allowed),
        cmocka_unit_test(bad_options_are_refused),
        cmocka_unit_test(a_sweep_removes_dead_processes_folders_only),
        cmocka_unit_test(removal_never_follows_a_link_out_of_the_folder),
        cmocka_unit_test(exit_removes_the_folder_a_kill_leaves_it_to_the_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* macOS RAM disks for memgov_ramdisk_create() without a parent (ramdisk_os.h). UNTESTED: this project builds and
 * tests on Linux only; the file is compiled on macOS alone (src/meson.build) and has never been run.
 *
 *   hdiutil attach -nomount ram://<512-byte sectors>   prints the new device, e.g. "/dev/disk4"
 *   diskutil erasevolume APFS <name> /dev/disk4        formats and mounts it at /Volumes/<name>
 *   diskutil eject /dev/disk4                          unmounts and frees it (on close or at exit)
 *
 * The programs run through posix_spawn with fixed argument vectors (no shell). */
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/error.h"
#include "memmap/ramdisk_os.h"

extern char **environ;

/* Runs argv; its standard output (at most size - 1 bytes) goes into out when out is not NULL. 0 on exit 0. */
static int run(char *const argv[], char *out, size_t size)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    size_t got = 0;
    char sink[256];
    for (;;) {
        char *dst = out != NULL && got + 1 < size ? out + got : sink;
        size_t room = out != NULL && got + 1 < size ? size - 1 - got : sizeof sink;
        ssize_t n = read(pipefd[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            got += (size_t)n;
    }
    close(pipefd[0]);
    if (out != NULL)
        out[got] = '\0';
    if (err != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

memgov_status mg_ramdisk_os_attach(uint64_t cap, char *mount, size_t size)
{
    char url[64], dev[128], name[64];
    snprintf(url, sizeof url, "ram://%" PRIu64, (cap + 511) / 512);
    char *attach[] = {"hdiutil", "attach", "-nomount", url, NULL};
    if (run(attach, dev, sizeof dev) != 0)
        return mg_fail(MEMGOV_EIO, "hdiutil attach -nomount %s failed", url);
    dev[strcspn(dev, " \t\n")] = '\0';
    snprintf(name, sizeof name, "memgov-%ld", (long)getpid());
    char *erase[] = {"diskutil", "erasevolume", "APFS", name, dev, NULL};
    if (run(erase, NULL, 0) != 0) {
        char *eject[] = {"diskutil", "eject", dev, NULL};
        run(eject, NULL, 0);
        return mg_fail(MEMGOV_EIO, "diskutil erasevolume APFS %s %s failed", name, dev);
    }
    snprintf(mount, size, "/Volumes/%s", name);
    return MEMGOV_OK;
}

void mg_ramdisk_os_detach(const char *mount)
{
    char *eject[] = {"diskutil", "eject", (char *)mount, NULL};
    run(eject, NULL, 0);
}

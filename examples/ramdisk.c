/* examples/ramdisk.c — a capped scratch folder in /dev/shm: files made through memgov are charged before they
 * take memory, a file a library writes by itself is charged by a recount, and closing removes everything.
 * Build: cc ramdisk.c $(pkg-config --cflags --libs memgov) */
#include <fcntl.h>
#include <memgov.h>
#include <memgov/memmap.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(call)                                                                                                \
    do {                                                                                                           \
        memgov_status st_ = (call);                                                                                \
        if (st_ != MEMGOV_OK) {                                                                                    \
            fprintf(stderr, "%s failed: %s: %s\n", #call, memgov_status_name(st_), memgov_last_error());          \
            return 1;                                                                                              \
        }                                                                                                          \
    } while (0)

int main(void)
{
    memgov *gov;
    memgov_options go;
    memgov_options_init(&go);
    go.root_limit = 64u << 20;
    go.flags = MEMGOV_OPEN_NO_ENV;
    CHECK(memgov_open(&go, &gov));

    memgov_ramdisk_options o;
    memgov_ramdisk_options_init(&o);
    o.cap = 1u << 20; /* 1 MiB */
    o.budget = memgov_root(gov);
    memgov_ramdisk *rd;
    CHECK(memgov_ramdisk_create(&o, &rd));
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", memgov_ramdisk_path(rd));
    printf("folder %s, cap 1 MiB\n", folder);

    /* 1. A file through the API: charged (page-rounded) before its space is allocated. */
    int fd;
    CHECK(memgov_ramdisk_create_file(rd, "weights.bin", 300000, &fd));
    close(fd);
    printf("weights.bin: folder uses %llu bytes\n", (unsigned long long)memgov_ramdisk_used(rd));

    /* 2. Too big for the cap: refused before anything is written. */
    memgov_status s = memgov_ramdisk_create_file(rd, "huge.bin", 2u << 20, &fd);
    printf("huge.bin: %s: %s\n", memgov_status_name(s), memgov_last_error());

    /* 3. A library handed the path writes a file by itself; recount charges it. */
    char lib_file[4200];
    snprintf(lib_file, sizeof lib_file, "%s/library-output.txt", folder);
    FILE *f = fopen(lib_file, "w");
    for (int i = 0; i < 10000; i++)
        fprintf(f, "line %d\n", i);
    fclose(f);
    uint64_t used;
    CHECK(memgov_ramdisk_recount(rd, &used));
    printf("after the library wrote: folder uses %llu bytes\n", (unsigned long long)used);

    /* 4. Close: the folder and its files are gone, the charge released. */
    CHECK(memgov_ramdisk_close(rd));
    struct stat st;
    int gone = stat(folder, &st) != 0;
    printf("closed: folder %s\n", gone ? "removed" : "STILL THERE");
    CHECK(memgov_close(gov));
    return gone && s == MEMGOV_ENOMEM ? 0 : 1;
}

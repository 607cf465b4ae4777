/* examples/file_budget.c — a file-backed budget and spill (include/memgov/memmap.h, docs/memmap.md). A RAM budget
 * of 4 MiB names a 256 MiB file-backed budget as its spill target; a 64 MiB array asked of the RAM budget is
 * refused there and served from the file (a SPILLED event), filled and summed; the file's disk use follows the
 * array and goes back when it is freed. The file lives in $TMPDIR (else /var/tmp), unlinked from the start, so
 * nothing is left on disk even if the program is killed. Exits 0 when the numbers are as described.
 * Build: cc file_budget.c $(pkg-config --cflags --libs memgov) */
#include <stdint.h>
#include <stdio.h>

#include <memgov.h>

#define MiB ((uint64_t)1 << 20)

static void on_spill(const memgov_event *ev, void *user)
{
    int *spills = user;
    if (ev->kind == MEMGOV_EVENT_SPILLED) {
        (*spills)++;
        printf("  event: '%s' spilled a request of %llu MiB to its file budget\n", memgov_budget_name(ev->budget),
               (unsigned long long)(ev->request / MiB));
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, memgov_last_error());
    return 1;
}

int main(void)
{
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 64 * MiB; /* RAM: the file budget's bytes are on disk and do not count here */
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    if (memgov_open(&o, &gov) != MEMGOV_OK)
        return fail("memgov_open");
    memgov_budget *root = memgov_root(gov);

    memgov_budget_options bo;
    memgov_budget_options_init(&bo);
    bo.name = "spill";
    bo.hard_limit = 256 * MiB; /* the disk cap */
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    fo.config = memgov_governor_config(gov); /* memmap.dir (empty: $TMPDIR, else /var/tmp), memmap.cap */
    memgov_budget *disk = NULL, *ram = NULL;
    if (memgov_file_budget_create(root, &bo, &fo, &disk) != MEMGOV_OK)
        return fail("memgov_file_budget_create");
    bo.name = "ram";
    bo.hard_limit = 4 * MiB;
    if (memgov_budget_create(root, &bo, &ram) != MEMGOV_OK)
        return fail("memgov_budget_create");
    if (memgov_budget_set_spill(ram, disk, 0) != MEMGOV_OK) /* 0: requests of 1 MiB and more may spill */
        return fail("memgov_budget_set_spill");
    int spills = 0;
    uint64_t id;
    if (memgov_budget_add_listener(ram, on_spill, &spills, &id) != MEMGOV_OK)
        return fail("memgov_budget_add_listener");

    size_t n = 64 * MiB / sizeof(double);
    printf("asking the 4 MiB RAM budget for a 64 MiB array:\n");
    double *a = memgov_malloc(ram, n * sizeof *a);
    if (a == NULL)
        return fail("memgov_malloc");
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        a[i] = (double)(i % 1000);
    for (size_t i = 0; i < n; i++)
        sum += a[i];
    memgov_file_budget_stats fs = {.struct_size = sizeof fs};
    memgov_file_budget_get_stats(disk, &fs);
    memgov_spill_stats ss = {.struct_size = sizeof ss};
    memgov_spill_get_stats(ram, &ss);
    printf("sum %.0f; the file in %s holds %llu MiB on disk, %llu MiB resident; %llu spilled block(s) live\n", sum,
           fs.dir, (unsigned long long)(fs.disk_bytes / MiB), (unsigned long long)(fs.resident_bytes / MiB),
           (unsigned long long)ss.live_blocks);
    double expect = (double)(n / 1000) * 499500.0 + (double)((n % 1000) * (n % 1000 - 1) / 2);
    int ok = spills == 1 && sum == expect && fs.disk_bytes >= 64 * MiB && ss.live_blocks == 1;

    memgov_free(ram, a); /* the RAM budget finds the block in its spill target */
    memgov_file_budget_purge(disk);
    memgov_file_budget_get_stats(disk, &fs);
    printf("freed and purged: %llu MiB on disk\n", (unsigned long long)(fs.disk_bytes / MiB));
    ok = ok && fs.disk_bytes < 4 * MiB;

    memgov_budget_remove_listener(ram, id);
    if (memgov_budget_destroy(ram) != MEMGOV_OK || memgov_budget_destroy(disk) != MEMGOV_OK ||
        memgov_close(gov) != MEMGOV_OK)
        return fail("closing");
    printf("%s\n", ok ? "ok" : "unexpected numbers");
    return ok ? 0 : 1;
}

/* Mapped arrays (memgov/memmap.h): the .npy files memgov writes and reads, every check of open on hostile files,
 * the budget charge, fault injection on every system call of create, open and flush, a real full disk
 * (RLIMIT_FSIZE), and processes killed with SIGKILL in the middle of a create. numpy's side of the format is
 * tested in tests/python/test_mmarray.py. */
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "budget_support.h"
#include "memgov/memmap.h"

typedef struct scratch {
    fixture f;
    char dir[256];
    char path[300];
} scratch;

static int setup(void **state)
{
    static scratch s;
    void *fs = NULL;
    if (open_gov(&fs) != 0)
        return -1;
    s.f = *(fixture *)fs;
    const char *tmp = getenv("TMPDIR");
    snprintf(s.dir, sizeof s.dir, "%s/memgov-mmarray-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(s.dir) == NULL)
        return -1;
    snprintf(s.path, sizeof s.path, "%s/a.npy", s.dir);
    *state = &s;
    return 0;
}

/* Entries in the scratch directory (the temporary files a failure must not leave). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static int teardown(void **state)
{
    scratch *s = *state;
    empty_dir(s->dir);
    rmdir(s->dir);
    fixture *f = &s->f;
    void *fs = f;
    return close_gov(&fs);
}

static int clean(void **state)
{
    scratch *s = *state;
    mg_fault_disarm_all();
    empty_dir(s->dir);
    return 0;
}

static uint64_t reserved(memgov_budget *b)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    assert_int_equal(memgov_budget_get_stats(b, &st), MEMGOV_OK);
    return st.reserved;
}

static void put_file(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

/* ---- round trip -------------------------------------------------------------------------------------------- */

static void create_write_close_then_open_reads_the_values(void **state)
{
    scratch *s = *state;
    uint64_t shape[2] = {3, 5};
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_FLOAT64, 2, shape, NULL, &a), MEMGOV_OK);
    assert_true(memgov_mmarray_writable(a));
    assert_int_equal(memgov_mmarray_nbytes(a), 3 * 5 * 8);
    assert_int_equal(memgov_mmarray_offset(a) % 64, 0);
    assert_string_equal(memgov_mmarray_path(a), s->path);
    double *x = memgov_mmarray_data(a);
    for (int i = 0; i < 15; i++) {
        assert_true(x[i] == 0.0); /* created zero-filled */
        x[i] = i * 0.5;
    }
    assert_int_equal(memgov_mmarray_flush(a), MEMGOV_OK);
    assert_int_equal(memgov_mmarray_close(a), MEMGOV_OK);

    struct stat st;
    assert_int_equal(stat(s->path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0644 & ~mask);
    assert_int_equal(st.st_size, 128 + 15 * 8);

    assert_int_equal(memgov_mmarray_open(s->path, NULL, &a), MEMGOV_OK);
    assert_false(memgov_mmarray_writable(a));
    assert_int_equal(memgov_mmarray_dtype(a), MEMGOV_DTYPE_FLOAT64);
    assert_int_equal(memgov_mmarray_ndim(a), 2);
    assert_int_equal(memgov_mmarray_shape(a)[0], 3);
    assert_int_equal(memgov_mmarray_shape(a)[1], 5);
    x = memgov_mmarray_data(a);
    for (int i = 0; i < 15; i++)
        assert_true(x[i] == i * 0.5);
    assert_int_equal(memgov_mmarray_flush(a), MEMGOV_OK); /* read-only: nothing to write */
    memgov_mmarray_close(a);
}

static void header_is_numpys_layout(void **state)
{
    scratch *s = *state;
    uint64_t shape[1] = {7};
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT16, 1, shape, NULL, &a), MEMGOV_OK);
    char head[128];
    memcpy(head, (char *)memgov_mmarray_data(a) - 128, 128);
    memgov_mmarray_close(a);
    assert_memory_equal(head, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (7,), }";
    assert_memory_equal(head + 10, dict, strlen(dict));
    assert_int_equal(head[127], '\n');
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        assert_int_equal(head[i], ' ');
}

static void every_dtype_and_odd_shapes_round_trip(void **state)
{
    scratch *s = *state;
    uint64_t many[MEMGOV_MMARRAY_MAX_NDIM];
    for (int i = 0; i < MEMGOV_MMARRAY_MAX_NDIM; i++)
        many[i] = 1;
    many[5] = 3;
    struct {
        size_t ndim;
        uint64_t shape[3];
    } shapes[] = {{0, {0}}, {1, {0}}, {2, {4, 0}}, {3, {2, 3, 4}}};
    for (int d = MEMGOV_DTYPE_INT8; d < MEMGOV_DTYPE_COUNT_; d++) {
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0] + 1; k++) {
            size_t ndim = k < 4 ? shapes[k].ndim : MEMGOV_MMARRAY_MAX_NDIM;
            const uint64_t *shape = k < 4 ? shapes[k].shape : many;
            memgov_mmarray *a, *b;
            memgov_mmarray_options o;
            memgov_mmarray_options_init(&o);
            o.flags = MEMGOV_MMARRAY_OVERWRITE;
            assert_int_equal(memgov_mmarray_create(s->path, (memgov_dtype)d, ndim, shape, &o, &a), MEMGOV_OK);
            memset(memgov_mmarray_data(a), 1, memgov_mmarray_nbytes(a));
            memgov_mmarray_close(a);
            assert_int_equal(memgov_mmarray_open(s->path, NULL, &b), MEMGOV_OK);
            assert_int_equal(memgov_mmarray_dtype(b), d);
            assert_int_equal(memgov_mmarray_ndim(b), ndim);
            for (size_t i = 0; i < ndim; i++)
                assert_int_equal(memgov_mmarray_shape(b)[i], shape[i]);
            const unsigned char *p = memgov_mmarray_data(b);
            for (uint64_t i = 0; i < memgov_mmarray_nbytes(b); i++)
                assert_int_equal(p[i], 1);
            memgov_mmarray_close(b);
        }
    }
}

static void create_refuses_an_existing_file_unless_overwrite(void **state)
{
    scratch *s = *state;
    uint64_t shape[1] = {4};
    memgov_mmarray *a;
    put_file(s->path, "precious", 8);
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_UINT8, 1, shape, NULL, &a), MEMGOV_EEXIST);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_MMARRAY_OVERWRITE"));
    assert_null(a);
    assert_int_equal(entries(s->dir), 1);
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.flags = MEMGOV_MMARRAY_OVERWRITE;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_UINT8, 1, shape, &o, &a), MEMGOV_OK);
    memgov_mmarray_close(a);
    assert_int_equal(entries(s->dir), 1);
    assert_int_equal(memgov_mmarray_open(s->path, NULL, &a), MEMGOV_OK);
    memgov_mmarray_close(a);
}

static void bad_arguments_are_refused(void **state)
{
    scratch *s = *state;
    uint64_t shape[2] = {UINT64_C(1) << 40, UINT64_C(1) << 30};
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_create(NULL, MEMGOV_DTYPE_INT8, 1, shape, NULL, &a), MEMGOV_EINVAL);
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT8, 1, NULL, NULL, &a), MEMGOV_EINVAL);
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INVALID, 1, shape, NULL, &a), MEMGOV_EINVAL);
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT8, 33, shape, NULL, &a), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "MEMGOV_MMARRAY_MAX_NDIM"));
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT64, 2, shape, NULL, &a), MEMGOV_EOVERFLOW);
    assert_non_null(strstr(memgov_last_error(), "INT64_MAX"));
    char dir_path[300];
    snprintf(dir_path, sizeof dir_path, "%s/", s->dir);
    assert_int_equal(memgov_mmarray_create(dir_path, MEMGOV_DTYPE_INT8, 1, shape, NULL, &a), MEMGOV_EINVAL);
    snprintf(dir_path, sizeof dir_path, "%s/no/such/dir.npy", s->dir);
    shape[0] = 1;
    assert_int_equal(memgov_mmarray_create(dir_path, MEMGOV_DTYPE_INT8, 1, shape, NULL, &a), MEMGOV_ENOTFOUND);
    memgov_mmarray_options o = {.struct_size = 3};
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT8, 1, shape, &o, &a), MEMGOV_EINVAL);
    memgov_mmarray_options_init(&o);
    o.flags = 0x80;
    assert_int_equal(memgov_mmarray_open(s->path, &o, &a), MEMGOV_EINVAL);
    assert_int_equal(memgov_mmarray_open(s->path, NULL, &a), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_mmarray_open(s->dir, NULL, &a), MEMGOV_EPARSE);
    assert_non_null(strstr(memgov_last_error(), "not a regular file"));
    assert_int_equal(memgov_mmarray_flush(NULL), MEMGOV_EINVAL);
    assert_int_equal(memgov_mmarray_close(NULL), MEMGOV_OK);
    assert_int_equal(entries(s->dir), 0);
}

/* ---- hostile files ----------------------------------------------------------------------------------------- */

/* A .npy file with dict `dict` (padded to 64 bytes) and data_bytes zero bytes after it. */
static void put_npy(const char *path, int major, const char *dict, size_t data_bytes)
{
    size_t prefix = major == 1 ? 10 : 12, n = strlen(dict);
    size_t total = (prefix + n + 1 + 63) / 64 * 64;
    char *buf = calloc(1, total + data_bytes);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)major;
    size_t hlen = total - prefix;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + prefix, dict, n);
    memset(buf + prefix + n, ' ', total - 1 - prefix - n);
    buf[total - 1] = '\n';
    put_file(path, buf, total + data_bytes);
    free(buf);
}

static void open_checks(const char *path, memgov_status want, const char *message_part)
{
    memgov_mmarray *a = (memgov_mmarray *)1;
    memgov_status got = memgov_mmarray_open(path, NULL, &a);
    if (got != want || strstr(memgov_last_error(), message_part) == NULL)
        fail_msg("open: got %s '%s', want %s with '%s'", memgov_status_name(got), memgov_last_error(),
                 memgov_status_name(want), message_part);
    assert_null(a);
}

static void open_rejects_hostile_headers_naming_the_problem(void **state)
{
    scratch *s = *state;
    static const struct {
        const char *dict;
        size_t data;
        memgov_status want;
        const char *says;
    } cases[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, MEMGOV_OK, ""},
        {"{\"shape\": (2,), \"descr\": \"<f8\", \"fortran_order\": False}", 16, MEMGOV_OK, ""},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 16, MEMGOV_EPARSE, "truncated"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", 16, MEMGOV_EPARSE, "comma"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", 16, MEMGOV_EPARSE, "non-negative"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (02,), }", 16, MEMGOV_EPARSE, "leading zero"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, MEMGOV_EPARSE,
         "INT64_MAX"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0, MEMGOV_EOVERFLOW,
         "INT64_MAX"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }", 0, MEMGOV_EOVERFLOW,
         "extents of 0 aside"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 0), }", 0, MEMGOV_OK, ""},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': 2, }", 16, MEMGOV_EPARSE, "not a tuple"},
        {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }", 16, MEMGOV_EPARSE, "True nor False"},
        {"{'descr': '<f8', 'shape': (2,), }", 16, MEMGOV_EPARSE, "no 'fortran_order'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, MEMGOV_EPARSE, "twice"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", 16, MEMGOV_EPARSE, "unknown key"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } junk", 16, MEMGOV_EPARSE, "after the dict"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), ", 16, MEMGOV_EPARSE, "quoted string"},
        {"{'descr': '<f8\\n', 'fortran_order': False, 'shape': (2,)}", 16, MEMGOV_EPARSE, "escape"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (2,)}", 16, MEMGOV_EPARSE, "expected ':'"},
        {"['descr', '<f8']", 16, MEMGOV_EPARSE, "expected '{'"},
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 16, MEMGOV_EUNSUPPORTED, "little-endian"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 32, MEMGOV_EUNSUPPORTED, "not one memgov"},
        {"{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }", 16, MEMGOV_EUNSUPPORTED, "little-endian"},
        {"{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", 32, MEMGOV_EUNSUPPORTED, "Fortran"},
        {"{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2), }", 16, MEMGOV_OK, ""},
        {"{'descr': '<i1', 'fortran_order': False, 'shape': (2,), }", 2, MEMGOV_OK, ""},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (3L,), }", 3, MEMGOV_OK, ""},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1,1,1,1,1), }", 8, MEMGOV_EPARSE, "MEMGOV_MMARRAY_MAX_NDIM"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_npy(s->path, 1, cases[i].dict, cases[i].data);
        if (cases[i].want == MEMGOV_OK) {
            memgov_mmarray *a;
            if (memgov_mmarray_open(s->path, NULL, &a) != MEMGOV_OK)
                fail_msg("case %zu: %s", i, memgov_last_error());
            memgov_mmarray_close(a);
        } else {
            open_checks(s->path, cases[i].want, cases[i].says);
        }
    }
    put_npy(s->path, 2, "{'descr': '<u4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_open(s->path, NULL, &a), MEMGOV_OK);
    assert_int_equal(memgov_mmarray_offset(a) % 64, 0);
    memgov_mmarray_close(a);
}

static void open_rejects_broken_prefixes(void **state)
{
    scratch *s = *state;
    put_file(s->path, "", 0);
    open_checks(s->path, MEMGOV_EPARSE, "magic");
    put_file(s->path, "\x93NUMPZ\x01\x00\x10\x00", 10);
    open_checks(s->path, MEMGOV_EPARSE, "magic");
    put_file(s->path, "\x93NUMPY\x04\x00\x10\x00", 10);
    open_checks(s->path, MEMGOV_EUNSUPPORTED, "version 4.0");
    put_file(s->path, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    open_checks(s->path, MEMGOV_EPARSE, "bytes long but the file has 12");
    put_file(s->path, "\x93NUMPY\x02\x00\x00\x00\x00\x7f", 12);
    open_checks(s->path, MEMGOV_EPARSE, "MEMGOV_MMARRAY_HEADER_MAX");
    put_file(s->path, "\x93NUMPY\x02\x00\x00", 9);
    open_checks(s->path, MEMGOV_EPARSE, "magic"); /* shorter than any prefix */
    put_file(s->path, "\x93NUMPY\x02\x00\x00\x00", 10);
    open_checks(s->path, MEMGOV_EPARSE, "12 bytes");
    /* a data offset that would misalign the elements: an 8-byte type after a 74-byte header */
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (0,)}";
    char buf[74];
    memcpy(buf, "\x93NUMPY\x01\x00\x40\x00", 10);
    memset(buf + 10, ' ', 64);
    memcpy(buf + 10, dict, strlen(dict));
    buf[73] = '\n';
    put_file(s->path, buf, 74);
    open_checks(s->path, MEMGOV_EPARSE, "not a multiple of the 8-byte element size");
}

static void a_read_write_open_writes_through(void **state)
{
    scratch *s = *state;
    put_npy(s->path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 16);
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.flags = MEMGOV_MMARRAY_WRITE;
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_open(s->path, &o, &a), MEMGOV_OK);
    assert_true(memgov_mmarray_writable(a));
    ((int32_t *)memgov_mmarray_data(a))[3] = 77;
    assert_int_equal(memgov_mmarray_flush(a), MEMGOV_OK);
    off_t offset = (off_t)memgov_mmarray_offset(a);
    memgov_mmarray_close(a);
    int fd = open(s->path, O_RDONLY);
    int32_t v = 0;
    assert_int_equal(pread(fd, &v, 4, offset + 12), 4);
    close(fd);
    assert_int_equal(v, 77);
}

/* ---- budget ------------------------------------------------------------------------------------------------ */

static void the_mapping_length_is_charged_until_close(void **state)
{
    scratch *s = *state;
    uint64_t shape[1] = {1000};
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.budget = s->f.root;
    memgov_mmarray *a, *b;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_FLOAT32, 1, shape, &o, &a), MEMGOV_OK);
    assert_int_equal(reserved(s->f.root), 128 + 4000);
    assert_int_equal(memgov_mmarray_open(s->path, &o, &b), MEMGOV_OK);
    assert_int_equal(reserved(s->f.root), 2 * (128 + 4000));
    memgov_mmarray_close(a);
    memgov_mmarray_close(b);
    assert_int_equal(reserved(s->f.root), 0);
}

static void a_refusing_budget_leaves_no_file(void **state)
{
    scratch *s = *state;
    uint64_t shape[1] = {2 * MiB}; /* the root's cap is 1 MiB */
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.budget = s->f.root;
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_UINT8, 1, shape, &o, &a), MEMGOV_ENOMEM);
    assert_int_equal(entries(s->dir), 0);
    assert_int_equal(reserved(s->f.root), 0);
    memgov_mmarray_options_init(&o);
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_UINT8, 1, shape, &o, &a), MEMGOV_OK);
    memgov_mmarray_close(a);
    o.budget = s->f.root;
    assert_int_equal(memgov_mmarray_open(s->path, &o, &a), MEMGOV_ENOMEM);
    assert_null(a);
    assert_int_equal(reserved(s->f.root), 0);
}

/* ---- faults ------------------------------------------------------------------------------------------------ */

typedef memgov_status (*attempt_fn)(scratch *s, memgov_mmarray **a);

static memgov_status attempt_create(scratch *s, memgov_mmarray **a)
{
    uint64_t shape[2] = {16, 1024};
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.budget = s->f.root;
    return memgov_mmarray_create(s->path, MEMGOV_DTYPE_FLOAT64, 2, shape, &o, a);
}

static memgov_status attempt_open(scratch *s, memgov_mmarray **a)
{
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.budget = s->f.root;
    return memgov_mmarray_open(s->path, &o, a);
}

/* Injects one failure at the 1st, 2nd, ... operation of `site` in attempt(): each injected failure is an error
 * with a message, no handle, no charge and `files` entries in the directory (no temporary file); the first pass
 * with nothing left to inject succeeds after at least `calls` operations of the site. */
static void fail_each_operation(scratch *s, mg_fault_site site, unsigned calls, int files, attempt_fn attempt)
{
    for (unsigned skip = 0;; skip++) {
        assert_true(skip < 20);
        mg_fault_arm(site, skip, 1);
        memgov_mmarray *a = (memgov_mmarray *)1;
        memgov_status st = attempt(s, &a);
        unsigned hit = mg_fault_injected(site);
        mg_fault_disarm_all();
        if (hit == 0) {
            assert_int_equal(st, MEMGOV_OK);
            assert_true(skip >= calls);
            memgov_mmarray_close(a);
            return;
        }
        if (st == MEMGOV_OK)
            fail_msg("site %d skip %u: the call succeeded through an injected failure", (int)site, skip);
        assert_null(a);
        assert_true(memgov_last_error()[0] != '\0');
        assert_int_equal(entries(s->dir), files);
        assert_int_equal(reserved(s->f.root), 0);
    }
}

/* Every OS call of create (ftruncate, fallocate, mmap, link/rename) and every file operation (open, header
 * write) in turn: an error that leaves no file at all and no charge. */
static void every_failure_of_create_leaves_nothing(void **state)
{
    scratch *s = *state;
    fail_each_operation(s, MG_FAULT_OS_CALL, 4, 0, attempt_create);
    empty_dir(s->dir);
    fail_each_operation(s, MG_FAULT_FILE_IO, 2, 0, attempt_create);
}

static void every_failure_of_open_and_flush_is_an_error(void **state)
{
    scratch *s = *state;
    uint64_t shape[1] = {100};
    memgov_mmarray *a;
    assert_int_equal(memgov_mmarray_create(s->path, MEMGOV_DTYPE_INT64, 1, shape, NULL, &a), MEMGOV_OK);
    mg_fault_arm(MG_FAULT_OS_CALL, 0, 1);
    assert_int_equal(memgov_mmarray_flush(a), MEMGOV_EIO);
    assert_non_null(strstr(memgov_last_error(), "msync"));
    mg_fault_disarm_all();
    memgov_mmarray_close(a);
    fail_each_operation(s, MG_FAULT_OS_CALL, 1, 1, attempt_open);  /* mmap */
    fail_each_operation(s, MG_FAULT_FILE_IO, 3, 1, attempt_open);  /* open, prefix read, header read */
}

/* A real full disk: the file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) in a child process, so that fallocate
 * fails with EFBIG: MEMGOV_ENOSPC naming the directory, and nothing left. */
static void a_file_size_limit_is_enospc_and_leaves_nothing(void **state)
{
    scratch *s = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit r = {.rlim_cur = 64 * 1024, .rlim_max = 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &r);
        uint64_t shape[1] = {1 * MiB};
        memgov_mmarray *a;
        memgov_status st = memgov_mmarray_create(s->path, MEMGOV_DTYPE_UINT8, 1, shape, NULL, &a);
        int ok = st == MEMGOV_ENOSPC && strstr(memgov_last_error(), s->dir) != NULL &&
                 strstr(memgov_last_error(), "free") != NULL;
        if (!ok)
            fprintf(stderr, "child: %s %s\n", memgov_status_name(st), memgov_last_error());
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(entries(s->dir), 0);
}

/* Children create a 32 MiB array and are killed with SIGKILL after a random delay (0 to 3 ms after fork): whatever is at the path then
 * is either nothing (ENOTFOUND) or a whole array that opens with the requested dtype and shape and all its bytes
 * zero; never a partial file that opens. */
static void a_create_killed_at_any_point_leaves_no_valid_partial_file(void **state)
{
    scratch *s = *state;
    const uint64_t shape[2] = {4096, 1024};
    srand((unsigned)time(NULL));
    int absent = 0, complete = 0;
    for (int round = 0; round < 24; round++) {
        empty_dir(s->dir);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            memgov_mmarray *a;
            memgov_status st = memgov_mmarray_create(s->path, MEMGOV_DTYPE_FLOAT64, 2, shape, NULL, &a);
            for (;;)
                pause(); /* wait for the kill, with or without an array */
            (void)st;
        }
        struct timespec ts = {0, (long)(rand() % 3000) * 1000L}; /* 0 to 3 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        memgov_mmarray *a;
        memgov_status st = memgov_mmarray_open(s->path, NULL, &a);
        if (st == MEMGOV_ENOTFOUND) {
            absent++;
            continue;
        }
        if (st != MEMGOV_OK)
            fail_msg("round %d: %s %s", round, memgov_status_name(st), memgov_last_error());
        complete++;
        assert_int_equal(memgov_mmarray_dtype(a), MEMGOV_DTYPE_FLOAT64);
        assert_int_equal(memgov_mmarray_ndim(a), 2);
        assert_int_equal(memgov_mmarray_shape(a)[0], 4096);
        assert_int_equal(memgov_mmarray_nbytes(a), 4096 * 1024 * 8);
        const uint64_t *p = memgov_mmarray_data(a);
        uint64_t any = 0;
        for (uint64_t i = 0; i < 4096 * 1024; i++)
            any |= p[i];
        assert_int_equal(any, 0);
        memgov_mmarray_close(a);
    }
    print_message("killed creates: %d left no file, %d a complete one\n", absent, complete);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(create_write_close_then_open_reads_the_values, clean),
        cmocka_unit_test_teardown(header_is_numpys_layout, clean),
        cmocka_unit_test_teardown(every_dtype_and_odd_shapes_round_trip, clean),
        cmocka_unit_test_teardown(create_refuses_an_existing_file_unless_overwrite, clean),
        cmocka_unit_test_teardown(bad_arguments_are_refused, clean),
        cmocka_unit_test_teardown(open_rejects_hostile_headers_naming_the_problem, clean),
        cmocka_unit_test_teardown(open_rejects_broken_prefixes, clean),
        cmocka_unit_test_teardown(a_read_write_open_writes_through, clean),
        cmocka_unit_test_teardown(the_mapping_length_is_charged_until_close, clean),
        cmocka_unit_test_teardown(a_refusing_budget_leaves_no_file, clean),
        cmocka_unit_test_teardown(every_failure_of_create_leaves_nothing, clean),
        cmocka_unit_test_teardown(every_failure_of_open_and_flush_is_an_error, clean),
        cmocka_unit_test_teardown(a_file_size_limit_is_enospc_and_leaves_nothing, clean),
        cmocka_unit_test_teardown(a_create_killed_at_any_point_leaves_no_valid_partial_file, clean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

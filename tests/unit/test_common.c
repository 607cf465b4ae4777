/* Specification of memgov/common.h: versions, status names, the thread-local last error, dtypes, byte
 * formatting and the struct_size rule. */
#include <pthread.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "internal/error.h"
#include "internal/grow.h"
#include "internal/structsize.h"
#include "memgov.h"

static void version_at_run_time_matches_the_header(void **state)
{
    (void)state;
    assert_int_equal(memgov_version_number(), MEMGOV_VERSION_NUMBER);
    assert_string_equal(memgov_version_string(), MEMGOV_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", MEMGOV_VERSION_MAJOR, MEMGOV_VERSION_MINOR, MEMGOV_VERSION_PATCH);
    assert_string_equal(memgov_version_string(), expect);
}

static void build_info_names_the_jemalloc_that_answered(void **state)
{
    (void)state;
    const char *info = memgov_build_info();
    assert_non_null(strstr(info, "jemalloc=5.3.0"));
    assert_non_null(strstr(info, "alloc="));
    assert_ptr_equal(info, memgov_build_info()); /* computed once, same static string */
}

static void every_status_has_a_distinct_name_and_a_description(void **state)
{
    (void)state;
    for (int a = 0; a < MEMGOV_STATUS_COUNT_; a++) {
        const char *name = memgov_status_name((memgov_status)a);
        assert_true(strncmp(name, "MEMGOV_", 7) == 0);
        assert_string_not_equal(name, "MEMGOV_UNKNOWN_STATUS");
        assert_string_not_equal(memgov_status_str((memgov_status)a), "unknown status");
        for (int b = a + 1; b < MEMGOV_STATUS_COUNT_; b++)
            assert_string_not_equal(name, memgov_status_name((memgov_status)b));
    }
}

static void status_values_are_pinned(void **state)
{
    (void)state;
    assert_int_equal(MEMGOV_OK, 0);
    assert_int_equal(MEMGOV_EINVAL, 1);
    assert_int_equal(MEMGOV_ENOMEM, 2);
    assert_int_equal(MEMGOV_EOVERFLOW, 3);
    assert_int_equal(MEMGOV_EINTERNAL, 15);
    assert_string_equal(memgov_status_name(MEMGOV_ENOMEM), "MEMGOV_ENOMEM");
}

static void unknown_status_values_are_named_as_unknown(void **state)
{
    (void)state;
    assert_string_equal(memgov_status_name((memgov_status)MEMGOV_STATUS_COUNT_), "MEMGOV_UNKNOWN_STATUS");
    assert_string_equal(memgov_status_name((memgov_status)-1), "MEMGOV_UNKNOWN_STATUS");
    assert_string_equal(memgov_status_str((memgov_status)9999), "unknown status");
}

static void a_failure_sets_last_status_and_message_and_clear_resets_them(void **state)
{
    (void)state;
    memgov_clear_error();
    assert_int_equal(memgov_last_status(), MEMGOV_OK);
    assert_string_equal(memgov_last_error(), "");
    assert_int_equal(mg_fail(MEMGOV_ERANGE, "value %d above %d", 7, 5), MEMGOV_ERANGE);
    assert_int_equal(memgov_last_status(), MEMGOV_ERANGE);
    assert_string_equal(memgov_last_error(), "value 7 above 5");
    memgov_clear_error();
    assert_int_equal(memgov_last_status(), MEMGOV_OK);
    assert_string_equal(memgov_last_error(), "");
}

static void a_long_message_is_truncated_not_overflowed(void **state)
{
    (void)state;
    char big[2 * MG_ERROR_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mg_fail(MEMGOV_EINVAL, "%s", big);
    assert_int_equal(strlen(memgov_last_error()), MG_ERROR_MAX - 1);
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    mg_fail(MEMGOV_EIO, "from the other thread");
    return (void *)(intptr_t)(memgov_last_status() == MEMGOV_EIO &&
                              strcmp(memgov_last_error(), "from the other thread") == 0);
}

static void the_last_error_is_per_thread(void **state)
{
    (void)state;
    mg_fail(MEMGOV_EBUSY, "from the main thread");
    pthread_t t;
    void *ok = NULL;
    assert_int_equal(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &ok), 0);
    assert_true(ok != NULL);
    assert_int_equal(memgov_last_status(), MEMGOV_EBUSY);
    assert_string_equal(memgov_last_error(), "from the main thread");
}

static void dtypes_have_sizes_and_names_that_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 1};
    assert_int_equal(sizeof sizes / sizeof sizes[0], MEMGOV_DTYPE_COUNT_);
    for (int d = MEMGOV_DTYPE_INT8; d < MEMGOV_DTYPE_COUNT_; d++) {
        memgov_dtype back = MEMGOV_DTYPE_INVALID;
        assert_int_equal(memgov_dtype_size((memgov_dtype)d), sizes[d]);
        assert_int_equal(memgov_dtype_from_name(memgov_dtype_name((memgov_dtype)d), &back), MEMGOV_OK);
        assert_int_equal(back, d);
    }
    assert_string_equal(memgov_dtype_name(MEMGOV_DTYPE_FLOAT32), "float32");
    assert_int_equal(memgov_dtype_size((memgov_dtype)MEMGOV_DTYPE_COUNT_), 0);
    assert_string_equal(memgov_dtype_name((memgov_dtype)-3), "invalid");
}

static void an_unknown_dtype_name_is_not_found_with_the_name_in_the_message(void **state)
{
    (void)state;
    memgov_dtype d = MEMGOV_DTYPE_INT8;
    assert_int_equal(memgov_dtype_from_name("complex128", &d), MEMGOV_ENOTFOUND);
    assert_int_equal(d, MEMGOV_DTYPE_INT8);
    assert_non_null(strstr(memgov_last_error(), "complex128"));
    assert_int_equal(memgov_dtype_from_name("invalid", &d), MEMGOV_ENOTFOUND);
    assert_int_equal(memgov_dtype_from_name(NULL, &d), MEMGOV_EINVAL);
    assert_int_equal(memgov_dtype_from_name("int8", NULL), MEMGOV_EINVAL);
}

static void modes_are_pinned_and_named(void **state)
{
    (void)state;
    assert_int_equal(MEMGOV_MODE_NORMAL, 0);
    assert_int_equal(MEMGOV_MODE_LIGHT, 1);
    assert_int_equal(MEMGOV_MODE_MINIMAL, 2);
    assert_string_equal(memgov_mode_name(MEMGOV_MODE_NORMAL), "normal");
    assert_string_equal(memgov_mode_name(MEMGOV_MODE_LIGHT), "light");
    assert_string_equal(memgov_mode_name(MEMGOV_MODE_MINIMAL), "minimal");
    assert_string_equal(memgov_mode_name((memgov_mode)MEMGOV_MODE_COUNT_), "invalid");
    assert_string_equal(memgov_mode_name((memgov_mode)-1), "invalid");
}

static void expect_bytes(uint64_t bytes, const char *text)
{
    char buf[32];
    size_t n = memgov_format_bytes(bytes, buf, sizeof buf);
    assert_string_equal(buf, text);
    assert_int_equal(n, strlen(text));
}

static void bytes_are_formatted_with_three_significant_digits(void **state)
{
    (void)state;
    expect_bytes(0, "0 B");
    expect_bytes(1023, "1023 B");
    expect_bytes(1024, "1.00 KiB");
    expect_bytes(1536, "1.50 KiB");
    expect_bytes(64ull << 20, "64.0 MiB");
    expect_bytes(999ull << 20, "999 MiB");
    expect_bytes(1023ull << 20, "1.00 GiB"); /* 1023 MiB: more than three digits, carried to the next unit */
    expect_bytes((1ull << 30) - 1, "1.00 GiB");
    expect_bytes(3ull << 40, "3.00 TiB");
    expect_bytes(UINT64_MAX, "16.0 EiB");
}

static void formatting_into_a_small_buffer_truncates_and_reports_the_full_length(void **state)
{
    (void)state;
    char buf[4] = "zzz";
    assert_int_equal(memgov_format_bytes(1536, buf, sizeof buf), strlen("1.50 KiB"));
    assert_string_equal(buf, "1.5");
    assert_int_equal(memgov_format_bytes(1536, NULL, 0), strlen("1.50 KiB"));
}

/* The struct_size rule, on a v1 struct of the "library" and v0 / v2 shapes of a "caller". */
typedef struct { size_t struct_size; uint64_t a; } opts_v0;
typedef struct { size_t struct_size; uint64_t a; uint64_t b; } opts_v1;
typedef struct { size_t struct_size; uint64_t a; uint64_t b; uint64_t c; } opts_v2;

static void a_growable_array_doubles_and_refuses_a_size_overflow(void **state)
{
    (void)state;
    size_t cap = 0;
    int *a = mg_grow(NULL, &cap, 0, sizeof *a, 4);
    assert_non_null(a);
    assert_int_equal(cap, 4);
    assert_ptr_equal(mg_grow(a, &cap, 3, sizeof *a, 4), a); /* room left: nothing changes */
    assert_int_equal(cap, 4);
    for (int i = 0; i < 4; i++)
        a[i] = i;
    int *b = mg_grow(a, &cap, 4, sizeof *b, 4);
    assert_non_null(b);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 4; i++)
        assert_int_equal(b[i], i);
    size_t huge = SIZE_MAX / 2 / sizeof *b + 1; /* doubling it would overflow size_t once multiplied */
    assert_null(mg_grow(b, &huge, huge, sizeof *b, 4));
    assert_int_equal(huge, SIZE_MAX / 2 / sizeof *b + 1); /* unchanged, and b still valid */
    b[7] = 7;
    free(b);
}

static void a_null_struct_keeps_the_defaults(void **state)
{
    (void)state;
    opts_v1 ours = {sizeof ours, 7, 8};
    assert_int_equal(mg_struct_in(&ours, sizeof ours, NULL, "opts"), MEMGOV_OK);
    assert_int_equal(ours.a, 7);
    assert_int_equal(ours.b, 8);
}

static void an_older_smaller_struct_is_read_and_the_rest_zero_filled(void **state)
{
    (void)state;
    opts_v0 theirs = {sizeof theirs, 42};
    opts_v1 ours = {sizeof ours, 7, 8};
    assert_int_equal(mg_struct_in(&ours, sizeof ours, &theirs, "opts"), MEMGOV_OK);
    assert_int_equal(ours.struct_size, sizeof ours);
    assert_int_equal(ours.a, 42);
    assert_int_equal(ours.b, 0);
}

static void a_newer_struct_with_a_zero_tail_is_accepted(void **state)
{
    (void)state;
    opts_v2 theirs = {sizeof theirs, 1, 2, 0};
    opts_v1 ours;
    assert_int_equal(mg_struct_in(&ours, sizeof ours, &theirs, "opts"), MEMGOV_OK);
    assert_int_equal(ours.a, 1);
    assert_int_equal(ours.b, 2);
    assert_int_equal(ours.struct_size, sizeof ours);
}

static void a_newer_struct_with_a_nonzero_tail_is_refused_with_sizes_in_the_message(void **state)
{
    (void)state;
    opts_v2 theirs = {sizeof theirs, 1, 2, 3};
    opts_v1 ours = {sizeof ours, 7, 8};
    assert_int_equal(mg_struct_in(&ours, sizeof ours, &theirs, "memgov_test_options"), MEMGOV_EINVAL);
    assert_int_equal(ours.a, 7); /* untouched on refusal */
    assert_non_null(strstr(memgov_last_error(), "memgov_test_options"));
    assert_non_null(strstr(memgov_last_error(), "32"));
    assert_non_null(strstr(memgov_last_error(), "24"));
}

static void an_uninitialised_struct_size_is_refused(void **state)
{
    (void)state;
    opts_v1 theirs = {0, 1, 2};
    opts_v1 ours = {sizeof ours, 7, 8};
    assert_int_equal(mg_struct_in(&ours, sizeof ours, &theirs, "opts"), MEMGOV_EINVAL);
    assert_non_null(strstr(memgov_last_error(), "_init"));
}

static void stats_are_written_up_to_the_callers_size(void **state)
{
    (void)state;
    opts_v1 ours = {sizeof ours, 11, 12};
    opts_v0 small = {sizeof small, 0};
    assert_int_equal(mg_struct_out(&small, &ours, sizeof ours, "stats"), MEMGOV_OK);
    assert_int_equal(small.struct_size, sizeof small);
    assert_int_equal(small.a, 11);
    opts_v2 big = {sizeof big, 0, 0, 99};
    assert_int_equal(mg_struct_out(&big, &ours, sizeof ours, "stats"), MEMGOV_OK);
    assert_int_equal(big.struct_size, sizeof big);
    assert_int_equal(big.a, 11);
    assert_int_equal(big.b, 12);
    assert_int_equal(big.c, 0);
    opts_v0 bad = {1, 5};
    assert_int_equal(mg_struct_out(&bad, &ours, sizeof ours, "stats"), MEMGOV_EINVAL);
    assert_int_equal(bad.a, 5);
    assert_int_equal(mg_struct_out(NULL, &ours, sizeof ours, "stats"), MEMGOV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_at_run_time_matches_the_header),
        cmocka_unit_test(build_info_names_the_jemalloc_that_answered),
        cmocka_unit_test(every_status_has_a_distinct_name_and_a_description),
        cmocka_unit_test(status_values_are_pinned),
        cmocka_unit_test(unknown_status_values_are_named_as_unknown),
        cmocka_unit_test(a_failure_sets_last_status_and_message_and_clear_resets_them),
        cmocka_unit_test(a_long_message_is_truncated_not_overflowed),
        cmocka_unit_test(the_last_error_is_per_thread),
        cmocka_unit_test(dtypes_have_sizes_and_names_that_round_trip),
        cmocka_unit_test(an_unknown_dtype_name_is_not_found_with_the_name_in_the_message),
        cmocka_unit_test(modes_are_pinned_and_named),
        cmocka_unit_test(bytes_are_formatted_with_three_significant_digits),
        cmocka_unit_test(formatting_into_a_small_buffer_truncates_and_reports_the_full_length),
        cmocka_unit_test(a_growable_array_doubles_and_refuses_a_size_overflow),
        cmocka_unit_test(a_null_struct_keeps_the_defaults),
        cmocka_unit_test(an_older_smaller_struct_is_read_and_the_rest_zero_filled),
        cmocka_unit_test(a_newer_struct_with_a_zero_tail_is_accepted),
        cmocka_unit_test(a_newer_struct_with_a_nonzero_tail_is_refused_with_sizes_in_the_message),
        cmocka_unit_test(an_uninitialised_struct_size_is_refused),
        cmocka_unit_test(stats_are_written_up_to_the_callers_size),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}

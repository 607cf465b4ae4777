/* examples/errors.c — memgov's error convention: a status code from every fallible call, and the calling
 * thread's message that names the value at fault. Build: cc errors.c $(pkg-config --cflags --libs memgov) */
#include <memgov.h>
#include <stdio.h>

int main(void)
{
    printf("memgov %s (%s)\n", memgov_version_string(), memgov_build_info());

    memgov_dtype dtype;
    memgov_status st = memgov_dtype_from_name("float32", &dtype);
    printf("float32: status %s, %zu bytes per element\n", memgov_status_name(st), memgov_dtype_size(dtype));

    st = memgov_dtype_from_name("complex64", &dtype);
    if (st != MEMGOV_OK)
        printf("complex64: %s (%s): %s\n", memgov_status_name(st), memgov_status_str(st), memgov_last_error());

    char text[16];
    memgov_format_bytes(6ull << 30, text, sizeof text);
    printf("6 << 30 bytes is %s\n", text);
    return st == MEMGOV_ENOTFOUND ? 0 : 1;
}

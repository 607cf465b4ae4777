/* A user program built only from the installed header and memgov.pc (tests/abi/check_install.sh). */
#include <memgov.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (memgov_version_number() != MEMGOV_VERSION_NUMBER) {
        fprintf(stderr, "header version %d, library %u\n", MEMGOV_VERSION_NUMBER, memgov_version_number());
        return 1;
    }
    char buf[16];
    memgov_format_bytes(3u << 20, buf, sizeof buf);
    if (strcmp(buf, "3.00 MiB") != 0) {
        fprintf(stderr, "memgov_format_bytes gave '%s'\n", buf);
        return 1;
    }
    printf("consumer ok: memgov %s\n", memgov_version_string());
    return 0;
}

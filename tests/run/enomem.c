/* Under `memgov run --limit 64M`: a request above the cap gets NULL with errno ENOMEM (and so do calloc, realloc,
 * posix_memalign's ENOMEM return and aligned_alloc); the program carries on and a request that fits succeeds. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                                   \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "enomem: %s:%d: %s\n", __FILE__, __LINE__, #c);                                        \
            return 1;                                                                                              \
        }                                                                                                          \
    } while (0)

int main(void)
{
    size_t big = (size_t)256 << 20;
    errno = 0;
    void *p = malloc(big);
    CHECK(p == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(big / 16, 16) == NULL && errno == ENOMEM);
    errno = 0;
    volatile size_t huge = SIZE_MAX / 2; /* volatile: the compiler would refuse the call it can see overflow */
    CHECK(calloc(huge, 4) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(4096, big) == NULL && errno == ENOMEM);
    void *q = NULL;
    CHECK(posix_memalign(&q, 64, big) == ENOMEM && q == NULL);
    char *small = malloc(1 << 20);
    CHECK(small != NULL);
    memset(small, 7, 1 << 20);
    errno = 0;
    CHECK(realloc(small, big) == NULL && errno == ENOMEM);
    CHECK(small[(1 << 20) - 1] == 7); /* the original block is intact */
    free(small);
    p = malloc((size_t)32 << 20); /* fits */
    CHECK(p != NULL);
    memset(p, 1, (size_t)32 << 20);
    free(p);
    puts("enomem: ok");
    return 0;
}

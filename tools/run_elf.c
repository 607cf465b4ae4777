/* memgov run: what kind of program file the command is, to refuse the ones a preload library cannot reach. */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

int run_script_interpreter(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char line[256];
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n < 3 || line[0] != '#' || line[1] != '!')
        return -1;
    line[n] = '\0';
    char *p = line + 2;
    p += strspn(p, " \t");
    size_t len = strcspn(p, " \t\r\n");
    if (len == 0 || len >= size)
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 0;
}

/* Looks for PT_INTERP among the program headers of an ELF file of either class. */
#define SCAN_PHDRS(Ehdr, Phdr)                                                                                     \
    do {                                                                                                           \
        Ehdr eh;                                                                                                   \
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_phentsize != sizeof(Phdr) ||               \
            (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))                                                         \
            break;                                                                                                 \
        kind = RUN_ELF_STATIC;                                                                                     \
        for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {                                                    \
            Phdr ph;                                                                                               \
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) { \
                kind = RUN_ELF_OTHER;                                                                              \
                break;                                                                                             \
            }                                                                                                      \
            if (ph.p_type == PT_INTERP) {                                                                          \
                kind = RUN_ELF_DYNAMIC;                                                                            \
                break;                                                                                             \
            }                                                                                                      \
        }                                                                                                          \
    } while (0)

run_elf run_elf_kind(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return RUN_ELF_OTHER;
    unsigned char ident[EI_NIDENT];
    run_elf kind = RUN_ELF_OTHER;
    if (pread(fd, ident, sizeof ident, 0) == (ssize_t)sizeof ident && memcmp(ident, ELFMAG, SELFMAG) == 0) {
        if (ident[EI_CLASS] == ELFCLASS64)
            SCAN_PHDRS(Elf64_Ehdr, Elf64_Phdr);
        else if (ident[EI_CLASS] == ELFCLASS32)
            SCAN_PHDRS(Elf32_Ehdr, Elf32_Phdr);
    }
    close(fd);
    return kind;
}

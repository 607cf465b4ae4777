/* libFuzzer target for the pools' ELF reader (src/threads/pools_elf.c): the input is the memory image of an
 * object, one readable PT_LOAD segment over all of it; its first 4 bytes place the PT_DYNAMIC segment (offset and
 * size, little-endian 16-bit each) inside it, and the dynamic section's addresses are offsets into the image (as
 * the loader leaves them where it does not relocate them). The reader must never read outside the image (ASan
 * reports it: the image is a heap block of exactly the input's size) and must answer MG_ELF_UNKNOWN or a mask of
 * the names asked. The seed (corpus-elf) is a well-formed image defining omp_get_max_threads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "threads/pools_elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"omp_get_max_threads", "openblas_get_num_threads", "MKL_Get_Max_Threads",
                                    "bli_thread_get_num_threads", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned char *image = malloc(size);
    if (image == NULL)
        return 0;
    memcpy(image, data, size);
    ElfW(Phdr) ph[2] = {
        {.p_type = PT_LOAD, .p_flags = PF_R, .p_vaddr = 0, .p_memsz = size},
        {.p_type = PT_DYNAMIC, .p_flags = PF_R, .p_vaddr = (ElfW(Addr))(data[0] | data[1] << 8),
         .p_memsz = (ElfW(Addr))(data[2] | data[3] << 8)},
    };
    struct dl_phdr_info info = {.dlpi_addr = (ElfW(Addr))(uintptr_t)image, .dlpi_name = "fuzz", .dlpi_phdr = ph,
                                .dlpi_phnum = 2};
    uint32_t found = mg_elf_defines(&info, names, sizeof names / sizeof names[0]);
    if (found != MG_ELF_UNKNOWN && (found >> (sizeof names / sizeof names[0])) != 0)
        abort(); /* a bit for a name that was not asked */
    free(image);
    return 0;
}

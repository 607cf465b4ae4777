/* Which symbols a loaded object defines, from its own GNU hash table (pools_elf.h). Every address is checked to lie
 * in one of the object's readable PT_LOAD segments, and aligned for what is read there, before it is read, so a
 * table this code misreads gives MG_ELF_UNKNOWN, never a fault (tests/fuzz/fuzz_elf.c). */
#include <elf.h>
#include <stdbool.h>
#include <string.h>

#include "threads/pools_elf.h"

#define BLOOM_BITS (8 * sizeof(ElfW(Addr)))

/* True if [addr, addr + size) lies inside one readable PT_LOAD segment of the object. */
static bool readable(const struct dl_phdr_info *info, uintptr_t addr, size_t size)
{
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
            continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (addr >= lo && addr <= hi && size <= hi - addr)
            return true;
    }
    return false;
}

static bool aligned(uintptr_t addr, size_t alignment)
{
    return addr % alignment == 0;
}

/* A dynamic-section address: glibc rewrites these in place to run-time addresses where the section is writable,
 * and leaves them as link-time addresses where it is not (the vDSO, some architectures). */
static uintptr_t runtime_address(const struct dl_phdr_info *info, ElfW(Addr) ptr)
{
    return ptr >= info->dlpi_addr ? (uintptr_t)ptr : (uintptr_t)info->dlpi_addr + ptr;
}

typedef struct tables {
    const uint32_t *hash; /* DT_GNU_HASH */
    uintptr_t symtab, strtab;
    size_t strsz;
} tables;

static bool find_tables(const struct dl_phdr_info *info, tables *t)
{
    const ElfW(Dyn) *dyn = NULL;
    size_t count = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)((uintptr_t)info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
            count = info->dlpi_phdr[i].p_memsz / sizeof *dyn;
        }
    if (dyn == NULL || !aligned((uintptr_t)dyn, _Alignof(ElfW(Dyn))) ||
        !readable(info, (uintptr_t)dyn, count * sizeof *dyn))
        return false;
    *t = (tables){0};
    for (size_t i = 0; i < count && dyn[i].d_tag != DT_NULL; i++) {
        switch (dyn[i].d_tag) {
        case DT_GNU_HASH: t->hash = (const uint32_t *)runtime_address(info, dyn[i].d_un.d_ptr); break;
        case DT_SYMTAB: t->symtab = runtime_address(info, dyn[i].d_un.d_ptr); break;
        case DT_STRTAB: t->strtab = runtime_address(info, dyn[i].d_un.d_ptr); break;
        case DT_STRSZ: t->strsz = dyn[i].d_un.d_val; break;
        default: break;
        }
    }
    return t->hash != NULL && t->symtab != 0 && t->strtab != 0 && t->strsz != 0 &&
           aligned((uintptr_t)t->hash, _Alignof(ElfW(Addr))) && aligned(t->symtab, _Alignof(ElfW(Sym))) &&
           readable(info, (uintptr_t)t->hash, 4 * sizeof(uint32_t)) && readable(info, t->strtab, t->strsz);
}

static uint32_t gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
        h = h * 33 + *c;
    return h;
}

/* 1 if defined, 0 if not, -1 if the tables cannot be trusted. */
static int defines(const struct dl_phdr_info *info, const tables *t, const char *name)
{
    const uint32_t nbuckets = t->hash[0], symoffset = t->hash[1], bloom_size = t->hash[2], shift = t->hash[3];
    if (nbuckets == 0 || bloom_size == 0 || (bloom_size & (bloom_size - 1)) != 0 || shift >= 32)
        return -1;
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(t->hash + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    if (!readable(info, (uintptr_t)bloom, (size_t)bloom_size * sizeof *bloom + (size_t)nbuckets * 4))
        return -1;
    uint32_t h = gnu_hash(name);
    ElfW(Addr) word = bloom[(h / BLOOM_BITS) & (bloom_size - 1)];
    ElfW(Addr) mask = ((ElfW(Addr))1 << (h % BLOOM_BITS)) | ((ElfW(Addr))1 << ((h >> shift) % BLOOM_BITS));
    if ((word & mask) != mask)
        return 0;
    uint32_t index = buckets[h % nbuckets];
    if (index < symoffset)
        return 0;
    size_t len = strlen(name);
    for (;; index++) {
        const uint32_t *link = chain + (index - symoffset);
        const ElfW(Sym) *sym = (const ElfW(Sym) *)(t->symtab + (uintptr_t)index * sizeof(ElfW(Sym)));
        if (!readable(info, (uintptr_t)link, sizeof *link) || !readable(info, (uintptr_t)sym, sizeof *sym))
            return -1;
        if (((*link ^ h) >> 1) == 0 && sym->st_name < t->strsz && t->strsz - sym->st_name > len &&
            memcmp((const char *)t->strtab + sym->st_name, name, len + 1) == 0 && sym->st_shndx != SHN_UNDEF)
            return 1;
        if (*link & 1)
            return 0;
        if (index == UINT32_MAX)
            return -1;
    }
}

uint32_t mg_elf_defines(const struct dl_phdr_info *info, const char *const *names, size_t n)
{
    tables t;
    if (n > 31 || !find_tables(info, &t))
        return MG_ELF_UNKNOWN;
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++) {
        int d = defines(info, &t, names[i]);
        if (d < 0)
            return MG_ELF_UNKNOWN;
        if (d > 0)
            found |= 1u << i;
    }
    return found;
}

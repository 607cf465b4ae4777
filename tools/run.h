/* memgov run's helpers (tools/cmd_run.c): the checks on the program file (run_elf.c) and the exit records and
 * report (run_report.c). */
#ifndef MEMGOV_TOOLS_RUN_H
#define MEMGOV_TOOLS_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- run_elf.c ---- */

/* If path is a script ("#!"), its interpreter's path into buf: 0; else -1. */
int run_script_interpreter(const char *path, char *buf, size_t size);

typedef enum { RUN_ELF_OTHER, RUN_ELF_DYNAMIC, RUN_ELF_STATIC } run_elf;
/* What the file is: an ELF executable with a dynamic loader (PT_INTERP), one without (static, static-pie), or
 * something else or unreadable (the exec will tell). */
run_elf run_elf_kind(const char *path);

/* ---- run_report.c ---- */

/* One process's exit record (src/preload/report.c writes them). */
typedef struct run_record {
    long pid, ppid;
    uint64_t limit, soft, peak, used, allocations, frees, refusals, largest_refused, over_soft_ns, transitions,
        emergencies, early_frees, foreign_frees;
    char mode[16];
    char modes[256]; /* the modes entered, comma-separated, starting with normal */
} run_record;

#define RUN_MAX_OTHERS 64
typedef struct run_records {
    int have_main;       /* the command's own record was found */
    run_record main;     /* the command's own process */
    size_t n_others;     /* records of other processes (children that inherited the cap) */
    run_record others[RUN_MAX_OTHERS];
    size_t n_others_total;
} run_records;

/* Reads the records of the file; main_pid's is the command's own. Missing or bad lines are skipped. */
void run_records_read(const char *path, long main_pid, run_records *out);

typedef struct run_report {
    const char *command;
    int exited; /* 1: code is the exit status; 0: code is the signal */
    int code;
    uint64_t max_rss; /* bytes, from wait4 */
    double wall_s;
} run_report;

void run_report_text(FILE *out, const run_report *r, const run_records *recs);
void run_report_json(FILE *out, const run_report *r, const run_records *recs);

#endif

/* memgov run: the processes' exit records (one line each, written by src/preload/report.c) and the report made of
 * them, as text or JSON. */
#include <stdlib.h>
#include <string.h>

#include "internal/text.h"
#include "memgov.h"
#include "run.h"

/* ---- records ---------------------------------------------------------------------------------------------------- */

static void field(run_record *r, const char *key, const char *value)
{
    static const struct {
        const char *key;
        size_t offset;
    } u64s[] = {
#define F(name) {#name, offsetof(run_record, name)}
        F(limit), F(soft), F(peak), F(used), F(allocations), F(frees), F(refusals), F(largest_refused),
        F(over_soft_ns), F(transitions), F(emergencies), F(early_frees), F(foreign_frees),
#undef F
    };
    if (strcmp(key, "pid") == 0)
        r->pid = strtol(value, NULL, 10);
    else if (strcmp(key, "ppid") == 0)
        r->ppid = strtol(value, NULL, 10);
    else if (strcmp(key, "mode") == 0)
        snprintf(r->mode, sizeof r->mode, "%s", value);
    else if (strcmp(key, "modes") == 0)
        snprintf(r->modes, sizeof r->modes, "%s", value);
    else
        for (size_t i = 0; i < sizeof u64s / sizeof u64s[0]; i++)
            if (strcmp(key, u64s[i].key) == 0)
                *(uint64_t *)((char *)r + u64s[i].offset) = strtoull(value, NULL, 10);
}

static int parse_record(char *line, run_record *r)
{
    memset(r, 0, sizeof *r);
    char *save = NULL, *tok = strtok_r(line, " \n", &save);
    if (tok == NULL || strcmp(tok, "memgov-run-record") != 0)
        return -1;
    while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        field(r, tok, eq + 1);
    }
    return r->pid > 0 ? 0 : -1;
}

void run_records_read(const char *path, long main_pid, run_records *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        run_record r;
        if (parse_record(line, &r) != 0)
            continue;
        if (r.pid == main_pid && !out->have_main) {
            out->have_main = 1;
            out->main = r;
        } else {
            if (out->n_others < RUN_MAX_OTHERS)
                out->others[out->n_others++] = r;
            out->n_others_total++;
        }
    }
    fclose(f);
}

/* ---- text ------------------------------------------------------------------------------------------------------- */

static const char *b(uint64_t v, char *buf)
{
    memgov_format_bytes(v, buf, 24);
    return buf;
}

void run_report_text(FILE *out, const run_report *r, const run_records *recs)
{
    char x[24], y[24];
    if (r->exited)
        fprintf(out, "memgov run: %s exited with status %d after %.2f s\n", r->command, r->code, r->wall_s);
    else
        fprintf(out, "memgov run: %s was killed by signal %d (%s) after %.2f s\n", r->command, r->code,
                strsignal(r->code), r->wall_s);
    if (!recs->have_main) {
        fprintf(out, "  no record from the process: it ended without exit() (a signal, _exit, exec of a program "
                     "out of the preload library's reach)\n  max RSS      %s\n", b(r->max_rss, x));
    } else {
        const run_record *m = &recs->main;
        fprintf(out, "  cap          %s hard, %s soft\n", b(m->limit, x), m->soft ? b(m->soft, y) : "none");
        fprintf(out, "  peak         %s charged (max RSS %s)\n", b(m->peak, x), b(r->max_rss, y));
        if (m->refusals > 0)
            fprintf(out, "  refusals     %llu, the largest request %s\n", (unsigned long long)m->refusals,
                    b(m->largest_refused, x));
        else
            fprintf(out, "  refusals     0\n");
        fprintf(out, "  over soft    %.3f s\n", (double)m->over_soft_ns / 1e9);
        fprintf(out, "  modes        %s (%llu transitions, %llu emergencies)\n", m->modes,
                (unsigned long long)m->transitions, (unsigned long long)m->emergencies);
    }
    if (recs->n_others_total > 0) {
        uint64_t refusals = 0, peak = 0;
        for (size_t i = 0; i < recs->n_others; i++) {
            refusals += recs->others[i].refusals;
            if (recs->others[i].peak > peak)
                peak = recs->others[i].peak;
        }
        fprintf(out, "  children     %zu more processes under their own caps (largest peak %s, %llu refusals)\n",
                recs->n_others_total, b(peak, x), (unsigned long long)refusals);
    }
}

/* ---- JSON ------------------------------------------------------------------------------------------------------- */

/* A JSON string literal through the shared escaper (internal/text.h), whatever bytes s holds. */
static void json_string(FILE *out, const char *s)
{
    char buf[1024];
    mg_text t;
    mg_text_init(&t, buf, sizeof buf);
    mg_text_put_json(&t, s);
    if (t.len < sizeof buf) {
        fputs(buf, out);
        return;
    }
    char *big = malloc(t.len + 1);
    if (big == NULL) {
        fputs("null", out);
        return;
    }
    mg_text_init(&t, big, t.len + 1);
    mg_text_put_json(&t, s);
    fputs(big, out);
    free(big);
}

static void json_modes(FILE *out, const char *modes)
{
    fputc('[', out);
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", modes);
    int first = 1;
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save), first = 0) {
        fputs(first ? "" : ", ", out);
        json_string(out, t);
    }
    fputc(']', out);
}

static void json_record(FILE *out, const run_record *m, const char *indent)
{
    fprintf(out, "{\n%s  \"pid\": %ld,\n%s  \"ppid\": %ld,\n%s  \"limit\": %llu,\n%s  \"soft_limit\": %llu,\n"
                 "%s  \"peak\": %llu,\n%s  \"used_at_exit\": %llu,\n%s  \"allocations\": %llu,\n"
                 "%s  \"frees\": %llu,\n%s  \"refusals\": %llu,\n%s  \"largest_refused\": %llu,\n"
                 "%s  \"over_soft_s\": %.6f,\n%s  \"transitions\": %llu,\n%s  \"emergencies\": %llu,\n"
                 "%s  \"mode_at_exit\": ",
            indent, m->pid, indent, m->ppid, indent, (unsigned long long)m->limit, indent,
            (unsigned long long)m->soft, indent, (unsigned long long)m->peak, indent, (unsigned long long)m->used,
            indent, (unsigned long long)m->allocations, indent, (unsigned long long)m->frees, indent,
            (unsigned long long)m->refusals, indent, (unsigned long long)m->largest_refused, indent,
            (double)m->over_soft_ns / 1e9, indent, (unsigned long long)m->transitions, indent,
            (unsigned long long)m->emergencies, indent);
    json_string(out, m->mode);
    fprintf(out, ",\n%s  \"modes\": ", indent);
    json_modes(out, m->modes);
    fprintf(out, ",\n%s  \"early_frees\": %llu,\n%s  \"foreign_frees\": %llu\n%s}", indent,
            (unsigned long long)m->early_frees, indent, (unsigned long long)m->foreign_frees, indent);
}

void run_report_json(FILE *out, const run_report *r, const run_records *recs)
{
    fputs("{\n  \"command\": ", out);
    json_string(out, r->command);
    if (r->exited)
        fprintf(out, ",\n  \"exit_status\": %d,\n  \"signal\": null", r->code);
    else
        fprintf(out, ",\n  \"exit_status\": %d,\n  \"signal\": %d", 128 + r->code, r->code);
    fprintf(out, ",\n  \"wall_s\": %.3f,\n  \"max_rss\": %llu,\n  \"process\": ", r->wall_s,
            (unsigned long long)r->max_rss);
    if (recs->have_main)
        json_record(out, &recs->main, "  ");
    else
        fputs("null", out);
    fprintf(out, ",\n  \"children_total\": %zu,\n  \"children\": [", recs->n_others_total);
    for (size_t i = 0; i < recs->n_others; i++) {
        fputs(i == 0 ? "\n    " : ",\n    ", out);
        json_record(out, &recs->others[i], "    ");
    }
    fputs(recs->n_others > 0 ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* memgov's own configuration keys. docs/config.md lists them; tests/cli checks that the two agree. */
#include "config/keys.h"

const memgov_config_key mg_builtin_keys[] = {
#define K(n, t, d, lo, hi, ch, doc) {sizeof(memgov_config_key), n, MEMGOV_CONFIG_##t, d, lo, hi, ch, doc}
    K("root.limit", SIZE, "90%", "1MiB", "100%", NULL,
      "hard limit of the root budget: bytes or a percentage of the effective memory"),
    K("root.soft_ratio", DOUBLE, "0.9", "0", "1", NULL,
      "soft limit of the root budget as a fraction of its hard limit (crossing it warns)"),
    K("budget.charge_batch", SIZE, "64KiB", "0", "16MiB", NULL,
      "bytes a thread pre-charges per budget so that most allocations touch no shared counter"),
    K("monitor.interval", DURATION, "1s", "1ms", "1h", NULL, "period of the monitor's sampler thread"),
    K("log.warnings", BOOL, "true", NULL, NULL, NULL,
      "memgov_default() writes the warnings and corrections of its configuration loads to stderr"),
    K("fallback.enabled", BOOL, "true", NULL, NULL, NULL, "whether the fallback machine may change modes"),
    K("fallback.light_enter", DOUBLE, "0.70", "0", "1", NULL, "memory pressure that enters LIGHT mode"),
    K("fallback.light_exit", DOUBLE, "0.60", "0", "1", NULL, "memory pressure under which LIGHT returns to NORMAL"),
    K("fallback.minimal_enter", DOUBLE, "0.85", "0", "1", NULL, "memory pressure that enters MINIMAL mode"),
    K("fallback.minimal_exit", DOUBLE, "0.75", "0", "1", NULL, "memory pressure under which MINIMAL returns to LIGHT"),
    K("fallback.critical", DOUBLE, "0.95", "0", "1", NULL,
      "memory pressure at which the fallback machine calls its emergency callbacks (once per episode)"),
    K("fallback.dwell", DURATION, "10s", "0", "1h", NULL,
      "least time pressure must stay below a mode's exit threshold before the mode recovers"),
    K("chunk.rows_min", UNSIGNED, "1024", "1", "1099511627776", NULL, "smallest number of rows per chunk"),
    K("chunk.rows_max", UNSIGNED, "1048576", "1", "1099511627776", NULL, "largest number of rows per chunk"),
    K("batch.min", UNSIGNED, "1", "1", "1000000", NULL, "smallest batch size of the adaptive batch controller"),
    K("batch.max", UNSIGNED, "1024", "1", "1000000", NULL, "largest batch size of the adaptive batch controller"),
    K("batch.item_bytes", SIZE, "240MiB", "1KiB", "1TiB", NULL,
      "memory one batch item needs: recommendations give usable memory / this"),
    K("threads.min", UNSIGNED, "1", "1", "4096", NULL, "fewest worker threads"),
    K("threads.max", UNSIGNED, "0", "0", "4096", NULL, "most worker threads; 0 = the usable CPUs"),
    K("threads.bytes_per_worker", SIZE, "1280MiB", "1MiB", "1TiB", NULL,
      "memory one worker thread needs: caps the threads at usable memory / this"),
    K("memmap.dir", STRING, "/tmp", NULL, NULL, NULL, "directory of file-backed (memmap) arenas and spill files"),
    K("memmap.placement", ENUM, "auto", NULL, NULL, "auto|ram|disk",
      "where memmap arenas go: auto, ram (/dev/shm) or disk (memmap.dir)"),
    K("memmap.cap", SIZE, "0", "0", NULL, NULL, "most bytes of memmap arenas; 0 = no cap"),
    K("gpu.limit", SIZE, "0", "0", NULL, NULL, "cap on GPU memory in bytes; 0 = no cap (percentages are of host memory)"),
#undef K
};
const size_t mg_builtin_key_count = sizeof mg_builtin_keys / sizeof mg_builtin_keys[0];

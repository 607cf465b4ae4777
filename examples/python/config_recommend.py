#!/usr/bin/python3
"""The configuration: typed reads, setting with checked bounds, loading and validating files, per-mode
overlays, the dump, the history, and recommendations with their reasons."""
import os
import tempfile

import memgov

with memgov.Governor(limit="1GiB", env=False) as gov:
    cfg = gov.config
    print("batch.max =", cfg["batch.max"], "from", cfg.source("batch.max"))
    print("monitor.interval =", cfg["monitor.interval"], "s; root.limit =", cfg["root.limit"], "bytes")
    cfg["batch.max"] = 256
    try:
        cfg.set("root.soft_ratio", 3)
    except memgov.RangeError as e:
        print("refused:", e)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "job.conf")
        with open(path, "w") as f:
            f.write("[batch]\nmax = 128\nmaxx = 3\n[mode.light]\nbatch.max = 32\n")
        check = cfg.validate(path)
        print("validate:", len(check.errors), "errors,", len(check.warnings), "warnings:", check.warnings[0])
        cfg.load(path)
    print("batch.max =", cfg["batch.max"], "from", cfg.source("batch.max"))
    gov.fallback.pin("light")
    print("in light mode batch.max =", cfg["batch.max"])
    gov.fallback.unpin()
    print("last change:", cfg.history()[-1])
    print(cfg.dump()[:200], "...")
    rec = gov.recommend(data_bytes="8GiB", row_bytes=512)
    for key in ("memory_fraction", "threads", "batch_size", "chunk_rows"):
        print(f"recommend {key} = {rec[key]}: {rec['reasons'][key]}")

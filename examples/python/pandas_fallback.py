#!/usr/bin/python3
"""A feature pipeline that hits its cap and recovers in LIGHT mode: pandas works inside a budget's numpy
context; @gov.with_fallback retries the step in a lighter mode after a MemoryError, and the step reads its
chunk size from the configuration, whose [mode.light] overlay is smaller. (docs/python.md walks through it.)"""
import numpy as np
import pandas as pd

import memgov

CONFIG = """
[app]
chunk_rows = 400000        # NORMAL: big chunks, fast
[mode.light]
app.chunk_rows = 50000     # LIGHT: an eighth of the memory
"""

rows = 400_000
rng = np.random.default_rng(42)
data = pd.DataFrame({"user": rng.integers(0, 1000, rows), "amount": rng.random(rows)})

with memgov.Governor(limit="512MiB", env=False) as gov:
    gov.config.register("app.chunk_rows", "unsigned", 400000, min=1000, doc="rows per chunk of the feature step")
    gov.config.load_string(CONFIG, origin="pipeline.conf")
    features = gov.budget("features", hard="24MiB")

    @gov.with_fallback(retries=2, backoff=0.01)
    def build_features(df, mode):
        chunk = gov.config["app.chunk_rows"]
        print(f"attempt in {mode} mode with chunks of {chunk} rows")
        parts = []
        with features.numpy():
            for start in range(0, len(df), chunk):
                part = df.iloc[start:start + chunk]
                # a wide intermediate: 32 float64 columns per row (256 B/row)
                wide = pd.DataFrame(np.outer(part["amount"].to_numpy(), np.arange(32)), index=part.index)
                parts.append(wide.sum(axis=1).groupby(part["user"]).sum())
                del wide
        return pd.concat(parts).groupby(level=0).sum()

    result = build_features(data)
    print(f"done in {gov.mode} mode: {len(result)} users, total {result.sum():.1f}")
    for t in gov.fallback.history():
        print(f"  transition {t.from_mode} -> {t.to_mode} ({t.reason})")
    assert gov.mode == memgov.Mode.LIGHT
    del result
    features.destroy()

#!/usr/bin/python3
"""Memory owned elsewhere (reserve/release), a reclaim callback that frees a cache when the cap is reached,
and an event listener on the root that hears every budget."""
import memgov

MiB = 1 << 20

with memgov.Governor(limit="256MiB", env=False) as gov:
    model = gov.budget("model", hard="100MiB", soft="80MiB")
    cache = [model.reserve(40 * MiB)]  # e.g. a GPU tensor cache charged by hand

    def drop_cache(needed, refusing):
        print(f"  reclaim: '{refusing}' needs {needed / MiB:.1f} MiB more; dropping the cache")
        freed = sum(r.nbytes for r in cache)
        for r in cache:
            r.release()
        cache.clear()
        return freed

    model.on_refusal(drop_cache, priority=10)
    listener = gov.root.on_event(lambda e: print(f"  event {e.kind} on '{e.budget}': used {e.used / MiB:.0f} MiB"))
    with model.reserve(50 * MiB):  # 90 MiB: above the soft limit
        with model.reserve(30 * MiB):  # 120 MiB would cross 100 MiB: the cache goes, then it fits
            print("both reservations held:", model.stats().used // MiB, "MiB")
    listener.remove()
    print("after release:", model.stats().used, "bytes; reclaims:", model.stats().reclaims)
    assert model.stats().used == 0 and model.stats().reclaims == 1
    model.destroy()

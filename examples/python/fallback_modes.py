#!/usr/bin/python3
"""The fallback machine: pressure moves it NORMAL -> LIGHT -> MINIMAL, a subscriber hears each transition,
an emergency callback fires at critical pressure, pinning holds a mode, and run_with_fallback retries a job."""
import memgov
from memgov import Mode

with memgov.Governor(limit="256MiB", env=False) as gov:
    fb = gov.fallback
    unsubscribe = fb.on_transition(lambda t: print(f"  {t.from_mode} -> {t.to_mode} ({t.reason}, pressure "
                                                   f"{t.pressure:.2f})"))
    fb.on_emergency(lambda p: print(f"  emergency at pressure {p:.2f}: save a checkpoint"))
    for pressure in (0.5, 0.75, 0.96):
        print(f"pressure {pressure}")
        fb.update(pressure)
    fb.pin(Mode.NORMAL)
    print("pinned:", fb.mode, fb.stats().pinned)
    fb.unpin()
    unsubscribe()

    def job(mode):
        if mode == Mode.NORMAL:
            raise MemoryError("too big for NORMAL")
        return f"done in {mode}"

    fb.pin(Mode.NORMAL)
    fb.unpin()
    print(gov.run_with_fallback(job, retries=2, backoff=0.01))
    print("stats:", fb.stats())

"""memgov.Gpu (device budgets on the simulated device) and memgov.Batcher / AdaptiveBatch; memgov.torch is in
test_gpu_torch.py. Nothing here needs a GPU or torch."""
import pytest

import memgov

MiB = 1 << 20


def test_open_defaults_and_stats(gov):
    with memgov.Gpu(gov) as g:
        s = g.stats()
        assert (s.backend, s.device_index, s.device) == ("simulated", 0, "memgov simulated device")
        assert s.device_total == s.hard_limit == 1 << 30
        assert s.metrics and not s.stream_ordered
        assert g.name == "sim0" and g.budget.name == "sim0"
    assert g.closed
    with pytest.raises(memgov.StateError):
        g.stats()


def test_gpu_limit_key_is_a_percentage_of_the_device(gov):
    gov.config.set("gpu.limit", "25%")
    with memgov.Gpu(gov, sim_total=64 * MiB) as g:
        assert g.stats().hard_limit == 16 * MiB


def test_cap_refusal_is_a_gpu_out_of_memory_error_naming_everything(sim):
    a = sim.malloc(10 * MiB)
    with pytest.raises(memgov.GpuOutOfMemoryError) as e:
        sim.malloc(7 * MiB)
    assert isinstance(e.value, MemoryError) and isinstance(e.value, memgov.BudgetExceededError)
    text = str(e.value)
    for part in ("device sim0", "budget 'sim0'", "16.0 MiB", "10.0 MiB", "7.00 MiB"):
        assert part in text
    sim.free(a)
    s = sim.stats()
    assert (s.used, s.allocations, s.frees, s.limit_refusals) == (0, 1, 1, 1)


def test_children_reservations_and_frees(sim):
    model = sim.child("model", hard=4 * MiB)
    p = sim.malloc(3 * MiB, budget=model)
    with pytest.raises(memgov.GpuOutOfMemoryError, match="budget 'model' refused"):
        sim.malloc(2 * MiB, budget=model)
    with pytest.raises(memgov.InvalidArgumentError):
        sim.free(p)  # on the device budget: the block is model's
    with pytest.raises(memgov.NotFoundError):
        sim.free(p + 8, budget=model)
    with sim.reserve(8 * MiB) as r:
        assert sim.stats().used == 11 * MiB and sim.stats().reserved == 8 * MiB
        with pytest.raises(memgov.GpuOutOfMemoryError, match="hard limit of 16.0 MiB"):
            sim.reserve(6 * MiB)
    assert r.released and sim.stats().reserved == 0
    sim.free(p, budget=model)
    with pytest.raises(memgov.InvalidArgumentError):
        model.malloc(100)  # a device budget has no host arena


def test_reclaim_callback_frees_then_one_retry(sim):
    held = [sim.malloc(8 * MiB)]

    def empty_cache(needed, refusing):
        if not held:
            return 0
        sim.free(held.pop())
        return 8 * MiB

    sim.budget.on_refusal(empty_cache)
    p = sim.malloc(12 * MiB)
    assert held == []
    sim.free(p)


def test_governor_close_closes_its_devices(callback_errors):
    g = memgov.Governor(limit=256 * MiB, env=False)
    dev = memgov.Gpu(g, sim_total=32 * MiB)
    dev.child("child")
    p = dev.malloc(MiB)
    with pytest.raises(memgov.BusyError):
        g.close()  # the device holds a block: neither closes
    assert not g.closed and not dev.closed
    dev.free(p)
    g.close()
    assert g.closed and dev.closed


def test_cuda_without_a_driver_is_unsupported(gov):
    with pytest.raises(memgov.UnsupportedError, match="cannot be loaded"):
        memgov.Gpu(gov, "cuda", library="/nonexistent/libcuda.so.1")
    with pytest.raises(memgov.InvalidArgumentError):
        memgov.Gpu(gov, "opencl")


def test_batcher_halves_and_regrows():
    b = memgov.Batcher(max=64, initial=64)
    assert b.next == 64
    assert b.refused(64) and b.next == 32
    b.success(32)
    assert 32 < b.next < 64  # grows towards the ceiling, not past it
    st = b.stats()
    assert (st.ceiling, st.last_good, st.successes, st.refusals) == (64, 32, 1, 1)


def test_adaptive_batch_halves_on_device_refusals_and_recovers(sim):
    sizes = []

    def step(batch):
        sizes.append(batch)
        p = sim.malloc(batch * MiB)  # one block per step, as activations would be
        sim.free(p)
        return batch

    loop = memgov.AdaptiveBatch(max=64)
    assert loop.run(step) == 16  # 64 and 32 refused by the 16 MiB cap, 16 fits
    assert sizes == [64, 32, 16] and loop.ooms == 2
    for _ in range(8):
        loop.run(step)
    assert max(sizes[3:]) < 32  # the refused sizes are remembered: it probes between 16 and 32, halving on refusal
    assert loop.last_size <= 16
    with pytest.raises(memgov.GpuOutOfMemoryError):
        memgov.AdaptiveBatch(max=64, min=32).run(step)  # the floor itself refused: raised

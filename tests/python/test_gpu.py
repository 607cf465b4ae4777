"""memgov.Gpu (device budgets on the simulated device), memgov.Batcher / AdaptiveBatch, and memgov.torch where
torch is installed (Debian's python3-torch is CPU only: the exception classes, the training-loop helper with real
torch errors, and the fraction route's mirroring against a stand-in for torch.cuda; nothing here needs a GPU)."""
import gc

import pytest

import memgov

MiB = 1 << 20


@pytest.fixture
def sim(gov):
    """A simulated 64 MiB device with a 16 MiB cap, closed at the end."""
    g = memgov.Gpu(gov, "simulated", sim_total=64 * MiB, limit=16 * MiB)
    yield g
    g.close()


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


# ---- memgov.torch (torch on CPU) ------------------------------------------------------------------------------

torch = pytest.importorskip("torch", reason="python3-torch is not installed (scripts/bootstrap.sh installs it)")
mtorch = pytest.importorskip("memgov.torch")


def test_out_of_memory_error_is_torchs_and_memgovs():
    e = mtorch.OutOfMemoryError("memgov says no", 2)
    assert isinstance(e, torch.cuda.OutOfMemoryError)
    assert isinstance(e, memgov.GpuOutOfMemoryError) and isinstance(e, MemoryError)
    with pytest.raises(torch.cuda.OutOfMemoryError, match="memgov says no"):
        raise e


def test_translate_carries_memgovs_message(sim):
    with pytest.raises(memgov.GpuOutOfMemoryError):
        sim.malloc(32 * MiB)  # the last memgov call of this thread is a refusal
    t = mtorch.translate(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 32.00 MiB"))
    assert isinstance(t, mtorch.OutOfMemoryError)
    assert "Tried to allocate" in str(t) and "device sim0" in str(t)
    other = ValueError("x")
    assert mtorch.translate(other) is other


def test_adaptive_batch_with_torchs_own_out_of_memory_error():
    sizes = []

    def step(batch):
        sizes.append(batch)
        if batch > 24:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} MiB")
        return torch.ones(batch, 8).sum().item()

    loop = mtorch.AdaptiveBatch(max=128)
    assert loop.run(step) == 16 * 8
    assert sizes == [128, 64, 32, 16]


def test_use_budget_without_cuda_is_unsupported(sim):
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA: scripts/gpu-check.sh covers it")
    with pytest.raises(memgov.UnsupportedError, match="no CUDA"):
        with mtorch.use_budget(sim.budget):
            pass
    with pytest.raises(memgov.InvalidArgumentError, match="host budget"):
        mtorch.use_budget(sim.budget.governor.root)


class FakeCuda:
    """A stand-in for torch.cuda with what the fraction route calls (no MemPool: torch 1.13's surface)."""

    def __init__(self, total):
        self.total, self.reserved, self.fraction, self.emptied = total, 0, None, 0
        self.cache = 0  # part of `reserved` that empty_cache() gives back

    def is_available(self):
        return True

    def get_device_properties(self, device):
        return type("Props", (), {"total_memory": self.total})()

    def set_per_process_memory_fraction(self, fraction, device):
        self.fraction = fraction

    def memory_reserved(self, device):
        return self.reserved

    def empty_cache(self):
        self.emptied += 1
        self.reserved -= self.cache
        self.cache = 0


def test_fraction_route_caps_torch_and_mirrors_reserved_bytes(sim):
    cuda = FakeCuda(total=64 * MiB)
    tb = mtorch.TorchBudget(sim.budget, 0, "auto", _cuda=cuda)
    with tb:
        assert tb.mode == "fraction" and cuda.fraction == 0.25  # 16 MiB of a 64 MiB device
        cuda.reserved = 10 * MiB
        tb.sync()
        assert sim.stats().used == 10 * MiB  # the budget and the monitor see torch's memory
        cuda.reserved = 6 * MiB
        tb.sync()
        assert sim.stats().used == 6 * MiB
        cuda.reserved, cuda.cache = 20 * MiB, 2 * MiB  # over the cap even after its cache is emptied
        with pytest.raises(torch.cuda.OutOfMemoryError, match="budget 'sim0'"):
            tb.sync()
        assert cuda.emptied >= 1
        cuda.reserved = 8 * MiB
        tb.sync()
        cuda.cache = 8 * MiB
        p = sim.malloc(9 * MiB)  # another user of the budget: 8 mirrored + 9 > 16, so the reclaim callback empties
        assert cuda.reserved == 0 and tb.mirrored == 0  # torch's cache, and then 0 + 9 fits
        sim.free(p)
    assert cuda.fraction == 1.0 and sim.stats().used == 0


def test_mempool_mode_needs_a_torch_with_mempool(sim):
    with pytest.raises(memgov.UnsupportedError, match="MemPool"):
        with mtorch.TorchBudget(sim.budget, 0, "mempool", _cuda=FakeCuda(64 * MiB)):
            pass


def test_adaptive_batch_syncs_and_shrinks_when_the_mirror_is_refused(sim):
    cuda = FakeCuda(total=64 * MiB)
    with mtorch.TorchBudget(sim.budget, 0, "fraction", _cuda=cuda) as tb:
        loop = mtorch.AdaptiveBatch(max=32, sync=tb)

        def step(batch):
            cuda.reserved = batch * MiB  # torch's allocator grew with the batch
            return batch

        assert loop.run(step) == 32  # ran, but 32 MiB reserved does not fit the 16 MiB budget
        assert loop.ooms == 1 and loop.size == 16
        assert loop.run(step) == 16 and sim.stats().used == 16 * MiB
        gc.collect()

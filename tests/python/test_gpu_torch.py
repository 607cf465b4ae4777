"""memgov.torch where torch is installed: Debian's python3-torch 1.13 is CPU only, so these test the exception
classes, the training-loop helper with torch's own errors, and the fraction route's mirroring against a stand-in
for torch.cuda; the GPU routes are bench/gpu_torch.py's (scripts/gpu-check.sh). Skipped, with the reason, where
torch is missing."""
import gc

import pytest

import memgov

torch = pytest.importorskip("torch", reason="python3-torch is not installed (scripts/bootstrap.sh installs it)")
mtorch = pytest.importorskip("memgov.torch")

MiB = 1 << 20


def test_device_refusals_are_torch_out_of_memory_errors_once_memgov_torch_is_imported(sim):
    with pytest.raises(torch.cuda.OutOfMemoryError, match="device sim0") as e:
        sim.malloc(32 * MiB)
    assert isinstance(e.value, memgov.GpuOutOfMemoryError)




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

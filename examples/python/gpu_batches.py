#!/usr/bin/python3
"""A device budget and a training loop that survives an over-cap batch: the batch halves on out-of-memory and
grows back (memgov.AdaptiveBatch, the AIMD batcher). Runs on CUDA device 0 when there is one, else on the
simulated device; with PyTorch on CUDA, memgov.torch.limit(gov, "20GiB") governs torch's own allocator instead
(docs/gpu.md)."""
import memgov

MiB = 1 << 20

with memgov.Governor(env=False) as gov:
    try:
        gpu = memgov.Gpu(gov, "cuda", 0, limit="256MiB")
    except memgov.UnsupportedError as e:
        print(f"no CUDA here ({e}); using the simulated device")
        gpu = memgov.Gpu(gov, "simulated", sim_total="1GiB", limit="256MiB")
    with gpu:
        model = gpu.child("model", hard="200MiB")
        weights = gpu.malloc(120 * MiB, budget=model)

        def train_step(batch):
            """One step whose activations take 4 MiB per item on the device."""
            activations = gpu.malloc(batch * 4 * MiB, budget=model)
            gpu.free(activations, budget=model)
            return batch

        loop = memgov.AdaptiveBatch(max=64, on_oom=lambda e, size: print(f"  batch {size}: {str(e)[:100]}..."))
        sizes = [loop.run(train_step) for _ in range(6)]
        print("batch sizes that ran:", sizes)
        print(gpu)
        assert sizes[0] == 16 and max(sizes) <= 20  # 80 MiB of activations fit beside 120 MiB of weights
        gpu.free(weights, budget=model)
